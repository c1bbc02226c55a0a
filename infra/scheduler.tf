# Cloud Scheduler calls the poller once a minute (the finest schedule), signed with an
# OIDC token the poller's service requires (Cloud Run IAM) and checks again in code
# (POLL_OIDC_AUDIENCE, POLL_INVOKER_EMAIL).

resource "google_cloud_scheduler_job" "poll" {
  name      = "${var.name_prefix}-poll-exports"
  region    = var.region
  schedule  = var.poll_schedule
  time_zone = var.poll_time_zone
  # Waits for the whole run: the poller answers after its window (timeout 58 s), and an
  # attempt cut short here would be counted as failed although the run went on.
  attempt_deadline = "${local.poll_attempt_deadline_seconds}s"

  retry_config {
    # No retries: the next tick comes within a minute, and a retry would only meet the
    # running poller's lease. A failed run is logged (poll.failed) and the next one resumes.
    retry_count = 0
  }

  http_target {
    http_method = "POST"
    uri         = local.run_url.pollExports
    oidc_token {
      service_account_email = google_service_account.scheduler.email
      # The poller compares this with POLL_OIDC_AUDIENCE (the same deterministic URL).
      audience = local.run_url.pollExports
    }
  }

  depends_on = [google_cloud_run_v2_service_iam_member.poll_invoker]
}
