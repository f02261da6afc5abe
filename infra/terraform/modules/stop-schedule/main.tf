# A backstop for a forgotten running host: EventBridge Scheduler calls EC2 StopInstances
# at a fixed time. An AWS engine with its own minimal role, no timer of ours to fail.

data "aws_partition" "current" {}

locals {
  trust_scheduler = {
    Version = "2012-10-17"
    Statement = [{
      Sid       = "TrustSchedulerOfThisAccount"
      Effect    = "Allow"
      Action    = "sts:AssumeRole"
      Principal = { Service = "scheduler.amazonaws.com" }
      # Only schedules of this account may use the role (confused-deputy guard).
      Condition = { StringEquals = { "aws:SourceAccount" = var.account_id } }
    }]
  }

  stop_policy = {
    Version = "2012-10-17"
    Statement = [{
      Sid      = "StopThisInstanceOnly"
      Effect   = "Allow"
      Action   = ["ec2:StopInstances"]
      Resource = [var.instance_arn]
    }]
  }
}

resource "aws_iam_role" "scheduler" {
  name               = "${var.name}-stop-schedule"
  description        = "EventBridge Scheduler: stops the Dalston host at a fixed time."
  assume_role_policy = jsonencode(local.trust_scheduler)
  tags               = var.tags
}

resource "aws_iam_role_policy" "stop" {
  name   = "${var.name}-stop-instance"
  role   = aws_iam_role.scheduler.name
  policy = jsonencode(local.stop_policy)
}

resource "aws_scheduler_schedule" "stop" {
  name                         = "${var.name}-stop"
  description                  = "Stops the Dalston host ${var.instance_id} (a backstop; the agent's idle stop usually comes first)."
  schedule_expression          = var.schedule_expression
  schedule_expression_timezone = var.timezone

  flexible_time_window {
    mode = "OFF"
  }

  target {
    # The universal target: the EC2 API call itself, no Lambda in between.
    arn      = "arn:${data.aws_partition.current.partition}:scheduler:::aws-sdk:ec2:stopInstances"
    role_arn = aws_iam_role.scheduler.arn
    input    = jsonencode({ InstanceIds = [var.instance_id] })

    retry_policy {
      maximum_event_age_in_seconds = 3600
      maximum_retry_attempts       = 5
    }
  }
}
