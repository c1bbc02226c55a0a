# The function targets: Cloud Functions 2nd gen, Node.js 22, each from its own bundle
# (dist/<target>.zip: the entry file and only what it imports). Sizes, timeouts and
# concurrency are in locals.tf with the reasoning. All but the API accept internal
# traffic only (Pub/Sub, Eventarc and Cloud Scheduler count as internal in the project)
# and require an identity token from their one caller (iam.tf).

resource "google_cloudfunctions2_function" "submit_export" {
  name        = local.function_names.submitExport
  location    = var.region
  description = "Request messages (push subscription on ${google_pubsub_topic.requests.name}) → Earth Engine exports"

  build_config {
    runtime         = "nodejs22"
    entry_point     = "submitExport"
    service_account = google_service_account.build.id
    source {
      storage_source {
        bucket = google_storage_bucket.sources.name
        object = google_storage_bucket_object.bundle["submitExport"].name
      }
    }
  }

  service_config {
    available_memory                 = local.functions.submitExport.memory
    available_cpu                    = local.functions.submitExport.cpu
    timeout_seconds                  = local.functions.submitExport.timeout
    max_instance_request_concurrency = local.functions.submitExport.concurrency
    max_instance_count               = local.functions.submitExport.max_instances
    min_instance_count               = 0
    ingress_settings                 = "ALLOW_INTERNAL_ONLY"
    all_traffic_on_latest_revision   = true
    service_account_email            = google_service_account.fn["submitExport"].email
    environment_variables            = merge(local.env_common, var.extra_env)
  }

  depends_on = [
    google_project_iam_member.build_logs,
    google_project_iam_member.build_images,
    google_storage_bucket_iam_member.build_sources,
  ]
}

resource "google_cloudfunctions2_function" "poll_exports" {
  name        = local.function_names.pollExports
  location    = var.region
  description = "Cloud Scheduler, once a minute → follows Earth Engine operations, releases queued jobs, retries webhooks"

  build_config {
    runtime         = "nodejs22"
    entry_point     = "pollExports"
    service_account = google_service_account.build.id
    source {
      storage_source {
        bucket = google_storage_bucket.sources.name
        object = google_storage_bucket_object.bundle["pollExports"].name
      }
    }
  }

  service_config {
    available_memory                 = local.functions.pollExports.memory
    available_cpu                    = local.functions.pollExports.cpu
    timeout_seconds                  = local.functions.pollExports.timeout
    max_instance_request_concurrency = local.functions.pollExports.concurrency
    max_instance_count               = local.functions.pollExports.max_instances
    min_instance_count               = 0
    ingress_settings                 = "ALLOW_INTERNAL_ONLY"
    all_traffic_on_latest_revision   = true
    service_account_email            = google_service_account.fn["pollExports"].email
    environment_variables            = merge(local.env_common, local.env_poll, var.extra_env)

    # The poller's sweep sends webhook retries, so it signs too.
    dynamic "secret_environment_variables" {
      for_each = var.webhook_secret_id == null ? [] : [var.webhook_secret_id]
      content {
        key        = "WEBHOOK_SECRETS"
        project_id = var.project_id
        secret     = secret_environment_variables.value
        version    = var.webhook_secret_version
      }
    }
  }

  depends_on = [
    google_project_iam_member.build_logs,
    google_project_iam_member.build_images,
    google_storage_bucket_iam_member.build_sources,
    google_secret_manager_secret_iam_member.webhook_secret,
  ]
}

resource "google_cloudfunctions2_function" "deliver_webhook" {
  name        = local.function_names.deliverWebhook
  location    = var.region
  description = "Job events (push subscription on ${google_pubsub_topic.events.name}) → signed webhook calls"

  build_config {
    runtime         = "nodejs22"
    entry_point     = "deliverWebhook"
    service_account = google_service_account.build.id
    source {
      storage_source {
        bucket = google_storage_bucket.sources.name
        object = google_storage_bucket_object.bundle["deliverWebhook"].name
      }
    }
  }

  service_config {
    available_memory                 = local.functions.deliverWebhook.memory
    available_cpu                    = local.functions.deliverWebhook.cpu
    timeout_seconds                  = local.functions.deliverWebhook.timeout
    max_instance_request_concurrency = local.functions.deliverWebhook.concurrency
    max_instance_count               = local.functions.deliverWebhook.max_instances
    min_instance_count               = 0
    ingress_settings                 = "ALLOW_INTERNAL_ONLY"
    all_traffic_on_latest_revision   = true
    service_account_email            = google_service_account.fn["deliverWebhook"].email
    environment_variables            = merge(local.env_common, var.extra_env)

    dynamic "secret_environment_variables" {
      for_each = var.webhook_secret_id == null ? [] : [var.webhook_secret_id]
      content {
        key        = "WEBHOOK_SECRETS"
        project_id = var.project_id
        secret     = secret_environment_variables.value
        version    = var.webhook_secret_version
      }
    }
  }

  depends_on = [
    google_project_iam_member.build_logs,
    google_project_iam_member.build_images,
    google_storage_bucket_iam_member.build_sources,
    google_secret_manager_secret_iam_member.webhook_secret,
  ]
}

