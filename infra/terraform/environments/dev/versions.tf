terraform {
  required_version = ">= 1.7.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.50, < 7.0"
    }
  }

  # State stays local by default (terraform.tfstate here, git-ignored). For a team, add an
  # S3 backend with locking; the state holds no secret (the Tailscale key never passes here).
}

provider "aws" {
  region = var.region

  default_tags {
    tags = merge(var.tags, {
      Project   = "dalston"
      ManagedBy = "terraform"
      Stack     = var.name_prefix
    })
  }
}
