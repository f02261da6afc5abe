variable "name_prefix" {
  description = "Prefix of every AWS name this deployment creates (role, security group, tags)."
  type        = string
  default     = "dalston"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,30}[a-z0-9]$", var.name_prefix))
    error_message = "name_prefix must be 3-32 characters of lowercase letters, digits and '-', starting with a letter and not ending with '-'."
  }
}

variable "account_id" {
  description = "AWS account id; the artifacts bucket is named <bucket_prefix>-<account_id> so it is globally unique."
  type        = string

  validation {
    condition     = can(regex("^[0-9]{12}$", var.account_id))
    error_message = "account_id must be the 12-digit AWS account id."
  }
}

variable "bucket_prefix" {
  description = "Prefix of the artifacts bucket name (the account id is appended)."
  type        = string
  default     = "dalston-artifacts"

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9-]{1,48}$", var.bucket_prefix)) && !endswith(var.bucket_prefix, "-")
    error_message = "bucket_prefix must be 2-49 characters of lowercase letters, digits and '-' (S3 bucket rules, room for the account id), not ending with '-'."
  }
}

variable "region" {
  description = "AWS region of the bucket and the instance (written to host.json and the compose environment)."
  type        = string

  validation {
    condition     = can(regex("^[a-z]{2}(-gov)?-[a-z]+-[0-9]$", var.region))
    error_message = "region must be an AWS region name such as eu-west-2."
  }
}

variable "release_version" {
  description = "Version of the dalston-host release bundle (dist/dalston-host-<version>.tgz)."
  type        = string

  validation {
    condition     = can(regex("^[0-9]+\\.[0-9]+\\.[0-9]+([-+][0-9A-Za-z.-]+)?$", var.release_version))
    error_message = "release_version must be a semantic version such as 0.1.0 (it becomes part of an S3 key and a directory name)."
  }
}

variable "release_dir" {
  description = "Local directory holding dalston-host-<version>.tgz and its .sha256 file (normally the repository's dist/)."
  type        = string

  validation {
    condition     = length(trimspace(var.release_dir)) > 0
    error_message = "release_dir must name the directory that holds the built release bundle."
  }
}

variable "data_volume_id" {
  description = "EBS volume id of the data volume (host.json volume.id); the bootstrap resolves it to its NVMe device."
  type        = string

  validation {
    condition     = can(regex("^vol-[0-9a-f]{8,17}$", var.data_volume_id))
    error_message = "data_volume_id must be an EBS volume id like vol-0123456789abcdef0."
  }
}

variable "os_family" {
  description = "Operating system of the instance: al2023 (Amazon Linux 2023, first-class) or ubuntu (24.04)."
  type        = string
  default     = "al2023"

  validation {
    condition     = contains(["al2023", "ubuntu"], var.os_family)
    error_message = "os_family must be al2023 or ubuntu."
  }
}

variable "ubuntu_node_version" {
  description = "Official Node.js release installed from nodejs.org on Ubuntu (Amazon Linux uses its nodejs22 package)."
  type        = string
  default     = "22.12.0"

  validation {
    condition     = can(regex("^22\\.[0-9]+\\.[0-9]+$", var.ubuntu_node_version))
    error_message = "ubuntu_node_version must be a Node.js 22 release such as 22.12.0."
  }
}

variable "ubuntu_node_sha256" {
  description = "SHA-256 of node-v<ubuntu_node_version>-linux-x64.tar.xz from the release's SHASUMS256.txt; the default matches 22.12.0."
  type        = string
  default     = "22982235e1b71fa8850f82edd09cdae7e3f32df1764a9ec298c72d25ef2c164f"

  validation {
    condition     = can(regex("^[0-9a-f]{64}$", var.ubuntu_node_sha256))
    error_message = "ubuntu_node_sha256 must be a lowercase hex SHA-256 (64 characters)."
  }
}

