# Run by test/integration/infra/terraform.test.ts from a temp copy of this module
# that also holds release-fixture/ (a built bundle and its .sha256 file).

variables {
  account_id        = "123456789012"
  region            = "eu-west-2"
  release_version   = "0.1.0"
  release_dir       = "release-fixture"
  data_volume_id    = "vol-0123456789abcdef0"
  compose_services  = ["postgres", "redis", "gateway", "orchestrator", "stt-prepare", "stt-transcribe-faster-whisper"]
  dalston_ref       = "v1.2.3"
  dalston_image_tag = "1.2.3"
}

run "names_and_keys" {
  command = plan

  assert {
    condition     = output.bucket_name == "dalston-artifacts-123456789012"
    error_message = "bucket name must be <prefix>-<account id>"
  }
  assert {
    condition     = output.release_key == "releases/dalston-host-0.1.0.tgz"
    error_message = "release key must live under releases/"
  }
  assert {
    condition     = output.role_name == "dalston-host" && output.security_group_name == "dalston-host"
    error_message = "names must derive from name_prefix"
  }
}

run "custom_bucket_prefix" {
  command = plan
  variables {
    bucket_prefix = "acme-stt"
    name_prefix   = "stt-prod"
  }
  assert {
    condition     = output.bucket_name == "acme-stt-123456789012" && output.role_name == "stt-prod-host"
    error_message = "prefixes must be honoured"
  }
}

run "host_json_shape" {
  command = plan

  assert {
    condition     = jsondecode(output.host_json).s3 == { bucket = "dalston-artifacts-123456789012", region = "eu-west-2" }
    error_message = "host.json s3 block wrong"
  }
  assert {
    condition     = jsondecode(output.host_json).volume.id == "vol-0123456789abcdef0"
    error_message = "host.json volume.id wrong"
  }
  # Schema defaults are not restated (test/integration/infra/terraform.test.ts parses this
  # host.json with the real parseConfig and checks the paths derived from dataDir).
  assert {
    condition     = join(",", keys(jsondecode(output.host_json))) == "compose,dalston,s3,volume"
    error_message = "host.json must state only what differs from the schema defaults (no dataDir, no tailscale block without a parameter)"
  }
  assert {
    condition     = join(",", keys(jsondecode(output.host_json).compose)) == "envFiles,services"
    error_message = "host.json compose must leave project, workingDir and files to the schema"
  }
  assert {
    condition     = jsondecode(output.host_json).dalston == { ref = "v1.2.3", imageTag = "1.2.3" }
    error_message = "host.json dalston must carry the pinned ref and leave the repository to the schema"
  }
  assert {
    condition     = length(jsondecode(output.host_json).compose.services) == 6
    error_message = "host.json must carry the service list"
  }
}

run "host_json_states_what_is_given" {
  command = plan
  variables {
    dalston_repo       = "https://git.example.com/mirror/dalston.git"
    tailscale_hostname = "stt-box"
  }
  assert {
    condition     = jsondecode(output.host_json).dalston == { ref = "v1.2.3", imageTag = "1.2.3", repo = "https://git.example.com/mirror/dalston.git" }
    error_message = "host.json dalston.repo must be the given repository"
  }
  # No Tailscale parameter: the key is absent, not null (the schema rejects null).
  assert {
    condition     = jsondecode(output.host_json).tailscale == { hostname = "stt-box" }
    error_message = "authKeyParameter must be omitted when unset"
  }
}

run "tailscale_parameter_in_host_json_not_key" {
  command = plan
  variables {
    tailscale_auth_key_parameter = "/dalston/tailscale-auth-key"
    tailscale_hostname           = "stt-box"
  }
  assert {
    condition     = jsondecode(output.host_json).tailscale == { authKeyParameter = "/dalston/tailscale-auth-key", hostname = "stt-box" }
    error_message = "host.json tailscale block wrong"
  }
  assert {
    condition     = strcontains(output.desired_state, "/dalston/tailscale-auth-key") && !strcontains(output.desired_state, "tskey-")
    error_message = "the desired state names the parameter and holds no key"
  }
  assert {
    condition     = !strcontains(output.user_data, "/dalston/tailscale-auth-key")
    error_message = "user-data holds no host setting: the parameter's name is in the desired state"
  }
}

run "api_key_parameter_in_host_json" {
  command = plan
  variables {
    api_key_parameter = "/dalston/dev/api-key"
  }
  assert {
    condition     = jsondecode(output.host_json).apiKey == { parameter = "/dalston/dev/api-key" }
    error_message = "host.json must name the API key parameter as apiKey.parameter"
  }
}

