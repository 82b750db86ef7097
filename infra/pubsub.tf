# Topics and the push subscriptions that deliver them to the functions.
#
# Each push goes to the function's Cloud Run URL plus the topic's resource name as
# the path (e.g. https://roast-xyz.a.run.app/projects/P/topics/plotburn-roast):
# functions-framework reads the topic from that path into the CloudEvent's source
# (//pubsub.googleapis.com/projects/P/topics/T), so roast tells a dead-lettered
# delivery by its source alone: the CloudPubSubDeadLetterSource* attributes can be
# set by any publisher, the path only by whoever configures the subscription.
# The OIDC audience is the bare service URL, which is what Cloud Run checks.

resource "google_pubsub_topic" "nightly" {
  name   = var.nightly_topic
  labels = local.labels

  depends_on = [google_project_service.apis]
}

resource "google_pubsub_topic" "roast" {
  name   = var.roast_topic
  labels = local.labels

  depends_on = [google_project_service.apis]
}

resource "google_pubsub_topic" "dead_letter" {
  name   = var.dead_letter_topic
  labels = local.labels

  depends_on = [google_project_service.apis]
}

# plotburn-nightly -> fanout
resource "google_pubsub_subscription" "fanout" {
  name   = "${var.nightly_topic}-to-fanout"
  topic  = google_pubsub_topic.nightly.id
  labels = local.labels

  # For push, the ack deadline is the HTTP request timeout.
  ack_deadline_seconds = local.fanout_timeout_seconds + local.ack_margin_seconds

  push_config {
    push_endpoint = "${google_cloudfunctions2_function.fanout.service_config[0].uri}/${google_pubsub_topic.nightly.id}"

    oidc_token {
      service_account_email = google_service_account.push.email
      audience              = google_cloudfunctions2_function.fanout.service_config[0].uri
    }
  }

  dead_letter_policy {
    dead_letter_topic     = google_pubsub_topic.dead_letter.id
    max_delivery_attempts = var.max_delivery_attempts
  }

  retry_policy {
    minimum_backoff = "10s"
    maximum_backoff = "600s"
  }

  # Never delete the subscription for inactivity (the default is 31 idle days).
  expiration_policy {
    ttl = ""
  }

  depends_on = [
    google_cloud_run_v2_service_iam_member.push_invokes_fanout,
    google_service_account_iam_member.pubsub_agent_mints_push_tokens,
  ]
}

# plotburn-roast -> roast
resource "google_pubsub_subscription" "roast" {
  name   = "${var.roast_topic}-to-roast"
  topic  = google_pubsub_topic.roast.id
  labels = local.labels

  ack_deadline_seconds = local.roast_timeout_seconds + local.ack_margin_seconds

  push_config {
    push_endpoint = "${google_cloudfunctions2_function.roast.service_config[0].uri}/${google_pubsub_topic.roast.id}"

    oidc_token {
      service_account_email = google_service_account.push.email
      audience              = google_cloudfunctions2_function.roast.service_config[0].uri
    }
  }

  dead_letter_policy {
    dead_letter_topic     = google_pubsub_topic.dead_letter.id
    max_delivery_attempts = var.max_delivery_attempts
  }

  # Exponential backoff between redeliveries also smooths bursts that hit the
  # roast_concurrency cap (a 429 from Cloud Run counts as a failed delivery).
  retry_policy {
    minimum_backoff = "10s"
    maximum_backoff = "600s"
  }

  expiration_policy {
    ttl = ""
  }

  depends_on = [
    google_cloud_run_v2_service_iam_member.push_invokes_roast,
    google_service_account_iam_member.pubsub_agent_mints_push_tokens,
  ]
}

# plotburn-dead-letter -> roast, which records the movie as failed (or logs an
# alert for a dead-lettered nightly message). No dead-letter policy of its own
# (there is nowhere further to send it), but a bounded life: a message it cannot
# deliver is retried with backoff (10 s -> 10 min) for one day, then dropped,
# instead of for the default seven days. Dropping loses nothing the run needs:
# the run's deadline sweep has long since recorded the movie as failed
# (deadline_exceeded, after 30 minutes), and the dead-letter alert
# (monitoring.tf) has paged someone within the first half hour.
resource "google_pubsub_subscription" "dead_letter" {
  name   = "${var.dead_letter_topic}-to-roast"
  topic  = google_pubsub_topic.dead_letter.id
  labels = local.labels

  ack_deadline_seconds       = local.roast_timeout_seconds + local.ack_margin_seconds
  message_retention_duration = local.dead_letter_retention

  push_config {
    push_endpoint = "${google_cloudfunctions2_function.roast.service_config[0].uri}/${google_pubsub_topic.dead_letter.id}"

    oidc_token {
      service_account_email = google_service_account.push.email
      audience              = google_cloudfunctions2_function.roast.service_config[0].uri
    }
  }

  retry_policy {
    minimum_backoff = "10s"
    maximum_backoff = "600s"
  }

  expiration_policy {
    ttl = ""
  }

  depends_on = [
    google_cloud_run_v2_service_iam_member.push_invokes_roast,
    google_service_account_iam_member.pubsub_agent_mints_push_tokens,
  ]
}
