# The instance role's rendered policies (run by test/integration/infra/terraform-plan.test.ts,
# which also evaluates them action by action).

mock_provider "aws" {}

variables {
  name                             = "dalston-host"
  bucket_arn                       = "arn:aws:s3:::dalston-artifacts-123456789012"
  tailscale_auth_key_parameter_arn = "arn:aws:ssm:eu-west-2:123456789012:parameter/dalston/tailscale-auth-key"
  api_key_parameter_arn            = "arn:aws:ssm:eu-west-2:123456789012:parameter/dalston/dalston/api-key"
}

run "defaults" {
  command = plan

  assert {
    condition     = one([for s in jsondecode(aws_iam_role_policy.host.policy).Statement : s if s.Sid == "DenyBackupDeletes"]).Effect == "Deny"
    error_message = "the role must be denied deletes under backups/"
  }
  assert {
    condition     = one([for s in jsondecode(aws_iam_role_policy.host.policy).Statement : s if s.Sid == "DenyBackupDeletes"]).Resource == ["arn:aws:s3:::dalston-artifacts-123456789012/backups/*"]
    error_message = "the deny must cover backups/ exactly"
  }
  assert {
    condition     = one([for s in jsondecode(aws_iam_role_policy.host.policy).Statement : s if s.Sid == "ReadTailscaleAuthKey"]).Resource == ["arn:aws:ssm:eu-west-2:123456789012:parameter/dalston/tailscale-auth-key"]
    error_message = "the role may read the one Tailscale parameter"
  }
  assert {
    condition     = alltrue([for s in jsondecode(aws_iam_role_policy.session_manager[0].policy).Statement : length([for a in s.Action : a if startswith(a, "ssm:Get")]) == 0])
    error_message = "the Session Manager policy must not read parameters"
  }
  assert {
    condition     = !contains(one([for s in jsondecode(aws_iam_role_policy.host.policy).Statement : s if s.Sid == "WriteArtifacts"]).Resource, "arn:aws:s3:::dalston-artifacts-123456789012/releases/*")
    error_message = "the host must not write releases/"
  }
  assert {
    condition     = one([for s in jsondecode(aws_iam_role_policy.host.policy).Statement : s if s.Sid == "StoreApiKey"]).Resource == ["arn:aws:ssm:eu-west-2:123456789012:parameter/dalston/dalston/api-key"]
    error_message = "the role may write the one API key parameter"
  }
  assert {
    condition     = one([for s in jsondecode(aws_iam_role_policy.host.policy).Statement : s if s.Sid == "StoreApiKey"]).Action == ["ssm:PutParameter"]
    error_message = "the API key grant is PutParameter only (the host never reads it back)"
  }
  assert {
    condition     = length([for s in jsondecode(aws_iam_role_policy.host.policy).Statement : s if contains(s.Action, "ssm:GetParameter") && contains(s.Resource, "arn:aws:ssm:eu-west-2:123456789012:parameter/dalston/dalston/api-key")]) == 0
    error_message = "the role must not read the API key parameter"
  }
}

run "no_api_key_parameter" {
  command = plan
  variables {
    api_key_parameter_arn = null
  }
  assert {
    condition     = length([for s in jsondecode(aws_iam_role_policy.host.policy).Statement : s if s.Sid == "StoreApiKey"]) == 0
    error_message = "no API key parameter, no SSM write grant"
  }
}

run "api_key_parameter_wildcard_rejected" {
  command = plan
  variables {
    api_key_parameter_arn = "arn:aws:ssm:eu-west-2:123456789012:parameter/dalston/*"
  }
  expect_failures = [var.api_key_parameter_arn]
}

run "key_withdrawn_after_join" {
  command = plan
  variables {
    tailscale_auth_key_readable = false
  }
  assert {
    condition     = length([for s in jsondecode(aws_iam_role_policy.host.policy).Statement : s if s.Sid == "ReadTailscaleAuthKey"]) == 0
    error_message = "tailscale_auth_key_readable = false must drop the parameter grant"
  }
}

run "session_manager_off" {
  command = plan
  variables {
    enable_ssm_session_manager = false
  }
  assert {
    condition     = length(aws_iam_role_policy.session_manager) == 0
    error_message = "enable_ssm_session_manager = false must drop the Session Manager policy"
  }
}

run "deleting_backups_is_refused" {
  command = plan
  variables {
    delete_prefixes = ["jobs/", "backups/"]
  }
  expect_failures = [var.delete_prefixes]
}

run "writing_releases_is_refused" {
  command = plan
  variables {
    write_prefixes = ["jobs/", "releases/"]
  }
  expect_failures = [var.write_prefixes]
}

run "wildcard_parameter_is_refused" {
  command = plan
  variables {
    tailscale_auth_key_parameter_arn = "arn:aws:ssm:eu-west-2:123456789012:parameter/*"
  }
  expect_failures = [var.tailscale_auth_key_parameter_arn]
}
