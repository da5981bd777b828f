# An Atlas key is imported by "<org_id>/<id>": its organization's id and its own id (24 hex
# digits each). Atlas never shows the private key again, so `secret` is null after import.
terraform import keysmith_api_key.ci 5d09d6a59ccf6445652a444a/65a1b2c3d4e5f60718293a4b
