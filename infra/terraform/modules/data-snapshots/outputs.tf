output "policy_arn" {
  description = "ARN of the DLM lifecycle policy."
  value       = aws_dlm_lifecycle_policy.data.arn
}

output "role_arn" {
  description = "ARN of the role DLM uses to create and delete the snapshots."
  value       = aws_iam_role.dlm.arn
}
