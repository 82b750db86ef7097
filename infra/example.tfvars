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

# Who is paged (README, Alerts). Required.
alert_email = "oncall@example.com"

# api: instances kept warm (billed while idle; README, Cold starts), requests per instance.
api_min_instances = 0
api_max_instances = 10
api_concurrency   = 40

# fanout and roast accept only Pub/Sub of this project; "ALLOW_ALL" reverts (README, Deploying).
worker_ingress = "ALLOW_INTERNAL_ONLY"

# Any other setting (README, Configuration), as the functions' environment, e.g.
# { PLOTBURN_DAILY_CALL_BUDGET = "4000", PLOTBURN_PUBLIC_BUDGET_SHARE = "0.1" }.
settings = {}
