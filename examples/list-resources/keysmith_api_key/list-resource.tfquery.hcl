# Save as <anything>.tfquery.hcl beside the provider configuration, then:
#   terraform query                                   # list what exists
#   terraform query -generate-config-out=keys.tf      # write resource + import blocks
#   terraform plan                                    # imports them, changes nothing
# (Terraform 1.14 and later.)
list "keysmith_api_key" "ci" {
  provider = keysmith

  config {
    org_id      = "5d09d6a59ccf6445652a444a" # Atlas: the organization (24 hex digits)
    name_prefix = "ci-"
  }
}
