# Identities and least-privilege grants.
#
#   plotburn-api     runtime of api:    Firestore; publish to nightly + roast topics;
#                                       admin token, TMDB, Perplexity, xAI secrets
#   plotburn-fanout  runtime of fanout: Firestore; publish to roast topic; TMDB secret
#   plotburn-roast   runtime of roast:  Firestore; TMDB, Perplexity, xAI secrets;
#                                       publishes nothing
#   plotburn-push    OIDC identity of the push subscriptions: invokes fanout + roast
#   plotburn-build   Cloud Build identity for the three builds
#
# Topic, subscription, secret and service-level grants are made on the resource
# itself; the only project-level grants are Firestore access for the runtimes
# (Firestore has no finer IAM resource) and the builder role for the build identity.
# Cloud Scheduler publishes through its own Google-managed service agent, so it
# needs no account here.

resource "google_service_account" "api" {
  account_id   = "plotburn-api"
  display_name = "PlotBurn api function"

  depends_on = [google_project_service.apis]
}

resource "google_service_account" "fanout" {
  account_id   = "plotburn-fanout"
  display_name = "PlotBurn fanout function"

  depends_on = [google_project_service.apis]
}

resource "google_service_account" "roast" {
  account_id   = "plotburn-roast"
  display_name = "PlotBurn roast function"

  depends_on = [google_project_service.apis]
}

resource "google_service_account" "push" {
  account_id   = "plotburn-push"
  display_name = "PlotBurn Pub/Sub push (OIDC invoker of fanout and roast)"

  depends_on = [google_project_service.apis]
}

resource "google_service_account" "build" {
  account_id   = "plotburn-build"
  display_name = "PlotBurn Cloud Build (builds the functions)"

  depends_on = [google_project_service.apis]
}

locals {
  runtime_members = {
    api    = "serviceAccount:${google_service_account.api.email}"
    fanout = "serviceAccount:${google_service_account.fanout.email}"
    roast  = "serviceAccount:${google_service_account.roast.email}"
  }

  # One entry per (function, secret) pair in local.secret_access.
  secret_grants = {
    for pair in flatten([
      for fn, keys in local.secret_access : [for key in keys : { fn = fn, key = key }]
    ]) : "${pair.fn}/${pair.key}" => pair
  }
}

# --- Firestore -------------------------------------------------------------

resource "google_project_iam_member" "datastore_user" {
  for_each = local.runtime_members

  project = var.project_id
  role    = "roles/datastore.user"
  member  = each.value
}

# --- Build -----------------------------------------------------------------

# Google's documented role for a Cloud Functions/Cloud Run build service account:
# read the source, write build logs, push the image to Artifact Registry.
resource "google_project_iam_member" "build" {
  project = var.project_id
  role    = "roles/run.builder"
  member  = "serviceAccount:${google_service_account.build.email}"
}

# --- Pub/Sub publishing ------------------------------------------------------

resource "google_pubsub_topic_iam_member" "api_publishes_nightly" {
  topic  = google_pubsub_topic.nightly.id
  role   = "roles/pubsub.publisher"
  member = local.runtime_members.api
}

resource "google_pubsub_topic_iam_member" "api_publishes_roast" {
  topic  = google_pubsub_topic.roast.id
  role   = "roles/pubsub.publisher"
  member = local.runtime_members.api
}

resource "google_pubsub_topic_iam_member" "fanout_publishes_roast" {
  topic  = google_pubsub_topic.roast.id
  role   = "roles/pubsub.publisher"
  member = local.runtime_members.fanout
}

# --- Dead-lettering ----------------------------------------------------------
# The Pub/Sub service agent forwards undeliverable messages: it publishes to the
# dead-letter topic and acknowledges them on the source subscription.

resource "google_pubsub_topic_iam_member" "pubsub_agent_publishes_dead_letter" {
  topic  = google_pubsub_topic.dead_letter.id
  role   = "roles/pubsub.publisher"
  member = local.pubsub_service_agent
}

resource "google_pubsub_subscription_iam_member" "pubsub_agent_acks_fanout" {
  subscription = google_pubsub_subscription.fanout.id
  role         = "roles/pubsub.subscriber"
  member       = local.pubsub_service_agent
}

resource "google_pubsub_subscription_iam_member" "pubsub_agent_acks_roast" {
  subscription = google_pubsub_subscription.roast.id
  role         = "roles/pubsub.subscriber"
  member       = local.pubsub_service_agent
}

# --- Push authentication -----------------------------------------------------
# The Pub/Sub service agent mints the OIDC tokens for plotburn-push. Projects
# created since April 2021 grant this through the agent's own role; the grant on
# this one account makes older projects work too.

resource "google_service_account_iam_member" "pubsub_agent_mints_push_tokens" {
  service_account_id = google_service_account.push.name
  role               = "roles/iam.serviceAccountTokenCreator"
  member             = local.pubsub_service_agent
}

resource "google_cloud_run_v2_service_iam_member" "push_invokes_fanout" {
  project  = var.project_id
  location = google_cloudfunctions2_function.fanout.location
  name     = google_cloudfunctions2_function.fanout.name
  role     = "roles/run.invoker"
  member   = "serviceAccount:${google_service_account.push.email}"
}

resource "google_cloud_run_v2_service_iam_member" "push_invokes_roast" {
  project  = var.project_id
  location = google_cloudfunctions2_function.roast.location
  name     = google_cloudfunctions2_function.roast.name
  role     = "roles/run.invoker"
  member   = "serviceAccount:${google_service_account.push.email}"
}

# --- Public API --------------------------------------------------------------
# api is public; its admin routes check PLOTBURN_ADMIN_TOKEN themselves.

resource "google_cloud_run_v2_service_iam_member" "public_invokes_api" {
  project  = var.project_id
  location = google_cloudfunctions2_function.api.location
  name     = google_cloudfunctions2_function.api.name
  role     = "roles/run.invoker"
  member   = "allUsers"
}

# --- Secrets -----------------------------------------------------------------

resource "google_secret_manager_secret_iam_member" "access" {
  for_each = local.secret_grants

  project   = var.project_id
  secret_id = google_secret_manager_secret.plotburn[each.value.key].secret_id
  role      = "roles/secretmanager.secretAccessor"
  member    = local.runtime_members[each.value.fn]
}

# --- Propagation ---------------------------------------------------------------
# Terraform creates a grant as soon as the IAM API accepts it, but IAM applies it
# everywhere only later (Google: usually within minutes). Ordering alone would let
# a first deploy in a fresh project build with a build identity that cannot read
# the source yet, or start an instance that cannot read its secrets, and fail
# until rerun. Every function depends on this wait, and the wait on every grant
# made before the functions exist (the invoker and subscription grants need the
# functions and subscriptions themselves, and Pub/Sub retries a refused push).
# It runs once, on creation; later grants do not make a deploy wait again.

resource "time_sleep" "iam_propagation" {
  create_duration = local.iam_propagation_wait

  depends_on = [
    google_project_iam_member.build,
    google_project_iam_member.datastore_user,
    google_secret_manager_secret_iam_member.access,
    google_pubsub_topic_iam_member.api_publishes_nightly,
    google_pubsub_topic_iam_member.api_publishes_roast,
    google_pubsub_topic_iam_member.fanout_publishes_roast,
    google_pubsub_topic_iam_member.pubsub_agent_publishes_dead_letter,
    google_service_account_iam_member.pubsub_agent_mints_push_tokens,
  ]
}

locals {
  iam_propagation_wait = "120s"
}
