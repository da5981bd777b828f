"""Every file under examples/ runs here, unchanged except for placeholder ids, against the sandbox."""

from __future__ import annotations

import re
import shlex
import subprocess
from datetime import datetime, timedelta

import pytest

from harness import REPO, BraintrustAPI, Sandbox, assert_no_secrets, planned_actions, planned_imports, strip_ansi

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
    "resources/keysmith_api_key/braintrust-service-token.tf",
    "resources/keysmith_api_key/import.sh",
    "resources/keysmith_api_key/import-by-string-id.tf",
    "resources/keysmith_api_key/import-by-identity.tf",
    "resources/keysmith_org/resource.tf",
    "resources/keysmith_org/import.sh",
    "data-sources/keysmith_org/data-source.tf",
    "data-sources/keysmith_api_keys/data-source.tf",
    "list-resources/keysmith_api_key/list-resource.tfquery.hcl",
    "ephemeral-resources/keysmith_api_key/ephemeral-resource.tf",
}


def test_every_example_is_exercised():
    on_disk = {str(p.relative_to(EXAMPLES)) for p in EXAMPLES.rglob("*")
               if p.is_file() and ".terraform" not in p.parts and p.name.endswith((".tf", ".sh", ".hcl"))}
    assert on_disk == EXERCISED, "examples/ and this module disagree: every example must run here"


def atlas_env(sb: Sandbox) -> dict[str, str]:
    """The provider's environment variables (SPEC §2) for the sandbox's Atlas, and the examples'
    organization and project (made the first time)."""
    c = sb.atlas_creds
    if not hasattr(sb, "example_project_id"):
        sb.example_project_id = sb.atlas_add_project(sb.atlas_org_id, "examples")["id"]
    return {"MONGODB_ATLAS_BASE_URL": sb.url, "MONGODB_ATLAS_PUBLIC_API_KEY": c["public_key"],
            "MONGODB_ATLAS_PRIVATE_API_KEY": c["private_key"], "TF_VAR_atlas_org_id": sb.atlas_org_id,
            "TF_VAR_atlas_project_id": sb.example_project_id}


def copy_example(ws, *relative: str, replace: dict[str, str] | None = None) -> None:
    for rel in relative:
        text = (EXAMPLES / rel).read_text()
        for old, new in (replace or {}).items():
            assert old in text, f"{rel} no longer contains {old!r}"
            text = text.replace(old, new)
        ws.write(text, name=rel.replace("/", "__"))


def quickstart_env(sb: Sandbox) -> dict[str, str]:
    """The quickstart's input variables for the sandbox: every backend's URL and credentials (as
    scripts/demo.sh passes them)."""
    c = sb.credentials
    return {
        "TF_VAR_atlas_base_url": sb.url, "TF_VAR_atlas_public_key": c["atlas"]["public_key"],
        "TF_VAR_atlas_private_key": c["atlas"]["private_key"], "TF_VAR_atlas_org_id": sb.atlas_org_id,
        "TF_VAR_env0_base_url": sb.url, "TF_VAR_env0_api_key_id": c["env0"]["api_key_id"],
        "TF_VAR_env0_api_key_secret": c["env0"]["api_key_secret"],
        "TF_VAR_braintrust_base_url": sb.url, "TF_VAR_braintrust_api_key": c["braintrust"]["service_token"],
        "TF_VAR_braintrust_service_account_id": c["braintrust"]["service_account_id"],
        "TF_VAR_braintrust_org_name": c["braintrust"]["org_name"],
        "TF_VAR_traceloop_base_url": sb.url, "TF_VAR_traceloop_api_key": c["traceloop"]["api_key"],
    }


