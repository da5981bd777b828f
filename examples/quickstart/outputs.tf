output "atlas_keys" {
  description = "The Atlas keys: id, public key (the Digest user name), roles and expiry."
  value = {
    for name, key in { ci = keysmith_api_key.atlas_ci, reader = keysmith_api_key.atlas_reader } : name => {
      id                  = key.id
      public_key          = key.public_key
      roles               = sort(tolist(key.roles))
      expires_at          = key.expires_at
    }
  }
}

output "env0" {
  description = "The env0 organization and the id (Basic user name) of its key."
  value = {
    org_id     = keysmith_org.env0.id
    mode       = keysmith_org.env0.mode
    key_id     = keysmith_api_key.env0_deployer.id
    public_key = keysmith_api_key.env0_deployer.public_key
  }
}

output "braintrust_key" {
  description = "The Braintrust service token: id, organization, service account and the redacted preview Braintrust shows."
  value = {
    id                 = keysmith_api_key.braintrust_evals.id
    org_id             = keysmith_api_key.braintrust_evals.org_id
    service_account_id = keysmith_api_key.braintrust_evals.service_account_id
    preview            = keysmith_api_key.braintrust_evals.preview
  }
}

output "traceloop_org_id" {
  description = "The Traceloop organization."
  value       = keysmith_org.traceloop.id
}

output "secrets" {
  description = "Every one-time secret, as each backend showed it once: `terraform output -json secrets`."
  value = {
    atlas_ci         = keysmith_api_key.atlas_ci.secret
    atlas_reader     = keysmith_api_key.atlas_reader.secret
    env0_deployer    = keysmith_api_key.env0_deployer.secret
    braintrust_evals = keysmith_api_key.braintrust_evals.secret
    traceloop        = keysmith_org.traceloop.environment_keys
  }
  sensitive = true
}
