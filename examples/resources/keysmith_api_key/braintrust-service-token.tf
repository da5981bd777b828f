variable "braintrust_service_account_id" {
  description = "A Braintrust service account (a UUID), from its organization's settings."
  type        = string
}

# Braintrust: authenticate with a service token that has organization-owner permissions, the
# only credential Braintrust lets create service tokens. Here everything comes from the
# environment: BRAINTRUST_API_KEY (that token), BRAINTRUST_ORG_NAME, BRAINTRUST_API_URL.
provider "keysmith" {
  alias = "braintrust"
  braintrust {}
}

# A service token of that service account: the machine credential Braintrust lets you create
# through its API. `secret` is the token Braintrust shows only once, kept in state as a
# sensitive value; a new name replaces the token. Import one by its id alone.
resource "keysmith_api_key" "evals_ci" {
  provider           = keysmith.braintrust
  name               = "evals-ci"
  service_account_id = var.braintrust_service_account_id
}

# Without service_account_id a Braintrust key is a user API key (POST /v1/api_key). Braintrust
# removed that route from its published API in May 2026 ("API keys cannot create other API
# keys"): where it refuses, the error shows Braintrust's message and points here.

output "evals_ci_token" {
  value     = keysmith_api_key.evals_ci.secret
  sensitive = true
}
