# The functions' source: the repository root (main.py, functions/, requirements.txt)
# zipped without the parts that are not runtime code, uploaded under its MD5 so a
# code change is a new object and redeploys all three functions.

data "archive_file" "source" {
  type        = "zip"
  source_dir  = "${path.module}/.."
  output_path = "${path.module}/build/plotburn-source.zip"

  excludes = [
    ".ci",
    ".env",
    ".git",
    ".github",
    ".gitignore",
    ".hypothesis",
    ".mypy_cache",
    ".pytest_cache",
    ".ruff_cache",
    ".stack",
    ".venv",
    "Makefile",
    "README.md",
    "bench",
    "build",
    "docs",
    "infra",
    "local_stack",
    "plotburn.egg-info",
    "plotburn_cli",
    "pyproject.toml",
    "requirements-dev.txt",
    "shared",
    "smoke",
    "test-output",
    "tests",
    "upstream_sim",
    "**/__pycache__",
    "**/*.pyc",
  ]
}

resource "google_storage_bucket" "source" {
  name                        = "${var.project_id}-plotburn-source"
  location                    = var.region
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = true
  labels                      = local.labels

  depends_on = [google_project_service.apis]
}

resource "google_storage_bucket_object" "source" {
  name   = "plotburn-source-${data.archive_file.source.output_md5}.zip"
  bucket = google_storage_bucket.source.name
  source = data.archive_file.source.output_path
}
