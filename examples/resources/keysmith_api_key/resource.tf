variable "atlas_org_id" {
  description = "The Atlas organization (24 hexadecimal digits) that owns the keys."
  type        = string
}

variable "atlas_project_id" {
  description = "An Atlas project (24 hexadecimal digits) of that organization."
  type        = string
}

# An Atlas organization API key. `name` and `roles` change in place; `secret` is the private
# key Atlas shows only once, kept in state as a sensitive value.
resource "keysmith_api_key" "ci" {
  org_id = var.atlas_org_id
  name   = "ci-deployer"
  roles  = ["ORG_MEMBER", "ORG_GROUP_CREATOR"]
}

# Rotated every 30 days: once created_at + rotate_after has passed, the next plan replaces it,
# the new key first.
resource "keysmith_api_key" "monitoring" {
  org_id       = var.atlas_org_id
  name         = "monitoring"
  roles        = ["ORG_READ_ONLY"]
  rotate_after = "720h"

  lifecycle {
    create_before_destroy = true
  }
}

# Rotated on demand: any change to rotation_triggers replaces the key.
resource "keysmith_api_key" "billing_export" {
  org_id = var.atlas_org_id
  name   = "billing-export"
  roles  = ["ORG_BILLING_READ_ONLY"]

  rotation_triggers = {
    rotated_for = "2026-q4"
  }
}

# A key usable only from the office network and one build host, that reads one project.
# Access-list entries and project roles change in place; a change made outside Terraform shows
# as an update at the next plan.
resource "keysmith_api_key" "reporting" {
  org_id = var.atlas_org_id
  name   = "reporting"
  roles  = ["ORG_MEMBER"]

  access_list = ["198.51.100.0/24", "203.0.113.7"]
  project_roles = {
    (var.atlas_project_id) = ["GROUP_READ_ONLY", "GROUP_DATA_ACCESS_READ_ONLY"]
  }
}

output "ci_public_key" {
  value = keysmith_api_key.ci.public_key
}

output "ci_private_key" {
  value     = keysmith_api_key.ci.secret
  sensitive = true
}
