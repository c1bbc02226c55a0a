locals {
  # --- Function targets ------------------------------------------------------------
  # The targets the code registers (one per functions/src/entry/*.entry.ts); the bundle
  # of each is dist/<target>.zip. test/unit/infra.test.ts holds this list, the function
  # resources and their entry points to the entry files.
  function_targets = ["api", "deliverWebhook", "onObjectFinalized", "pollExports", "submitExport"]

  bundles = { for b in jsondecode(file("${path.module}/${var.bundle_dir}/manifest.json")) : b.target => b }

  function_names = {
    api            = "${var.name_prefix}-api"
    deliverWebhook = "${var.name_prefix}-deliver-webhook"
    pollExports    = "${var.name_prefix}-poll-exports"
    submitExport   = "${var.name_prefix}-submit-export"
    # One function per watched bucket (a trigger watches one bucket): "<prefix>-upload-<hash of the bucket name>".
    onObjectFinalized = "${var.name_prefix}-upload"
  }

  # Cloud Run's deterministic URL of a service (https://SERVICE-PROJECT_NUMBER.REGION.run.app),
  # known before the function exists: the poller's own OIDC audience must be set on it.
  run_url = { for target, name in local.function_names : target => "https://${name}-${data.google_project.this.number}.${var.region}.run.app" }

  # --- Timing: the numbers the timeouts are derived from --------------------------------
  # One Earth Engine call with its retries takes at most EE_RETRY_DEADLINE_MS, plus one
  # HTTP timeout for the attempt that started just before the deadline.
  ee_http_timeout_ms   = 30000
  ee_retry_deadline_ms = 90000
  # A delivery owns a SUBMITTING job for this long (the code refuses a lease not above 90 + 30 s).
  submit_lease_seconds = 150
  # submitExport (and the api and upload paths, which submit inline): the timeout exceeds the
  # lease, so a delivery holding it can finish its Earth Engine call with every retry and
  # record the outcome before the platform cuts it off. A cut-off submit is still safe (the
  # requestId is fixed, the next delivery takes over when the lease lapses), only slower.
  submit_timeout_seconds = 180
  # pollExports keeps cycling for POLL_WINDOW_SECONDS inside one invocation. Its timeout
  # leaves 8 s for the cycle running at the end of the window, and stays under the 60 s
  # scheduler period so one run normally ends before the next begins. If one overruns, the
  # next stands aside on the fenced lease (poll.lease_busy) and the stale run's late writes
  # are refused by its token: overlap costs a minute of polling, never a double write.
  poll_window_seconds  = 50
  poll_timeout_seconds = 58
  # The scheduler waits for the whole run (not less, or it would count a healthy run as failed).
  poll_attempt_deadline_seconds = 60
  # deliverWebhook: one attempt is one request of at most WEBHOOK_TIMEOUT_MS (Standard
  # Webhooks: a 2xx within 15 s), a DNS lookup and two Firestore transactions; the delivery
  # lease is twice the request timeout, the function timeout twice that.
  webhook_timeout_ms      = 15000
  webhook_timeout_seconds = 60
  # Push subscriptions wait this much longer than the function may run before they
  # redeliver, so a slow delivery is not sent a second time while still running.
  ack_margin_seconds = 60

  # --- Sizes --------------------------------------------------------------------------
  # Earth Engine allows about 40 concurrent requests per project. The submitters share that:
  # submitExport 4 instances x 8 requests, the poller's 8 parallel gets (POLL_GET_CONCURRENCY),
  # the uploads and the API on top are rare. A 429 beyond that is retried with backoff.
  functions = {
    submitExport = {
      # The Google clients and one request of up to 800 kB (MAX_REQUEST_BYTES) per concurrent
      # delivery fit in 512 MiB with room; concurrency above 1 needs a whole vCPU.
      memory        = "512Mi"
      cpu           = "1"
      timeout       = local.submit_timeout_seconds
      concurrency   = 8 # deliveries mostly wait on Earth Engine and Firestore
      max_instances = 4
    }
    pollExports = {
      # One cycle reads up to POLL_MAX_JOBS (10,000) live jobs: room for them in memory.
      memory  = "1Gi"
      cpu     = "1"
      timeout = local.poll_timeout_seconds
      # One run per instance; a second concurrent call gets its own and stands aside on the lease.
      concurrency   = 1
      max_instances = 2
    }
    deliverWebhook = {
      memory        = "512Mi"
      cpu           = "1"
      timeout       = local.webhook_timeout_seconds
      concurrency   = 16 # each delivery waits up to 15 s on someone else's endpoint
      max_instances = 10
    }
    onObjectFinalized = {
      memory        = "512Mi"
      cpu           = "1"
      timeout       = local.submit_timeout_seconds
      concurrency   = 8
      max_instances = 2 # per watched bucket; Eventarc retries what waits
    }
    api = {
      memory        = "512Mi"
      cpu           = "1"
      timeout       = local.submit_timeout_seconds # POST /v1/jobs submits inline
      concurrency   = 16
      max_instances = 5
    }
  }

  # --- Earth Engine projects, uploads -------------------------------------------------
  ee_projects = distinct(concat([var.ee_project], var.ee_allowed_projects))

  upload_rule_buckets = distinct([for r in jsondecode(var.upload_rules).rules : r.match.bucket])
  upload_buckets      = var.upload_buckets == null ? local.upload_rule_buckets : var.upload_buckets
  # One function per watched bucket (functions.tf), keyed by a hash of the bucket name.
  upload_functions = { for b in local.upload_buckets : substr(sha256(b), 0, 8) => b }

  # --- Environment ----------------------------------------------------------------------
  # Every variable the config schema requires, and what production needs, on every
  # function (loadConfig() reads them all at start, whatever the target).
  env_common = {
    GOOGLE_CLOUD_PROJECT      = var.project_id
    EE_PROJECT                = var.ee_project
    EE_ALLOWED_PROJECTS       = join(",", var.ee_allowed_projects)
    EXPORT_ALLOWED_BUCKETS    = join(",", var.export_buckets)
    EVENTS_TOPIC              = google_pubsub_topic.events.name
    REQUESTS_TOPIC            = google_pubsub_topic.requests.name
    FIRESTORE_DATABASE        = var.firestore_database
    MAX_IN_FLIGHT_PER_PROJECT = tostring(var.max_in_flight_per_project)
    EE_HTTP_TIMEOUT_MS        = tostring(local.ee_http_timeout_ms)
    EE_RETRY_DEADLINE_MS      = tostring(local.ee_retry_deadline_ms)
    SUBMIT_LEASE_SECONDS      = tostring(local.submit_lease_seconds)
    WEBHOOK_TIMEOUT_MS        = tostring(local.webhook_timeout_ms)
    LOG_LEVEL                 = var.log_level
  }
  env_poll = {
    POLL_WINDOW_SECONDS = tostring(local.poll_window_seconds)
    # The token Cloud Scheduler sends is checked in code too: this audience, this signer.
    POLL_OIDC_AUDIENCE = local.run_url.pollExports
    POLL_INVOKER_EMAIL = google_service_account.scheduler.email
  }
  env_upload = {
    # Minified: an environment variable holds the rules (validated when the function starts).
    UPLOAD_RULES = jsonencode(jsondecode(var.upload_rules))
  }
  env_api = {
    API_AUTH                  = var.api_auth_mode == "iam" ? "none" : var.api_auth_mode
    API_ALLOW_UNAUTHENTICATED = var.api_auth_mode == "iam" ? "true" : "false"
    API_OIDC_AUDIENCE         = var.api_auth_mode == "oidc" ? local.run_url.api : ""
    # The emails of the typed members ("user:a@example.com" → a@example.com).
    API_ALLOWED_CALLERS = join(",", [for m in var.api_allowed_callers : split(":", m)[1]])
  }
}
