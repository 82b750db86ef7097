# Copy to e.g. prod.tfvars and edit. Secret values never go here: add them with
# `gcloud secrets versions add NAME --data-file=-` (see README, Deploy).
project_id         = "my-gcp-project"
region             = "asia-south1"
firestore_location = "asia-south1"

schedule  = "0 22 * * *"
time_zone = "Asia/Kolkata"

roast_concurrency     = 50
max_delivery_attempts = 5

perplexity_model = "perplexity/sonar"
xai_model        = "grok-4.20-non-reasoning"
cache_version    = "v2"
tmdb_region      = "IN"
tmdb_credential  = "read_token"
