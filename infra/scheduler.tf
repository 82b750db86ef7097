# The nightly trigger: a Pub/Sub message on the nightly topic at 22:00 IST.
# The body is a functions.models.NightlyMessage with no correlation_id: fanout
# derives cron-<publish time ms> from the message, so a redelivery stays one run.
# The attribute only labels the message's origin in logs.

resource "google_cloud_scheduler_job" "nightly" {
  name        = "plotburn-nightly"
  description = "Start PlotBurn's nightly roast run"
  region      = var.region
  schedule    = var.schedule
  time_zone   = var.time_zone

  retry_config {
    retry_count          = 3
    min_backoff_duration = "30s"
    max_backoff_duration = "300s"
  }

  pubsub_target {
    topic_name = google_pubsub_topic.nightly.id
    data       = base64encode(jsonencode({ trigger = "scheduled" }))
    attributes = {
      origin = "cloud-scheduler"
    }
  }

  depends_on = [google_project_service.apis]
}