run "api_key_parameter_rejects_a_non_name" {
  command = plan
  variables {
    api_key_parameter = "dalston api key"
  }
  expect_failures = [var.api_key_parameter]
}

run "user_data_al2023" {
  command = plan
  assert {
    condition     = startswith(output.user_data, "#!/bin/bash\n")
    error_message = "user-data must be a bash script"
  }
  assert {
    condition     = strcontains(output.user_data, "set -euo pipefail")
    error_message = "user-data must run with set -euo pipefail"
  }
  assert {
    condition     = strcontains(output.user_data, "dnf install -y nodejs22") && !strcontains(output.user_data, "nodejs.org")
    error_message = "AL2023 installs Node from its nodejs22 package"
  }
  assert {
    condition     = !strcontains(output.user_data, output.release_sha256) && strcontains(output.user_data, "config/host.json")
    error_message = "user-data must name the desired state, not the release (the desired state carries its SHA-256)"
  }
  assert {
    condition     = strcontains(output.user_data, "/var/log/dalston-user-data.log")
    error_message = "user-data must log to /var/log/dalston-user-data.log"
  }
  assert {
    condition     = strcontains(output.user_data, "/dev/console")
    error_message = "user-data output must also reach the serial console (aws ec2 get-console-output)"
  }
  assert {
    condition     = strcontains(output.user_data, "ConditionPathExists=!/etc/systemd/system/dalston-bootstrap.service")
    error_message = "user-data must install its re-run unit, so a failed first boot is retried at the next boot"
  }
  assert {
    condition     = !strcontains(output.user_data, "DALSTON_VPC_IP")
    error_message = "the gateway stays on loopback unless publish_gateway_on_vpc"
  }
}

run "user_data_ubuntu" {
  command = plan
  variables {
    os_family = "ubuntu"
  }
  assert {
    condition     = strcontains(output.user_data, "NODE_SHA256='22982235e1b71fa8850f82edd09cdae7e3f32df1764a9ec298c72d25ef2c164f'") && !strcontains(output.user_data, "dnf ")
    error_message = "Ubuntu installs the pinned, checksummed Node tarball"
  }
  assert {
    condition     = strcontains(output.user_data, "snap install aws-cli --classic")
    error_message = "Ubuntu installs the AWS CLI snap"
  }
}

run "user_data_vpc_gateway" {
  command = plan
  variables {
    publish_gateway_on_vpc = true
  }
  assert {
    condition     = strcontains(output.user_data, "DALSTON_VPC_IP=") && strcontains(output.user_data, "X-aws-ec2-metadata-token")
    error_message = "the private IP comes from IMDSv2"
  }
}

run "compose_env" {
  command = plan
  assert {
    condition     = output.compose_env == "AWS_REGION=eu-west-2\nDALSTON_IMAGE_TAG=1.2.3\nDALSTON_REF=v1.2.3\nDALSTON_S3_BUCKET=dalston-artifacts-123456789012\nDALSTON_S3_REGION=eu-west-2\n"
    error_message = "compose.env content wrong"
  }
}

run "release_sha_mismatch" {
  command = plan
  variables {
    release_version = "0.1.1"
  }
  expect_failures = [output.release_sha256]
}

run "release_missing" {
  command = plan
  variables {
    release_version = "0.9.9"
  }
  expect_failures = [output.release_sha256]
}

run "bad_account_id" {
  command = plan
  variables {
    account_id = "12345"
  }
  expect_failures = [var.account_id]
}

run "bad_region" {
  command = plan
  variables {
    region = "London"
  }
  expect_failures = [var.region]
}

run "bad_name_prefix" {
  command = plan
  variables {
    name_prefix = "Dalston_"
  }
  expect_failures = [var.name_prefix]
}

run "bad_bucket_prefix" {
  command = plan
  variables {
    bucket_prefix = "Bad.Bucket-"
  }
  expect_failures = [var.bucket_prefix]
}

run "bad_release_version" {
  command = plan
  variables {
    release_version = "../../etc"
  }
  expect_failures = [var.release_version]
}

run "bad_volume_id" {
  command = plan
  variables {
    data_volume_id = "vol-XYZ"
  }
  expect_failures = [var.data_volume_id]
}

run "bad_os_family" {
  command = plan
  variables {
    os_family = "centos"
  }
  expect_failures = [var.os_family]
}

run "bad_node_sha" {
  command = plan
  variables {
    ubuntu_node_sha256 = "abc"
  }
  expect_failures = [var.ubuntu_node_sha256]
}

run "bad_node_version" {
  command = plan
  variables {
    ubuntu_node_version = "20.11.0"
  }
  expect_failures = [var.ubuntu_node_version]
}