def test_quickstart(own_sandbox, workspace):
    sb, ws = own_sandbox, workspace
    copy_example(ws, "quickstart/main.tf", "quickstart/variables.tf", "quickstart/outputs.tf")
    env = quickstart_env(sb)

    # 1. init -> apply: four backends side by side.
    ws.init(env=env)
    applied = ws.apply(env=env)
    assert "Resources: 6 added, 0 changed, 0 destroyed." in applied.stdout
    assert sorted(k.desc for k in sb.atlas_keys()) == ["quickstart-ci", "quickstart-reader"]
    env0_org = [o for o in sb.env0_orgs().values() if o["name"] == "quickstart"]
    assert len(env0_org) == 1
    assert [k["name"] for k in sb.env0_keys(env0_org[0]["id"])] == ["quickstart-deployer"]
    assert [t["name"] for t in sb.braintrust_tokens()] == ["quickstart-evals"] and sb.braintrust_keys() == []
    traceloop = sb.traceloop_orgs(prefix="quickstart")
    assert len(traceloop) == 1 and traceloop[0]["envs"] == ["dev", "prd"]

    # 2. Nothing left to do.
    plan = ws.plan(rc=0, env=env)

    # 3. Outputs: ids and public halves in the clear, every secret only in a sensitive output.
    outputs = {k: v["value"] for k, v in ws.output_json().items()}
    atlas = outputs["atlas_keys"]
    assert sorted(k.id for k in sb.atlas_keys()) == sorted(v["id"] for v in atlas.values())
    assert atlas["ci"]["roles"] == ["ORG_GROUP_CREATOR", "ORG_MEMBER"]
    assert atlas["ci"]["expires_at"] is None and atlas["reader"]["expires_at"]
    assert outputs["env0"]["org_id"] == env0_org[0]["id"] and outputs["env0"]["mode"] == "trial"
    assert outputs["env0"]["public_key"] == sb.env0_keys(env0_org[0]["id"])[0]["api_key_id"]
    assert outputs["braintrust_key"]["org_id"] == sb.braintrust_creds["org_id"]
    assert outputs["braintrust_key"]["preview"] == sb.braintrust_tokens()[0]["preview_name"]
    assert outputs["braintrust_key"]["service_account_id"] == sb.braintrust_creds["service_account_id"]
    assert outputs["traceloop_org_id"] == traceloop[0]["id"]
    assert ws.output_json()["secrets"]["sensitive"] is True
    secrets = outputs["secrets"]
    assert sorted(secrets["traceloop"]) == ["dev", "prd"]
    values = [v for k, v in secrets.items() if k != "traceloop"] + list(secrets["traceloop"].values())
    assert len(values) == 6 and all(values)
    human = ws.run("output").stdout
    assert "secrets = <sensitive>" in human
    assert_no_secrets(values, apply=applied.output, plan=plan.output, output=human)

    # 4. destroy: every key deleted; the env0 and Traceloop organizations forgotten (their APIs
    #    cannot delete them), with a warning each.
    destroyed = ws.destroy(env=env)
    assert destroyed.output.count("Warning: Organization removed from state only") == 2, destroyed.output
    assert sb.atlas_keys() == [] and sb.env0_keys(env0_org[0]["id"]) == [] and sb.braintrust_tokens() == []
    assert ws.resources() == {}


def test_provider_and_resource_examples(own_sandbox, workspace):
    sb, ws = own_sandbox, workspace
    env = atlas_env(sb)  # provider.tf takes everything from the environment

    # 1. provider.tf + resource.tf: four keys, one with an access list and project roles.
    copy_example(ws, "provider/provider.tf", "resources/keysmith_api_key/resource.tf")
    ws.init(env=env)
    ws.apply(env=env)
    state = ws.resources()
    assert sorted(state) == ["keysmith_api_key.billing_export", "keysmith_api_key.ci", "keysmith_api_key.monitoring",
                             "keysmith_api_key.reporting"]
    assert sorted(k.desc for k in sb.atlas_keys()) == ["billing-export", CI_NAME, "monitoring", "reporting"]
    reporting = next(k for k in sb.state()["atlas"]["orgs"] if k["id"] == sb.atlas_org_id)["api_keys"]
    reporting = next(k for k in reporting if k["desc"] == "reporting")
    assert sorted(e["cidr_block"] for e in reporting["access_list"]) == ["198.51.100.0/24", "203.0.113.7/32"]
    assert sorted((r["group_id"], r["role_name"]) for r in reporting["project_roles"]) == [
        (sb.example_project_id, "GROUP_DATA_ACCESS_READ_ONLY"), (sb.example_project_id, "GROUP_READ_ONLY")]
    assert state["keysmith_api_key.reporting"]["access_list"] == ["198.51.100.0/24", "203.0.113.7"]

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
    assert len(sb.atlas_keys()) == 4
    ws.plan(rc=0, env=env)

    # 4. destroy.
    ws.destroy(env=env)
    assert sb.atlas_keys() == []


