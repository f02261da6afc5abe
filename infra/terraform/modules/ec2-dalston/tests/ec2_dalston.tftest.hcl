# The instance-type rules and the instance's settings, planned against a mocked AWS
# provider (run by test/integration/infra/terraform-plan.test.ts).

mock_provider "aws" {
  override_during = plan

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
}

variables {
  name_prefix               = "dalston"
  availability_zone         = "eu-west-2a"
  iam_instance_profile_name = "dalston-host"
  user_data                 = "#!/bin/bash\necho fixture\n"
  desired_state_url         = "s3://dalston-artifacts-123456789012/config/host.json"
}

run "current_type_is_ebs_optimized_and_stops_on_power_off" {
  command = plan
  variables {
    instance_type = "m7i.large"
  }
  assert {
    condition     = aws_instance.this.ebs_optimized == true && aws_instance.this.instance_type == "m7i.large"
    error_message = "a current x86_64 type must be accepted with ebs_optimized"
  }
  assert {
    condition     = aws_instance.this.instance_initiated_shutdown_behavior == "stop"
    error_message = "a power-off from inside must stop the instance, not terminate it"
  }
}

run "t2_is_refused" {
  command = plan
  variables {
    instance_type = "t2.large"
  }
  expect_failures = [var.instance_type]
}

run "other_previous_generation_is_refused" {
  command = plan
  variables {
    instance_type = "m3.xlarge"
  }
  expect_failures = [var.instance_type]
}

run "graviton_is_refused" {
  command = plan
  variables {
    instance_type = "t4g.xlarge"
  }
  expect_failures = [var.instance_type]
}

run "cidr_peers_are_refused" {
  command = plan
  variables {
    allowed_security_group_ids = ["0.0.0.0/0"]
  }
  expect_failures = [var.allowed_security_group_ids]
}

run "data_volume_carries_the_snapshot_tag" {
  command = plan
  assert {
    condition     = aws_ebs_volume.data.tags["DalstonDataVolume"] == "dalston-data" && output.data_volume_snapshot_tags == { DalstonDataVolume = "dalston-data" }
    error_message = "the snapshot policy selects the data volume by its DalstonDataVolume tag"
  }
  assert {
    condition     = aws_ebs_volume.data.encrypted == true && aws_instance.this.root_block_device[0].encrypted == true
    error_message = "root and data volumes must be encrypted"
  }
}

run "no_release_tag_only_where_the_desired_state_is" {
  command = plan
  assert {
    condition     = !contains(keys(aws_instance.this.tags), "DalstonHostRelease")
    error_message = "the instance must not be tagged with a release it may not run (the heartbeat reports what runs)"
  }
  assert {
    condition     = aws_instance.this.tags["DalstonDesiredState"] == "s3://dalston-artifacts-123456789012/config/host.json"
    error_message = "the instance names where its desired state is"
  }
}
