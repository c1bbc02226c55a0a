# Topics and the subscriptions that drive the functions.
#
# The requests and events topics reach submitExport and deliverWebhook through push
# subscriptions declared here rather than through Eventarc triggers: a trigger's
# subscription is managed by Eventarc and cannot be given a dead-letter topic, and
# without one a message that keeps failing is dropped when its retries run out. Here
# every push subscription has an explicit retry policy, a delivery-attempt limit, and
# a dead-letter topic with its own subscription that keeps what lands there for 7 days
# (inspect, fix, then republish). The functions framework turns the raw push into the
# same CloudEvent an Eventarc trigger delivers (test/unit/pubsub-push.test.ts).

resource "google_pubsub_topic" "requests" {
  name = "${var.name_prefix}-requests"
  # Seekable for 7 days: after an outage or a fix, the subscription can replay what it acked.
  message_retention_duration = "604800s"

  depends_on = [google_project_service.enabled]
}

resource "google_pubsub_topic" "events" {
  name = "${var.name_prefix}-events"

  depends_on = [google_project_service.enabled]
}

locals {
  push_subscriptions = {
    submitExport = {
      topic = google_pubsub_topic.requests
      # submitExport is idempotent (the job id comes from the request, the Earth Engine
      # requestId is fixed) and throws only for transient faults: retry them for hours
      # (10 s doubling to 600 s: 50 attempts are about 7.5 h) before dead-lettering.
      max_delivery_attempts = 50
      ack_deadline          = local.submit_timeout_seconds + local.ack_margin_seconds
    }
    deliverWebhook = {
      topic = google_pubsub_topic.events
      # deliverWebhook schedules failed calls itself (the poller's sweep retries them for
      # hours) and throws only when Firestore could not record the attempt; a redelivered
      # event is recognised by its id. 20 attempts are about 2.5 h.
      max_delivery_attempts = 20
      ack_deadline          = local.webhook_timeout_seconds + local.ack_margin_seconds
    }
  }

  # What is pushed: each target's subscription by its name, and one more to submitExport per
  # tenant (tenants.tf), from the tenant's topic, with submitExport's policy and dead-letter topic.
  push_deliveries = merge(
    { for target, spec in local.push_subscriptions : target => merge(spec, { target = target, name = "${local.function_names[target]}-push" }) },
    {
      for id, t in local.tenants : "submitExport/${id}" => merge(local.push_subscriptions.submitExport, {
        target = "submitExport"
        name   = "${local.function_names.submitExport}-${id}-push"
        topic  = google_pubsub_topic.tenant_requests[id]
      })
    },
  )
}

resource "google_pubsub_topic" "dead_letter" {
  for_each = local.push_subscriptions
  name     = "${local.function_names[each.key]}-dead-letter"
  # Dead letters are kept by their subscription below; the topic itself can replay them too.
  message_retention_duration = "604800s"

  depends_on = [google_project_service.enabled]
}

# Without a subscription a dead-letter topic loses what it receives: this one keeps it.
resource "google_pubsub_subscription" "dead_letter_hold" {
  for_each                   = local.push_subscriptions
  name                       = "${local.function_names[each.key]}-dead-letter-hold"
  topic                      = google_pubsub_topic.dead_letter[each.key].id
  message_retention_duration = "604800s" # the longest Pub/Sub keeps unacknowledged messages
  ack_deadline_seconds       = 60
  # Nobody consumes it automatically; it must not expire for lack of activity.
  expiration_policy {
    ttl = ""
  }
}

resource "google_pubsub_subscription" "push" {
  for_each = local.push_deliveries
  name     = each.value.name
  topic    = each.value.topic.id

  # Pub/Sub redelivers when no answer came within this; above the function timeout, so a
  # delivery still running is not sent a second time (the lease would refuse it anyway).
  ack_deadline_seconds       = each.value.ack_deadline
  message_retention_duration = "604800s"

  retry_policy {
    minimum_backoff = "10s"
    maximum_backoff = "600s"
  }

  dead_letter_policy {
    dead_letter_topic     = google_pubsub_topic.dead_letter[each.value.target].id
    max_delivery_attempts = each.value.max_delivery_attempts
  }

  push_config {
    # The path names the topic, as an Eventarc event's source would (the framework reads it, and
    # the code reads a tenant's from it).
    push_endpoint = "${local.run_url[each.value.target]}/projects/${var.project_id}/topics/${each.value.topic.name}"
    oidc_token {
      service_account_email = google_service_account.pubsub_push.email
      audience              = local.run_url[each.value.target]
    }
  }

  expiration_policy {
    ttl = ""
  }

  depends_on = [
    google_cloud_run_v2_service_iam_member.push_invoker,
    google_service_account_iam_member.pubsub_token_creator,
    google_pubsub_topic_iam_member.dead_letter_publisher,
  ]
}
