variable "name_prefix" {
  description = "Prefix of the instance, security group and volume names."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,30}[a-z0-9]$", var.name_prefix))
    error_message = "name_prefix must be 3-32 characters of lowercase letters, digits and '-'."
  }
}

variable "subnet_id" {
  description = "Subnet of the instance; null picks the default VPC's default subnet in availability_zone. Either way the choice is deterministic."
  type        = string
  default     = null

  validation {
    condition     = var.subnet_id == null || can(regex("^subnet-[0-9a-f]{8,17}$", var.subnet_id))
    error_message = "subnet_id must be a subnet id like subnet-0123456789abcdef0, or null."
  }
}

variable "availability_zone" {
  description = "Availability zone whose default subnet is used when subnet_id is null (ignored otherwise)."
  type        = string
  default     = null

  validation {
    condition     = var.availability_zone == null || can(regex("^[a-z]{2}(-gov)?-[a-z]+-[0-9][a-z]$", var.availability_zone))
    error_message = "availability_zone must be a zone name such as eu-west-2a."
  }
}

variable "os_family" {
  description = "al2023 (Amazon Linux 2023, default) or ubuntu (24.04); picks the public SSM AMI parameter."
  type        = string
  default     = "al2023"

  validation {
    condition     = contains(["al2023", "ubuntu"], var.os_family)
    error_message = "os_family must be al2023 or ubuntu."
  }
}

variable "instance_type" {
  description = "EC2 instance type (x86_64: the AMI parameters and the Node tarball are amd64)."
  type        = string
  default     = "t3.xlarge"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]*\\.[a-z0-9]+$", var.instance_type)) && !can(regex("^[a-z]+[0-9]+[a-z-]*g[a-z-]*\\.", var.instance_type))
    error_message = "instance_type must be an x86_64 instance type such as t3.xlarge (Graviton types like t4g.* or m7g.* are not supported by this AMI choice)."
  }

  # The instance sets ebs_optimized = true, which AWS refuses for t2, t1 and most sizes of
  # these other previous-generation families; current families are all EBS-optimized.
  validation {
    condition     = !can(regex("^(t1|t2|m1|m2|m3|c1|c3|cc1|cc2|cg1|cr1|g2|hi1|hs1|i2|r3)\\.", var.instance_type))
    error_message = "instance_type must not be a previous-generation type without EBS optimization (t2.*, t1.*, m1-m3.*, c1/c3.*, r3.*, i2.*, g2.*, ...): use a current type such as t3.xlarge or m7i.xlarge."
  }
}

variable "root_volume_size_gb" {
  description = "Size of the encrypted gp3 root volume in GiB (OS, Docker images; no state)."
  type        = number
  default     = 30

  validation {
    condition     = var.root_volume_size_gb >= 20 && var.root_volume_size_gb <= 1024
    error_message = "root_volume_size_gb must be between 20 and 1024."
  }
}

variable "data_volume_size_gb" {
  description = "Size of the encrypted gp3 data volume in GiB (Postgres, Redis, models, the Dalston checkout)."
  type        = number
  default     = 50

  validation {
    condition     = var.data_volume_size_gb >= 10 && var.data_volume_size_gb <= 16384
    error_message = "data_volume_size_gb must be between 10 and 16384."
  }
}

variable "iam_instance_profile_name" {
  description = "Instance profile of the instance role (module iam-dalston)."
  type        = string

  validation {
    condition     = length(var.iam_instance_profile_name) > 0
    error_message = "iam_instance_profile_name must name the instance profile."
  }
}

variable "user_data" {
  description = "First-boot script (module host-config); holds no secret."
  type        = string

  validation {
    condition     = startswith(var.user_data, "#!/bin/bash\n") && length(var.user_data) < 16384
    error_message = "user_data must be a bash script under EC2's 16 KiB limit."
  }
}

variable "desired_state_url" {
  description = "s3://<bucket>/config/host.json of the published desired state (the instance's DalstonDesiredState tag); referenced so the instance is created only after it is in S3."
  type        = string

  validation {
    condition     = can(regex("^s3://[a-z0-9][a-z0-9.-]+/config/host\\.json$", var.desired_state_url))
    error_message = "desired_state_url must be s3://<bucket>/config/host.json."
  }
}

variable "allowed_security_group_ids" {
  description = "Security groups (your other AWS projects) allowed to reach the gateway port; empty means no ingress rule at all."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for id in var.allowed_security_group_ids : can(regex("^sg-[0-9a-f]{8,17}$", id))])
    error_message = "allowed_security_group_ids must hold security group ids like sg-0123456789abcdef0 (CIDR ranges are deliberately not accepted)."
  }
}

variable "gateway_port" {
  description = "Port of Dalston's gateway, the only port allowed_security_group_ids may reach."
  type        = number
  default     = 8000

  validation {
    condition     = var.gateway_port >= 1 && var.gateway_port <= 65535 && floor(var.gateway_port) == var.gateway_port
    error_message = "gateway_port must be a TCP port number."
  }
}

variable "associate_public_ip_address" {
  description = "Give the instance a public IPv4 address for outbound traffic (needed in a default VPC without NAT); no port is open on it."
  type        = bool
  default     = true
}

variable "tags" {
  description = "Tags added to the instance, volumes and security group."
  type        = map(string)
  default     = {}
}
