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

variable "write_prefixes" {
  description = "Key prefixes the host writes (s3:PutObject) and reads: Dalston's jobs/, sessions/ and models/, the agent's status/, the backups/."
  type        = list(string)
  default     = ["jobs/", "sessions/", "models/", "status/", "backups/"]

  validation {
    condition     = length(var.write_prefixes) > 0 && alltrue([for p in var.write_prefixes : can(regex("^[a-z0-9][a-z0-9._-]*/$", p))])
    error_message = "write_prefixes must be key prefixes such as jobs/ (lowercase, ending in '/', no wildcard)."
  }

  validation {
    condition     = !anytrue([for p in var.write_prefixes : contains(["config/", "releases/"], p)])
    error_message = "write_prefixes must not contain config/ or releases/: the host only reads those."
  }
}

variable "read_only_prefixes" {
  description = "Key prefixes the host reads but never writes: config/ and releases/ (uploaded by Terraform or the operator)."
  type        = list(string)
  default     = ["config/", "releases/"]

  validation {
    condition     = alltrue([for p in var.read_only_prefixes : can(regex("^[a-z0-9][a-z0-9._-]*/$", p))])
    error_message = "read_only_prefixes must be key prefixes such as releases/ (lowercase, ending in '/', no wildcard)."
  }
}

variable "delete_prefixes" {
  description = "Key prefixes the host may delete in (s3:DeleteObject): Dalston removes jobs, sessions and models there. Never backups/."
  type        = list(string)
  default     = ["jobs/", "sessions/", "models/"]

  validation {
    condition     = alltrue([for p in var.delete_prefixes : can(regex("^[a-z0-9][a-z0-9._-]*/$", p))])
    error_message = "delete_prefixes must be key prefixes such as jobs/ (lowercase, ending in '/', no wildcard)."
  }

  validation {
    condition     = !anytrue([for p in var.delete_prefixes : startswith("backups/", p) || startswith(p, "backups/")])
    error_message = "delete_prefixes must not cover backups/: backups are only ever removed by the bucket's lifecycle rule."
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

variable "api_key_parameter_arn" {
  description = "ARN of the SSM parameter the bootstrap stores the host's generated Dalston admin API key in (ssm:PutParameter on that one parameter only); null grants nothing."
  type        = string
  default     = null

  validation {
    condition     = var.api_key_parameter_arn == null || can(regex("^arn:aws[a-z-]*:ssm:[a-z0-9-]+:[0-9]{12}:parameter/[A-Za-z0-9_.\\-/]+$", var.api_key_parameter_arn))
    error_message = "api_key_parameter_arn must be the ARN of one SSM parameter (no wildcard)."
  }
}

variable "tailscale_auth_key_readable" {
  description = "Grant ssm:GetParameter on the Tailscale auth-key parameter. Needed only while a host joins the tailnet: set false once it has joined, true again before replacing the instance."
  type        = bool
  default     = true
}

variable "enable_ssm_session_manager" {
  description = "Add the inline Session Manager policy (ssmmessages channels and ssm:UpdateInstanceInformation only) for a break-glass shell without SSH or any open port."
  type        = bool
  default     = true
}

variable "tags" {
  description = "Tags added to the role and instance profile."
  type        = map(string)
  default     = {}
}
