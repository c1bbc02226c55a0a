output "requests_topic" {
  description = "Publish ExportImageRequest messages (and cancels) here."
  value       = google_pubsub_topic.requests.name
}

output "tenant_requests_topics" {
  description = "Each tenant's requests topic, by tenant id: its publishers send its requests there (docs/tenants.md)."
  value       = { for id, t in google_pubsub_topic.tenant_requests : id => t.name }
}

output "events_topic" {
  description = "One CloudEvent per job state change; subscribe to it."
  value       = google_pubsub_topic.events.name
}

output "dead_letter_subscriptions" {
  description = "Messages that ran out of delivery attempts, kept 7 days: inspect, fix, republish."
  value       = { for k, s in google_pubsub_subscription.dead_letter_hold : k => s.name }
}

output "api_url" {
  description = "The HTTP API (POST/GET /v1/jobs, GET /v1/jobs/{jobId}, POST /v1/jobs/{jobId}:cancel)."
  value       = google_cloudfunctions2_function.fn["api"].service_config[0].uri
}

output "api_oidc_audience" {
  description = "Audience API callers put in their ID tokens (oidc mode; any of the service's run.app URLs works for IAM)."
  value       = local.run_url.api
}

output "poller_url" {
  description = "pollExports' URL, as Cloud Scheduler calls it (also its OIDC audience)."
  value       = local.run_url.pollExports
}

output "functions" {
  description = "Deployed function names by target."
  # onObjectFinalized once per watched bucket, as "onObjectFinalized/<bucket>".
  value = { for k, d in local.deployed_functions : (d.bucket == null ? k : "onObjectFinalized/${d.bucket}") => google_cloudfunctions2_function.fn[k].name }
}

output "service_accounts" {
  description = "Runtime service account of each function target."
  value       = { for k, sa in google_service_account.fn : k => sa.email }
}
