variable "region" {
  description = "AWS region of the host and the bucket."
  type        = string
  default     = "eu-west-2"

  validation {
    condition     = can(regex("^[a-z]{2}(-gov)?-[a-z]+-[0-9]$", var.region))
    error_message = "region must be an AWS region name such as eu-west-2."
  }
}

variable "availability_zone" {
  description = "Zone whose default-VPC subnet hosts the instance when subnet_id is null; the data volume lives there for good."
  type        = string
  default     = "eu-west-2a"

  validation {
    condition     = can(regex("^[a-z]{2}(-gov)?-[a-z]+-[0-9][a-z]$", var.availability_zone))
    error_message = "availability_zone must be a zone name such as eu-west-2a."
  }
}

variable "subnet_id" {
  description = "Subnet of the instance; null uses the default VPC's default subnet in availability_zone."
  type        = string
  default     = null
}

variable "name_prefix" {
  description = "Prefix of every name this stack creates."
  type        = string
  default     = "dalston"
}

variable "bucket_prefix" {
  description = "Prefix of the artifacts bucket; the account id is appended."
  type        = string
  default     = "dalston-artifacts"
}

variable "jobs_expiration_days" {
  description = "Days after which jobs/ objects (audio, intermediate results and transcripts) expire."
  type        = number
  default     = 30
}

variable "backups_expiration_days" {
  description = "Days after which backups/ objects expire (the host itself cannot delete them)."
  type        = number
  default     = 30
}

variable "noncurrent_version_expiration_days" {
  description = "Days an overwritten, deleted or expired object version is kept in the versioned bucket before it is gone for good."
  type        = number
  default     = 30
}

variable "data_snapshots_enabled" {
  description = "Daily EBS snapshots of the data volume by Data Lifecycle Manager."
  type        = bool
  default     = true
}

variable "data_snapshot_time_utc" {
  description = "Time of day (UTC, HH:MM) the daily data-volume snapshot starts."
  type        = string
  default     = "04:45"
}

variable "data_snapshot_retain_count" {
  description = "Number of daily data-volume snapshots kept; older ones are deleted by DLM."
  type        = number
  default     = 7
}

variable "os_family" {
  description = "al2023 (default, first-class) or ubuntu (24.04)."
  type        = string
  default     = "al2023"
}

variable "instance_type" {
  description = "EC2 instance type (x86_64)."
  type        = string
  default     = "t3.xlarge"
}

variable "root_volume_size_gb" {
  description = "Root volume size in GiB."
  type        = number
  default     = 30
}

variable "data_volume_size_gb" {
  description = "Data volume size in GiB (can grow later, never shrink)."
  type        = number
  default     = 50
}

variable "release_version" {
  description = "Version of the dalston-host release bundle built by `npm run build` (package.json version)."
  type        = string
}

variable "release_dir" {
  description = "Directory holding dalston-host-<version>.tgz and its .sha256 (relative paths are from this directory)."
  type        = string
  default     = "../../../../dist"
}

variable "dalston_repo" {
  description = "Git URL of Dalston; null uses Dalston's GitHub repository (the config schema's default)."
  type        = string
  default     = null
}

variable "dalston_ref" {
  description = "Pinned Dalston release tag (v1.2.3) or full commit id."
  type        = string
}

variable "dalston_image_tag" {
  description = "Pinned tag of Dalston's GHCR images matching dalston_ref (e.g. 1.2.3 for v1.2.3)."
  type        = string
}

variable "tailscale_auth_key_parameter" {
  description = "Name of the SSM SecureString parameter holding the Tailscale auth key (created once by you); null skips Tailscale."
  type        = string
  default     = null
}

variable "api_key_parameter" {
  description = "Name of the SSM SecureString parameter the host stores its generated Dalston admin API key in (read it with `dalston-aws api-key`); null: /dalston/<name_prefix>/api-key."
  type        = string
  default     = null

  validation {
    condition     = var.api_key_parameter == null || can(regex("^/[A-Za-z0-9_.\\-/]+$", var.api_key_parameter))
    error_message = "api_key_parameter must be an SSM parameter name starting with '/', e.g. /dalston/dev/api-key."
  }
}

variable "tailscale_hostname" {
  description = "Tailscale machine name of the host."
  type        = string
  default     = "dalston"
}

variable "allowed_security_group_ids" {
  description = "Security groups of your other AWS projects allowed to reach the gateway port (publishes the gateway on the private IP)."
  type        = list(string)
  default     = []
}

variable "tailscale_auth_key_readable" {
  description = "Let the instance role read the Tailscale auth-key parameter; set false once the host has joined, true again before replacing the instance."
  type        = bool
  default     = true
}

variable "enable_ssm_session_manager" {
  description = "Allow Session Manager as break-glass shell access (no SSH, no open port) through a scoped inline policy."
  type        = bool
  default     = true
}

variable "idle_stop_after_minutes" {
  description = "Minutes without work after which the agent powers the host off (host.json idle.stopAfterMinutes); 0 disables the idle stop. Default 15: the window the cost simulation shows within 1.25× of the ideal at 2 h/day (README)."
  type        = number
  default     = 15

  validation {
    condition     = var.idle_stop_after_minutes >= 0 && floor(var.idle_stop_after_minutes) == var.idle_stop_after_minutes
    error_message = "idle_stop_after_minutes must be a whole number of minutes, 0 or more (0 disables the idle stop)."
  }
}

variable "stop_schedule_enabled" {
  description = "Backstop: an EventBridge Scheduler schedule that stops the instance at a fixed time every day (off by default)."
  type        = bool
  default     = false
}

variable "stop_schedule_expression" {
  description = "When the backstop stops the instance: a Scheduler cron() expression read in stop_schedule_timezone."
  type        = string
  default     = "cron(0 2 * * ? *)"

  # Checked here too, so a bad value is named by its environment variable, not the module's.
  validation {
    condition     = can(regex("^cron\\([^()]+\\)$", var.stop_schedule_expression))
    error_message = "stop_schedule_expression must be a cron(...) expression such as cron(0 2 * * ? *) (minutes hours day-of-month month day-of-week year)."
  }
}

variable "stop_schedule_timezone" {
  description = "IANA time zone of stop_schedule_expression (e.g. Europe/London: 02:00 local, summer time included)."
  type        = string
  default     = "Europe/London"

  validation {
    condition     = can(regex("^([A-Z][A-Za-z_+-]*(/[A-Za-z0-9_+-]+)*|UTC)$", var.stop_schedule_timezone))
    error_message = "stop_schedule_timezone must be an IANA time zone name such as Europe/London or UTC."
  }
}

variable "associate_public_ip_address" {
  description = "Public IPv4 for outbound traffic in a subnet without NAT; no inbound port is open on it."
  type        = bool
  default     = true
}

variable "tags" {
  description = "Extra tags on every resource."
  type        = map(string)
  default     = {}
}
