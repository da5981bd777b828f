"""`keysmith_api_key` on env0 and Braintrust, refusals on Traceloop and for attributes of other
backends, secrets kept out of output and logs on every backend, and scheduled/triggered rotation
(SPEC §3), through real Terraform against keysmith-sandbox.

Each test is a step list checked against `/_sandbox/state`; tests sharing the module's sandbox
keep apart by key-name prefixes.
"""

from __future__ import annotations

import re
import time
from datetime import datetime, timedelta, timezone

from harness import (
    BraintrustAPI,
    Env0API,
    Sandbox,
    api_key_hcl,
    assert_no_secrets,
    assert_not_crashed,
    diagnostics,
    planned_actions,
    planned_imports,
    resource_hcl,
    terraform_block,
    unwrap,
)

UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
TRACELOOP_REFUSAL = ("traceloop issues API keys per environment when the organization is created; "
                     "use keysmith_org.environment_keys")


def keys_config(sb: Sandbox, backend: str, keys: dict[str, dict], extra: str = "") -> str:
    """Provider for `backend` + one `keysmith_api_key` per entry of `keys` (address name -> attrs)."""
    blocks = "".join(resource_hcl("keysmith_api_key", name, attrs) for name, attrs in keys.items())
    return terraform_block() + sb.provider_hcl(backend) + blocks + extra


# ---- env0 -----------------------------------------------------------------------------------------


def env0_keys(project: str, developer_name: str = "e2e-env0-dev") -> dict[str, dict]:
    return {
        "admin": {"name": "e2e-env0-admin", "roles": ["Admin"]},
        "dev": {"name": developer_name, "roles": ["User"], "project_roles": {project: ["Deployer"]}},
    }


def test_env0_key_lifecycle(sandbox, workspace):
    sb, ws = sandbox, workspace
    org, project = sb.env0_org_id, sb.env0_project_id()

    # 1. Two keys: an Admin, and a User with a role in one project.
    ws.write(keys_config(sb, "env0", env0_keys(project)))
    ws.init()
    applied = ws.apply()
    assert "Apply complete! Resources: 2 added, 0 changed, 0 destroyed." in applied.stdout
    state = ws.resources()
    held = {k["id"]: k for k in sb.env0_keys(prefix="e2e-env0-")}
    assert sorted(held) == sorted(v["id"] for v in state.values())
    for address, v in state.items():
        k = held[v["id"]]
        assert UUID.match(v["id"]), (address, v)
        assert v["org_id"] == org, address
        assert v["public_key"] == k["api_key_id"], address
        assert v["secret"] and v["created_at"], address
        assert v["preview"] is None and v["expires_at"] is None, address
        assert v["name"] == k["name"], address
        assert v["roles"] == [k["organization_role"]], address
        assert ws.resources("identity")[address] == {"org_id": org, "id": v["id"]}
    admin, dev = state["keysmith_api_key.admin"], state["keysmith_api_key.dev"]
    assert held[dev["id"]]["projects_permissions"] == [{"project_id": project, "project_role": "Deployer"}]
    assert held[admin["id"]]["projects_permissions"] == []
    # The secret is the real credential: it authenticates against env0.
    Env0API(sb.url, admin["public_key"], admin["secret"])._call("GET", "/organizations")
    assert_no_secrets([admin["secret"], dev["secret"]], apply=applied.output)

    # 2. Nothing to do.
    assert "No changes." in ws.plan(rc=0).stdout

    # 3. env0 cannot update a key: a new name replaces it.
    ws.write(keys_config(sb, "env0", env0_keys(project, developer_name="e2e-env0-developer")))
    result, plan = ws.plan_json(rc=2)
    assert planned_actions(plan) == {"keysmith_api_key.admin": ["no-op"], "keysmith_api_key.dev": ["delete", "create"]}
    assert "# forces replacement" in result.stdout
    ws.apply("tfplan")
    new_dev = ws.resources()["keysmith_api_key.dev"]
    assert new_dev["id"] != dev["id"] and new_dev["secret"] != dev["secret"]
    assert sorted(k["name"] for k in sb.env0_keys(prefix="e2e-env0-")) == ["e2e-env0-admin", "e2e-env0-developer"]
    assert dev["id"] not in [k["id"] for k in sb.env0_keys()]
    ws.plan(rc=0)

    # 4. Import by "<id>" (a malformed ID shows the form): all but the secret, and no changes.
    ws.run("state", "rm", "keysmith_api_key.admin")
    bad = ws.import_("keysmith_api_key.admin", f"{org}/{admin['id']}", rc=1)
    assert '"<id>"' in unwrap(bad.stderr)
    assert "Import successful!" in ws.import_("keysmith_api_key.admin", admin["id"]).stdout
    imported = ws.resources()["keysmith_api_key.admin"]
    for attr in ("id", "org_id", "name", "public_key", "roles"):
        assert imported[attr] == admin[attr], attr
    assert imported["secret"] is None
    assert "No changes." in ws.plan(rc=0).stdout

    # 5. Deleted outside Terraform: planned for creation again, and created.
    sb.env0_api().delete_key(new_dev["id"])
    plan = ws.plan(rc=2)
    assert "keysmith_api_key.dev will be created" in plan.stdout
    assert "Plan: 1 to add, 0 to change, 0 to destroy." in plan.stdout
    ws.apply()
    again = ws.resources()["keysmith_api_key.dev"]
    assert again["id"] != new_dev["id"]
    assert sorted(k["id"] for k in sb.env0_keys(prefix="e2e-env0-")) == sorted([admin["id"], again["id"]])
    ws.plan(rc=0)

    # 6. Destroy deletes both, the imported one included.
    ws.destroy()
    assert sb.env0_keys(prefix="e2e-env0-") == []


