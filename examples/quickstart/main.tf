# Quickstart: three MongoDB Atlas organization API keys with different roles.
#
# `make demo` runs this against keysmith-sandbox. Against real Atlas, set the variables (or the
# provider's environment variables MONGODB_ATLAS_PUBLIC_API_KEY / MONGODB_ATLAS_PRIVATE_API_KEY)
# and run terraform init / apply.

terraform {
  required_providers {
    keysmith = {
      source  = "keysmith/keysmith"
      version = "~> 0.1"
    }
  }
}

provider "keysmith" {
  atlas {
    # null falls back to the environment (MONGODB_ATLAS_BASE_URL, ..._PUBLIC_API_KEY,
    # ..._PRIVATE_API_KEY) and, for base_url, to https://cloud.mongodb.com.
    base_url    = var.atlas_base_url
    public_key  = var.atlas_public_key
    private_key = var.atlas_private_key
  }
}

# Full control of the organization.
resource "keysmith_api_key" "admin" {
  org_id = var.atlas_org_id
  name   = "quickstart-admin"
  roles  = ["ORG_OWNER"]
}

# A deployment pipeline: can create projects.
resource "keysmith_api_key" "ci" {
  org_id = var.atlas_org_id
  name   = "quickstart-ci"
  roles  = ["ORG_MEMBER", "ORG_GROUP_CREATOR"]
}

# Dashboards and audits: read only, replaced every 30 days.
resource "keysmith_api_key" "reader" {
  org_id       = var.atlas_org_id
  name         = "quickstart-reader"
  roles        = ["ORG_READ_ONLY"]
  rotate_after = "720h"

  lifecycle {
    create_before_destroy = true
  }
}
