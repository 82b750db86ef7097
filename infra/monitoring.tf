# Someone is paged: one email channel (var.alert_email) and four policies.
#
#   run_not_successful  a run ended partial or failed       the log line closing it
#   alert_log_line      any ALERT line (budget exhausted,   severity ALERT
#                       a dead-lettered nightly message)
#   dead_letters_stuck  messages left in the dead-letter    Pub/Sub backlog metrics
#                       subscription (roast cannot record them)
#   no_successful_run   no run finished success in 26 h     a log-based metric, absent
#
# The functions log JSON lines (functions/observability.py): Cloud Logging takes
# `severity` as the entry's severity and keeps `message` as jsonPayload.message;
# `correlation_id` is also a label. 2nd gen functions log as Cloud Run revisions.
# The messages are functions/usecases/runs.py's "run finished: <status>" and
# functions/usecases/nightly.py's "run failed before fan-out" (tests/infra holds
# them to the code).

locals {
  function_logs = join(" ", [
    "resource.type=\"cloud_run_revision\"",
    "resource.labels.service_name=(\"api\" OR \"fanout\" OR \"roast\")",
  ])

  run_not_successful_filter = join(" ", [
    local.function_logs,
    "jsonPayload.message=(\"run finished: partial\" OR \"run finished: failed\" OR \"run failed before fan-out\")",
  ])

  alert_line_filter = "${local.function_logs} severity=ALERT"

  run_succeeded_filter = "${local.function_logs} jsonPayload.message=\"run finished: success\""

  # A nightly run a day apart, plus two hours of slack for a late or slow night.
  no_success_window = "26h"
}

resource "google_monitoring_notification_channel" "email" {
  display_name = "PlotBurn on-call"
  type         = "email"
  labels = {
    email_address = var.alert_email
  }

  depends_on = [google_project_service.apis]
}

# (a) and (b) are log-match conditions: the email carries the entry itself (and
# its correlation_id), at most one per rate-limit period.
resource "google_monitoring_alert_policy" "run_not_successful" {
  display_name          = "PlotBurn: a run ended partial or failed"
  combiner              = "OR"
  notification_channels = [google_monitoring_notification_channel.email.id]

  conditions {
    display_name = "run finished partial or failed"
    condition_matched_log {
      filter = local.run_not_successful_filter
      label_extractors = {
        correlation_id = "EXTRACT(labels.correlation_id)"
      }
    }
  }

  alert_strategy {
    notification_rate_limit {
      period = "300s"
    }
    auto_close = "86400s"
  }

  documentation {
    mime_type = "text/markdown"
    content   = "A PlotBurn run ended `partial` or `failed`. `plotburn debug <correlation_id>` shows each movie's reason; README, Troubleshooting, says what each means. Replay with `POST /cron/retry?correlationId=<id>` once the cause is fixed."
  }
}

resource "google_monitoring_alert_policy" "alert_log_line" {
  display_name          = "PlotBurn: ALERT log line"
  combiner              = "OR"
  notification_channels = [google_monitoring_notification_channel.email.id]

  conditions {
    display_name = "a log entry with severity ALERT"
    condition_matched_log {
      filter = local.alert_line_filter
      label_extractors = {
        correlation_id = "EXTRACT(labels.correlation_id)"
      }
    }
  }

  alert_strategy {
    notification_rate_limit {
      period = "300s"
    }
    auto_close = "86400s"
  }

  documentation {
    mime_type = "text/markdown"
    content   = "PlotBurn logged an ALERT: the daily upstream budget is exhausted, or a nightly message was dead-lettered (the night's run never started). The entry's message says which; README, Troubleshooting."
  }
}

# (c) The dead-letter subscription is normally empty within seconds: roast records
# each movie as failed and acknowledges. A backlog that stays means roast keeps
# refusing them.
resource "google_monitoring_alert_policy" "dead_letters_stuck" {
  display_name          = "PlotBurn: dead letters not handled"
  combiner              = "OR"
  notification_channels = [google_monitoring_notification_channel.email.id]

  conditions {
    display_name = "messages waiting in the dead-letter subscription for 15 min"
    condition_threshold {
      filter          = "resource.type=\"pubsub_subscription\" AND resource.labels.subscription_id=\"${google_pubsub_subscription.dead_letter.name}\" AND metric.type=\"pubsub.googleapis.com/subscription/num_undelivered_messages\""
      comparison      = "COMPARISON_GT"
      threshold_value = 0
      duration        = "900s"

      aggregations {
        alignment_period   = "300s"
        per_series_aligner = "ALIGN_MIN"
      }
    }
  }

  conditions {
    display_name = "oldest dead letter older than 30 min"
    condition_threshold {
      filter          = "resource.type=\"pubsub_subscription\" AND resource.labels.subscription_id=\"${google_pubsub_subscription.dead_letter.name}\" AND metric.type=\"pubsub.googleapis.com/subscription/oldest_unacked_message_age\""
      comparison      = "COMPARISON_GT"
      threshold_value = 1800
      duration        = "0s"

      aggregations {
        alignment_period   = "300s"
        per_series_aligner = "ALIGN_MAX"
      }
    }
  }

  documentation {
    mime_type = "text/markdown"
    content   = "Messages sit in the PlotBurn dead-letter subscription: roast is failing on them (read roast's errors). They are dropped after a day; the runs' deadline sweep has already recorded their movies as failed."
  }
}

# (d) Every successful run logs "run finished: success" once (the closer's
# conditional write). Count those lines...
resource "google_logging_metric" "run_succeeded" {
  name        = "plotburn_run_succeeded"
  description = "PlotBurn runs that finished with status success."
  filter      = local.run_succeeded_filter

  metric_descriptor {
    metric_kind = "DELTA"
    value_type  = "INT64"
    unit        = "1"
  }

  depends_on = [google_project_service.apis]
}

# ... and page when none was counted for 26 hours. A metric-absence condition
# (condition_absent) allows at most 23.5 hours (24.5 through the API, by newer
# docs): too short for a nightly job, it would page every day. A PromQL condition
# has no such cap: absent_over_time over 26 h is 1 exactly when no success was
# logged in that window. Log-based counters write no zero points, so the absence
# of points is the absence of successes. Right after the first deploy it fires
# until the first successful run (trigger one: README, Alerts).
resource "google_monitoring_alert_policy" "no_successful_run" {
  display_name          = "PlotBurn: no successful run in 26 hours"
  combiner              = "OR"
  notification_channels = [google_monitoring_notification_channel.email.id]

  conditions {
    display_name = "no run finished success in ${local.no_success_window}"
    condition_prometheus_query_language {
      query               = "absent_over_time(logging_googleapis_com:user_${google_logging_metric.run_succeeded.name}{monitored_resource=\"cloud_run_revision\"}[${local.no_success_window}])"
      duration            = "60s"
      evaluation_interval = "60s"
      # The metric descriptor appears with the log-based metric, but Monitoring
      # may not see it yet when this policy is created in the same apply.
      disable_metric_validation = true
    }
  }

  documentation {
    mime_type = "text/markdown"
    content   = "No PlotBurn run has finished `success` in 26 hours: the scheduler, fan-out or every night's roasts are failing. `plotburn status` shows the last runs; README, Troubleshooting."
  }
}
