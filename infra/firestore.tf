# Firestore: the (default) Native-mode database, TTL policies on every expiring
# collection group, single-field index exemptions where an index is pure cost,
# and the composite indexes PlotBurn's queries need.

resource "google_firestore_database" "default" {
  project                 = var.project_id
  name                    = "(default)"
  location_id             = var.firestore_location
  type                    = "FIRESTORE_NATIVE"
  delete_protection_state = "DELETE_PROTECTION_ENABLED"
  # `terraform destroy` forgets the database instead of deleting it with its data.
  deletion_policy = "ABANDON"

  depends_on = [google_project_service.apis]
}

locals {
  # Must equal functions.store.collections.EXPIRE_AT_FIELD and EXPIRING_COLLECTIONS
  # (tests/infra holds them together). "outcomes" is the runs/{id}/outcomes
  # subcollection: TTL policies apply per collection group, so it is listed alone.
  expire_at_field = "expire_at"
  expiring_collections = [
    "now_playing",
    "roasts",
    "runs",
    "outcomes",
    "logs",
    "debug",
    "leases",
    "rate_limits",
    "budgets",
  ]

  # Fields no query filters or orders on (tests/infra scans functions/ to keep it
  # so). Large text, maps and arrays would each add index entries (write cost,
  # storage, the 40k-entries-per-document limit) for no query. Exempting a map
  # also exempts its subfields: truths.truth covers truth.brief and
  # truth.citations; roasts.movie covers the movie's overview.
  index_exemptions = {
    "now_playing/movies"    = { collection = "now_playing", field = "movies" }
    "truths/movie"          = { collection = "truths", field = "movie" }
    "truths/truth"          = { collection = "truths", field = "truth" }
    "roasts/movie"          = { collection = "roasts", field = "movie" }
    "roasts/truth"          = { collection = "roasts", field = "truth" }
    "roasts/roast"          = { collection = "roasts", field = "roast" }
    "roasts/details"        = { collection = "roasts", field = "details" }
    "debug/data"            = { collection = "debug", field = "data" }
    "runs/movie_ids"        = { collection = "runs", field = "movie_ids" }
    "runs/failed_movie_ids" = { collection = "runs", field = "failed_movie_ids" }
    "runs/failure_reasons"  = { collection = "runs", field = "failure_reasons" }
    "outcomes/reason"       = { collection = "outcomes", field = "reason" }
    "logs/message"          = { collection = "logs", field = "message" }
  }
}

# TTL policy on expire_at for each expiring collection group. The same field
# resource also drops expire_at's single-field indexes: nothing queries by it, and
# Google recommends not indexing a TTL timestamp (monotonic values hotspot writes).
resource "google_firestore_field" "ttl" {
  for_each = toset(local.expiring_collections)

  project    = var.project_id
  database   = google_firestore_database.default.name
  collection = each.value
  field      = local.expire_at_field

  ttl_config {}

  index_config {}
}

resource "google_firestore_field" "unindexed" {
  for_each = local.index_exemptions

  project    = var.project_id
  database   = google_firestore_database.default.name
  collection = each.value.collection
  field      = each.value.field

  # An empty index_config disables every single-field index on the field.
  index_config {}
}

# A run's log lines, newest first: where correlation_id == X order by created_at desc.
resource "google_firestore_index" "logs_by_run" {
  project    = var.project_id
  database   = google_firestore_database.default.name
  collection = "logs"

  fields {
    field_path = "correlation_id"
    order      = "ASCENDING"
  }

  fields {
    field_path = "created_at"
    order      = "DESCENDING"
  }
}

# /logs?level=X and /logs?correlationId=X&level=Y, newest first.
resource "google_firestore_index" "logs_by_level" {
  project    = var.project_id
  database   = google_firestore_database.default.name
  collection = "logs"

  fields {
    field_path = "level"
    order      = "ASCENDING"
  }

  fields {
    field_path = "created_at"
    order      = "DESCENDING"
  }
}

resource "google_firestore_index" "logs_by_run_and_level" {
  project    = var.project_id
  database   = google_firestore_database.default.name
  collection = "logs"

  fields {
    field_path = "correlation_id"
    order      = "ASCENDING"
  }

  fields {
    field_path = "level"
    order      = "ASCENDING"
  }

  fields {
    field_path = "created_at"
    order      = "DESCENDING"
  }
}

# /debug?correlationId=X and /movie/{id}/debug, newest first.
resource "google_firestore_index" "debug_by_correlation" {
  project    = var.project_id
  database   = google_firestore_database.default.name
  collection = "debug"

  fields {
    field_path = "correlation_id"
    order      = "ASCENDING"
  }

  fields {
    field_path = "created_at"
    order      = "DESCENDING"
  }
}

resource "google_firestore_index" "debug_by_movie" {
  project    = var.project_id
  database   = google_firestore_database.default.name
  collection = "debug"

  fields {
    field_path = "movie_id"
    order      = "ASCENDING"
  }

  fields {
    field_path = "created_at"
    order      = "DESCENDING"
  }
}

# /feed?type=roast and /feed?type=truth: this cache version's documents, newest first.
resource "google_firestore_index" "roasts_by_version" {
  project    = var.project_id
  database   = google_firestore_database.default.name
  collection = "roasts"

  fields {
    field_path = "cache_version"
    order      = "ASCENDING"
  }

  fields {
    field_path = "created_at"
    order      = "DESCENDING"
  }
}

resource "google_firestore_index" "truths_by_version" {
  project    = var.project_id
  database   = google_firestore_database.default.name
  collection = "truths"

  fields {
    field_path = "cache_version"
    order      = "ASCENDING"
  }

  fields {
    field_path = "fetched_at"
    order      = "DESCENDING"
  }
}

# The sweep of stuck runs: where status == "in_progress" and started_at < deadline.
resource "google_firestore_index" "runs_by_status" {
  project    = var.project_id
  database   = google_firestore_database.default.name
  collection = "runs"

  fields {
    field_path = "status"
    order      = "ASCENDING"
  }

  fields {
    field_path = "started_at"
    order      = "ASCENDING"
  }
}
