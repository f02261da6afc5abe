# Plans the whole dev environment against a mocked AWS provider (no account, no network).
# test/integration/infra/terraform-plan.test.ts runs this with `-json -verbose` and checks
# the security properties on every planned resource, nested modules included; the
# asserts here cover what a run block can reach (outputs) and the variable validations.

mock_provider "aws" {
  # Use the mock values below during plan too, so ids and ARNs that feed validations,
  # policies and host.json are known instead of "(known after apply)".
  override_during = plan

  mock_data "aws_caller_identity" {
    defaults = {
      account_id = "123456789012"
    }
  }
  mock_data "aws_partition" {
    defaults = {
      partition = "aws"
    }
  }
  mock_data "aws_ssm_parameter" {
    defaults = {
      value = "ami-0123456789abcdef0"
    }
  }
  mock_data "aws_subnet" {
    defaults = {
      id                = "subnet-0123456789abcdef0"
      availability_zone = "eu-west-2a"
      vpc_id            = "vpc-0123456789abcdef0"
    }
  }
  mock_resource "aws_s3_bucket" {
    defaults = {
      arn = "arn:aws:s3:::dalston-artifacts-123456789012"
    }
  }
  mock_resource "aws_ebs_volume" {
    defaults = {
      id = "vol-0123456789abcdef0"
    }
  }
  mock_resource "aws_iam_role" {
    defaults = {
      arn = "arn:aws:iam::123456789012:role/mocked"
    }
  }
  mock_resource "aws_dlm_lifecycle_policy" {
    defaults = {
      arn = "arn:aws:dlm:eu-west-2:123456789012:policy/policy-0123456789abcdef0"
    }
  }
  mock_resource "aws_scheduler_schedule" {
    defaults = {
      arn = "arn:aws:scheduler:eu-west-2:123456789012:schedule/default/dalston-stop"
    }
  }
  mock_resource "aws_instance" {
    defaults = {
      id  = "i-0123456789abcdef0"
      arn = "arn:aws:ec2:eu-west-2:123456789012:instance/i-0123456789abcdef0"
    }
  }
}

variables {
  release_version              = "0.0.0-fixture"
  release_dir                  = "tests/release-fixture"
  dalston_ref                  = "v1.2.3"
  dalston_image_tag            = "1.2.3"
  tailscale_auth_key_parameter = "/dalston/tailscale-auth-key"
}

run "defaults" {
  command = plan

  assert {
    condition     = output.data_snapshot_policy_arn != null
    error_message = "the data volume must be snapshotted by default"
  }
  assert {
    condition     = output.stop_schedule_arn == null && output.stop_schedule == null
    error_message = "the backstop stop schedule must be off by default"
  }
  assert {
    condition     = output.availability_zone == "eu-west-2a"
    error_message = "the zone for restored volumes must be the subnet's"
  }
  assert {
    condition     = output.gateway_url == "http://dalston:8000"
    error_message = "gateway_url must be the tailnet name on port 8000 (what tailscale serve --http=8000 serves)"
  }
  assert {
    condition     = output.api_key_parameter == "/dalston/dalston/api-key" && jsondecode(module.host_config.host_json).apiKey == { parameter = "/dalston/dalston/api-key" }
    error_message = "the API key parameter defaults to /dalston/<name_prefix>/api-key and reaches host.json"
  }
  assert {
    condition     = aws_s3_object.release.key == "releases/dalston-host-0.0.0-fixture.tgz"
    error_message = "the release bundle goes under releases/"
  }
}

run "all_options" {
  command = plan

  variables {
    stop_schedule_enabled       = true
    stop_schedule_expression    = "cron(30 1 * * ? *)"
    stop_schedule_timezone      = "Europe/Berlin"
    data_snapshot_time_utc      = "03:15"
    data_snapshot_retain_count  = 14
    backups_expiration_days     = 45
    allowed_security_group_ids  = ["sg-0123456789abcdef0"]
    tailscale_auth_key_readable = true
  }

  assert {
    condition     = output.stop_schedule_arn != null
    error_message = "stop_schedule_enabled must create the schedule"
  }
  assert {
    condition     = output.stop_schedule == { expression = "cron(30 1 * * ? *)", timezone = "Europe/Berlin" }
    error_message = "the stop_schedule output must tell dalston-aws when the backstop fires"
  }
}

run "minimal" {
  command = plan

  variables {
    data_snapshots_enabled       = false
    enable_ssm_session_manager   = false
    tailscale_auth_key_parameter = null
  }

  assert {
    condition     = output.data_snapshot_policy_arn == null
    error_message = "data_snapshots_enabled = false must drop the DLM policy"
  }
}

run "tailscale_key_withdrawn" {
  command = plan

  variables {
    tailscale_auth_key_readable = false
  }

  assert {
    condition     = output.role_arn != ""
    error_message = "the role stays"
  }
}

run "idle_stop_must_not_be_negative" {
  command = plan
  variables {
    idle_stop_after_minutes = -1
  }
  expect_failures = [var.idle_stop_after_minutes]
}

run "idle_stop_must_be_whole_minutes" {
  command = plan
  variables {
    idle_stop_after_minutes = 2.5
  }
  expect_failures = [var.idle_stop_after_minutes]
}

run "idle_stop_zero_disables" {
  command = plan
  variables {
    idle_stop_after_minutes = 0
  }
  assert {
    condition     = var.idle_stop_after_minutes == 0
    error_message = "0 (idle stop off) must be accepted"
  }
}

run "idle_stop_in_host_json" {
  command = plan
  variables {
    idle_stop_after_minutes = 25
  }
  assert {
    condition     = strcontains(module.host_config.host_json, "\"idle\":{\"stopAfterMinutes\":25}")
    error_message = "idle_stop_after_minutes must reach host.json idle.stopAfterMinutes"
  }
}

run "stop_schedule_rate_refused" {
  command = plan
  variables {
    stop_schedule_enabled    = true
    stop_schedule_expression = "rate(1 day)"
  }
  expect_failures = [var.stop_schedule_expression]
}

run "stop_schedule_bad_timezone_refused" {
  command = plan
  variables {
    stop_schedule_enabled  = true
    stop_schedule_timezone = "London time"
  }
  expect_failures = [var.stop_schedule_timezone]
}
