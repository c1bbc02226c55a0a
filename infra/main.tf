# eeport on Google Cloud: Cloud Functions 2nd gen, Firestore, Pub/Sub, Cloud Scheduler.
#
#   locals.tf     names, timeouts and sizes (with the reasoning), environment per function
#   iam.tf        one service account per function, each role with the reason for it
#   pubsub.tf     topics, push subscriptions with retry and dead-letter policies
#   firestore.tf  database, composite indexes (from firestore.indexes.json), TTL
#   functions.tf  the function targets, from the bundles `npm run build` makes
#   scheduler.tf  the once-a-minute poller call
#
# `terraform validate` needs the provider, so it runs in Cloud Build (cloudbuild.yaml),
# not on machines without network; test/unit/infra.test.ts holds this code to the
# function code (targets, entry points, config variables, indexes, roles).

data "google_project" "this" {
  project_id = var.project_id
}

# Cloud Storage's service agent publishes the object notifications Eventarc turns into events.
# Reading it creates it if the project has none yet.
data "google_storage_project_service_account" "gcs" {
  project = var.project_id

  depends_on = [google_project_service.enabled]
}

# The watched buckets, by name.
data "google_storage_bucket" "upload" {
  for_each = toset(local.upload_buckets)
  name     = each.value

  lifecycle {
    postcondition {
      # A Cloud Storage trigger only watches a bucket of the function's own project.
      condition     = tostring(self.project_number) == tostring(data.google_project.this.number)
      error_message = "Upload bucket gs://${each.value} belongs to project number ${self.project_number}, not to ${var.project_id} (${data.google_project.this.number}): a Cloud Storage trigger only watches buckets of its own project. Deploy eeport in that project, or upload to a bucket of this one."
    }
  }
}

resource "google_project_service" "enabled" {
  for_each = toset([
    "artifactregistry.googleapis.com", # function images
    "cloudbuild.googleapis.com",       # function builds
    "cloudfunctions.googleapis.com",
    # Prerequisites: Terraform needs these two to read the project and enable the others,
    # so they must be on before the first apply (docs/deploying.md); listed to keep them on.
    "cloudresourcemanager.googleapis.com",
    "cloudscheduler.googleapis.com",
    "eventarc.googleapis.com", # Cloud Storage triggers
    "firestore.googleapis.com",
    "iam.googleapis.com",
    "pubsub.googleapis.com",
    "run.googleapis.com", # 2nd gen functions run on Cloud Run
    "secretmanager.googleapis.com",
    "serviceusage.googleapis.com",
    "storage.googleapis.com",
  ])
  project = var.project_id
  service = each.value
  # Other workloads in the project may use these APIs: never switch them off on destroy.
  disable_on_destroy = false
}

# Earth Engine, once per project: in every Earth Engine project the functions call (each
# must also be registered for Earth Engine: docs/deploying.md) and in this one, whose
# service accounts make the calls.
resource "google_project_service" "earthengine" {
  for_each           = toset(distinct(concat([var.project_id], local.ee_projects)))
  project            = each.value
  service            = "earthengine.googleapis.com"
  disable_on_destroy = false
}

# Service agents that are granted roles below (iam.tf): on a new project they may not
# exist yet when the API has just been enabled, and a grant to a missing account fails.
# Generating the identity creates the agent first (only the google-beta provider has it).
resource "google_project_service_identity" "agent" {
  provider = google-beta
  for_each = toset(["pubsub.googleapis.com", "eventarc.googleapis.com"])
  project  = var.project_id
  service  = each.value

  depends_on = [google_project_service.enabled]
}

# The first Cloud Storage trigger of a project fails while the service agents' new roles
# propagate ("Permission denied while using the Eventarc Service Agent", or Cloud Storage
# not yet allowed to publish): wait once after the grants, before any function is made.
resource "time_sleep" "eventarc_grants" {
  count           = length(local.upload_functions) > 0 ? 1 : 0
  create_duration = "120s"

  depends_on = [
    google_project_iam_member.eventarc_agent,
    google_project_iam_member.eventarc_receiver,
    google_project_iam_member.gcs_notifications,
  ]
}

# Bundles (`npm run build`): one zip per function target, named by its hash, so an
# unchanged function keeps its object and is not rebuilt.
resource "google_storage_bucket" "sources" {
  name                        = "${var.project_id}-${var.name_prefix}-sources"
  location                    = var.region
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = true

  depends_on = [google_project_service.enabled]
}

resource "google_storage_bucket_object" "bundle" {
  for_each = toset(local.function_targets)
  bucket   = google_storage_bucket.sources.name
  name     = "${each.key}-${local.bundles[each.key].sha256}.zip"
  source   = "${path.module}/${var.bundle_dir}/${local.bundles[each.key].zip}"

  lifecycle {
    # The function moves to the new object before the old one goes.
    create_before_destroy = true
    precondition {
      condition     = contains(keys(local.bundles), each.key)
      error_message = "No bundle for ${each.key} in ${var.bundle_dir}/manifest.json: run `npm run build` first."
    }
  }
}

# Every bucket an upload rule names must be watched, or that rule would never fire.
resource "terraform_data" "upload_rules_check" {
  input = local.upload_buckets

  lifecycle {
    precondition {
      condition     = length(setsubtract(local.upload_rule_buckets, local.upload_buckets)) == 0
      error_message = "upload_rules name buckets that upload_buckets does not watch: ${join(", ", setsubtract(local.upload_rule_buckets, local.upload_buckets))}."
    }
  }
}
