# The backstop stop schedule and its role (run by test/integration/infra/terraform-plan.test.ts).

mock_provider "aws" {
  override_during = plan

  mock_data "aws_partition" {
    defaults = {
      partition = "aws"
    }
  }
}

variables {
  name         = "dalston"
  account_id   = "123456789012"
  instance_id  = "i-0123456789abcdef0"
  instance_arn = "arn:aws:ec2:eu-west-2:123456789012:instance/i-0123456789abcdef0"
}

run "stops_this_instance_at_local_time" {
  command = plan
  variables {
    schedule_expression = "cron(0 2 * * ? *)"
    timezone            = "Europe/London"
  }

  assert {
    condition     = aws_scheduler_schedule.stop.schedule_expression == "cron(0 2 * * ? *)" && aws_scheduler_schedule.stop.schedule_expression_timezone == "Europe/London"
    error_message = "the schedule must fire at the given local time"
  }
  assert {
    condition     = aws_scheduler_schedule.stop.target[0].arn == "arn:aws:scheduler:::aws-sdk:ec2:stopInstances" && jsondecode(aws_scheduler_schedule.stop.target[0].input) == { InstanceIds = ["i-0123456789abcdef0"] }
    error_message = "the target must be EC2 StopInstances on this instance"
  }
  assert {
    condition     = jsondecode(aws_iam_role_policy.stop.policy).Statement == [{ Sid = "StopThisInstanceOnly", Effect = "Allow", Action = ["ec2:StopInstances"], Resource = ["arn:aws:ec2:eu-west-2:123456789012:instance/i-0123456789abcdef0"] }]
    error_message = "the role may only stop this one instance"
  }
}

run "rate_expressions_are_refused" {
  command = plan
  variables {
    schedule_expression = "rate(1 hour)"
  }
  expect_failures = [var.schedule_expression]
}

run "wildcard_instance_is_refused" {
  command = plan
  variables {
    instance_arn = "arn:aws:ec2:eu-west-2:123456789012:instance/*"
  }
  expect_failures = [var.instance_arn]
}
