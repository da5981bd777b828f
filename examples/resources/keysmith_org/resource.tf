variable "atlas_owner_id" {
  description = "The Atlas user (24 hexadecimal digits) who becomes Org Owner of the new organization."
  type        = string
}

# MongoDB Atlas: created, renamed in place, deleted on destroy (Atlas refuses while the
# organization still has projects). Atlas requires an owner when an API key creates it.
resource "keysmith_org" "platform" {
  name     = "acme-platform"
  owner_id = var.atlas_owner_id
}

# env0 and Traceloop can create organizations but neither change nor delete them: a change is
# refused at plan, and destroy only removes the organization from state (with a warning).
# Each backend is its own provider configuration, here taken from the environment
# (ENV0_API_KEY, ENV0_API_SECRET; TRACELOOP_API_KEY).
provider "keysmith" {
  alias = "env0"
  env0 {}
}

resource "keysmith_org" "env0" {
  provider    = keysmith.env0
  name        = "acme"
  description = "Acme's infrastructure deployments"
  photo_url   = "https://example.com/acme.png"
}

provider "keysmith" {
  alias = "traceloop"
  traceloop {}
}

# Traceloop answers the create with one API key per environment: `environment_keys`, a
# sensitive map that exists nowhere else (Traceloop cannot show it again).
resource "keysmith_org" "traceloop" {
  provider        = keysmith.traceloop
  name            = "acme"
  environments    = ["dev", "prd"]
  retention_hours = 168
}

output "env0_org_mode" {
  value = keysmith_org.env0.mode
}

output "traceloop_keys" {
  value     = keysmith_org.traceloop.environment_keys
  sensitive = true
}
