# Atlas and env0 organizations are imported by their id (Atlas: 24 hexadecimal digits). The
# owner_id given at create is not readable, so it is null after import. Traceloop has no read
# API: its organizations cannot be imported.
terraform import keysmith_org.platform 5d09d6a59ccf6445652a444a
