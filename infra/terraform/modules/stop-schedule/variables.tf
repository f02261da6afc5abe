variable "name" {
  description = "Prefix of the schedule and role names (<name>-stop, <name>-stop-schedule)."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,30}[a-z0-9]$", var.name))
    error_message = "name must be 3-32 characters of lowercase letters, digits and '-'."
  }
}

variable "account_id" {
  description = "AWS account id; only this account's schedules may assume the role."
  type        = string

  validation {
    condition     = can(regex("^[0-9]{12}$", var.account_id))
    error_message = "account_id must be the 12-digit AWS account id."
  }
}

variable "instance_id" {
  description = "Id of the instance the schedule stops."
  type        = string

  validation {
    condition     = can(regex("^i-[0-9a-f]{8,17}$", var.instance_id))
    error_message = "instance_id must be an EC2 instance id like i-0123456789abcdef0."
  }
}

variable "instance_arn" {
  description = "ARN of that instance: the role may call ec2:StopInstances on it and nothing else."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:ec2:[a-z0-9-]+:[0-9]{12}:instance/i-[0-9a-f]{8,17}$", var.instance_arn))
    error_message = "instance_arn must be the ARN of one EC2 instance (no wildcard)."
  }
}

variable "schedule_expression" {
  description = "When to stop, as an EventBridge Scheduler cron() expression in timezone, e.g. cron(0 2 * * ? *) for 02:00 every day."
  type        = string
  default     = "cron(0 2 * * ? *)"

  validation {
    condition     = can(regex("^cron\\([^()]+\\)$", var.schedule_expression))
    error_message = "schedule_expression must be a cron(...) expression such as cron(0 2 * * ? *) (minutes hours day-of-month month day-of-week year)."
  }
}

variable "timezone" {
  description = "IANA time zone the cron expression is read in, e.g. Europe/London (daylight saving is followed)."
  type        = string
  default     = "UTC"

  validation {
    condition     = can(regex("^([A-Z][A-Za-z_+-]*(/[A-Za-z0-9_+-]+)*|UTC)$", var.timezone))
    error_message = "timezone must be an IANA time zone name such as Europe/London or UTC."
  }
}

variable "tags" {
  description = "Tags added to the role (the schedule resource takes none)."
  type        = map(string)
  default     = {}
}
