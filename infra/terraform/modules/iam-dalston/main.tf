# The instance's role: exactly the S3 and SSM access dalston-host and Dalston need.
# The only resource wildcard is bucket/* (objects of the one bucket).

data "aws_partition" "current" {}

data "aws_iam_policy_document" "assume_ec2" {
  statement {
    sid     = "TrustEC2Only"
    effect  = "Allow"
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["ec2.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "this" {
  name               = var.name
  description        = "Dalston host instance role (S3 artifacts bucket, Tailscale auth-key parameter)."
  assume_role_policy = data.aws_iam_policy_document.assume_ec2.json
  tags               = var.tags
}

resource "aws_iam_instance_profile" "this" {
  name = var.name
  role = aws_iam_role.this.name
  tags = var.tags
}

data "aws_iam_policy_document" "host" {
  statement {
    sid       = "ListArtifactsBucket"
    effect    = "Allow"
    actions   = ["s3:ListBucket"]
    resources = [var.bucket_arn]
  }

  statement {
    sid       = "ReadWriteArtifacts"
    effect    = "Allow"
    actions   = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"]
    resources = ["${var.bucket_arn}/*"]
  }

  # The SecureString uses the AWS-managed aws/ssm key, whose key policy already lets
  # principals of the account decrypt through SSM: no kms statement is needed.
  dynamic "statement" {
    for_each = var.tailscale_auth_key_parameter_arn == null ? [] : [var.tailscale_auth_key_parameter_arn]
    content {
      sid       = "ReadTailscaleAuthKey"
      effect    = "Allow"
      actions   = ["ssm:GetParameter"]
      resources = [statement.value]
    }
  }
}

resource "aws_iam_role_policy" "host" {
  name   = "${var.name}-access"
  role   = aws_iam_role.this.id
  policy = data.aws_iam_policy_document.host.json
}

resource "aws_iam_role_policy_attachment" "ssm_core" {
  count      = var.enable_ssm_session_manager ? 1 : 0
  role       = aws_iam_role.this.name
  policy_arn = "arn:${data.aws_partition.current.partition}:iam::aws:policy/AmazonSSMManagedInstanceCore"
}
