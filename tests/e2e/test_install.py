"""`make install`: a plain `terraform init` finds the provider, with no CLI configuration at all.

A temporary HOME stands for a new user's: `make install` puts the release build into
~/.terraform.d/plugins/registry.terraform.io/keysmith/keysmith/<version>/<os>_<arch>/, and Terraform,
run with no TF_CLI_CONFIG_FILE and no ~/.terraformrc (so no dev_overrides and no
provider_installation block), installs it from there as one of its implied local mirrors.
"""

from __future__ import annotations

import os
import subprocess

from harness import PROVIDER_SOURCE, REPO, Workspace, make_env, provider_version, run_make, sandbox_atlas_keys

VERSION = provider_version()


def test_plain_terraform_init_finds_the_installed_provider(tmp_path, binaries, terraform, sandbox):
    home = tmp_path / "home"
    home.mkdir()
    run_make("install", env=make_env(home))

    platform = subprocess.run(["python3", str(REPO / "scripts" / "release.py"), "platform"], capture_output=True,
                              text=True, check=True).stdout.strip()
    package = home / ".terraform.d" / "plugins" / PROVIDER_SOURCE / VERSION / platform
    assert sorted(p.name for p in package.iterdir()) == [f"terraform-provider-keysmith_v{VERSION}"]
    installed = package / f"terraform-provider-keysmith_v{VERSION}"
    assert os.access(installed, os.X_OK) and installed.read_bytes() == binaries.provider.read_bytes()

    atlas = sandbox.credentials["atlas"]
    ws = Workspace(home / "my-config", terraform, None, HOME=str(home),
                   MONGODB_ATLAS_BASE_URL=sandbox.url, MONGODB_ATLAS_PUBLIC_API_KEY=atlas["public_key"],
                   MONGODB_ATLAS_PRIVATE_API_KEY=atlas["private_key"])
    assert "TF_CLI_CONFIG_FILE" not in ws.env and not (home / ".terraformrc").exists()
    ws.write(f"""
terraform {{
  required_providers {{
    keysmith = {{ source = "keysmith/keysmith" }}
  }}
}}

provider "keysmith" {{
  atlas {{}}
}}

resource "keysmith_api_key" "k" {{
  org_id = "{atlas['org_id']}"
  name   = "installed"
  roles  = ["ORG_READ_ONLY"]
}}
""")
    init = ws.init()
    assert f"Installed keysmith/keysmith v{VERSION}" in init.stdout, init.describe()
    assert (ws.path / ".terraform" / "providers" / PROVIDER_SOURCE / VERSION / platform).is_dir()

    ws.apply()
    assert [k.desc for k in sandbox_atlas_keys(sandbox.state(), atlas["org_id"]) if k.desc == "installed"]
    ws.plan()  # no changes
    ws.destroy()
