# Identities and roles. One runtime service account per function target, each holding
# only the roles its code uses, granted on the narrowest resource that works (a topic,
# a secret, a bucket, one Cloud Run service) and each with the reason. No basic roles,
# no admin roles; test/unit/infra.test.ts checks both and that every role has a reason.

locals {
  runtime_accounts = {
    submitExport      = { id = "submit", about = "eeport submitExport: turns request messages into Earth Engine exports" }
    pollExports       = { id = "poll", about = "eeport pollExports: follows Earth Engine operations, releases queued jobs, retries webhooks" }
    deliverWebhook    = { id = "webhook", about = "eeport deliverWebhook: calls job callback URLs, signed" }
    onObjectFinalized = { id = "upload", about = "eeport onObjectFinalized: turns uploaded objects into exports" }
    api               = { id = "api", about = "eeport api: the HTTP API (submit, list, get, cancel)" }
  }

  # Targets that call Earth Engine: submit (topic, uploads, API), and the poller, which reads
  # operations, cancels, re-submits stale jobs and submits the ones it releases from QUEUED.
  ee_callers = ["submitExport", "pollExports", "onObjectFinalized", "api"]
  ee_grants = {
    for pair in setproduct(local.ee_callers, local.ee_projects) : "${pair[0]}/${pair[1]}" => { target = pair[0], project = pair[1] }
  }
  export_grants = {
    for pair in setproduct(local.ee_callers, var.export_buckets) : "${pair[0]}/${pair[1]}" => { target = pair[0], bucket = pair[1] }
  }
  # Who reads uploaded objects: Earth Engine loads them with the identity that submits the
  # export, which is onObjectFinalized, or the poller when it submits a job it released.
  upload_readers = ["onObjectFinalized", "pollExports"]
  upload_grants = {
    for pair in setproduct(local.upload_readers, local.upload_buckets) : "${pair[0]}/${pair[1]}" => { target = pair[0], bucket = pair[1] }
  }
  # The targets that sign webhooks: deliverWebhook, and the poller, whose sweep sends the retries.
  webhook_signers = var.webhook_secret_id == null ? [] : ["deliverWebhook", "pollExports"]

  # Pub/Sub's and Eventarc's service agents, created (if need be) before they are granted anything (main.tf).
  pubsub_service_agent   = google_project_service_identity.agent["pubsub.googleapis.com"].member
  eventarc_service_agent = google_project_service_identity.agent["eventarc.googleapis.com"].member
}

resource "google_service_account" "fn" {
  for_each     = local.runtime_accounts
  account_id   = "${var.name_prefix}-${each.value.id}"
  display_name = "eeport ${each.key}"
  description  = each.value.about

  depends_on = [google_project_service.enabled]
}

# --- Runtime roles ---------------------------------------------------------------

resource "google_project_iam_member" "firestore_user" {
  for_each = local.runtime_accounts
  project  = var.project_id
  # Firestore reads, writes and transactions on jobs, outbox, leases, deliveries (Firestore IAM is project-wide).
  role   = "roles/datastore.user"
  member = google_service_account.fn[each.key].member
}

resource "google_pubsub_topic_iam_member" "events_publisher" {
  for_each = local.runtime_accounts
  topic    = google_pubsub_topic.events.id
  # Every target writes state changes with their events and relays them to the events topic (the outbox relay).
  role   = "roles/pubsub.publisher"
  member = google_service_account.fn[each.key].member
}

resource "google_project_iam_member" "ee_writer" {
  for_each = local.ee_grants
  project  = each.value.project
  # Earth Engine: start exports (image:export), get, list and cancel operations in this Earth Engine project.
  role   = "roles/earthengine.writer"
  member = google_service_account.fn[each.value.target].member
}

resource "google_project_iam_member" "ee_quota" {
  for_each = local.ee_grants
  project  = each.value.project
  # Earth Engine requests are charged to this project's quota; using it needs serviceusage.services.use.
  role   = "roles/serviceusage.serviceUsageConsumer"
  member = google_service_account.fn[each.value.target].member
}

resource "google_storage_bucket_iam_member" "export_writer" {
  for_each = local.export_grants
  bucket   = each.value.bucket
  # Earth Engine writes export files with the submitting identity; a re-run replaces files of the same name (create + delete, no IAM rights).
  role   = "roles/storage.objectUser"
  member = google_service_account.fn[each.value.target].member
}

resource "google_storage_bucket_iam_member" "upload_reader" {
  for_each = local.upload_grants
  bucket   = each.value.bucket
  # Earth Engine loads the uploaded object (Image.loadGeoTIFF) with the identity that submits its export.
  role   = "roles/storage.objectViewer"
  member = google_service_account.fn[each.value.target].member
}

resource "google_secret_manager_secret_iam_member" "webhook_secret" {
  for_each  = toset(local.webhook_signers)
  project   = var.project_id
  secret_id = var.webhook_secret_id
  # Reads the webhook signing secrets (WEBHOOK_SECRETS), this secret only.
  role   = "roles/secretmanager.secretAccessor"
  member = google_service_account.fn[each.key].member
}

resource "google_secret_manager_secret_iam_member" "api_keys" {
  count     = var.api_auth_mode == "api-key" ? 1 : 0
  project   = var.project_id
  secret_id = var.api_keys_secret_id
  # Reads the API keys the api function accepts (API_KEYS), this secret only.
  role   = "roles/secretmanager.secretAccessor"
  member = google_service_account.fn["api"].member

  lifecycle {
    precondition {
      condition     = var.api_keys_secret_id != null
      error_message = "api_auth_mode = api-key needs api_keys_secret_id."
    }
  }
}

# --- Callers of the functions ---------------------------------------------------------

