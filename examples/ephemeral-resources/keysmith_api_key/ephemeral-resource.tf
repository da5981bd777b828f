variable "atlas_org_id" {
  description = "The Atlas organization (24 hexadecimal digits) to audit."
  type        = string
}

# The root credential (here from the environment, see provider.tf) only mints a key for this
# run: read-only, gone when Terraform closes it, its secret in no plan and no state.
ephemeral "keysmith_api_key" "auditor" {
  org_id = var.atlas_org_id
  name   = "terraform-audit"
  roles  = ["ORG_READ_ONLY"]
  ttl    = "15m" # how long it may outlive a run that crashed; the next open deletes it then
}

# A second provider configured with that short-lived key: everything below runs with its
# rights alone. (A write-only argument of another provider can take it the same way.)
provider "keysmith" {
  alias = "auditor"
  atlas {
    public_key  = ephemeral.keysmith_api_key.auditor.public_key
    private_key = ephemeral.keysmith_api_key.auditor.secret
  }
}

data "keysmith_api_keys" "all" {
  provider = keysmith.auditor
  org_id   = var.atlas_org_id
}

output "api_key_names" {
  # Every key but this run's own, whose name changes with each run.
  value = sort([for k in data.keysmith_api_keys.all.keys : k.name if !startswith(k.name, "terraform-audit ")])
}
