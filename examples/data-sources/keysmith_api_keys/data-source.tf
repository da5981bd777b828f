variable "atlas_org_id" {
  description = "The Atlas organization (24 hexadecimal digits) whose keys to list."
  type        = string
}

# The organization's keys whose name starts with "ci-": ids, names, public keys and roles
# (creation times where the backend reports them; Atlas does not). Never secrets: backends show
# those only once, at create.
data "keysmith_api_keys" "ci" {
  org_id      = var.atlas_org_id
  name_prefix = "ci-"
}

output "ci_keys" {
  value = { for key in data.keysmith_api_keys.ci.keys : key.name => key.public_key }
}
