variable "name" {
  description = "Name of the IAM role and instance profile."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9+=,.@_-]{1,64}$", var.name))
    error_message = "name must be a valid IAM role name (1-64 characters of letters, digits and +=,.@_-)."
  }
}

variable "bucket_arn" {
  description = "ARN of the artifacts bucket the instance reads and writes."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:s3:::[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.bucket_arn))
    error_message = "bucket_arn must be an S3 bucket ARN (arn:aws:s3:::name), not an object ARN or a wildcard."
  }
}

variable "tailscale_auth_key_parameter_arn" {
  description = "ARN of the SSM parameter holding the Tailscale auth key; null grants no SSM parameter access at all."
  type        = string
  default     = null

  validation {
    condition     = var.tailscale_auth_key_parameter_arn == null || can(regex("^arn:aws[a-z-]*:ssm:[a-z0-9-]+:[0-9]{12}:parameter/[A-Za-z0-9_.\\-/]+$", var.tailscale_auth_key_parameter_arn))
    error_message = "tailscale_auth_key_parameter_arn must be the ARN of one SSM parameter (no wildcard)."
  }
}

variable "enable_ssm_session_manager" {
  description = "Attach AmazonSSMManagedInstanceCore so Session Manager gives break-glass shell access without SSH or any open port."
  type        = bool
  default     = true
}

variable "tags" {
  description = "Tags added to the role and instance profile."
  type        = map(string)
  default     = {}
}
