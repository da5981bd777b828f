# Terraform 1.5+: import with a configuration block, by the same "<org_id>/<id>" string.
import {
  to = keysmith_api_key.ci
  id = "5d09d6a59ccf6445652a444a/65a1b2c3d4e5f60718293a4b"
}
