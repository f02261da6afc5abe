terraform {
  # No provider: this module is pure and testable with `terraform test` offline.
  required_version = ">= 1.7.0"
}
