output "bucket_name" {
  description = "Name of the artifacts bucket: <bucket_prefix>-<account_id>."
  value       = local.bucket_name
}

output "role_name" {
  description = "Name of the instance's IAM role."
  value       = "${var.name_prefix}-host"
}

output "security_group_name" {
  description = "Name of the instance's security group."
  value       = "${var.name_prefix}-host"
}

output "release_file" {
  description = "Local path of the release bundle uploaded to S3."
  value       = local.release_file
}

output "release_key" {
  description = "S3 key of the release bundle: releases/dalston-host-<version>.tgz."
  value       = local.release_key
}

output "release_sha256" {
  description = "SHA-256 of the release bundle; the user-data refuses a download that does not match it."
  value       = local.release_sha256

  precondition {
    condition     = local.release_sha256 != ""
    error_message = "Release bundle ${local.release_file} not found: run `npm run build` first (or point release_dir at the directory holding it)."
  }

  precondition {
    condition     = local.release_sha256 == local.release_sha256_recorded
    error_message = "Release bundle ${local.release_file} does not match its .sha256 file (missing, or the bundle changed after the build): rebuild with `npm run build`."
  }
}

output "host_json" {
  description = "The desired /etc/dalston/host.json (the desired state's `host`; validated by the project's config schema)."
  value       = local.host_json
}

output "compose_env" {
  description = "What the bootstrap's desired step writes to /etc/dalston/compose.env from host.json: the variables compose/docker-compose.aws.yml interpolates."
  value       = local.compose_env_content
}

output "desired_state_key" {
  description = "S3 key of the desired-state object: config/host.json (the instance may read it, never write it)."
  value       = local.desired_state_key
}

output "desired_state" {
  description = "The desired-state document published at config/host.json: schemaVersion, release {version, key, sha256}, host (host.json), publishedBy. No secret."
  # A missing or stale bundle is refused by release_sha256's preconditions (the release upload uses it).
  value = local.desired_state
}

output "user_data" {
  description = "The instance's user-data script (no secrets: it names the Tailscale parameter, never the key)."
  value       = local.user_data

  precondition {
    condition     = length(local.user_data) < 16384
    error_message = "The rendered user-data exceeds EC2's 16 KiB limit."
  }
}
