output "instance_id" {
  description = "Id of the Dalston host (for the start/stop/status commands and `aws ssm start-session`)."
  value       = module.ec2.instance_id
}

output "private_ip" {
  description = "Private IP of the host; peers in allowed_security_group_ids reach the gateway at http://<private_ip>:8000."
  value       = module.ec2.private_ip
}

output "data_volume_id" {
  description = "Id of the data volume holding /data (Postgres, Redis, models); prevent_destroy guards it (see the README for keeping it through a destroy)."
  value       = module.ec2.data_volume_id
}

output "availability_zone" {
  description = "Zone of the instance and the data volume: a volume restored from a snapshot must be created here."
  value       = module.ec2.availability_zone
}

output "data_snapshot_policy_arn" {
  description = "ARN of the DLM policy that snapshots the data volume daily (null when data_snapshots_enabled is false)."
  value       = one(module.snapshots[*].policy_arn)
}

output "stop_schedule_arn" {
  description = "ARN of the backstop stop schedule (null unless stop_schedule_enabled)."
  value       = one(module.stop_schedule[*].schedule_arn)
}

output "stop_schedule" {
  description = "The backstop's cron() expression and time zone (null unless stop_schedule_enabled); dalston-aws status names a stop at that time as the schedule's."
  value       = var.stop_schedule_enabled ? { expression = var.stop_schedule_expression, timezone = var.stop_schedule_timezone } : null
}

output "bucket_name" {
  description = "Artifacts bucket (jobs, releases, status snapshots, backups)."
  value       = module.artifacts.bucket_name
}

output "bucket_arn" {
  description = "ARN of the artifacts bucket, for policies of other projects that read transcripts."
  value       = module.artifacts.bucket_arn
}

output "role_arn" {
  description = "ARN of the instance role."
  value       = module.iam.role_arn
}

output "security_group_id" {
  description = "Security group of the host (no ingress unless allowed_security_group_ids is set)."
  value       = module.ec2.security_group_id
}

output "tailscale_hostname" {
  description = "Tailscale machine name of the host (the gateway is at gateway_url once it has joined)."
  value       = var.tailscale_hostname
}

# The one gateway URL: what the bootstrap's `tailscale serve --http=8000` serves on the tailnet
# (MagicDNS name). cli/gateway-url.ts builds the same; a unit test holds the two together.
output "gateway_url" {
  description = "Dalston's gateway on your tailnet once the host has joined (`tailscale serve --http=8000`, plain HTTP inside the tailnet's encryption): http://<tailscale_hostname>:8000."
  value       = "http://${var.tailscale_hostname}:8000"
}

output "api_key_parameter" {
  description = "SSM SecureString holding the Dalston admin API key the host generated at its first boot (`dalston-aws api-key` prints it)."
  value       = local.api_key_parameter
}

output "start_command" {
  description = "Starts the stopped host and waits until it runs."
  value       = "aws ec2 start-instances --region ${var.region} --instance-ids ${module.ec2.instance_id} && aws ec2 wait instance-running --region ${var.region} --instance-ids ${module.ec2.instance_id}"
}

output "stop_command" {
  description = "Stops the host (compute billing stops; volumes and the bucket are kept)."
  value       = "aws ec2 stop-instances --region ${var.region} --instance-ids ${module.ec2.instance_id}"
}

output "status_command" {
  description = "Prints the instance state (running, stopped, ...)."
  value       = "aws ec2 describe-instances --region ${var.region} --instance-ids ${module.ec2.instance_id} --query 'Reservations[0].Instances[0].State.Name' --output text"
}

output "shell_aliases" {
  description = "Paste into ~/.zshrc or ~/.bashrc: dalston-up, dalston-down, dalston-status."
  value       = <<-EOT
    alias dalston-up="aws ec2 start-instances --region ${var.region} --instance-ids ${module.ec2.instance_id} && aws ec2 wait instance-running --region ${var.region} --instance-ids ${module.ec2.instance_id}"
    alias dalston-down="aws ec2 stop-instances --region ${var.region} --instance-ids ${module.ec2.instance_id}"
    alias dalston-status="aws ec2 describe-instances --region ${var.region} --instance-ids ${module.ec2.instance_id} --query 'Reservations[0].Instances[0].State.Name' --output text"
  EOT
}

output "region" {
  description = "AWS region of the deployment (read by `dalston-aws` together with instance_id and bucket_name)."
  value       = var.region
}

output "ssh_user" {
  description = "Login user of `dalston-aws ssh` (Tailscale SSH): ec2-user on Amazon Linux 2023, ubuntu on Ubuntu."
  value       = var.os_family == "ubuntu" ? "ubuntu" : "ec2-user"
}
