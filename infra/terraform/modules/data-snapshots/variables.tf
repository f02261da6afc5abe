variable "name" {
  description = "Prefix of the DLM role name (<name>-dlm) and the policy's description."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,30}[a-z0-9]$", var.name))
    error_message = "name must be 3-32 characters of lowercase letters, digits and '-'."
  }
}

variable "target_tags" {
  description = "Tags that select the volume(s) to snapshot (module ec2-dalston's data_volume_snapshot_tags)."
  type        = map(string)

  validation {
    condition     = length(var.target_tags) > 0
    error_message = "target_tags must name at least one tag: an empty selection would snapshot nothing."
  }
}

variable "time_utc" {
  description = "Time of day (UTC, HH:MM) the daily snapshot starts; DLM starts it within the following hour."
  type        = string
  default     = "04:45"

  validation {
    condition     = can(regex("^([01][0-9]|2[0-3]):[0-5][0-9]$", var.time_utc))
    error_message = "time_utc must be a 24-hour UTC time such as 04:45."
  }
}

variable "retain_count" {
  description = "How many daily snapshots to keep; DLM deletes the oldest beyond that."
  type        = number
  default     = 7

  validation {
    condition     = var.retain_count >= 1 && var.retain_count <= 1000 && floor(var.retain_count) == var.retain_count
    error_message = "retain_count must be a whole number between 1 and 1000."
  }
}

variable "tags" {
  description = "Tags added to the DLM role and policy."
  type        = map(string)
  default     = {}
}