# ---- Braintrust -------------------------------------------------------------------------------------


def braintrust_keys(sb: Sandbox, evals_name: str = "e2e-bt-evals", trigger: str = "2026-q1",
                    ci_name: str = "e2e-bt-ci") -> dict[str, dict]:
    return {
        # Explicit org_name and a rotation trigger.
        "evals": {"name": evals_name, "org_name": sb.braintrust_creds["org_name"],
                  "rotation_triggers": {"rotated_for": trigger}},
        # The provider's org_name.
        "ci": {"name": ci_name},
    }


def test_braintrust_key_lifecycle(sandbox, workspace):
    sb, ws = sandbox, workspace
    org_id = sb.braintrust_creds["org_id"]

    # 1. Two keys: id, preview, org_id, created_at and the secret; no public key on Braintrust.
    ws.write(keys_config(sb, "braintrust", braintrust_keys(sb)))
    ws.init()
    applied = ws.apply()
    state = ws.resources()
    held = {k["id"]: k for k in sb.braintrust_keys(prefix="e2e-bt-")}
    assert sorted(held) == sorted(v["id"] for v in state.values())
    for address, v in state.items():
        k = held[v["id"]]
        assert UUID.match(v["id"]), (address, v)
        assert v["name"] == k["name"]
        assert v["org_id"] == k["org_id"] == org_id, address
        assert v["preview"] == k["preview_name"] and v["preview"].startswith("sk-****"), address
        assert v["secret"].startswith("sk-") and v["secret"].endswith(v["preview"][-4:]), address
        assert v["created_at"], address
        assert v["public_key"] is None and v["roles"] is None, address
        assert ws.resources("identity")[address] == {"org_id": org_id, "id": v["id"]}
    evals, ci = state["keysmith_api_key.evals"], state["keysmith_api_key.ci"]
    BraintrustAPI(sb.url, ci["secret"]).get_key(ci["id"])  # the secret is the real key
    assert_no_secrets([evals["secret"], ci["secret"]], apply=applied.output)

    # 2. Nothing to do.
    assert "No changes." in ws.plan(rc=0).stdout

    # 3. No update API: a new name replaces ci, a new rotation trigger replaces evals.
    ws.write(keys_config(sb, "braintrust", braintrust_keys(sb, trigger="2026-q2", ci_name="e2e-bt-ci-2")))
    result, plan = ws.plan_json(rc=2)
    assert planned_actions(plan) == {"keysmith_api_key.ci": ["delete", "create"],
                                     "keysmith_api_key.evals": ["delete", "create"]}
    assert "Plan: 2 to add, 0 to change, 2 to destroy." in result.stdout
    ws.apply("tfplan")
    state = ws.resources()
    evals2, ci2 = state["keysmith_api_key.evals"], state["keysmith_api_key.ci"]
    assert evals2["id"] != evals["id"] and ci2["id"] != ci["id"]
    assert sorted((k["name"], k["id"]) for k in sb.braintrust_keys(prefix="e2e-bt-")) == sorted(
        [("e2e-bt-evals", evals2["id"]), ("e2e-bt-ci-2", ci2["id"])])
    ws.plan(rc=0)

    # 4. Import by "<id>": no changes, no secret.
    ws.run("state", "rm", "keysmith_api_key.ci")
    assert "Import successful!" in ws.import_("keysmith_api_key.ci", ci2["id"]).stdout
    imported = ws.resources()["keysmith_api_key.ci"]
    for attr in ("id", "org_id", "name", "preview"):
        assert imported[attr] == ci2[attr], attr
    assert imported["secret"] is None
    assert "No changes." in ws.plan(rc=0).stdout

    # 5. Deleted outside Terraform: planned for creation again, and created.
    sb.braintrust_api().delete_key(evals2["id"])
    plan = ws.plan(rc=2)
    assert "keysmith_api_key.evals will be created" in plan.stdout
    assert "Plan: 1 to add, 0 to change, 0 to destroy." in plan.stdout
    ws.apply()
    evals3 = ws.resources()["keysmith_api_key.evals"]
    assert sorted(k["id"] for k in sb.braintrust_keys(prefix="e2e-bt-")) == sorted([evals3["id"], ci2["id"]])
    ws.plan(rc=0)

    # 6. Destroy deletes both.
    ws.destroy()
    assert sb.braintrust_keys(prefix="e2e-bt-") == []


