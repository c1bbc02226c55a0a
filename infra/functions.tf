# The function targets: Cloud Functions 2nd gen, Node.js 22, each from its own bundle
# (dist/<target>.zip: the entry file and only what it imports). Sizes, timeouts and
# concurrency are in locals.tf with the reasoning. All but the API accept internal
# traffic only (Pub/Sub, Eventarc and Cloud Scheduler count as internal in the project)
# and require an identity token from their one caller (iam.tf).
#
# One resource for all of them, over local.deployed_functions: what differs between
# targets is data (local.function_specs), what they share is written once.

locals {
  # Per target: what it is for, who may reach it, its environment and its secrets.
  function_specs = {
    submitExport = {
      description = "Request messages (push subscription on ${google_pubsub_topic.requests.name}) → Earth Engine exports"
      ingress     = "ALLOW_INTERNAL_ONLY"
      env         = local.env_common
      secrets     = local.tenants_env
    }
    pollExports = {
      description = "Cloud Scheduler, once a minute → follows Earth Engine operations, releases queued jobs, retries webhooks"
      ingress     = "ALLOW_INTERNAL_ONLY"
      env         = merge(local.env_common, local.env_poll)
      # The poller's sweep sends webhook retries, so it signs too.
      secrets = concat(local.webhook_secret_env, local.tenants_env)
    }
    deliverWebhook = {
      description = "Job events (push subscription on ${google_pubsub_topic.events.name}) → signed webhook calls"
      ingress     = "ALLOW_INTERNAL_ONLY"
      env         = local.env_common
      secrets     = concat(local.webhook_secret_env, local.tenants_env)
    }
    api = {
      description = "HTTP API: submit, list, get and cancel jobs (auth: ${var.api_auth_mode})"
      # Its callers are outside the project; IAM (and, by mode, the check in code) keeps it closed.
      ingress = "ALLOW_ALL"
      env     = merge(local.env_common, local.env_api)
      secrets = concat(local.api_keys_env, local.tenants_env)
    }
    onObjectFinalized = {
      description = "Objects finalized in a watched bucket → exports, by the upload rules"
      ingress     = "ALLOW_INTERNAL_ONLY"
      env         = merge(local.env_common, local.env_upload)
      secrets     = local.tenants_env
    }
  }

  webhook_secret_env = var.webhook_secret_id == null ? [] : [{ key = "WEBHOOK_SECRETS", secret = var.webhook_secret_id, version = var.webhook_secret_version }]
  api_keys_env       = var.api_auth_mode == "api-key" ? [{ key = "API_KEYS", secret = var.api_keys_secret_id, version = "latest" }] : []

  # What is deployed: each target once by its name, except onObjectFinalized, deployed once
  # per watched bucket (a Cloud Storage trigger watches exactly one bucket) as
  # "onObjectFinalized/<hash of the bucket name>". `bucket` is that bucket, null elsewhere.
  deployed_functions = merge(
    { for target, spec in local.function_specs : target => merge(spec, { target = target, name = local.function_names[target], bucket = null }) if target != "onObjectFinalized" },
    {
      for key, bucket in local.upload_functions : "onObjectFinalized/${key}" => merge(local.function_specs.onObjectFinalized, {
        target      = "onObjectFinalized"
        name        = "${local.function_names.onObjectFinalized}-${key}"
        description = "Objects finalized in gs://${bucket} → exports, by the upload rules"
        bucket      = bucket
      })
    },
  )
}

resource "google_cloudfunctions2_function" "fn" {
  for_each    = local.deployed_functions
  name        = each.value.name
  location    = var.region
  description = each.value.description

  build_config {
    runtime         = "nodejs22"
    entry_point     = each.value.target
    service_account = google_service_account.build.id
    source {
      storage_source {
        bucket = google_storage_bucket.sources.name
        object = google_storage_bucket_object.bundle[each.value.target].name
      }
    }
  }

  service_config {
    available_memory                 = local.functions[each.value.target].memory
    available_cpu                    = local.functions[each.value.target].cpu
    timeout_seconds                  = local.functions[each.value.target].timeout
    max_instance_request_concurrency = local.functions[each.value.target].concurrency
    max_instance_count               = local.functions[each.value.target].max_instances
    min_instance_count               = 0
    ingress_settings                 = each.value.ingress
    all_traffic_on_latest_revision   = true
    service_account_email            = google_service_account.fn[each.value.target].email
    environment_variables            = merge(each.value.env, var.extra_env)

    dynamic "secret_environment_variables" {
      for_each = each.value.secrets
      content {
        key        = secret_environment_variables.value.key
        project_id = var.project_id
        secret     = secret_environment_variables.value.secret
        version    = secret_environment_variables.value.version
      }
    }
  }

  # onObjectFinalized only: its bucket's events.
  dynamic "event_trigger" {
    for_each = each.value.bucket == null ? [] : [each.value.bucket]
    content {
      # A Cloud Storage trigger lives where its bucket does.
      trigger_region = lower(data.google_storage_bucket.upload[event_trigger.value].location)
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
        value     = event_trigger.value
      }
    }
  }

  depends_on = [
    google_project_iam_member.build_builder,
    google_storage_bucket_iam_member.build_sources,
    google_secret_manager_secret_iam_member.webhook_secret,
    google_secret_manager_secret_iam_member.api_keys,
    google_secret_manager_secret_iam_member.tenants,
    # The first Cloud Storage trigger: after Eventarc's and Cloud Storage's service agents have their roles.
    time_sleep.eventarc_grants,
    terraform_data.upload_rules_check,
  ]
}

# Addresses before one resource served every target: state moves instead of a replacement.
# (The functions of watched buckets were keyed by the bucket hash alone; they are recreated.)
moved {
  from = google_cloudfunctions2_function.submit_export
  to   = google_cloudfunctions2_function.fn["submitExport"]
}

moved {
  from = google_cloudfunctions2_function.poll_exports
  to   = google_cloudfunctions2_function.fn["pollExports"]
}

moved {
  from = google_cloudfunctions2_function.deliver_webhook
  to   = google_cloudfunctions2_function.fn["deliverWebhook"]
}

moved {
  from = google_cloudfunctions2_function.api
  to   = google_cloudfunctions2_function.fn["api"]
}