# Cloud Scheduler signs its calls to the poller as this account.
resource "google_service_account" "scheduler" {
  account_id   = "${var.name_prefix}-scheduler"
  display_name = "eeport Cloud Scheduler (calls pollExports)"

  depends_on = [google_project_service.enabled]
}

resource "google_cloud_run_v2_service_iam_member" "poll_invoker" {
  project  = var.project_id
  location = var.region
  name     = google_cloudfunctions2_function.fn["pollExports"].name
  # The scheduler may invoke the poller's service, and nothing else (no project-wide invoker).
  role   = "roles/run.invoker"
  member = google_service_account.scheduler.member
}

# Pub/Sub signs its pushes to submitExport and deliverWebhook as this account.
resource "google_service_account" "pubsub_push" {
  account_id   = "${var.name_prefix}-pubsub-push"
  display_name = "eeport Pub/Sub push (calls submitExport, deliverWebhook)"

  depends_on = [google_project_service.enabled]
}

resource "google_cloud_run_v2_service_iam_member" "push_invoker" {
  for_each = {
    submitExport   = google_cloudfunctions2_function.fn["submitExport"].name
    deliverWebhook = google_cloudfunctions2_function.fn["deliverWebhook"].name
  }
  project  = var.project_id
  location = var.region
  name     = each.value
  # Pub/Sub delivers the subscription's messages to this one service.
  role   = "roles/run.invoker"
  member = google_service_account.pubsub_push.member
}

resource "google_service_account_iam_member" "pubsub_token_creator" {
  service_account_id = google_service_account.pubsub_push.name
  # Pub/Sub's service agent mints the push OIDC tokens as the push account (required for projects created before April 2021), on this account only.
  role   = "roles/iam.serviceAccountTokenCreator"
  member = local.pubsub_service_agent
}

# Eventarc delivers Cloud Storage events to onObjectFinalized as this account.
resource "google_service_account" "eventarc" {
  account_id   = "${var.name_prefix}-eventarc"
  display_name = "eeport Eventarc trigger (calls onObjectFinalized)"

  depends_on = [google_project_service.enabled]
}

resource "google_project_iam_member" "eventarc_receiver" {
  count   = length(local.upload_functions) > 0 ? 1 : 0
  project = var.project_id
  # A trigger's service account must be able to receive Eventarc events (granted on the project only).
  role   = "roles/eventarc.eventReceiver"
  member = google_service_account.eventarc.member
}

resource "google_cloud_run_v2_service_iam_member" "upload_invoker" {
  for_each = local.upload_functions
  project  = var.project_id
  location = var.region
  name     = google_cloudfunctions2_function.fn["onObjectFinalized/${each.key}"].name
  # Eventarc delivers this bucket's events to this one service.
  role   = "roles/run.invoker"
  member = google_service_account.eventarc.member
}

resource "google_project_iam_member" "eventarc_agent" {
  count   = length(local.upload_functions) > 0 ? 1 : 0
  project = var.project_id
  # Eventarc's service agent makes and runs the Cloud Storage triggers' subscriptions: its own role (a generated identity is not always granted it).
  role   = "roles/eventarc.serviceAgent"
  member = local.eventarc_service_agent
}

resource "google_project_iam_member" "gcs_notifications" {
  count   = length(local.upload_functions) > 0 ? 1 : 0
  project = var.project_id
  # Cloud Storage's service agent publishes the object notifications Eventarc's storage triggers are built on.
  role   = "roles/pubsub.publisher"
  member = "serviceAccount:${data.google_storage_project_service_account.gcs.email_address}"
}

# API callers, by mode (api_auth_mode): IAM members, the oidc callers (typed members too), or everyone (api keys).
resource "google_cloud_run_v2_service_iam_member" "api_invoker" {
  for_each = toset(
    var.api_auth_mode == "api-key" ? ["allUsers"] : concat(var.api_invokers, var.api_auth_mode == "oidc" ? var.api_allowed_callers : [])
  )
  project  = var.project_id
  location = var.region
  name     = google_cloudfunctions2_function.fn["api"].name
  # Who may call the HTTP API (api-key mode: anyone reaches it, the key is checked in code).
  role   = "roles/run.invoker"
  member = each.value
}

# --- Dead-lettering: Pub/Sub's own service agent ------------------------------------------

resource "google_pubsub_topic_iam_member" "dead_letter_publisher" {
  for_each = google_pubsub_topic.dead_letter
  topic    = each.value.id
  # Pub/Sub forwards messages that ran out of delivery attempts to this dead-letter topic.
  role   = "roles/pubsub.publisher"
  member = local.pubsub_service_agent
}

resource "google_pubsub_subscription_iam_member" "dead_letter_subscriber" {
  for_each     = local.push_deliveries
  subscription = google_pubsub_subscription.push[each.key].id
  # Pub/Sub acknowledges a message on the source subscription once it is dead-lettered.
  role   = "roles/pubsub.subscriber"
  member = local.pubsub_service_agent
}

# --- Builds ---------------------------------------------------------------------------------

# Cloud Build builds the function images as this account, not the default compute account.
resource "google_service_account" "build" {
  account_id   = "${var.name_prefix}-build"
  display_name = "eeport function builds"

  depends_on = [google_project_service.enabled]
}

resource "google_project_iam_member" "build_builder" {
  project = var.project_id
  # What Google documents for a custom build account of Cloud Run functions: write build logs, push images to the gcf-artifacts repository and read and write the gcf-v2-sources-* bucket (both made by the first deploy, so no narrower grant).
  role   = "roles/run.builder"
  member = google_service_account.build.member
}

resource "google_storage_bucket_iam_member" "build_sources" {
  bucket = google_storage_bucket.sources.name
  # Builds read the bundle zips, from this bucket only.
  role   = "roles/storage.objectViewer"
  member = google_service_account.build.member
}
