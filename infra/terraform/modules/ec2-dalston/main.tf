# The host: instance, security group and the separate data volume that outlives
# instance replacement; prevent_destroy fails any plan that would delete it.

locals {
  # The tag the snapshot policy (module data-snapshots) selects the data volume by.
  data_volume_snapshot_tags = { DalstonDataVolume = "${var.name_prefix}-data" }

  ami_parameter = {
    al2023 = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64"
    ubuntu = "/aws/service/canonical/ubuntu/server/24.04/stable/current/amd64/hvm/ebs-gp3/ami-id"
  }
}

data "aws_ssm_parameter" "ami" {
  name = local.ami_parameter[var.os_family]
}

# Either the given subnet or the default VPC's default subnet in the named zone:
# never "the first of an unordered list".
data "aws_subnet" "this" {
  id                = var.subnet_id
  default_for_az    = var.subnet_id == null ? true : null
  availability_zone = var.subnet_id == null ? var.availability_zone : null

  lifecycle {
    precondition {
      condition     = var.subnet_id != null || var.availability_zone != null
      error_message = "Set subnet_id, or availability_zone to use the default VPC's subnet in that zone."
    }
  }
}

resource "aws_security_group" "this" {
  name        = "${var.name_prefix}-host"
  description = "Dalston host: no inbound by default; Tailscale connects outbound."
  vpc_id      = data.aws_subnet.this.vpc_id
  tags        = merge(var.tags, { Name = "${var.name_prefix}-host" })
}

# Only the "connect my other AWS projects" path: named security groups, gateway port only.
resource "aws_vpc_security_group_ingress_rule" "gateway_from_peer" {
  for_each                     = toset(var.allowed_security_group_ids)
  security_group_id            = aws_security_group.this.id
  description                  = "Dalston gateway from peer security group ${each.value}"
  ip_protocol                  = "tcp"
  from_port                    = var.gateway_port
  to_port                      = var.gateway_port
  referenced_security_group_id = each.value
}

# Egress is open: Tailscale reaches its coordination server and peers over UDP/HTTPS,
# and the host pulls packages (dnf/apt), images (GHCR), Dalston's source, and talks to S3/SSM.
resource "aws_vpc_security_group_egress_rule" "all_ipv4" {
  security_group_id = aws_security_group.this.id
  description       = "All outbound IPv4: Tailscale UDP/HTTPS, package mirrors, GHCR, GitHub, S3, SSM"
  ip_protocol       = "-1"
  cidr_ipv4         = "0.0.0.0/0"
}

resource "aws_vpc_security_group_egress_rule" "all_ipv6" {
  security_group_id = aws_security_group.this.id
  description       = "All outbound IPv6: Tailscale direct connections where the subnet has IPv6"
  ip_protocol       = "-1"
  cidr_ipv6         = "::/0"
}

resource "aws_instance" "this" {
  ami                         = nonsensitive(data.aws_ssm_parameter.ami.value)
  instance_type               = var.instance_type
  subnet_id                   = data.aws_subnet.this.id
  vpc_security_group_ids      = [aws_security_group.this.id]
  iam_instance_profile        = var.iam_instance_profile_name
  associate_public_ip_address = var.associate_public_ip_address
  ebs_optimized               = true
  user_data                   = var.user_data
  user_data_replace_on_change = false
  # A power-off from inside (the agent's idle stop, `shutdown -h`) stops the instance and
  # keeps its volumes; "terminate" would throw the host away.
  instance_initiated_shutdown_behavior = "stop"

  # Standard credits: a busy transcription host is throttled, not billed for surplus credits.
  credit_specification {
    cpu_credits = "standard"
  }

  # IMDSv2 only. Hop limit 2: containers on bridge networks are one hop further away
  # and need the instance role for S3.
  metadata_options {
    http_endpoint               = "enabled"
    http_tokens                 = "required"
    http_put_response_hop_limit = 2
  }

  root_block_device {
    volume_type           = "gp3"
    volume_size           = var.root_volume_size_gb
    encrypted             = true
    delete_on_termination = true
  }

  tags = merge(var.tags, {
    Name = "${var.name_prefix}-host"
    # Where the host reads what it should run (constant; the heartbeat reports what runs).
    # Referencing the object also creates the instance only once it is in S3.
    DalstonDesiredState  = var.desired_state_url
    DalstonDataVolumeTag = "${var.name_prefix}-data"
  })

  lifecycle {
    # A new AMI must not replace a running host. User-data only fetches the release the
    # desired state names and runs the bootstrap: a new release, Dalston version or host
    # setting is a change of the desired state (config/host.json), which the running host
    # follows (`dalston-host sync`, the agent's poll, the bootstrap at every boot).
    ignore_changes = [ami, user_data]
  }
}

resource "aws_ebs_volume" "data" {
  # From the subnet, not the instance: a replaced instance lands in the same zone and
  # gets the same volume back.
  availability_zone = data.aws_subnet.this.availability_zone
  size              = var.data_volume_size_gb
  type              = "gp3"
  encrypted         = true
  final_snapshot    = true
  tags              = merge(var.tags, local.data_volume_snapshot_tags, { Name = "${var.name_prefix}-data" })

  lifecycle {
    prevent_destroy = true
  }
}

resource "aws_volume_attachment" "data" {
  device_name = "/dev/xvdf"
  volume_id   = aws_ebs_volume.data.id
  instance_id = aws_instance.this.id
  # Stop the instance before detaching so Postgres is never cut off mid-write.
  stop_instance_before_detaching = true
}
