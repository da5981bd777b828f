# Quickstart: the four backends side by side, one provider configuration (alias) each.
#
#   MongoDB Atlas  two organization API keys, one rotated every 30 days
#   env0           a new organization, and an API key in it
#   Braintrust     a service token of a service account
#   Traceloop      a new organization, with one API key per environment
#
# `make demo` runs this against keysmith-sandbox. Against the real services, set the variables
# (or leave them null and set each backend's environment variables, e.g.
# MONGODB_ATLAS_PUBLIC_API_KEY, ENV0_API_KEY, BRAINTRUST_API_KEY, TRACELOOP_API_KEY), then run
# terraform init / apply. Mind that env0 and Traceloop cannot delete organizations: destroy
# only forgets them.

terraform {
  required_providers {
    keysmith = {
      source  = "keysmith/keysmith"
      version = "~> 0.1"
    }
  }
}

# null values fall back to the environment and, for base_url, to the vendor's public API.
provider "keysmith" {
  alias = "atlas"
  atlas {
    base_url    = var.atlas_base_url
    public_key  = var.atlas_public_key
    private_key = var.atlas_private_key
  }
}

provider "keysmith" {
  alias = "env0"
  env0 {
    base_url       = var.env0_base_url
    api_key_id     = var.env0_api_key_id
    api_key_secret = var.env0_api_key_secret
  }
}

provider "keysmith" {
  alias = "braintrust"
  braintrust {
    base_url = var.braintrust_base_url
    api_key  = var.braintrust_api_key
    org_name = var.braintrust_org_name
  }
}

provider "keysmith" {
  alias = "traceloop"
  traceloop {
    base_url = var.traceloop_base_url
    api_key  = var.traceloop_api_key
  }
}

# ---- MongoDB Atlas: organization API keys -------------------------------------------------------

# A deployment pipeline: can create projects. Name and roles change in place.
resource "keysmith_api_key" "atlas_ci" {
  provider = keysmith.atlas
  org_id   = var.atlas_org_id
  name     = "quickstart-ci"
  roles    = ["ORG_MEMBER", "ORG_GROUP_CREATOR"]
}

# Dashboards and audits: read only, replaced every 30 days (the new key first).
resource "keysmith_api_key" "atlas_reader" {
  provider     = keysmith.atlas
  org_id       = var.atlas_org_id
  name         = "quickstart-reader"
  roles        = ["ORG_READ_ONLY"]
  rotate_after = "720h"

  lifecycle {
    create_before_destroy = true
  }
}

# ---- env0: an organization and a key in it ------------------------------------------------------

resource "keysmith_org" "env0" {
  provider    = keysmith.env0
  name        = "quickstart"
  description = "Created by the keysmith quickstart"
}

resource "keysmith_api_key" "env0_deployer" {
  provider = keysmith.env0
  org_id   = keysmith_org.env0.id
  name     = "quickstart-deployer"
  roles    = ["Admin"]
}

# ---- Braintrust: a service token (in the provider's org_name) -----------------------------------

# The machine credential Braintrust lets you create through its API; the provider's api_key must
# be a service token with organization-owner permissions.
resource "keysmith_api_key" "braintrust_evals" {
  provider           = keysmith.braintrust
  name               = "quickstart-evals"
  service_account_id = var.braintrust_service_account_id
}

# ---- Traceloop: an organization; its environment keys come with it ------------------------------

resource "keysmith_org" "traceloop" {
  provider        = keysmith.traceloop
  name            = "quickstart"
  environments    = ["dev", "prd"]
  retention_hours = 168
}