def test_braintrust_import_into_config_with_org_name(sandbox, workspace):
    sb, ws = sandbox, workspace

    # 1. A key made outside Terraform in a second organization of the same user.
    other = sb.braintrust_add_org("e2e-bt-second-org")
    key = sb.braintrust_api().create_key("e2e-bt-imported", org_name="e2e-bt-second-org")

    # 2. Its configuration names that organization; an import block brings it in unchanged.
    ws.write(keys_config(sb, "braintrust", {"x": {"name": "e2e-bt-imported", "org_name": "e2e-bt-second-org"}},
                         extra=f'\nimport {{\n  to = keysmith_api_key.x\n  id = "{key["id"]}"\n}}\n'))
    ws.init()
    result, plan = ws.plan_json()
    assert planned_imports(plan) == ["keysmith_api_key.x"]
    assert planned_actions(plan) == {"keysmith_api_key.x": ["no-op"]}, result.stdout
    ws.apply("tfplan")
    v = ws.resources()["keysmith_api_key.x"]
    assert (v["id"], v["org_id"], v["secret"]) == (key["id"], other["id"], None)
    ws.plan(rc=0)

    # 3. Terraform owns it now.
    ws.destroy()
    assert sb.braintrust_keys(prefix="e2e-bt-imported") == []


# ---- refusals at plan -------------------------------------------------------------------------------


