output "instance_id" {
  description = "Id of the Dalston host instance."
  value       = aws_instance.this.id
}

output "private_ip" {
  description = "Private IPv4 address of the instance (VPC peers reach the gateway there)."
  value       = aws_instance.this.private_ip
}

output "availability_zone" {
  description = "Availability zone of the instance and the data volume (taken from the subnet)."
  value       = data.aws_subnet.this.availability_zone
}

output "data_volume_id" {
  description = "Id of the data volume (host.json volume.id)."
  value       = aws_ebs_volume.data.id
}

output "security_group_id" {
  description = "Id of the instance's security group."
  value       = aws_security_group.this.id
}

output "ami_id" {
  description = "AMI the instance was created from (later AMI releases are ignored)."
  value       = aws_instance.this.ami
}

output "instance_arn" {
  description = "ARN of the instance (the stop schedule's role may stop exactly this one)."
  value       = aws_instance.this.arn
}

output "data_volume_snapshot_tags" {
  description = "Tags that mark the data volume for the snapshot policy (module data-snapshots targets them)."
  value       = local.data_volume_snapshot_tags
}
