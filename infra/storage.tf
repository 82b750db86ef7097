# The functions' source: an allowlist, not the repository minus an exclude list.
# Only main.py, requirements.txt and the functions package (its modules and the
# dashboard page it serves) are zipped, so a stray .env.local, key file, venv/ or
# tool cache in the checkout is never deployed and never changes the archive's
# hash. A new kind of runtime file in functions/ (say, a .json the code reads) must
# be added to source_patterns; tests/infra fails until it is.
#
# Each file is one `source {}` block: the archive provider sorts the entries and
# gives them no timestamps or modes, so the same files always make the same zip.
# The object is named by its MD5: a code change is a new object and redeploys all
# three functions.

locals {
  source_root = "${path.module}/.."

  # Paths relative to the repository root (fileset patterns; no directories).
  source_top_level = ["main.py", "requirements.txt"]
  source_patterns  = ["functions/**/*.py", "functions/**/*.html"]

  source_files = sort(distinct(concat(
    local.source_top_level,
    flatten([for pattern in local.source_patterns : tolist(fileset(local.source_root, pattern))]),
  )))

  # Cloud Functions copies the archive when it builds (into its own bucket and the
  # image in Artifact Registry) and never reads this bucket again, so an archive
  # older than this is only a rollback aid. If Terraform finds the current one
  # gone, the next apply uploads it again before any function update needs it.
  source_retention_days = 30
}

data "archive_file" "source" {
  type        = "zip"
  output_path = "${path.module}/build/plotburn-source.zip"

  dynamic "source" {
    for_each = local.source_files

    content {
      content  = file("${local.source_root}/${source.value}")
      filename = source.value
    }
  }
}

resource "google_storage_bucket" "source" {
  name                        = "${var.project_id}-plotburn-source"
  location                    = var.region
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = true
  labels                      = local.labels

  # Old archives pile up at one per code change; delete them after a while.
  lifecycle_rule {
    condition {
      age = local.source_retention_days
    }
    action {
      type = "Delete"
    }
  }

  depends_on = [google_project_service.apis]
}

resource "google_storage_bucket_object" "source" {
  name   = "plotburn-source-${data.archive_file.source.output_md5}.zip"
  bucket = google_storage_bucket.source.name
  source = data.archive_file.source.output_path
}
