# Daily EBS snapshots of the data volume by Data Lifecycle Manager: an AWS engine runs
# them (no timer on the host, nothing to keep alive), selects the volume by tag, keeps
# the newest retain_count and deletes older ones itself.

data "aws_partition" "current" {}

locals {
  trust_dlm = {
    Version = "2012-10-17"
    Statement = [{
      Sid       = "TrustDLMOnly"
      Effect    = "Allow"
      Action    = "sts:AssumeRole"
      Principal = { Service = "dlm.amazonaws.com" }
    }]
  }
}

# Its own role, assumable by DLM alone. It carries AWS's managed policy for DLM (the one
# AWS's default DLM role uses): DLM's needs change with its features, and only the DLM
# service, never the host, can use this role.
resource "aws_iam_role" "dlm" {
  name               = "${var.name}-dlm"
  description        = "Data Lifecycle Manager: snapshots of the Dalston data volume."
  assume_role_policy = jsonencode(local.trust_dlm)
  tags               = var.tags
}

resource "aws_iam_role_policy_attachment" "dlm" {
  role       = aws_iam_role.dlm.name
  policy_arn = "arn:${data.aws_partition.current.partition}:iam::aws:policy/service-role/AWSDataLifecycleManagerServiceRole"
}

resource "aws_dlm_lifecycle_policy" "data" {
  description        = "Daily snapshots of the ${var.name} data volume"
  execution_role_arn = aws_iam_role.dlm.arn
  state              = "ENABLED"
  tags               = merge(var.tags, { Name = "${var.name}-data-snapshots" })

  policy_details {
    policy_type    = "EBS_SNAPSHOT_MANAGEMENT"
    resource_types = ["VOLUME"]
    target_tags    = var.target_tags

    schedule {
      name = "daily"
      # DLM times are UTC.
      create_rule {
        interval      = 24
        interval_unit = "HOURS"
        times         = [var.time_utc]
      }
      retain_rule {
        count = var.retain_count
      }
      # The volume's tags (Name, DalstonDataVolume, the stack's tags) go onto each snapshot,
      # so a volume restored from it with the same tags is snapshotted again.
      copy_tags = true
      tags_to_add = {
        SnapshotCreator = "dlm"
      }
    }
  }
}
