# Secret Manager secrets, keyed by the environment variable each becomes.
#
# Terraform creates the secrets but never their values: no secret value is in any
# .tf file, variable, output or the state. Add each value once, out of band:
#   printf '%s' "$VALUE" | gcloud secrets versions add plotburn-tmdb-api-token --data-file=-
# The functions read version "latest", resolved when an instance starts.
#
# The TMDB secret holds either TMDB credential (var.tmdb_credential says which); it
# reaches the functions as TMDB_API_TOKEN (a read access token, sent as a bearer
# token) or TMDB_API_KEY (a v3 key, sent as the api_key query parameter).

locals {
  secrets = {
    TMDB_API_TOKEN       = "plotburn-tmdb-api-token"
    PERPLEXITY_API_KEY   = "plotburn-perplexity-api-key"
    XAI_API_KEY          = "plotburn-xai-api-key"
    PLOTBURN_ADMIN_TOKEN = "plotburn-admin-token"
    # The HMAC key of the api's per-client rate-limit keys (any random value).
    PLOTBURN_CLIENT_KEY_SECRET = "plotburn-client-key-secret"
  }

  tmdb_secret_env = var.tmdb_credential == "v3_key" ? "TMDB_API_KEY" : "TMDB_API_TOKEN"

  # Which secrets each function reads; iam.tf grants exactly these, and
  # functions.tf mounts exactly these (tests/infra checks the two agree).
  secret_access = {
    api = [
      "PLOTBURN_ADMIN_TOKEN", "PLOTBURN_CLIENT_KEY_SECRET", "TMDB_API_TOKEN", "PERPLEXITY_API_KEY",
      "XAI_API_KEY",
    ]
    fanout = ["TMDB_API_TOKEN"]
    roast  = ["TMDB_API_TOKEN", "PERPLEXITY_API_KEY", "XAI_API_KEY"]
  }
}

resource "google_secret_manager_secret" "plotburn" {
  for_each = local.secrets

  secret_id = each.value
  labels    = local.labels

  replication {
    auto {}
  }

  depends_on = [google_project_service.apis]
}
