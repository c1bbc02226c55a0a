# Inputs. Only project_id and ee_project are required; see terraform.tfvars.example.

variable "project_id" {
  description = "Google Cloud project that runs eeport: functions, Firestore, Pub/Sub, Cloud Scheduler."
  type        = string
}

variable "region" {
  description = "Region of the functions, the scheduler job and the source bucket."
  type        = string
  default     = "us-central1"
}

variable "name_prefix" {
  description = "Prefix of every resource name (functions, topics, service accounts). Lower case, at most 15 characters, so service account ids stay within 30."
  type        = string
  default     = "eeport"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,13}[a-z0-9]$", var.name_prefix))
    error_message = "name_prefix must be 3-15 characters: lower-case letters, digits and '-', starting with a letter."
  }
}

variable "labels" {
  description = "Labels added to every resource that takes them."
  type        = map(string)
  default     = {}
}

# --- Earth Engine -------------------------------------------------------------

variable "ee_project" {
  description = "Default Earth Engine project (a Cloud project registered for Earth Engine) for requests that name none: EE_PROJECT."
  type        = string
}

variable "ee_allowed_projects" {
  description = "Earth Engine projects requests may name (EE_ALLOWED_PROJECTS), every tenant's included. Empty accepts ee_project alone (\"*\" would accept any, but the service accounts are granted Earth Engine roles only in ee_project and in each of these)."
  type        = list(string)
  default     = []
}

variable "export_buckets" {
  description = "Cloud Storage buckets exports are written to, every tenant's included. Earth Engine writes with the identity that started the task, so the functions that submit get object access on these buckets; set, file exports may write only to them (EXPORT_ALLOWED_BUCKETS)."
  type        = list(string)
  default     = []
}

variable "max_in_flight_per_project" {
  description = "Jobs submitting/pending/running per Earth Engine project before new ones wait in QUEUED (MAX_IN_FLIGHT_PER_PROJECT); keep well under Earth Engine's 3,000-task queue."
  type        = number
  default     = 1000

  validation {
    condition     = var.max_in_flight_per_project >= 1 && var.max_in_flight_per_project <= 3000
    error_message = "max_in_flight_per_project must be between 1 and 3000 (Earth Engine's queue limit)."
  }
}

# --- Polling --------------------------------------------------------------------

variable "poll_schedule" {
  description = "Cloud Scheduler cron for pollExports. Once a minute is the finest schedule; each run keeps polling for POLL_WINDOW_SECONDS (50 s), so a slower schedule leaves gaps."
  type        = string
  default     = "* * * * *"
}

variable "poll_time_zone" {
  description = "Time zone of poll_schedule."
  type        = string
  default     = "Etc/UTC"
}

# --- Webhooks -------------------------------------------------------------------

variable "webhook_secret_id" {
  description = "Secret Manager secret (id in project_id) whose value is the comma-separated whsec_… webhook signing secrets (WEBHOOK_SECRETS). Created outside Terraform so the value never enters state. null: no secret is mounted, and any job with a callbackUrl fails its webhook (signing needs a secret)."
  type        = string
  default     = null
}

variable "webhook_secret_version" {
  description = "Version of webhook_secret_id to mount. A number pins it (rotate by adding a version and re-applying); \"latest\" is read when an instance starts."
  type        = string
  default     = "latest"
}

# --- Tenants --------------------------------------------------------------------

variable "tenants" {
  description = "Tenants sharing this deployment (docs/tenants.md): each gets its own requests topic ({name_prefix}-requests-{id}) with a push subscription to submitExport, and its publishers (IAM members) roles/pubsub.publisher on that topic only. What each may do — keys, callers, projects, buckets, webhook secrets — is TENANTS, in tenants_secret_id; the ids must match."
  type = list(object({
    id         = string
    publishers = optional(list(string), [])
  }))
  default = []

  validation {
    condition     = alltrue([for t in var.tenants : can(regex("^[a-z]([a-z0-9-]{0,28}[a-z0-9])?$", t.id))]) && length(distinct([for t in var.tenants : t.id])) == length(var.tenants)
    error_message = "tenants ids are unique, 1-30 lowercase letters, digits or -, starting with a letter and not ending with -."
  }
  validation {
    condition     = alltrue(flatten([for t in var.tenants : [for m in t.publishers : can(regex("^(user|group|serviceAccount|domain):[^:\\s]+$", m)) && (startswith(m, "serviceAccount:") == endswith(m, ".gserviceaccount.com") || startswith(m, "domain:"))]]))
    error_message = "tenants publishers are IAM members: serviceAccount:EMAIL (addresses ending in .gserviceaccount.com, and only they), user:EMAIL, group:EMAIL or domain:DOMAIN."
  }
}

variable "tenants_secret_id" {
  description = "Secret Manager secret (id in project_id) whose value is TENANTS, the JSON list of tenants with their API keys, callers, projects, buckets, asset folders and webhook secrets. Created outside Terraform so the value never enters state. Required when tenants is set."
  type        = string
  default     = null
}

variable "tenants_secret_version" {
  description = "Version of tenants_secret_id to mount; \"latest\" is read when an instance starts."
  type        = string
  default     = "latest"
}

# --- Uploads --------------------------------------------------------------------

variable "upload_rules" {
  description = "Upload rules as JSON ({\"rules\": [...]}, see docs/uploads.md), passed to onObjectFinalized as UPLOAD_RULES. Validated again when the function starts."
  type        = string
  default     = "{\"rules\": []}"

  validation {
    condition     = can(jsondecode(var.upload_rules).rules)
    error_message = "upload_rules must be JSON with a \"rules\" list."
  }
}

