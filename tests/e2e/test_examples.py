"""Every file under examples/ runs here, unchanged except for placeholder ids, against the sandbox."""

from __future__ import annotations

import shlex
import subprocess
from datetime import datetime, timedelta

import pytest

from harness import REPO, Sandbox, assert_no_secrets, planned_actions, planned_imports, strip_ansi

EXAMPLES = REPO / "examples"
RESOURCE_DIR = EXAMPLES / "resources" / "keysmith_api_key"
# The made-up ids the import examples show, replaced by real ones before they run.
PLACEHOLDER_ORG = "5d09d6a59ccf6445652a444a"
PLACEHOLDER_KEY = "65a1b2c3d4e5f60718293a4b"
# What resource.tf's keysmith_api_key.ci is, so that a key made outside Terraform matches it.
CI_NAME, CI_ROLES = "ci-deployer", ["ORG_GROUP_CREATOR", "ORG_MEMBER"]

EXERCISED = {
    "quickstart/main.tf", "quickstart/variables.tf", "quickstart/outputs.tf",
    "provider/provider.tf",
    "resources/keysmith_api_key/resource.tf",
    "resources/keysmith_api_key/import.sh",
    "resources/keysmith_api_key/import-by-string-id.tf",
    "resources/keysmith_api_key/import-by-identity.tf",
}


def test_every_example_is_exercised():
    on_disk = {str(p.relative_to(EXAMPLES)) for p in EXAMPLES.rglob("*")
               if p.is_file() and ".terraform" not in p.parts and p.suffix in (".tf", ".sh")}
    assert on_disk == EXERCISED, "examples/ and this module disagree: every example must run here"


def atlas_env(sb: Sandbox) -> dict[str, str]:
    """The provider's environment variables (SPEC §2) for the sandbox's Atlas."""
    c = sb.atlas_creds
    return {"MONGODB_ATLAS_BASE_URL": sb.url, "MONGODB_ATLAS_PUBLIC_API_KEY": c["public_key"],
            "MONGODB_ATLAS_PRIVATE_API_KEY": c["private_key"], "TF_VAR_atlas_org_id": sb.atlas_org_id}


def copy_example(ws, *relative: str, replace: dict[str, str] | None = None) -> None:
    for rel in relative:
        text = (EXAMPLES / rel).read_text()
        for old, new in (replace or {}).items():
            assert old in text, f"{rel} no longer contains {old!r}"
            text = text.replace(old, new)
        ws.write(text, name=rel.replace("/", "__"))


def test_quickstart(own_sandbox, workspace):
    sb, ws = own_sandbox, workspace
    copy_example(ws, "quickstart/main.tf", "quickstart/variables.tf", "quickstart/outputs.tf")
    env = {"TF_VAR_atlas_base_url": sb.url, "TF_VAR_atlas_public_key": sb.atlas_creds["public_key"],
           "TF_VAR_atlas_private_key": sb.atlas_creds["private_key"], "TF_VAR_atlas_org_id": sb.atlas_org_id}

    # 1. init -> apply: three keys.
    ws.init(env=env)
    applied = ws.apply(env=env)
    assert "Resources: 3 added, 0 changed, 0 destroyed." in applied.stdout
    assert sorted(k.desc for k in sb.atlas_keys()) == ["quickstart-admin", "quickstart-ci", "quickstart-reader"]

    # 2. Nothing left to do.
    plan = ws.plan(rc=0, env=env)

    # 3. Outputs: ids and public keys in the clear, the secrets only as a sensitive output.
    outputs = ws.output_json()
    keys = outputs["keys"]["value"]
    assert sorted(keys) == ["admin", "ci", "reader"]
    assert sorted(k.id for k in sb.atlas_keys()) == sorted(v["id"] for v in keys.values())
    assert keys["ci"]["roles"] == ["ORG_GROUP_CREATOR", "ORG_MEMBER"]
    assert keys["admin"]["expires_at"] is None and keys["reader"]["expires_at"]
    assert outputs["secrets"]["sensitive"] is True
    secrets = list(outputs["secrets"]["value"].values())
    assert len(secrets) == 3 and all(secrets)
    human = ws.run("output").stdout
    assert "secrets = <sensitive>" in human
    assert_no_secrets(secrets, apply=applied.output, plan=plan.output, output=human)

    # 4. destroy: nothing left in the sandbox.
    ws.destroy(env=env)
    assert sb.atlas_keys() == []


