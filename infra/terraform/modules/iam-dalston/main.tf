# The instance's role: the S3 prefixes the host reads and writes, the one Tailscale
# parameter, and optionally Session Manager. No AWS-managed policy is attached: a
# managed policy hides its wildcards from review (AmazonSSMManagedInstanceCore alone
# allows ssm:GetParameter on every parameter of the account).
#
# Policies are HCL objects passed through jsonencode rather than aws_iam_policy_document
# data sources, so their JSON is known at plan time and the tests assert on it.

locals {
  objects = "${var.bucket_arn}/"

  read_prefixes = distinct(concat(var.write_prefixes, var.read_only_prefixes))

  trust_ec2 = {
    Version = "2012-10-17"
    Statement = [{
      Sid       = "TrustEC2Only"
      Effect    = "Allow"
      Action    = "sts:AssumeRole"
      Principal = { Service = "ec2.amazonaws.com" }
    }]
  }

  s3_statements = [
    {
      Sid      = "ListArtifactsBucket"
      Effect   = "Allow"
      Action   = ["s3:ListBucket"]
      Resource = [var.bucket_arn]
    },
    {
      Sid      = "ReadArtifacts"
      Effect   = "Allow"
      Action   = ["s3:GetObject"]
      Resource = [for p in local.read_prefixes : "${local.objects}${p}*"]
    },
    {
      # AbortMultipartUpload: the SDKs abort a failed multipart upload themselves.
      Sid      = "WriteArtifacts"
      Effect   = "Allow"
      Action   = ["s3:PutObject", "s3:AbortMultipartUpload"]
      Resource = [for p in var.write_prefixes : "${local.objects}${p}*"]
    },
    {
      Sid      = "DeleteExpendableArtifacts"
      Effect   = "Allow"
      Action   = ["s3:DeleteObject"]
      Resource = [for p in var.delete_prefixes : "${local.objects}${p}*"]
    },
    {
      # An explicit deny, so no later Allow (here or in another policy) can let a compromised
      # host or container erase the backups; the lifecycle rule expires them instead.
      Sid      = "DenyBackupDeletes"
      Effect   = "Deny"
      Action   = ["s3:DeleteObject", "s3:DeleteObjectVersion"]
      Resource = ["${local.objects}backups/*"]
    },
  ]

  # The desired state (config/) and the releases it names are what the host obeys: an
  # explicit deny, so no later Allow can let a compromised host rewrite its own orders.
  read_only_statements = length(var.read_only_prefixes) == 0 ? [] : [{
    Sid      = "DenyWritesToReadOnlyPrefixes"
    Effect   = "Deny"
    Action   = ["s3:PutObject", "s3:DeleteObject", "s3:DeleteObjectVersion"]
    Resource = [for p in var.read_only_prefixes : "${local.objects}${p}*"]
  }]

  # The SecureString uses the AWS-managed aws/ssm key, whose key policy already lets
  # principals of the account decrypt through SSM: no kms statement is needed.
  tailscale_statements = var.tailscale_auth_key_parameter_arn != null && var.tailscale_auth_key_readable ? [{
    Sid      = "ReadTailscaleAuthKey"
    Effect   = "Allow"
    Action   = ["ssm:GetParameter"]
    Resource = [var.tailscale_auth_key_parameter_arn]
  }] : []

  # Write-only: the host generates the key and stores it once; the operator reads it
  # (`dalston-aws api-key`), the host never needs to. Encrypted with aws/ssm, as above.
  api_key_statements = var.api_key_parameter_arn != null ? [{
    Sid      = "StoreApiKey"
    Effect   = "Allow"
    Action   = ["ssm:PutParameter"]
    Resource = [var.api_key_parameter_arn]
  }] : []

  host_policy = {
    Version   = "2012-10-17"
    Statement = concat(local.s3_statements, local.read_only_statements, local.tailscale_statements, local.api_key_statements)
  }

  # What the SSM agent needs for Session Manager and nothing else (the same actions as
  # AWS's own AWSCloud9SSMInstanceProfile): register the instance, open the session
  # channels. ssmmessages has no resource type, hence "*". No ec2messages (Run Command)
  # and no ssm:GetParameter*.
  session_manager_policy = {
    Version = "2012-10-17"
    Statement = [{
      Sid    = "SessionManagerChannels"
      Effect = "Allow"
      Action = [
        "ssm:UpdateInstanceInformation",
        "ssmmessages:CreateControlChannel",
        "ssmmessages:CreateDataChannel",
        "ssmmessages:OpenControlChannel",
        "ssmmessages:OpenDataChannel",
      ]
      Resource = "*"
    }]
  }
}

resource "aws_iam_role" "this" {
  name               = var.name
  description        = "Dalston host instance role (S3 artifacts bucket prefixes, Tailscale auth-key parameter)."
  assume_role_policy = jsonencode(local.trust_ec2)
  tags               = var.tags
}

resource "aws_iam_instance_profile" "this" {
  name = var.name
  role = aws_iam_role.this.name
  tags = var.tags
}

resource "aws_iam_role_policy" "host" {
  name   = "${var.name}-access"
  role   = aws_iam_role.this.name
  policy = jsonencode(local.host_policy)
}

resource "aws_iam_role_policy" "session_manager" {
  count  = var.enable_ssm_session_manager ? 1 : 0
  name   = "${var.name}-session-manager"
  role   = aws_iam_role.this.name
  policy = jsonencode(local.session_manager_policy)
}
