# One Dalston host: artifacts bucket, instance role, instance + data volume, release bundle.

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}

locals {
  compose_services = jsondecode(file("${path.module}/../../../../compose/services.cpu.json"))

  tailscale_parameter_arn = var.tailscale_auth_key_parameter == null ? null : "arn:${data.aws_partition.current.partition}:ssm:${var.region}:${data.aws_caller_identity.current.account_id}:parameter${var.tailscale_auth_key_parameter}"

  # The host generates the admin API key and stores it here; the role may write only this name.
  api_key_parameter     = coalesce(var.api_key_parameter, "/dalston/${var.name_prefix}/api-key")
  api_key_parameter_arn = "arn:${data.aws_partition.current.partition}:ssm:${var.region}:${data.aws_caller_identity.current.account_id}:parameter${local.api_key_parameter}"
}

module "host_config" {
  source = "../../modules/host-config"

  name_prefix                  = var.name_prefix
  account_id                   = data.aws_caller_identity.current.account_id
  bucket_prefix                = var.bucket_prefix
  region                       = var.region
  os_family                    = var.os_family
  release_version              = var.release_version
  release_dir                  = abspath(var.release_dir)
  data_volume_id               = module.ec2.data_volume_id
  compose_services             = local.compose_services
  dalston_repo                 = var.dalston_repo
  dalston_ref                  = var.dalston_ref
  dalston_image_tag            = var.dalston_image_tag
  tailscale_auth_key_parameter = var.tailscale_auth_key_parameter
  tailscale_hostname           = var.tailscale_hostname
  api_key_parameter            = local.api_key_parameter
  publish_gateway_on_vpc       = length(var.allowed_security_group_ids) > 0
  idle_stop_after_minutes      = var.idle_stop_after_minutes
}

module "artifacts" {
  source = "../../modules/s3-artifacts"

  bucket_name                        = module.host_config.bucket_name
  jobs_expiration_days               = var.jobs_expiration_days
  backups_expiration_days            = var.backups_expiration_days
  noncurrent_version_expiration_days = var.noncurrent_version_expiration_days
}

resource "aws_s3_object" "release" {
  bucket             = module.artifacts.bucket_name
  key                = module.host_config.release_key
  source             = module.host_config.release_file
  source_hash        = module.host_config.release_sha256
  checksum_algorithm = "SHA256"
  content_type       = "application/gzip"
  metadata = {
    sha256 = module.host_config.release_sha256
  }
}

# The desired state the host converges to (bootstrap at every boot, `dalston-host sync`, the
# agent's poll): the release to run and host.json's content, no secret. A new release or
# Dalston version changes this object, never the instance.
resource "aws_s3_object" "desired_state" {
  bucket       = module.artifacts.bucket_name
  key          = module.host_config.desired_state_key
  content      = module.host_config.desired_state
  content_type = "application/json"

  # The release it names is in S3 before a host can read it.
  depends_on = [aws_s3_object.release]
}

module "iam" {
  source = "../../modules/iam-dalston"

  name                             = module.host_config.role_name
  bucket_arn                       = module.artifacts.bucket_arn
  tailscale_auth_key_parameter_arn = local.tailscale_parameter_arn
  tailscale_auth_key_readable      = var.tailscale_auth_key_readable
  api_key_parameter_arn            = local.api_key_parameter_arn
  enable_ssm_session_manager       = var.enable_ssm_session_manager
}

module "ec2" {
  source = "../../modules/ec2-dalston"

  name_prefix                 = var.name_prefix
  subnet_id                   = var.subnet_id
  availability_zone           = var.subnet_id == null ? var.availability_zone : null
  os_family                   = var.os_family
  instance_type               = var.instance_type
  root_volume_size_gb         = var.root_volume_size_gb
  data_volume_size_gb         = var.data_volume_size_gb
  iam_instance_profile_name   = module.iam.instance_profile_name
  user_data                   = module.host_config.user_data
  desired_state_url           = "s3://${module.host_config.bucket_name}/${aws_s3_object.desired_state.key}"
  allowed_security_group_ids  = var.allowed_security_group_ids
  associate_public_ip_address = var.associate_public_ip_address
}

module "snapshots" {
  source = "../../modules/data-snapshots"
  count  = var.data_snapshots_enabled ? 1 : 0

  name         = var.name_prefix
  target_tags  = module.ec2.data_volume_snapshot_tags
  time_utc     = var.data_snapshot_time_utc
  retain_count = var.data_snapshot_retain_count
}

module "stop_schedule" {
  source = "../../modules/stop-schedule"
  count  = var.stop_schedule_enabled ? 1 : 0

  name                = var.name_prefix
  account_id          = data.aws_caller_identity.current.account_id
  instance_id         = module.ec2.instance_id
  instance_arn        = module.ec2.instance_arn
  schedule_expression = var.stop_schedule_expression
  timezone            = var.stop_schedule_timezone
}