def test_traceloop_api_key_is_refused(sandbox, workspace):
    sb, ws = sandbox, workspace
    ws.write(keys_config(sb, "traceloop", {"k": {"name": "e2e-traceloop-key"}}))
    ws.init()

    refused = ws.plan(rc=1)
    assert_not_crashed(refused.stdout, refused.stderr)
    errors = diagnostics(refused.stderr, "Error")
    assert len(errors) == 1, refused.stderr
    assert errors[0].address == "keysmith_api_key.k"
    assert TRACELOOP_REFUSAL in unwrap(errors[0].text)
    assert sb.traceloop_orgs() == []


def test_attributes_of_another_backend_are_refused(sandbox, workspace):
    sb, ws = sandbox, workspace
    # One key per backend (provider aliases), each with attributes that belong elsewhere.
    misfits = {
        "braintrust": ({"roles": ["Admin"], "project_roles": {"p": ["Viewer"]}, "access_list": ["10.0.0.0/8"]},
                       ["access_list", "project_roles", "roles"]),
        "env0": ({"roles": ["User"], "org_name": "acme", "access_list": ["10.0.0.1"]}, ["access_list", "org_name"]),
        # Atlas takes project_roles and access_list (test_atlas_assignments.py); not org_name.
        "atlas": ({"org_id": sb.atlas_org_id, "roles": ["ORG_MEMBER"], "org_name": "acme"}, ["org_name"]),
    }
    config = terraform_block()
    for backend, (attrs, _) in misfits.items():
        config += sb.provider_hcl(backend, alias=backend)
        config += resource_hcl("keysmith_api_key", backend, {"name": f"e2e-misfit-{backend}", **attrs},
                               provider=backend)
    ws.write(config)
    ws.init()

    refused = ws.plan(rc=1)
    assert_not_crashed(refused.stdout, refused.stderr)
    found = []
    for d in diagnostics(refused.stderr, "Error"):
        m = re.search(r"`(\w+)` does not apply to the (\w+) backend", unwrap(d.text))
        assert m, f"unexpected error:\n{d.text}"
        assert d.address == f"keysmith_api_key.{m.group(2)}", d.text
        assert re.search(rf"^\s*\d+:\s+{m.group(1)}\s+=", d.text, re.M), f"not pointing at the attribute:\n{d.text}"
        found.append((d.address, m.group(1)))
    assert sorted(found) == sorted((f"keysmith_api_key.{b}", a) for b, (_, wrong) in misfits.items() for a in wrong)
    assert sb.braintrust_keys(prefix="e2e-misfit") == [] and sb.env0_keys(prefix="e2e-misfit") == []
    assert sb.atlas_keys(prefix="e2e-misfit") == []


# ---- secrets ------------------------------------------------------------------------------------------


def test_secrets_stay_out_of_output_and_trace_logs(sandbox, workspace):
    sb, ws = sandbox, workspace
    config = terraform_block()
    for backend in ("atlas", "env0", "braintrust", "traceloop"):
        config += sb.provider_hcl(backend, alias=backend)
    config += resource_hcl("keysmith_api_key", "atlas", {"org_id": sb.atlas_org_id, "name": "e2e-secret-atlas",
                                                         "roles": ["ORG_READ_ONLY"]}, provider="atlas")
    config += resource_hcl("keysmith_api_key", "env0", {"name": "e2e-secret-env0", "roles": ["Admin"]},
                           provider="env0")
    config += resource_hcl("keysmith_api_key", "braintrust", {"name": "e2e-secret-braintrust"}, provider="braintrust")
    config += resource_hcl("keysmith_org", "traceloop", {"name": "e2e-secret-traceloop"}, provider="traceloop")
    ws.write(config)
    ws.init()

    # 1. Apply with trace logs on stderr, plan and destroy with trace logs in files.
    applied = ws.apply(env={"TF_LOG": "trace"})
    state = ws.resources()
    secrets = [v["secret"] for a, v in state.items() if a.startswith("keysmith_api_key.")]
    assert len(secrets) == 3 and all(secrets)
    env_keys = list(state["keysmith_org.traceloop"]["environment_keys"].values())
    assert len(env_keys) == 3  # Traceloop's default environments: dev, stg, prd
    shown = ws.run("show").stdout
    plan_log, destroy_log = ws.path / "plan-trace.log", ws.path / "destroy-trace.log"
    plan = ws.plan(rc=0, env={"TF_LOG": "trace", "TF_LOG_PATH": str(plan_log)})
    destroyed = ws.destroy(env={"TF_LOG": "trace", "TF_LOG_PATH": str(destroy_log)})
    assert sb.atlas_keys(prefix="e2e-secret") == [] and sb.env0_keys(prefix="e2e-secret") == []
    assert sb.braintrust_keys(prefix="e2e-secret") == []

    # 2. The logs are trace logs with the provider's lines in them (every backend was called)...
    assert "[TRACE]" in applied.stderr and "provider.terraform-provider-keysmith" in applied.stderr
    assert "provider.terraform-provider-keysmith" in destroy_log.read_text()

    # 3. ...and no key's secret, no environment key and no provider credential shows anywhere.
    assert_no_secrets(
        secrets + env_keys + sb.credential_secrets(),
        apply_stdout=applied.stdout, apply_stderr=applied.stderr, show=shown,
        plan_stdout=plan.stdout, plan_stderr=plan.stderr, plan_log=plan_log.read_text(),
        destroy_stdout=destroyed.stdout, destroy_stderr=destroyed.stderr, destroy_log=destroy_log.read_text(),
    )


