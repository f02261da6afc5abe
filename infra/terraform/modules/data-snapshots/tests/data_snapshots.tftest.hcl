# The DLM policy and its role (run by test/integration/infra/terraform-plan.test.ts).

mock_provider "aws" {
  override_during = plan

  mock_data "aws_partition" {
    defaults = {
      partition = "aws"
    }
  }
}

variables {
  name        = "dalston"
  target_tags = { DalstonDataVolume = "dalston-data" }
}

run "daily_tag_targeted_retained" {
  command = plan
  variables {
    time_utc     = "03:30"
    retain_count = 10
  }

  assert {
    condition     = aws_dlm_lifecycle_policy.data.policy_details[0].target_tags == tomap({ DalstonDataVolume = "dalston-data" }) && aws_dlm_lifecycle_policy.data.policy_details[0].resource_types == tolist(["VOLUME"])
    error_message = "the policy must select the data volume by its tag"
  }
  assert {
    condition     = aws_dlm_lifecycle_policy.data.policy_details[0].schedule[0].create_rule[0].times == tolist(["03:30"]) && aws_dlm_lifecycle_policy.data.policy_details[0].schedule[0].create_rule[0].interval == 24
    error_message = "one snapshot a day at time_utc"
  }
  assert {
    condition     = aws_dlm_lifecycle_policy.data.policy_details[0].schedule[0].retain_rule[0].count == 10 && aws_dlm_lifecycle_policy.data.policy_details[0].schedule[0].copy_tags == true
    error_message = "retain retain_count snapshots and copy the volume's tags"
  }
  assert {
    condition     = jsondecode(aws_iam_role.dlm.assume_role_policy).Statement[0].Principal == { Service = "dlm.amazonaws.com" }
    error_message = "only DLM may assume its role"
  }
}

run "time_must_be_hh_mm" {
  command = plan
  variables {
    time_utc = "4:45"
  }
  expect_failures = [var.time_utc]
}

run "keeps_at_least_one" {
  command = plan
  variables {
    retain_count = 0
  }
  expect_failures = [var.retain_count]
}

run "must_select_something" {
  command = plan
  variables {
    target_tags = {}
  }
  expect_failures = [var.target_tags]
}
