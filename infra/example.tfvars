# Copy to e.g. prod.tfvars and edit. Secret values never go here: add them with
# `gcloud secrets versions add NAME --data-file=-` (see README, Deploy).
project_id         = "my-gcp-project"
region             = "asia-south1"
firestore_location = "asia-south1"

schedule  = "0 22 * * *"
time_zone = "Asia/Kolkata"

roast_concurrency     = 50
max_delivery_attempts = 5

perplexity_model = "sonar"
xai_model        = "grok-4-fast-non-reasoning"
cache_version    = "v1"
tmdb_region      = ""
