# No output carries a secret value: Terraform never holds one.

output "api_url" {
  description = "Public URL of the api function."
  value       = google_cloudfunctions2_function.api.service_config[0].uri
}

output "nightly_topic" {
  description = "Topic that starts a run."
  value       = google_pubsub_topic.nightly.name
}

output "roast_topic" {
  description = "Topic of per-movie roast messages."
  value       = google_pubsub_topic.roast.name
}

output "dead_letter_topic" {
  description = "Topic of messages that exhausted their delivery attempts."
  value       = google_pubsub_topic.dead_letter.name
}

output "manual_run_command" {
  description = "Start a run now, outside the schedule (same body the scheduler sends)."
  value       = "gcloud pubsub topics publish ${google_pubsub_topic.nightly.name} --project=${var.project_id} --message='${jsonencode({ trigger = "scheduled" })}'"
}

output "secret_names" {
  description = "Secret Manager secrets to add versions to (gcloud secrets versions add NAME --data-file=-)."
  value       = { for key, secret in google_secret_manager_secret.plotburn : key => secret.secret_id }
}
