# The three Cloud Functions (2nd gen), all built from the same source archive.
#
# api    - public HTTP: public routes, admin routes (which check PLOTBURN_ADMIN_TOKEN
#          themselves), the manual trigger (-> nightly topic) and /cron/retry
#          (-> roast topic). Generates a roast on a cache miss, so it reads every
#          upstream secret.
# fanout - receives plotburn-nightly pushes; publishes one message per movie.
# roast  - receives plotburn-roast and plotburn-dead-letter pushes; one movie per
#          instance at a time, at most var.roast_concurrency instances.
#
# fanout and roast have no event_trigger: they are HTTP functions fed by the push
# subscriptions in pubsub.tf (see main.tf for why). They are not public: the only
# invoker is the plotburn-push service account (iam.tf); Cloud Run rejects any
# request without a Google-signed OIDC token for it before our code runs.
#
# Their ingress is ALLOW_ALL by default. Network ingress is not what protects them
# (IAM is), and Pub/Sub push does not come from a VPC network: with
# ALLOW_INTERNAL_ONLY it is admitted only because Cloud Run counts Pub/Sub in the
# same project (or VPC Service Controls perimeter) as internal. That cannot be
# exercised without a live project, and if it did not hold, every delivery would
# be refused and end up dead-lettered, so the default stays ALLOW_ALL;
# var.worker_ingress = "ALLOW_INTERNAL_ONLY" adds the network check for operators
# who have verified it in their project.

resource "google_cloudfunctions2_function" "api" {
  name        = "api"
  location    = var.region
  description = "PlotBurn public and admin HTTP API"
  labels      = local.labels

  build_config {
    runtime         = var.runtime
    entry_point     = "api"
    service_account = google_service_account.build.id

    source {
      storage_source {
        bucket = google_storage_bucket.source.name
        object = google_storage_bucket_object.source.name
      }
    }
  }

  service_config {
    service_account_email            = google_service_account.api.email
    timeout_seconds                  = local.api_timeout_seconds
    available_memory                 = "512M"
    min_instance_count               = 0
    max_instance_count               = var.api_max_instances
    max_instance_request_concurrency = 1
    ingress_settings                 = "ALLOW_ALL"
    all_traffic_on_latest_revision   = true
    environment_variables            = local.function_env

    secret_environment_variables {
      key        = "PLOTBURN_ADMIN_TOKEN"
      project_id = var.project_id
      secret     = google_secret_manager_secret.plotburn["PLOTBURN_ADMIN_TOKEN"].secret_id
      version    = "latest"
    }

    secret_environment_variables {
      key        = "PLOTBURN_CLIENT_KEY_SECRET"
      project_id = var.project_id
      secret     = google_secret_manager_secret.plotburn["PLOTBURN_CLIENT_KEY_SECRET"].secret_id
      version    = "latest"
    }

    secret_environment_variables {
      key        = local.tmdb_secret_env
      project_id = var.project_id
      secret     = google_secret_manager_secret.plotburn["TMDB_API_TOKEN"].secret_id
      version    = "latest"
    }

    secret_environment_variables {
      key        = "PERPLEXITY_API_KEY"
      project_id = var.project_id
      secret     = google_secret_manager_secret.plotburn["PERPLEXITY_API_KEY"].secret_id
      version    = "latest"
    }

    secret_environment_variables {
      key        = "XAI_API_KEY"
      project_id = var.project_id
      secret     = google_secret_manager_secret.plotburn["XAI_API_KEY"].secret_id
      version    = "latest"
    }
  }

  depends_on = [
    google_project_iam_member.build,
    google_project_iam_member.datastore_user,
    google_secret_manager_secret_iam_member.access,
  ]
}

resource "google_cloudfunctions2_function" "fanout" {
  name        = "fanout"
  location    = var.region
  description = "PlotBurn nightly fan-out: one roast message per now-playing movie"
  labels      = local.labels

  build_config {
    runtime         = var.runtime
    entry_point     = "fanout"
    service_account = google_service_account.build.id

    source {
      storage_source {
        bucket = google_storage_bucket.source.name
        object = google_storage_bucket_object.source.name
      }
    }
  }

  service_config {
    service_account_email            = google_service_account.fanout.email
    timeout_seconds                  = local.fanout_timeout_seconds
    available_memory                 = "512M"
    min_instance_count               = 0
    max_instance_count               = 3
    max_instance_request_concurrency = 1
    ingress_settings                 = var.worker_ingress
    all_traffic_on_latest_revision   = true
    environment_variables            = local.function_env

    secret_environment_variables {
      key        = local.tmdb_secret_env
      project_id = var.project_id
      secret     = google_secret_manager_secret.plotburn["TMDB_API_TOKEN"].secret_id
      version    = "latest"
    }
  }

  depends_on = [
    google_project_iam_member.build,
    google_project_iam_member.datastore_user,
    google_secret_manager_secret_iam_member.access,
  ]
}

resource "google_cloudfunctions2_function" "roast" {
  name        = "roast"
  location    = var.region
  description = "PlotBurn roast worker: research + roast one movie; records dead-lettered ones as failed"
  labels      = local.labels

  build_config {
    runtime         = var.runtime
    entry_point     = "roast"
    service_account = google_service_account.build.id

    source {
      storage_source {
        bucket = google_storage_bucket.source.name
        object = google_storage_bucket_object.source.name
      }
    }
  }

  service_config {
    service_account_email = google_service_account.roast.email
    timeout_seconds       = local.roast_timeout_seconds
    available_memory      = "512M"
    min_instance_count    = 0
    # One movie per instance, at most roast_concurrency instances: the upstream
    # rate limit is enforced by the platform, not by code.
    max_instance_count               = var.roast_concurrency
    max_instance_request_concurrency = 1
    ingress_settings                 = var.worker_ingress
    all_traffic_on_latest_revision   = true
    environment_variables            = local.function_env

    secret_environment_variables {
      key        = local.tmdb_secret_env
      project_id = var.project_id
      secret     = google_secret_manager_secret.plotburn["TMDB_API_TOKEN"].secret_id
      version    = "latest"
    }

    secret_environment_variables {
      key        = "PERPLEXITY_API_KEY"
      project_id = var.project_id
      secret     = google_secret_manager_secret.plotburn["PERPLEXITY_API_KEY"].secret_id
      version    = "latest"
    }

    secret_environment_variables {
      key        = "XAI_API_KEY"
      project_id = var.project_id
      secret     = google_secret_manager_secret.plotburn["XAI_API_KEY"].secret_id
      version    = "latest"
    }
  }

  depends_on = [
    google_project_iam_member.build,
    google_project_iam_member.datastore_user,
    google_secret_manager_secret_iam_member.access,
  ]
}
