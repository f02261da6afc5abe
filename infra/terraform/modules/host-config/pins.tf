# The Dalston pins, checked together: Dalston's images of release vX.Y.Z are tagged X.Y.Z, so a
# release ref with another image tag would run one version's code against another's database
# migrations. A commit id cannot be matched to a tag here: choosing the tag is then up to you.
locals {
  dalston_ref_release = try(regex("^v([0-9]+\\.[0-9]+\\.[0-9]+)$", var.dalston_ref)[0], null)
}

output "dalston_pins" {
  description = "The Dalston ref and the image tag the host runs (checked to match: vX.Y.Z runs images X.Y.Z)."
  value       = { ref = var.dalston_ref, image_tag = var.dalston_image_tag }

  precondition {
    condition     = local.dalston_ref_release == null || local.dalston_ref_release == var.dalston_image_tag
    error_message = "dalston_image_tag \"${var.dalston_image_tag}\" does not match dalston_ref \"${var.dalston_ref}\": Dalston's images of release ${var.dalston_ref} are tagged ${coalesce(local.dalston_ref_release, "-")}; set both to the same release."
  }
}
