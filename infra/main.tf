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
data "google_storage_project_service_account" "gcs" {
  project = var.project_id
}

data "google_storage_bucket" "upload" {
  for_each = local.upload_functions
  name     = each.value
}

resource "google_project_service" "enabled" {
  for_each = toset([
    "artifactregistry.googleapis.com", # function images
    "cloudbuild.googleapis.com",       # function builds
    "cloudfunctions.googleapis.com",
    "cloudscheduler.googleapis.com",
    "earthengine.googleapis.com",
    "eventarc.googleapis.com", # Cloud Storage triggers
    "firestore.googleapis.com",
    "iam.googleapis.com",
    "pubsub.googleapis.com",
    "run.googleapis.com", # 2nd gen functions run on Cloud Run
    "secretmanager.googleapis.com",
    "storage.googleapis.com",
  ])
  project = var.project_id
  service = each.value
  # Other workloads in the project may use these APIs: never switch them off on destroy.
  disable_on_destroy = false
}

# Earth Engine must also be enabled in every Earth Engine project the functions call (and
# the project registered for Earth Engine: see the README's Deploying section).
resource "google_project_service" "earthengine" {
  for_each           = toset(local.ee_projects)
  project            = each.value
  service            = "earthengine.googleapis.com"
  disable_on_destroy = false
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
