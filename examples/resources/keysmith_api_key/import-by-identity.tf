# Terraform 1.12+: import by resource identity.
import {
  to = keysmith_api_key.ci
  identity = {
    org_id = "5d09d6a59ccf6445652a444a"
    id     = "65a1b2c3d4e5f60718293a4b"
  }
}