resource "google_cloudfunctions2_function" "api" {
  name        = local.function_names.api
  location    = var.region
  description = "HTTP API: submit, list, get and cancel jobs (auth: ${var.api_auth_mode})"

  build_config {
    runtime         = "nodejs22"
    entry_point     = "api"
    service_account = google_service_account.build.id
    source {
      storage_source {
        bucket = google_storage_bucket.sources.name
        object = google_storage_bucket_object.bundle["api"].name
      }
    }
  }

  service_config {
    available_memory                 = local.functions.api.memory
    available_cpu                    = local.functions.api.cpu
    timeout_seconds                  = local.functions.api.timeout
    max_instance_request_concurrency = local.functions.api.concurrency
    max_instance_count               = local.functions.api.max_instances
    min_instance_count               = 0
    # Its callers are outside the project; IAM (and, by mode, the check in code) keeps it closed.
    ingress_settings               = "ALLOW_ALL"
    all_traffic_on_latest_revision = true
    service_account_email          = google_service_account.fn["api"].email
    environment_variables          = merge(local.env_common, local.env_api, var.extra_env)

    dynamic "secret_environment_variables" {
      for_each = var.api_auth_mode == "api-key" ? [var.api_keys_secret_id] : []
      content {
        key        = "API_KEYS"
        project_id = var.project_id
        secret     = secret_environment_variables.value
        version    = "latest"
      }
    }
  }

  depends_on = [
    google_project_iam_member.build_logs,
    google_project_iam_member.build_images,
    google_storage_bucket_iam_member.build_sources,
    google_secret_manager_secret_iam_member.api_keys,
  ]
}

# One function per watched bucket: a Cloud Storage trigger watches exactly one bucket.
resource "google_cloudfunctions2_function" "on_object_finalized" {
  for_each    = local.upload_functions
  name        = "${local.function_names.onObjectFinalized}-${each.key}"
  location    = var.region
  description = "Objects finalized in gs://${each.value} → exports, by the upload rules"

  build_config {
    runtime         = "nodejs22"
    entry_point     = "onObjectFinalized"
    service_account = google_service_account.build.id
    source {
      storage_source {
        bucket = google_storage_bucket.sources.name
        object = google_storage_bucket_object.bundle["onObjectFinalized"].name
      }
    }
  }

  service_config {
    available_memory                 = local.functions.onObjectFinalized.memory
    available_cpu                    = local.functions.onObjectFinalized.cpu
    timeout_seconds                  = local.functions.onObjectFinalized.timeout
    max_instance_request_concurrency = local.functions.onObjectFinalized.concurrency
    max_instance_count               = local.functions.onObjectFinalized.max_instances
    min_instance_count               = 0
    ingress_settings                 = "ALLOW_INTERNAL_ONLY"
    all_traffic_on_latest_revision   = true
    service_account_email            = google_service_account.fn["onObjectFinalized"].email
    environment_variables            = merge(local.env_common, local.env_upload, var.extra_env)
  }

  event_trigger {
    # A Cloud Storage trigger lives where its bucket does.
    trigger_region = lower(data.google_storage_bucket.upload[each.key].location)
    event_type     = "google.cloud.storage.object.v1.finalized"
    # Idempotent: the job id comes from the object's generation, so a redelivery finds the
    # same job. Retried with backoff for up to 24 h. Eventarc owns this trigger's
    # subscription, so it cannot have a dead-letter topic: an event still failing after a
    # day is dropped, and the object is re-submitted by copying it onto itself (a new
    # generation, so a new job).
    retry_policy          = "RETRY_POLICY_RETRY"
    service_account_email = google_service_account.eventarc.email
    event_filters {
      attribute = "bucket"
      value     = each.value
    }
  }

  depends_on = [
    google_project_iam_member.build_logs,
    google_project_iam_member.build_images,
    google_storage_bucket_iam_member.build_sources,
    google_project_iam_member.eventarc_receiver,
    google_project_iam_member.gcs_notifications,
    terraform_data.upload_rules_check,
  ]
}