# ---- rotation -----------------------------------------------------------------------------------------


def test_rotate_after_replaces_an_expired_key(sandbox, workspace):
    sb, ws = sandbox, workspace
    org = sb.atlas_org_id
    lifecycle = "\n  lifecycle {\n    create_before_destroy = true\n  }\n"

    def config(rotate_after: str) -> str:
        return (terraform_block() + sb.atlas_provider_hcl()
                + api_key_hcl("rotating", org, "e2e-rotating", ["ORG_READ_ONLY"],
                              extra=f'rotate_after = "{rotate_after}"{lifecycle}'))

    # 1. A key that expires 2 s after its creation.
    ws.write(config("2s"))
    ws.init()
    ws.apply()
    first = ws.resources()["keysmith_api_key.rotating"]
    created = datetime.fromisoformat(first["created_at"])
    assert datetime.fromisoformat(first["expires_at"]) - created == timedelta(seconds=2)

    # 2. Once it has expired, the plan replaces it, the new key first.
    time.sleep(max(0.0, (created + timedelta(seconds=3) - datetime.now(timezone.utc)).total_seconds()))
    result, plan = ws.plan_json(rc=2)
    assert planned_actions(plan) == {"keysmith_api_key.rotating": ["create", "delete"]}, result.stdout
    assert "+/- resource \"keysmith_api_key\" \"rotating\"" in result.stdout
    assert "Plan: 1 to add, 0 to change, 1 to destroy." in result.stdout

    # 3. Apply rotates: a new key with a new secret; the old one is gone from Atlas.
    ws.apply("tfplan")
    second = ws.resources()["keysmith_api_key.rotating"]
    assert second["id"] != first["id"] and second["secret"] and second["secret"] != first["secret"]
    assert [k.id for k in sb.atlas_keys(prefix="e2e-rotating")] == [second["id"]]

    # 4. A longer period is no reason to replace: expires_at moves, the key stays.
    ws.write(config("720h"))
    result, plan = ws.plan_json(rc=2)
    assert planned_actions(plan) == {"keysmith_api_key.rotating": ["update"]}, result.stdout
    ws.apply("tfplan")
    third = ws.resources()["keysmith_api_key.rotating"]
    assert third["id"] == second["id"]
    assert datetime.fromisoformat(third["expires_at"]) - datetime.fromisoformat(third["created_at"]) == timedelta(hours=720)
    assert "No changes." in ws.plan(rc=0).stdout

    ws.destroy()
    assert sb.atlas_keys(prefix="e2e-rotating") == []
