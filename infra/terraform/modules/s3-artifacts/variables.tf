variable "bucket_name" {
  description = "Name of the artifacts bucket (globally unique; the host-config module derives it as <prefix>-<account id>)."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$", var.bucket_name))
    error_message = "bucket_name must be 3-63 characters of lowercase letters, digits and '-' (no dots: virtual-hosted TLS breaks on them)."
  }
}

variable "jobs_expiration_days" {
  description = "Days after which objects under jobs/ expire; Dalston keeps everything of a job there, its transcript.json included."
  type        = number
  default     = 30

  validation {
    condition     = var.jobs_expiration_days >= 1 && var.jobs_expiration_days <= 3650 && floor(var.jobs_expiration_days) == var.jobs_expiration_days
    error_message = "jobs_expiration_days must be a whole number of days between 1 and 3650."
  }
}

variable "tags" {
  description = "Tags added to the bucket (the provider's default_tags apply as well)."
  type        = map(string)
  default     = {}
}

variable "backups_expiration_days" {
  description = "Days after which objects under backups/ expire (the instance role cannot delete them itself)."
  type        = number
  default     = 30

  validation {
    condition     = var.backups_expiration_days >= 1 && var.backups_expiration_days <= 3650 && floor(var.backups_expiration_days) == var.backups_expiration_days
    error_message = "backups_expiration_days must be a whole number of days between 1 and 3650."
  }
}

variable "noncurrent_version_expiration_days" {
  description = "Days a noncurrent object version (overwritten, deleted or expired) is kept before it is removed for good."
  type        = number
  default     = 30

  validation {
    condition     = var.noncurrent_version_expiration_days >= 1 && var.noncurrent_version_expiration_days <= 3650 && floor(var.noncurrent_version_expiration_days) == var.noncurrent_version_expiration_days
    error_message = "noncurrent_version_expiration_days must be a whole number of days between 1 and 3650."
  }
}