variable "compose_services" {
  description = "Compose services the host runs and supervises (host.json compose.services); normally compose/services.cpu.json."
  type        = list(string)

  validation {
    condition     = length(var.compose_services) > 0 && alltrue([for s in var.compose_services : can(regex("^[a-z0-9][a-z0-9._-]*$", s))])
    error_message = "compose_services must be a non-empty list of compose service names (lowercase letters, digits, '.', '_' and '-')."
  }

  validation {
    condition     = length(distinct(var.compose_services)) == length(var.compose_services)
    error_message = "compose_services must not list a service twice."
  }

  validation {
    condition     = length(setsubtract(["postgres", "redis", "gateway", "orchestrator"], var.compose_services)) == 0
    error_message = "compose_services must include the core services postgres, redis, gateway and orchestrator."
  }
}

variable "dalston_repo" {
  description = "Git URL of Dalston (host.json dalston.repo); null leaves it to the config schema's default (Dalston's GitHub repository)."
  type        = string
  default     = null

  validation {
    condition     = var.dalston_repo == null || can(regex("^https://[^\\s]+$", var.dalston_repo))
    error_message = "dalston_repo must be an https:// git URL."
  }
}

variable "dalston_ref" {
  description = "Pinned Dalston tag or commit deployed on the host (host.json dalston.ref); a branch name would drift."
  type        = string

  validation {
    condition     = can(regex("^(v[0-9]+\\.[0-9]+\\.[0-9]+[0-9A-Za-z.-]*|[0-9a-f]{40})$", var.dalston_ref))
    error_message = "dalston_ref must be a release tag such as v1.2.3 or a full 40-character commit id, not a branch."
  }
}

variable "dalston_image_tag" {
  description = "Tag of Dalston's images on ghcr.io/ssarunic/dalston (DALSTON_IMAGE_TAG in the compose environment)."
  type        = string

  validation {
    condition     = can(regex("^[0-9]+\\.[0-9]+\\.[0-9]+$", var.dalston_image_tag))
    error_message = "dalston_image_tag must be the image tag of a Dalston release, X.Y.Z such as 1.2.3 (for dalston_ref v1.2.3): Dalston publishes only X.Y.Z and \"latest\", and latest is not a pin."
  }
}

variable "tailscale_auth_key_parameter" {
  description = "Name of the SSM SecureString parameter holding the Tailscale auth key (the key itself never passes through Terraform); null skips Tailscale."
  type        = string
  default     = null

  validation {
    condition     = var.tailscale_auth_key_parameter == null || can(regex("^/[A-Za-z0-9_.\\-/]+$", var.tailscale_auth_key_parameter))
    error_message = "tailscale_auth_key_parameter must be an SSM parameter name starting with '/', e.g. /dalston/tailscale-auth-key."
  }
}

variable "tailscale_hostname" {
  description = "Tailscale machine name of the host (its MagicDNS name); null leaves it to the config schema's default (dalston)."
  type        = string
  default     = null

  validation {
    condition     = var.tailscale_hostname == null || can(regex("^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$", var.tailscale_hostname))
    error_message = "tailscale_hostname must be a DNS label: lowercase letters, digits and '-', at most 63 characters."
  }
}

variable "api_key_parameter" {
  description = "Name of the SSM SecureString parameter the bootstrap stores the host's generated Dalston admin API key in (host.json apiKey.parameter); null keeps the key only on the host."
  type        = string
  default     = null

  validation {
    condition     = var.api_key_parameter == null || can(regex("^/[A-Za-z0-9_.\\-/]+$", var.api_key_parameter))
    error_message = "api_key_parameter must be an SSM parameter name starting with '/', e.g. /dalston/dev/api-key."
  }
}

variable "publish_gateway_on_vpc" {
  description = "Also publish the gateway port on the instance's private IP (read from IMDSv2 at boot) so allowed security groups can reach it; false keeps every port on loopback."
  type        = bool
  default     = false
}

variable "idle_stop_after_minutes" {
  description = "Minutes Dalston must be idle before the agent powers the host off (host.json idle.stopAfterMinutes); 0 disables the idle stop. Written to host.json only when it differs from the schema default (15: the shortest window the cost simulation allows, see README)."
  type        = number
  default     = 15

  validation {
    condition     = var.idle_stop_after_minutes >= 0 && floor(var.idle_stop_after_minutes) == var.idle_stop_after_minutes
    error_message = "idle_stop_after_minutes must be a whole number of minutes, 0 or more (0 disables the idle stop)."
  }
}
