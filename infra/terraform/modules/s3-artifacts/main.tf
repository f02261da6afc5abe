# The artifacts bucket. Prefixes: see README.md. Private, owner-enforced, encrypted,
# TLS-only, versioned, never force-destroyed.

resource "aws_s3_bucket" "this" {
  bucket = var.bucket_name
  # A non-empty bucket holds transcripts and backups: destroying it must be a deliberate act.
  force_destroy = false
  tags          = var.tags
}

resource "aws_s3_bucket_public_access_block" "this" {
  bucket                  = aws_s3_bucket.this.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_ownership_controls" "this" {
  bucket = aws_s3_bucket.this.id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "this" {
  bucket = aws_s3_bucket.this.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "AES256"
    }
  }
}

# Versioning turns an overwrite or a delete into a noncurrent version that the lifecycle
# expires later, so neither a bug nor a compromised host erases an object at once.
resource "aws_s3_bucket_versioning" "this" {
  bucket = aws_s3_bucket.this.id
  versioning_configuration {
    status = "Enabled"
  }
}

locals {
  # jsonencode rather than aws_iam_policy_document: the JSON is known at plan time and tested.
  tls_only_policy = {
    Version = "2012-10-17"
    Statement = [{
      Sid       = "DenyInsecureTransport"
      Effect    = "Deny"
      Principal = "*"
      Action    = "s3:*"
      Resource  = [aws_s3_bucket.this.arn, "${aws_s3_bucket.this.arn}/*"]
      Condition = { Bool = { "aws:SecureTransport" = "false" } }
    }]
  }
}

resource "aws_s3_bucket_policy" "tls_only" {
  bucket = aws_s3_bucket.this.id
  policy = jsonencode(local.tls_only_policy)
  # S3 rejects a policy while the public-access block is being changed; order them.
  depends_on = [aws_s3_bucket_public_access_block.this]
}

resource "aws_s3_bucket_lifecycle_configuration" "this" {
  bucket = aws_s3_bucket.this.id
  # Noncurrent-version rules need versioning in place first.
  depends_on = [aws_s3_bucket_versioning.this]

  rule {
    id     = "expire-jobs"
    status = "Enabled"
    filter {
      prefix = "jobs/"
    }
    expiration {
      days = var.jobs_expiration_days
    }
  }

  rule {
    id     = "expire-temp"
    status = "Enabled"
    filter {
      prefix = "temp/"
    }
    expiration {
      days = 7
    }
  }

  # Backups are never deleted by the host (its role is denied that); they age out here.
  rule {
    id     = "expire-backups"
    status = "Enabled"
    filter {
      prefix = "backups/"
    }
    expiration {
      days = var.backups_expiration_days
    }
  }

  # Everything expired, overwritten or deleted lingers as a noncurrent version for this
  # long, then is gone for good; delete markers left with no versions are cleaned up.
  rule {
    id     = "expire-noncurrent-versions"
    status = "Enabled"
    filter {}
    noncurrent_version_expiration {
      noncurrent_days = var.noncurrent_version_expiration_days
    }
    expiration {
      expired_object_delete_marker = true
    }
  }

  rule {
    id     = "abort-incomplete-multipart-uploads"
    status = "Enabled"
    filter {}
    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }
}
