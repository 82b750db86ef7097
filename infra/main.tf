# PlotBurn on Google Cloud:
#
#   Cloud Scheduler (22:00 Asia/Kolkata) -> topic plotburn-nightly -> push -> fanout
#   fanout -> topic plotburn-roast (one message per movie) -> push -> roast -> Firestore
#   api (public HTTP) -> plotburn-nightly (manual run), plotburn-roast (/cron/retry)
#   either subscription, after max_delivery_attempts -> plotburn-dead-letter -> push -> roast
#
# Delivery: Pub/Sub push subscriptions declared here, not Eventarc triggers.
# Dead-lettering is part of the design (a movie that keeps failing must end up
# recorded as failed, not retried for seven days), and only a subscription we own
# can carry a dead_letter_policy in code: the subscription Eventarc creates for a
# Cloud Functions event_trigger is managed by Eventarc, so its dead-letter topic
# would be a manual `gcloud` step outside Terraform. The cost is that fanout and
# roast are deployed as HTTP functions: Pub/Sub pushes the standard push body,
# which functions-framework turns into a CloudEvent because both entry points are
# registered with @functions_framework.cloud_event. Pub/Sub authenticates every
# push with an OIDC token for the plotburn-push service account, the only
# principal allowed to invoke fanout and roast.

data "google_project" "this" {
  project_id = var.project_id
}

locals {
  labels = {
    app = "plotburn"
  }

  # Google-managed service agent that moves messages to the dead-letter topic and
  # mints the OIDC tokens of push deliveries.
  pubsub_service_agent = "serviceAccount:service-${data.google_project.this.number}@gcp-sa-pubsub.iam.gserviceaccount.com"

  # Execution timeouts (seconds). Event-driven work is capped at 540 s; each push
  # subscription's ack deadline is set a little above its function's timeout so
  # Pub/Sub always sees the function's own answer (success or 5xx) first.
  api_timeout_seconds    = 60
  fanout_timeout_seconds = 300
  roast_timeout_seconds  = 540
  ack_margin_seconds     = 30

  # How long the dead-letter subscription keeps trying one message (pubsub.tf).
  dead_letter_retention = "86400s"

  # Plain (non-secret) configuration, identical for the three functions. Every key
  # is a validation_alias of functions.config.Settings (tests/infra checks this).
  base_env = {
    GOOGLE_CLOUD_PROJECT       = var.project_id
    PLOTBURN_NIGHTLY_TOPIC     = google_pubsub_topic.nightly.name
    PLOTBURN_ROAST_TOPIC       = google_pubsub_topic.roast.name
    PLOTBURN_DEAD_LETTER_TOPIC = google_pubsub_topic.dead_letter.name
    PLOTBURN_CACHE_VERSION     = var.cache_version
    PERPLEXITY_MODEL           = var.perplexity_model
    XAI_MODEL                  = var.xai_model
    PLOTBURN_REQUIRE_KEY       = var.require_key
  }

  # Set only when given: an empty TMDB_REGION would fail Settings' ^[A-Z]{2}$ check.
  optional_env = { for key, value in { TMDB_REGION = var.tmdb_region } : key => value if value != "" }

  # The operator's extra settings (var.settings) first, so the values Terraform
  # derives from its own resources (topics, project) always win.
  function_env = merge(var.settings, local.base_env, local.optional_env)

  # api's environment adds what functions-framework reads: THREADS is the number of
  # gunicorn threads of its one worker process (its default, 4 per CPU, would
  # queue requests Cloud Run sends up to api_concurrency at a time).
  framework_env = {
    THREADS = tostring(var.api_concurrency)
  }
  api_env = merge(local.function_env, local.framework_env)
}