def test_braintrust_service_token_example(own_sandbox, workspace):
    sb, ws = own_sandbox, workspace
    c = sb.braintrust_creds
    # The example's provider takes everything from the environment: the organization-owner
    # service token as BRAINTRUST_API_KEY.
    env = dict(atlas_env(sb), BRAINTRUST_API_URL=sb.url, BRAINTRUST_API_KEY=c["service_token"],
               BRAINTRUST_ORG_NAME=c["org_name"], TF_VAR_braintrust_service_account_id=c["service_account_id"])

    # 1. provider.tf + the Braintrust example: one service token, and no API key.
    copy_example(ws, "provider/provider.tf", "resources/keysmith_api_key/braintrust-service-token.tf")
    ws.init(env=env)
    applied = ws.apply(env=env)
    made = ws.resources()["keysmith_api_key.evals_ci"]
    assert [(t["id"], t["name"], t["service_account_id"]) for t in sb.braintrust_tokens()] == [
        (made["id"], "evals-ci", c["service_account_id"])]
    assert sb.braintrust_keys() == []

    # 2. The sensitive output is the token itself: it authenticates.
    output = ws.output_json()["evals_ci_token"]
    assert output["sensitive"] is True
    assert BraintrustAPI(sb.url, output["value"]).get_token(made["id"])["name"] == "evals-ci"
    assert_no_secrets([output["value"]], apply=applied.output)
    ws.plan(rc=0, env=env)

    # 3. destroy.
    ws.destroy(env=env)
    assert sb.braintrust_tokens() == []


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


# ---- keysmith_org ---------------------------------------------------------------------------------

ORG_DIR = EXAMPLES / "resources" / "keysmith_org"
OWNER_ID = "5f0e1d2c3b4a596877665544"  # any 24-hex user id: the sandbox keeps no user directory


def test_org_resource_and_import_examples(own_sandbox, workspace, tmp_path):
    sb, ws = own_sandbox, workspace
    # provider.tf (Atlas) and the env0 and Traceloop aliases of resource.tf: all from the environment.
    env = dict(atlas_env(sb), **sb.provider_env("env0"), **sb.provider_env("traceloop"),
               TF_VAR_atlas_owner_id=OWNER_ID)

    # 1. provider.tf + resource.tf: one organization on each of three backends.
    copy_example(ws, "provider/provider.tf", "resources/keysmith_org/resource.tf")
    ws.init(env=env)
    ws.apply(env=env)
    state = ws.resources()
    platform = state["keysmith_org.platform"]
    assert sb.atlas_orgs()[platform["id"]]["name"] == "acme-platform"
    assert sb.env0_orgs()[state["keysmith_org.env0"]["id"]]["description"] == "Acme's infrastructure deployments"
    assert [o["envs"] for o in sb.traceloop_orgs(prefix="acme")] == [["dev", "prd"]]
    outputs = ws.output_json()
    assert outputs["env0_org_mode"]["value"] == "trial"
    assert sorted(outputs["traceloop_keys"]["value"]) == ["dev", "prd"] and outputs["traceloop_keys"]["sensitive"]
    ws.plan(rc=0, env=env)

    # 2. import.sh brings the Atlas organization back under management after `state rm`;
    #    owner_id is unknown to Atlas, so the plan only records it, in place.
    ws.run("state", "rm", "keysmith_org.platform")
    script = (ORG_DIR / "import.sh").read_text()
    assert PLACEHOLDER_ORG in script
    p = run_script(ws, tmp_path, script.replace(PLACEHOLDER_ORG, platform["id"]), env)
    assert "Import successful!" in strip_ansi(p.stdout)
    result, plan = ws.plan_json(env=env)
    assert planned_actions(plan) == {"keysmith_org.platform": ["update"], "keysmith_org.env0": ["no-op"],
                                     "keysmith_org.traceloop": ["no-op"]}, result.stdout
    assert "Plan: 0 to add, 1 to change, 0 to destroy." in result.stdout
    ws.apply("tfplan", env=env)
    ws.plan(rc=0, env=env)

    # 3. destroy: Atlas deletes its organization; env0 and Traceloop keep theirs (two warnings).
    destroyed = ws.destroy(env=env)
    assert destroyed.output.count("Warning: Organization removed from state only") == 2, destroyed.output
    assert platform["id"] not in sb.atlas_orgs()
    assert state["keysmith_org.env0"]["id"] in sb.env0_orgs()


