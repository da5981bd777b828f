variable "atlas_org_id" {
  description = "An Atlas organization id (24 hexadecimal digits)."
  type        = string
}

# By id: the provider's backend here is Atlas.
data "keysmith_org" "atlas" {
  id = var.atlas_org_id
}

# By exact name, on Braintrust, whose organizations can only be looked up
# (credentials from BRAINTRUST_API_KEY).
provider "keysmith" {
  alias = "braintrust"
  braintrust {}
}

data "keysmith_org" "braintrust" {
  provider = keysmith.braintrust
  name     = "acme"
}

output "atlas_org_name" {
  value = data.keysmith_org.atlas.name
}

output "braintrust_org_id" {
  value = data.keysmith_org.braintrust.id
}
