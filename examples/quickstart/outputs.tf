locals {
  keys = {
    admin  = keysmith_api_key.admin
    ci     = keysmith_api_key.ci
    reader = keysmith_api_key.reader
  }
}

output "keys" {
  description = "Each key's id, public key (the Digest user name), roles and expiry."
  value = {
    for name, key in local.keys : name => {
      id         = key.id
      public_key = key.public_key
      roles      = sort(tolist(key.roles))
      created_at = key.created_at
      expires_at = key.expires_at
    }
  }
}

output "secrets" {
  description = "Each key's private key, shown once by Atlas: `terraform output -json secrets`."
  value       = { for name, key in local.keys : name => key.secret }
  sensitive   = true
}