def run_script(ws, tmp_path, script: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    """Runs a shell example in the workspace with `terraform` on PATH being the suite's Terraform."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / "terraform").write_text(f'#!/bin/sh\nexec {shlex.join(ws.terraform)} "$@"\n')
    (bin_dir / "terraform").chmod(0o755)
    run_env = dict(ws.env, **env, PATH=f"{bin_dir}:{ws.env['PATH']}")
    p = subprocess.run(["bash", "-euc", script], cwd=ws.path, env=run_env, capture_output=True, text=True,
                       timeout=300)
    assert p.returncode == 0, f"script failed:\n{script}\n{p.stdout}\n{p.stderr}"
    return p


# ---- data sources ---------------------------------------------------------------------------------


def test_data_source_examples(own_sandbox, new_workspace):
    sb = own_sandbox
    env = dict(atlas_env(sb), **sb.provider_env("braintrust"))

    # 1. keysmith_org: Atlas by id, Braintrust by name (the example's "acme").
    acme = sb.braintrust_add_org("acme")
    ws = new_workspace("org")
    copy_example(ws, "provider/provider.tf", "data-sources/keysmith_org/data-source.tf")
    ws.init(env=env)
    ws.apply(env=env)
    outputs = {k: v["value"] for k, v in ws.output_json().items()}
    assert outputs == {"atlas_org_name": sb.atlas_orgs()[sb.atlas_org_id]["name"], "braintrust_org_id": acme["id"]}
    ws.plan(rc=0, env=env)

    # 2. keysmith_api_keys: the Atlas keys named ci-…, with their public keys.
    api = sb.atlas_api()
    made = [api.create_key(sb.atlas_org_id, name, ["ORG_MEMBER"]) for name in ("ci-build", "ci-deploy", "monitoring")]
    ws = new_workspace("keys")
    copy_example(ws, "provider/provider.tf", "data-sources/keysmith_api_keys/data-source.tf")
    ws.init(env=env)
    applied = ws.apply(env=env)
    assert ws.output_json()["ci_keys"]["value"] == {k["desc"]: k["publicKey"] for k in made[:2]}
    assert_no_secrets([k["privateKey"] for k in made], apply=applied.output, state=ws.run("show", "-json").stdout)
    ws.plan(rc=0, env=env)


# ---- ephemeral resource ---------------------------------------------------------------------------


def test_ephemeral_resource_example(own_sandbox, workspace):
    sb, ws = own_sandbox, workspace
    env = atlas_env(sb)
    made = sb.atlas_api().create_key(sb.atlas_org_id, "monitoring", ["ORG_READ_ONLY"])
    copy_example(ws, "provider/provider.tf", "ephemeral-resources/keysmith_api_key/ephemeral-resource.tf")
    ws.init(env=env)
    applied = ws.apply(env=env)

    # The data source read the keys through the alias the ephemeral key configured ...
    assert ws.output_json()["api_key_names"]["value"] == ["keysmith-sandbox seeded key", "monitoring"]
    auditor = [k for k in ws.show_json()["values"]["root_module"]["resources"][0]["values"]["keys"]
               if k["name"].startswith("terraform-audit ")]
    assert len(auditor) == 1 and re.fullmatch(r"terraform-audit \[keysmith-ephemeral expires=\S+Z\]",
                                                auditor[0]["name"]), auditor
    # ... and is gone now, its secret in no state.
    assert [k.desc for k in sb.atlas_keys()] == ["monitoring"]
    assert list(ws.resources()) == ["data.keysmith_api_keys.all"]
    assert "ephemeral.keysmith_api_key.auditor: Closing complete" in applied.stdout
    assert_no_secrets([made["privateKey"]], state=ws.run("show", "-json").stdout)
    ws.plan(rc=0, env=env)
    assert [k.desc for k in sb.atlas_keys()] == ["monitoring"]


# ---- list resource --------------------------------------------------------------------------------


def test_list_resource_example(own_sandbox, workspace):
    sb, ws = own_sandbox, workspace
    env = atlas_env(sb)
    api = sb.atlas_api()
    made = {name: api.create_key(sb.atlas_org_id, name, ["ORG_READ_ONLY"]) for name in ("ci-build", "ci-deploy", "monitoring")}

    # 1. The query finds the two ci-… keys.
    copy_example(ws, "provider/provider.tf")
    copy_example(ws, "list-resources/keysmith_api_key/list-resource.tfquery.hcl",
                 replace={PLACEHOLDER_ORG: sb.atlas_org_id})
    ws.init(env=env)
    found = strip_ansi(ws.run("query", env=env).stdout)
    assert made["ci-build"]["id"] in found and made["ci-deploy"]["id"] in found, found
    assert made["monitoring"]["id"] not in found

    # 2. As the example's comment says: generate the configuration, plan imports, nothing else.
    ws.run("query", "-generate-config-out=keys.tf", env=env)
    result, plan = ws.plan_json(env=env)
    assert "Plan: 2 to import, 0 to add, 0 to change, 0 to destroy." in result.stdout, result.stdout
    ws.apply("tfplan", env=env)
    assert sorted(v["name"] for v in ws.resources().values()) == ["ci-build", "ci-deploy"]
    ws.plan(rc=0, env=env)
