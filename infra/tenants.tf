# Tenants (docs/tenants.md). Each tenant has its own requests topic, so the topic a
# message came through — which its push subscription's endpoint names, and no
# publisher can change — says whose the request is. Per tenant: one topic, one push
# subscription to submitExport with the shared topic's retry and dead-letter policy
# (local.push_deliveries, pubsub.tf), and its publishers allowed on that topic only.
# What a tenant may do (API keys, callers, projects, buckets, asset folders, webhook
# secrets) is TENANTS, read from Secret Manager by every function, so no key or secret
# enters Terraform state.

locals {
  tenants = { for t in var.tenants : t.id => t }
  tenant_publishers = {
    for pair in flatten([for t in var.tenants : [for m in t.publishers : { key = "${t.id}/${m}", id = t.id, member = m }]]) : pair.key => pair
  }
  tenants_env = var.tenants_secret_id == null ? [] : [{ key = "TENANTS", secret = var.tenants_secret_id, version = var.tenants_secret_version }]
}

resource "google_pubsub_topic" "tenant_requests" {
  for_each = local.tenants
  # {REQUESTS_TOPIC}-{id}: the name the code reads the tenant from.
  name                       = "${google_pubsub_topic.requests.name}-${each.key}"
  message_retention_duration = "604800s"

  depends_on = [google_project_service.enabled]
}

resource "google_pubsub_topic_iam_member" "tenant_publisher" {
  for_each = local.tenant_publishers
  topic    = google_pubsub_topic.tenant_requests[each.value.id].id
  # The tenant's own publishers send its requests, on its topic only: the topic is what names the tenant.
  role   = "roles/pubsub.publisher"
  member = each.value.member
}

resource "google_secret_manager_secret_iam_member" "tenants" {
  for_each  = length(var.tenants) > 0 ? local.runtime_accounts : {}
  project   = var.project_id
  secret_id = var.tenants_secret_id
  # Reads TENANTS, this secret only: every target routes, scopes, checks or signs by it.
  role   = "roles/secretmanager.secretAccessor"
  member = google_service_account.fn[each.key].member

  lifecycle {
    precondition {
      condition     = var.tenants_secret_id != null
      error_message = "tenants needs tenants_secret_id: the Secret Manager secret holding TENANTS (docs/tenants.md)."
    }
    precondition {
      # API_AUTH=none cannot tell one tenant's callers from another's; the api function refuses it.
      condition     = var.api_auth_mode != "iam"
      error_message = "tenants need api_auth_mode = api-key or oidc, so that the API knows whose each caller is."
    }
  }
}
