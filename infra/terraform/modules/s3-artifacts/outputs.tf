output "bucket_name" {
  description = "Name of the artifacts bucket."
  value       = aws_s3_bucket.this.id
}

output "bucket_arn" {
  description = "ARN of the artifacts bucket (the IAM policy is scoped to it)."
  value       = aws_s3_bucket.this.arn
}