def test_provider_and_resource_examples(own_sandbox, workspace):
    sb, ws = own_sandbox, workspace
    env = atlas_env(sb)  # provider.tf takes everything from the environment

    # 1. provider.tf + resource.tf: three keys.
    copy_example(ws, "provider/provider.tf", "resources/keysmith_api_key/resource.tf")
    ws.init(env=env)
    ws.apply(env=env)
    state = ws.resources()
    assert sorted(state) == ["keysmith_api_key.billing_export", "keysmith_api_key.ci", "keysmith_api_key.monitoring"]
    assert sorted(k.desc for k in sb.atlas_keys()) == ["billing-export", CI_NAME, "monitoring"]

    # 2. rotate_after: expires_at = created_at + 720h.
    monitoring = state["keysmith_api_key.monitoring"]
    created = datetime.fromisoformat(monitoring["created_at"])
    assert datetime.fromisoformat(monitoring["expires_at"]) - created == timedelta(hours=720)
    ws.plan(rc=0, env=env)

    # 3. A new rotation_triggers value replaces billing_export, and only it.
    copy_example(ws, "resources/keysmith_api_key/resource.tf", replace={'"2026-q4"': '"2027-q1"'})
    result, plan = ws.plan_json(env=env)
    assert planned_actions(plan)["keysmith_api_key.billing_export"] == ["delete", "create"]
    assert "Plan: 1 to add, 0 to change, 1 to destroy." in result.stdout
    ws.apply("tfplan", env=env)
    assert ws.resources()["keysmith_api_key.billing_export"]["id"] != state["keysmith_api_key.billing_export"]["id"]
    assert len(sb.atlas_keys()) == 3
    ws.plan(rc=0, env=env)

    # 4. destroy.
    ws.destroy(env=env)
    assert sb.atlas_keys() == []


@pytest.mark.parametrize("example", ["import.sh", "import-by-string-id.tf", "import-by-identity.tf"])
def test_import_examples(own_sandbox, workspace, tmp_path, example):
    sb, ws = own_sandbox, workspace
    env = atlas_env(sb)

    # 1. The key resource.tf calls `ci` exists already, made outside Terraform.
    key = sb.atlas_api().create_key(sb.atlas_org_id, CI_NAME, CI_ROLES)
    real_ids = {PLACEHOLDER_ORG: sb.atlas_org_id, PLACEHOLDER_KEY: key["id"]}
    copy_example(ws, "provider/provider.tf", "resources/keysmith_api_key/resource.tf")
    ws.init(env=env)

    # 2. Import it the way the example shows.
    if example == "import.sh":
        script = (RESOURCE_DIR / example).read_text()
        for old, new in real_ids.items():
            script = script.replace(old, new)
        bin_dir = tmp_path / "bin"
        bin_dir.mkdir()
        (bin_dir / "terraform").write_text(f'#!/bin/sh\nexec {shlex.join(ws.terraform)} "$@"\n')
        (bin_dir / "terraform").chmod(0o755)
        run_env = dict(ws.env, **env, PATH=f"{bin_dir}:{ws.env['PATH']}")
        p = subprocess.run(["bash", "-euc", script], cwd=ws.path, env=run_env, capture_output=True, text=True,
                           timeout=300)
        assert p.returncode == 0, f"import.sh failed:\n{p.stdout}\n{p.stderr}"
        assert "Import successful!" in strip_ansi(p.stdout)
        result, plan = ws.plan_json(env=env)
    else:
        copy_example(ws, f"resources/keysmith_api_key/{example}", replace=real_ids)
        result, plan = ws.plan_json(env=env)
        assert planned_imports(plan) == ["keysmith_api_key.ci"]

    # 3. The imported key needs no change; the other two examples are still to create.
    actions = planned_actions(plan)
    assert actions["keysmith_api_key.ci"] == ["no-op"], result.stdout
    assert actions["keysmith_api_key.monitoring"] == ["create"]
    ws.apply("tfplan", env=env)
    ci = ws.resources()["keysmith_api_key.ci"]
    assert (ci["id"], ci["public_key"], ci["secret"]) == (key["id"], key["publicKey"], None)
    ws.plan(rc=0, env=env)

    # 4. destroy removes the imported key too.
    ws.destroy(env=env)
    assert sb.atlas_keys() == []