variable "upload_buckets" {
  description = "Buckets whose finalized objects go to onObjectFinalized (one trigger each). null: the buckets the upload rules name. Every rule's bucket must be watched."
  type        = list(string)
  default     = null
}

# --- API --------------------------------------------------------------------------

variable "api_auth_mode" {
  description = "How the api function is protected. iam: Cloud Run IAM only (api_invokers get roles/run.invoker; API_AUTH=none behind it). oidc: IAM plus an ID-token check of the caller in code (API_AUTH=oidc, api_allowed_callers). api-key: public endpoint, x-api-key checked in code (API_AUTH=api-key, keys from api_keys_secret_id)."
  type        = string
  default     = "iam"

  validation {
    condition     = contains(["iam", "oidc", "api-key"], var.api_auth_mode)
    error_message = "api_auth_mode must be iam, oidc or api-key."
  }
}

variable "api_invokers" {
  description = "IAM members allowed to invoke the api function in iam and oidc modes: user:someone@example.com, group:team@example.com, serviceAccount:name@project.iam.gserviceaccount.com, domain:example.com."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for m in var.api_invokers : can(regex("^(user|group|serviceAccount|domain):[^:\\s]+$", m))])
    error_message = "api_invokers entries are IAM members (user:EMAIL, group:EMAIL, serviceAccount:EMAIL or domain:DOMAIN). Not one: ${join(", ", [for m in var.api_invokers : m if !can(regex("^(user|group|serviceAccount|domain):[^:\\s]+$", m))])}."
  }
  validation {
    # IAM refuses the whole apply when a person is given as a service account or the reverse.
    condition     = alltrue([for m in var.api_invokers : startswith(m, "serviceAccount:") == endswith(m, ".gserviceaccount.com") || startswith(m, "domain:")])
    error_message = "In api_invokers, service accounts (addresses ending in .gserviceaccount.com) take serviceAccount:, and only they do. Wrong: ${join(", ", [for m in var.api_invokers : m if !(startswith(m, "serviceAccount:") == endswith(m, ".gserviceaccount.com") || startswith(m, "domain:"))])}."
  }
}

variable "api_allowed_callers" {
  description = "Callers the api accepts in oidc mode, as IAM members: serviceAccount:name@project.iam.gserviceaccount.com or user:someone@example.com. Their emails are what the code checks in the Google ID token (API_ALLOWED_CALLERS), and they get roles/run.invoker. No group: an ID token names one account, never a group."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for m in var.api_allowed_callers : can(regex("^(user|serviceAccount):[^:@\\s]+@[^:@\\s]+$", m))])
    error_message = "api_allowed_callers entries are serviceAccount:EMAIL or user:EMAIL (an ID token names one account, never a group). Not one: ${join(", ", [for m in var.api_allowed_callers : m if !can(regex("^(user|serviceAccount):[^:@\\s]+@[^:@\\s]+$", m))])}."
  }
  validation {
    # IAM refuses the whole apply when a person is given as a service account or the reverse.
    condition     = alltrue([for m in var.api_allowed_callers : startswith(m, "serviceAccount:") == endswith(m, ".gserviceaccount.com")])
    error_message = "In api_allowed_callers, service accounts (addresses ending in .gserviceaccount.com) take serviceAccount:, everyone else user:. Wrong: ${join(", ", [for m in var.api_allowed_callers : m if startswith(m, "serviceAccount:") != endswith(m, ".gserviceaccount.com")])}."
  }
}

variable "api_keys_secret_id" {
  description = "Secret Manager secret (id in project_id) holding the comma-separated API keys, for api_auth_mode = api-key."
  type        = string
  default     = null
}

# --- Firestore ------------------------------------------------------------------

variable "create_firestore_database" {
  description = "Create the Firestore database. Set false when the project already has it (or import it)."
  type        = bool
  default     = true
}

variable "firestore_database" {
  description = "Firestore database id (FIRESTORE_DATABASE)."
  type        = string
  default     = "(default)"
}

variable "firestore_location" {
  description = "Firestore location (a region such as us-central1, or a multi-region such as nam5). null: region."
  type        = string
  default     = null
}

# --- Functions ------------------------------------------------------------------

variable "bundle_dir" {
  description = "Directory holding the built bundles and manifest.json (`npm run build`), relative to this module."
  type        = string
  default     = "../dist"
}

variable "log_level" {
  description = "LOG_LEVEL of every function."
  type        = string
  default     = "info"
}

variable "extra_env" {
  description = "More configuration variables for every function (names from functions/src/config.ts, e.g. POLL_INTERVAL_SECONDS, WEBHOOK_EVENTS). Not the ones the function timeouts are derived from (see locals.tf)."
  type        = map(string)
  default     = {}

  validation {
    # The function and subscription timeouts are computed from these (locals.tf); changing one alone would break that.
    condition     = length(setintersection(keys(var.extra_env), ["SUBMIT_LEASE_SECONDS", "POLL_WINDOW_SECONDS", "EE_HTTP_TIMEOUT_MS", "EE_RETRY_DEADLINE_MS", "WEBHOOK_TIMEOUT_MS", "K_SERVICE", "POLL_AUTH_DISABLED", "WEBHOOK_ALLOW_HTTP", "WEBHOOK_ALLOW_LOOPBACK"])) == 0
    error_message = "extra_env must not set SUBMIT_LEASE_SECONDS, POLL_WINDOW_SECONDS, EE_HTTP_TIMEOUT_MS, EE_RETRY_DEADLINE_MS, WEBHOOK_TIMEOUT_MS (change them in locals.tf with the timeouts) or local-only switches."
  }
}
