# Provider-free: everything here is pure computation (names, host.json, the
# user-data script), so it runs under `terraform test` without AWS.

locals {
  bucket_name = "${var.bucket_prefix}-${var.account_id}"

  release_file_name = "dalston-host-${var.release_version}.tgz"
  release_file      = "${var.release_dir}/${local.release_file_name}"
  release_key       = "releases/${local.release_file_name}"

  # The build writes "<hex>  <filename>"; the first field must match the bundle itself.
  release_sha256_recorded = try(split(" ", trimspace(file("${local.release_file}.sha256")))[0], "")
  release_sha256          = try(filesha256(local.release_file), "")

  overlay_file = "/opt/dalston-host/current/compose/docker-compose.aws.yml"
  compose_env  = "/etc/dalston/compose.env"

  # Only keys the schema knows (shared/config/schema.ts); nulls are left out
  # because the schema's optional keys accept a string or absence, not null.
  host_config = {
    dataDir = "/data"
    compose = {
      project    = "dalston"
      workingDir = "/data/dalston/current"
      # Dalston's files are relative to workingDir (the checkout); ours ships in the release.
      files    = ["docker-compose.yml", "infra/docker/docker-compose.aws.yml", local.overlay_file]
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
    dalston = {
      repo = var.dalston_repo
      ref  = var.dalston_ref
    }
    tailscale = merge(
      { hostname = var.tailscale_hostname },
      var.tailscale_auth_key_parameter == null ? {} : { authKeyParameter = var.tailscale_auth_key_parameter },
    )
  }

  host_json = jsonencode(local.host_config)

  # Interpolated by `docker compose` into compose/docker-compose.aws.yml; no secrets.
  compose_env_content = join("", [for k, v in {
    DALSTON_S3_BUCKET = local.bucket_name
    DALSTON_S3_REGION = var.region
    AWS_REGION        = var.region
    DALSTON_IMAGE_TAG = var.dalston_image_tag
    DALSTON_REF       = var.dalston_ref
  } : "${k}=${v}\n"])

  user_data = templatefile("${path.module}/templates/user-data.sh.tftpl", {
    os_family              = var.os_family
    region                 = var.region
    bucket                 = local.bucket_name
    release_version        = var.release_version
    release_key            = local.release_key
    release_sha256         = local.release_sha256
    node_version           = var.ubuntu_node_version
    node_sha256            = var.ubuntu_node_sha256
    host_json              = local.host_json
    compose_env            = local.compose_env_content
    publish_gateway_on_vpc = var.publish_gateway_on_vpc
  })
}
