# Versioning and retention of the artifacts bucket (run by
# test/integration/infra/terraform-plan.test.ts).

mock_provider "aws" {
  override_during = plan

  mock_resource "aws_s3_bucket" {
    defaults = {
      arn = "arn:aws:s3:::dalston-artifacts-123456789012"
    }
  }
}

variables {
  bucket_name = "dalston-artifacts-123456789012"
}

run "versioned_with_retention" {
  command = plan
  variables {
    backups_expiration_days            = 45
    noncurrent_version_expiration_days = 10
  }

  assert {
    condition     = aws_s3_bucket_versioning.this.versioning_configuration[0].status == "Enabled"
    error_message = "the bucket must be versioned"
  }
  assert {
    condition     = one([for r in aws_s3_bucket_lifecycle_configuration.this.rule : r if r.id == "expire-backups"]).expiration[0].days == 45
    error_message = "backups/ must expire after backups_expiration_days"
  }
  assert {
    condition     = one([for r in aws_s3_bucket_lifecycle_configuration.this.rule : r if r.id == "expire-backups"]).filter[0].prefix == "backups/"
    error_message = "the backups rule must cover backups/"
  }
  assert {
    condition     = one([for r in aws_s3_bucket_lifecycle_configuration.this.rule : r if r.id == "expire-noncurrent-versions"]).noncurrent_version_expiration[0].noncurrent_days == 10
    error_message = "noncurrent versions must expire after noncurrent_version_expiration_days"
  }
}

run "backups_kept_at_least_a_day" {
  command = plan
  variables {
    backups_expiration_days = 0
  }
  expect_failures = [var.backups_expiration_days]
}

run "noncurrent_days_whole" {
  command = plan
  variables {
    noncurrent_version_expiration_days = 1.5
  }
  expect_failures = [var.noncurrent_version_expiration_days]
}
