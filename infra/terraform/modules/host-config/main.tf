# Provider-free: everything here is pure computation (names, the desired-state document,
# the user-data script), so it runs under `terraform test` without AWS.

locals {
  bucket_name = "${var.bucket_prefix}-${var.account_id}"

  release_file_name = "dalston-host-${var.release_version}.tgz"
  release_file      = "${var.release_dir}/${local.release_file_name}"
  release_key       = "releases/${local.release_file_name}"

  # The build writes "<hex>  <filename>"; the first field must match the bundle itself.
  release_sha256_recorded = try(split(" ", trimspace(file("${local.release_file}.sha256")))[0], "")
  release_sha256          = try(filesha256(local.release_file), "")

  compose_env = "/etc/dalston/compose.env"

  idle_stop_default = 15

  # Only what differs from the schema defaults (shared/config/schema.ts), so each default is
  # defined once: dataDir, compose.project, compose.files (Dalston's two files, then our overlay
  # from the release) and compose.workingDir (derived from dataDir) are left to the schema.
  # Optional keys are left out rather than null (the schema accepts a string or absence).
  tailscale_config = merge(
    var.tailscale_hostname == null ? {} : { hostname = var.tailscale_hostname },
    var.tailscale_auth_key_parameter == null ? {} : { authKeyParameter = var.tailscale_auth_key_parameter },
  )
  host_config = merge(
    {
      compose = {
        services = var.compose_services
        envFiles = [local.compose_env]
      }
      s3 = {
        bucket = local.bucket_name
        region = var.region
      }
      volume = {
        id = var.data_volume_id
      }
      dalston = merge(
        { ref = var.dalston_ref, imageTag = var.dalston_image_tag },
        var.dalston_repo == null ? {} : { repo = var.dalston_repo },
      )
    },
    length(local.tailscale_config) == 0 ? {} : { tailscale = local.tailscale_config },
    var.api_key_parameter == null ? {} : { apiKey = { parameter = var.api_key_parameter } },
    # 15 is the schema's default for idle.stopAfterMinutes (shared/config/schema.ts);
    # a test parses this host.json with the schema, so the two cannot drift unnoticed.
    var.idle_stop_after_minutes == local.idle_stop_default ? {} : { idle = { stopAfterMinutes = var.idle_stop_after_minutes } },
  )

  host_json = jsonencode(local.host_config)

  # The desired state (shared/desired/desired-state.ts): what the host converges to. No
  # publishedAt (it would change the object at every plan) and no secret.
  desired_state_key = "config/host.json"
  desired_state = jsonencode({
    schemaVersion = 1
    release = {
      version = var.release_version
      key     = local.release_key
      sha256  = local.release_sha256
    }
    host        = local.host_config
    publishedBy = "terraform"
  })

  # Interpolated by `docker compose` into compose/docker-compose.aws.yml; no secrets.
  compose_env_content = join("", [for k, v in {
    DALSTON_S3_BUCKET = local.bucket_name
    DALSTON_S3_REGION = var.region
    AWS_REGION        = var.region
    DALSTON_IMAGE_TAG = var.dalston_image_tag
    DALSTON_REF       = var.dalston_ref
  } : "${k}=${v}\n"])

  # Where the desired state is, nothing of what it says: the release, Dalston version and
  # host settings reach the host through config/host.json, so they can change on a running host.
  user_data = templatefile("${path.module}/templates/user-data.sh.tftpl", {
    os_family              = var.os_family
    region                 = var.region
    bucket                 = local.bucket_name
    desired_state_key      = local.desired_state_key
    node_version           = var.ubuntu_node_version
    node_sha256            = var.ubuntu_node_sha256
    publish_gateway_on_vpc = var.publish_gateway_on_vpc
  })
}