run "services_missing_core" {
  command = plan
  variables {
    compose_services = ["gateway", "orchestrator"]
  }
  expect_failures = [var.compose_services]
}

run "services_duplicate" {
  command = plan
  variables {
    compose_services = ["postgres", "redis", "gateway", "orchestrator", "redis"]
  }
  expect_failures = [var.compose_services]
}

run "branch_ref_refused" {
  command = plan
  variables {
    dalston_ref = "main"
  }
  expect_failures = [var.dalston_ref]
}

run "latest_tag_refused" {
  command = plan
  variables {
    dalston_image_tag = "latest"
  }
  expect_failures = [var.dalston_image_tag]
}

run "image_tag_not_a_release" {
  command = plan
  variables {
    dalston_image_tag = "v1.2.3"
  }
  expect_failures = [var.dalston_image_tag]
}

run "image_tag_sha_refused" {
  command = plan
  variables {
    dalston_image_tag = "sha-0123abc"
  }
  expect_failures = [var.dalston_image_tag]
}

run "ref_and_tag_mismatch" {
  command = plan
  variables {
    dalston_ref       = "v1.3.0"
    dalston_image_tag = "1.2.3"
  }
  expect_failures = [output.dalston_pins]
}

run "commit_ref_with_release_tag" {
  command = plan
  variables {
    dalston_ref       = "0123456789abcdef0123456789abcdef01234567"
    dalston_image_tag = "1.2.3"
  }
  assert {
    condition     = output.dalston_pins.image_tag == "1.2.3"
    error_message = "a commit ref takes the image tag as given"
  }
}

run "matching_release_pins" {
  command = plan
  variables {
    dalston_ref       = "v1.3.0"
    dalston_image_tag = "1.3.0"
  }
  assert {
    condition     = output.dalston_pins == { ref = "v1.3.0", image_tag = "1.3.0" }
    error_message = "vX.Y.Z with X.Y.Z is accepted"
  }
}

run "bad_repo_url" {
  command = plan
  variables {
    dalston_repo = "git@github.com:ssarunic/dalston.git"
  }
  expect_failures = [var.dalston_repo]
}

run "bad_tailscale_parameter" {
  command = plan
  variables {
    tailscale_auth_key_parameter = "tskey-auth-abc123"
  }
  expect_failures = [var.tailscale_auth_key_parameter]
}

run "bad_tailscale_hostname" {
  command = plan
  variables {
    tailscale_hostname = "Dalston Box"
  }
  expect_failures = [var.tailscale_hostname]
}

run "idle_stop_default_left_to_schema" {
  command = plan
  assert {
    condition     = !contains(keys(jsondecode(output.host_json)), "idle")
    error_message = "the default idle window (60) is the schema's: host.json must not restate it"
  }
}

run "idle_stop_in_host_json" {
  command = plan
  variables {
    idle_stop_after_minutes = 20
  }
  assert {
    condition     = jsondecode(output.host_json).idle == { stopAfterMinutes = 20 }
    error_message = "idle_stop_after_minutes must become host.json idle.stopAfterMinutes"
  }
}

run "idle_stop_off_in_host_json" {
  command = plan
  variables {
    idle_stop_after_minutes = 0
  }
  assert {
    condition     = jsondecode(output.host_json).idle == { stopAfterMinutes = 0 }
    error_message = "0 (idle stop off) must be written, not dropped"
  }
}

run "idle_stop_negative_refused" {
  command = plan
  variables {
    idle_stop_after_minutes = -5
  }
  expect_failures = [var.idle_stop_after_minutes]
}

run "idle_stop_fraction_refused" {
  command = plan
  variables {
    idle_stop_after_minutes = 0.5
  }
  expect_failures = [var.idle_stop_after_minutes]
}

run "desired_state_document" {
  command = plan
  assert {
    condition     = jsondecode(output.desired_state).schemaVersion == 1 && jsondecode(output.desired_state).publishedBy == "terraform"
    error_message = "the desired state is schemaVersion 1, published by terraform"
  }
  assert {
    condition     = jsondecode(output.desired_state).release == { version = "0.1.0", key = "releases/dalston-host-0.1.0.tgz", sha256 = output.release_sha256 }
    error_message = "the desired state names the uploaded release and its SHA-256"
  }
  assert {
    condition     = jsondecode(output.desired_state).host == jsondecode(output.host_json)
    error_message = "the desired state's host is host.json"
  }
  assert {
    condition     = !contains(keys(jsondecode(output.desired_state)), "publishedAt")
    error_message = "no publishedAt: it would change the object at every plan"
  }
  assert {
    condition     = output.desired_state_key == "config/host.json"
    error_message = "the desired state is published at config/host.json"
  }
}
