output "schedule_arn" {
  description = "ARN of the EventBridge Scheduler schedule."
  value       = aws_scheduler_schedule.stop.arn
}

output "role_arn" {
  description = "ARN of the schedule's role (ec2:StopInstances on the one instance)."
  value       = aws_iam_role.scheduler.arn
}
