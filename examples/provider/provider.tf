terraform {
  required_providers {
    keysmith = {
      source = "keysmith/keysmith"
    }
  }
}

# MongoDB Atlas with a programmatic API key. Every attribute can come from the environment
# instead: MONGODB_ATLAS_BASE_URL, MONGODB_ATLAS_PUBLIC_API_KEY, MONGODB_ATLAS_PRIVATE_API_KEY
# (or, for a service account, MONGODB_ATLAS_CLIENT_ID and MONGODB_ATLAS_CLIENT_SECRET).
provider "keysmith" {
  atlas {}

  max_retries     = 5
  request_timeout = "30s"
}

# The other backends take one block each; use provider aliases for several at once:
#
# provider "keysmith" {
#   alias = "braintrust"
#   braintrust {
#     # or BRAINTRUST_API_KEY: a service token with organization-owner permissions (the only
#     # credential that may create service tokens), or a user API key
#     api_key  = var.braintrust_service_token
#     org_name = "my-org" # or BRAINTRUST_ORG_NAME
#   }
# }
