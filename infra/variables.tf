# Every knob an operator may turn. Defaults that mirror functions/config.py (topic
# names, models, cache version) are held equal to the code by tests/infra.

variable "project_id" {
  description = "GCP project to deploy PlotBurn into (billing must be enabled)."
  type        = string
}

variable "region" {
  description = "Region for the functions, the scheduler job and the source bucket."
  type        = string
  default     = "asia-south1"
}

variable "firestore_location" {
  description = "Location of the (default) Firestore database. Cannot be changed after creation."
  type        = string
  default     = "asia-south1"
}

variable "runtime" {
  description = "Cloud Functions runtime for all three functions."
  type        = string
  default     = "python312"
}

variable "schedule" {
  description = "Cron schedule of the nightly run, interpreted in var.time_zone."
  type        = string
  default     = "0 22 * * *"
}

variable "time_zone" {
  description = "tz database name the schedule is interpreted in."
  type        = string
  default     = "Asia/Kolkata"
}

variable "nightly_topic" {
  description = "Topic the scheduler (and the manual trigger) publish the nightly run to. Must equal PLOTBURN_NIGHTLY_TOPIC's default."
  type        = string
  default     = "plotburn-nightly"
}

variable "roast_topic" {
  description = "Topic fanout publishes one message per movie to. Must equal PLOTBURN_ROAST_TOPIC's default."
  type        = string
  default     = "plotburn-roast"
}

variable "dead_letter_topic" {
  description = "Topic messages go to once they exhaust max_delivery_attempts. Must equal PLOTBURN_DEAD_LETTER_TOPIC's default."
  type        = string
  default     = "plotburn-dead-letter"
}

variable "roast_concurrency" {
  description = "Most roast instances at once (each handles one movie at a time): the upstream rate limit."
  type        = number
  default     = 50

  validation {
    condition     = var.roast_concurrency >= 1 && var.roast_concurrency <= 1000
    error_message = "roast_concurrency must be between 1 and 1000."
  }
}

variable "api_max_instances" {
  description = "Most api instances at once. Capacity: api_max_instances x api_concurrency requests in flight."
  type        = number
  default     = 10
}

variable "api_concurrency" {
  description = "Requests one api instance serves at once (max_instance_request_concurrency, and functions-framework's THREADS). Above 1 needs a whole vCPU, which api has."
  type        = number
  default     = 40

  validation {
    condition     = var.api_concurrency >= 1 && var.api_concurrency <= 1000
    error_message = "api_concurrency must be between 1 and 1000 (a Cloud Run limit)."
  }
}

variable "api_min_instances" {
  description = "api instances kept warm (no cold start for the first request). Each one is billed while idle; see README, Cold starts."
  type        = number
  default     = 0

  validation {
    condition     = var.api_min_instances >= 0 && var.api_min_instances <= 100
    error_message = "api_min_instances must be between 0 and 100 (and not above api_max_instances)."
  }
}

variable "max_delivery_attempts" {
  description = "Deliveries of one message before Pub/Sub dead-letters it (Pub/Sub allows 5 to 100)."
  type        = number
  default     = 5

  validation {
    condition     = var.max_delivery_attempts >= 5 && var.max_delivery_attempts <= 100
    error_message = "max_delivery_attempts must be between 5 and 100 (a Pub/Sub limit)."
  }
}

variable "worker_ingress" {
  description = "Ingress of fanout and roast. ALLOW_INTERNAL_ONLY admits Pub/Sub of the same project and nothing from the internet; ALLOW_ALL reverts to IAM alone (OIDC from the push service account), which is the access control either way. See functions.tf and README, Deploying."
  type        = string
  default     = "ALLOW_INTERNAL_ONLY"

  validation {
    condition     = contains(["ALLOW_ALL", "ALLOW_INTERNAL_ONLY"], var.worker_ingress)
    error_message = "worker_ingress must be ALLOW_ALL or ALLOW_INTERNAL_ONLY."
  }
}

variable "perplexity_model" {
  description = "PERPLEXITY_MODEL: the Agent API model of the research (DEFAULT_PERPLEXITY_MODEL in functions/config.py). A model slug, never a preset: presets may run another vendor's model."
  type        = string
  default     = "perplexity/sonar"
}

variable "xai_model" {
  description = "XAI_MODEL: the roast model (DEFAULT_XAI_MODEL in functions/config.py)."
  type        = string
  default     = "grok-4.20-non-reasoning"
}

variable "cache_version" {
  description = "PLOTBURN_CACHE_VERSION: bump to invalidate every cached roast at once."
  type        = string
  default     = "v2"

  validation {
    condition     = can(regex("^[A-Za-z0-9_.-]{1,32}$", var.cache_version))
    error_message = "cache_version must match ^[A-Za-z0-9_.-]{1,32}$ (the pattern in functions/config.py)."
  }
}

variable "require_key" {
  description = "PLOTBURN_REQUIRE_KEY: \"true\" makes every route but /healthz need the admin key, as the Worker did with API_SECRET_KEY set."
  type        = string
  default     = "false"

  validation {
    condition     = contains(["true", "false"], var.require_key)
    error_message = "require_key must be \"true\" or \"false\"."
  }
}

variable "tmdb_credential" {
  description = "Which TMDB credential the plotburn-tmdb-api-token secret holds: read_token (the API Read Access Token, sent as a bearer token; preferred) or v3_key (the v3 API key, sent as the api_key query parameter)."
  type        = string
  default     = "read_token"

  validation {
    condition     = contains(["read_token", "v3_key"], var.tmdb_credential)
    error_message = "tmdb_credential must be read_token or v3_key."
  }
}

variable "tmdb_region" {
  description = "TMDB_REGION: ISO 3166-1 country code whose cinemas are listed (the Worker's IN), or \"\" for the code's default (IN)."
  type        = string
  default     = "IN"

  validation {
    condition     = var.tmdb_region == "" || can(regex("^[A-Z]{2}$", var.tmdb_region))
    error_message = "tmdb_region must be \"\" or two upper-case letters, e.g. IN."
  }
}

variable "alert_email" {
  description = "Where alerts are emailed (a Cloud Monitoring email notification channel): failed or partial runs, ALERT log lines, dead letters left unhandled, no successful run in 26 hours."
  type        = string

  validation {
    condition     = can(regex("^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$", var.alert_email))
    error_message = "alert_email must be an email address."
  }
}

variable "settings" {
  description = "More PlotBurn settings for the three functions, by variable name (README, Configuration), e.g. { PLOTBURN_DAILY_CALL_BUDGET = \"4000\" }. Secrets never go here: they come from Secret Manager."
  type        = map(string)
  default     = {}

  validation {
    condition = alltrue([
      for key in keys(var.settings) :
      can(regex("^(PLOTBURN|TMDB|PERPLEXITY|XAI)_[A-Z0-9_]+$", key)) && !contains([
        "PLOTBURN_ADMIN_TOKEN", "PLOTBURN_CLIENT_KEY_SECRET", "TMDB_API_TOKEN",
        "TMDB_API_KEY", "PERPLEXITY_API_KEY", "XAI_API_KEY",
      ], key)
    ])
    error_message = "settings keys are PlotBurn setting names (PLOTBURN_*, TMDB_*, PERPLEXITY_*, XAI_*), never a secret's."
  }
}
