"""`keysmith_api_key` on MongoDB Atlas, through real Terraform against keysmith-sandbox.

Each test is a step list: write config -> init -> apply -> assert state and sandbox -> plan is
empty -> change -> ... Tests sharing the module's sandbox keep apart by key-name prefixes.
"""

from __future__ import annotations

import re

import pytest

from harness import (
    Sandbox,
    assert_no_secrets,
    assert_not_crashed,
    api_key_hcl,
    planned_actions,
    planned_imports,
    terraform_block,
)

HEX24 = re.compile(r"^[0-9a-f]{24}$")


def three_keys(sb: Sandbox, prefix: str, *, reader_name: str = "reader", reader_roles=("ORG_READ_ONLY",),
               ci_org: str | None = None) -> str:
    """Provider + three keys: admin (ORG_OWNER), ci (two roles), reader (variable name/roles)."""
    org = sb.atlas_org_id
    return (
        terraform_block()
        + sb.atlas_provider_hcl()
        + api_key_hcl("admin", org, f"{prefix}admin", ["ORG_OWNER"])
        + api_key_hcl("ci", ci_org or org, f"{prefix}ci", ["ORG_MEMBER", "ORG_GROUP_CREATOR"])
        + api_key_hcl("reader", org, f"{prefix}{reader_name}", reader_roles)
    )


def secrets_in_state(resources: dict) -> list[str]:
    return [v["secret"] for v in resources.values() if v.get("secret")]


def test_lifecycle_create_update_replace_destroy(own_sandbox, workspace):
    sb, ws = own_sandbox, workspace
    org = sb.atlas_org_id

    # 1. Three keys with different roles.
    ws.write(three_keys(sb, "life-"))
    ws.init()
    applied = ws.apply()
    assert "Apply complete! Resources: 3 added, 0 changed, 0 destroyed." in applied.stdout

    # 2. State: id, public_key, secret, created_at for each; nothing expires (no rotate_after).
    state = ws.resources()
    assert sorted(state) == ["keysmith_api_key.admin", "keysmith_api_key.ci", "keysmith_api_key.reader"]
    for address, v in state.items():
        assert HEX24.match(v["id"]), (address, v["id"])
        assert v["public_key"], address
        assert v["secret"], address
        assert v["created_at"], address
        assert v["expires_at"] is None, address
        assert v["org_id"] == org
    assert sorted(state["keysmith_api_key.ci"]["roles"]) == ["ORG_GROUP_CREATOR", "ORG_MEMBER"]
    identities = ws.resources("identity")  # resource identity {org_id, id} (Terraform >= 1.12)
    assert all(identities[a] == {"org_id": org, "id": v["id"]} for a, v in state.items()), identities
    secrets = secrets_in_state(state)
    assert len(set(secrets)) == 3

    # 3. Nothing to do after apply.
    plan = ws.plan(rc=0)
    assert "No changes." in plan.stdout

    # 4. The secrets never show in plan/apply output, nor in `terraform state show`.
    shown = ws.state_show("keysmith_api_key.admin")
    assert "(sensitive value)" in shown
    assert_no_secrets(secrets, apply_stdout=applied.stdout, apply_stderr=applied.stderr,
                      plan_stdout=plan.stdout, plan_stderr=plan.stderr, state_show=shown)

    # 5. The sandbox holds exactly these three keys.
    keys = {k.id: k for k in sb.atlas_keys(org)}
    assert sorted(keys) == sorted(v["id"] for v in state.values())
    for v in state.values():
        k = keys[v["id"]]
        assert (k.desc, k.public_key, k.roles) == (v["name"], v["public_key"], sorted(v["roles"]))

    # 6. Renaming and changing roles is an in-place update: same id, same secret.
    renamed = dict(reader_name="auditor", reader_roles=["ORG_READ_ONLY", "ORG_BILLING_READ_ONLY"])
    ws.write(three_keys(sb, "life-", **renamed))
    plan = ws.plan(rc=2)
    assert "~ resource \"keysmith_api_key\" \"reader\"" in plan.stdout
    assert "keysmith_api_key.reader will be updated in-place" in plan.stdout
    assert "Plan: 0 to add, 1 to change, 0 to destroy." in plan.stdout
    updated = ws.apply()
    assert "Resources: 0 added, 1 changed, 0 destroyed." in updated.stdout
    after = ws.resources()["keysmith_api_key.reader"]
    before = state["keysmith_api_key.reader"]
    assert after["id"] == before["id"]
    assert after["public_key"] == before["public_key"]
    assert after["secret"] == before["secret"]
    assert sorted(after["roles"]) == ["ORG_BILLING_READ_ONLY", "ORG_READ_ONLY"]
    k = {k.id: k for k in sb.atlas_keys(org)}[before["id"]]
    assert (k.desc, k.roles) == ("life-auditor", ["ORG_BILLING_READ_ONLY", "ORG_READ_ONLY"])
    assert len(sb.atlas_keys(org)) == 3
    ws.plan(rc=0)

    # 7. Moving a key to another organization replaces it.
    org2 = create_second_org(sb)
    ws.write(three_keys(sb, "life-", **renamed, ci_org=org2))
    result, plan_doc = ws.plan_json(rc=2)
    assert "-/+ resource \"keysmith_api_key\" \"ci\"" in result.stdout
    assert "must be replaced" in result.stdout
    assert "# forces replacement" in result.stdout
    assert "Plan: 1 to add, 0 to change, 1 to destroy." in result.stdout
    assert planned_actions(plan_doc)["keysmith_api_key.ci"] == ["delete", "create"]
    old_ci = ws.resources()["keysmith_api_key.ci"]
    ws.apply("tfplan")
    new_ci = ws.resources()["keysmith_api_key.ci"]
    assert new_ci["org_id"] == org2 and new_ci["id"] != old_ci["id"] and new_ci["secret"]
    assert [k.id for k in sb.atlas_keys(org2)] == [new_ci["id"]]
    assert old_ci["id"] not in [k.id for k in sb.atlas_keys(org)]
    ws.plan(rc=0)

    # 8. Destroy leaves no key behind, in either organization.
    destroyed = ws.destroy()
    assert "Destroy complete! Resources: 3 destroyed." in destroyed.stdout
    assert sb.atlas_keys(org) == []
    assert sb.atlas_keys(org2) == []
    assert ws.resources() == {}


def create_second_org(sb: Sandbox) -> str:
    """A second Atlas organization, created through the Atlas API as a user would."""
    org_id = sb.atlas_api().create_org("keysmith-e2e-second-org")["organization"]["id"]
    assert HEX24.match(org_id)
    return org_id


def test_key_deleted_outside_terraform_is_planned_again(sandbox, workspace):
    sb, ws = sandbox, workspace
    org = sb.atlas_org_id

    # 1. Two keys.
    ws.write(terraform_block() + sb.atlas_provider_hcl()
             + api_key_hcl("a", org, "drift-a", ["ORG_MEMBER"])
             + api_key_hcl("b", org, "drift-b", ["ORG_READ_ONLY"]))
    ws.init()
    ws.apply()
    b = ws.resources()["keysmith_api_key.b"]

    # 2. Someone deletes b through the Atlas API.
    sb.atlas_api().delete_key(org, b["id"])
    assert [k.desc for k in sb.atlas_keys(org, prefix="drift-")] == ["drift-a"]

    # 3. Refresh notices; the plan creates it again and leaves a alone.
    plan = ws.plan(rc=2)
    assert "keysmith_api_key.b will be created" in plan.stdout
    assert "Plan: 1 to add, 0 to change, 0 to destroy." in plan.stdout
    assert "keysmith_api_key.a" not in plan.stdout.split("Terraform will perform the following actions:")[-1]

    # 4. Apply recreates it: a new key, a new secret; then nothing to do.
    ws.apply()
    new_b = ws.resources()["keysmith_api_key.b"]
    assert new_b["id"] != b["id"] and new_b["secret"] and new_b["secret"] != b["secret"]
    assert sorted(k.desc for k in sb.atlas_keys(org, prefix="drift-")) == ["drift-a", "drift-b"]
    ws.plan(rc=0)

    ws.destroy()
    assert sb.atlas_keys(org, prefix="drift-") == []


def imported_key_config(sb: Sandbox, desc: str, roles: list[str], import_block: str = "") -> str:
    return (terraform_block() + sb.atlas_provider_hcl()
            + api_key_hcl("x", sb.atlas_org_id, desc, roles) + import_block)


def check_imported(sb: Sandbox, ws, key: dict, desc: str, roles: list[str]) -> None:
    """State matches the key created out of band; secret is null; the next plan is empty."""
    v = ws.resources()["keysmith_api_key.x"]
    assert v["id"] == key["id"]
    assert v["org_id"] == sb.atlas_org_id
    assert v["public_key"] == key["publicKey"]
    assert v["name"] == desc
    assert sorted(v["roles"]) == sorted(roles)
    assert v["secret"] is None
    assert v["created_at"]
    plan = ws.plan(rc=0)
    assert "No changes." in plan.stdout
    assert [k.id for k in sb.atlas_keys(prefix=desc)] == [key["id"]]


def test_import_command(sandbox, workspace):
    sb, ws = sandbox, workspace
    org, desc, roles = sandbox.atlas_org_id, "import-cli", ["ORG_MEMBER", "ORG_BILLING_ADMIN"]

    # 1. A key made outside Terraform.
    key = sb.atlas_api().create_key(org, desc, roles)

    # 2. Configuration for it, then `terraform import <org_id>/<id>`.
    ws.write(imported_key_config(sb, desc, roles))
    ws.init()
    imported = ws.import_("keysmith_api_key.x", f"{org}/{key['id']}")
    assert "Import successful!" in imported.stdout

    # 3. State matches, the plan is empty, the secret stays unknown to Terraform (null).
    check_imported(sb, ws, key, desc, roles)

    # 4. Terraform now owns it: destroy deletes it from Atlas.
    ws.destroy()
    assert sb.atlas_keys(prefix=desc) == []


@pytest.mark.parametrize("how", ["id", "identity"])
def test_import_block(sandbox, workspace, how):
    sb, ws = sandbox, workspace
    org, desc, roles = sandbox.atlas_org_id, f"import-block-by-{how}-key", ["ORG_READ_ONLY"]

    # 1. A key made outside Terraform.
    key = sb.atlas_api().create_key(org, desc, roles)

    # 2. An import block, by "<org_id>/<id>" or by resource identity {org_id, id}.
    if how == "id":
        block = f'import {{\n  to = keysmith_api_key.x\n  id = "{org}/{key["id"]}"\n}}\n'
    else:
        block = (f'import {{\n  to = keysmith_api_key.x\n  identity = {{\n'
                 f'    org_id = "{org}"\n    id     = "{key["id"]}"\n  }}\n}}\n')
    ws.write(imported_key_config(sb, desc, roles, block))
    ws.init()

    # 3. The plan imports and changes nothing.
    result, plan_doc = ws.plan_json()
    assert "Plan: 1 to import, 0 to add, 0 to change, 0 to destroy." in result.stdout
    assert planned_imports(plan_doc) == ["keysmith_api_key.x"]
    assert planned_actions(plan_doc)["keysmith_api_key.x"] == ["no-op"]
    applied = ws.apply("tfplan")
    assert "Apply complete! Resources: 1 imported, 0 added, 0 changed, 0 destroyed." in applied.stdout

    # 4. State matches and the next plan is empty (the import block may stay).
    check_imported(sb, ws, key, desc, roles)

    ws.destroy()
    assert sb.atlas_keys(prefix=desc) == []


@pytest.mark.parametrize("bad_id", [
    "65a1b2c3d4e5f60718293a4b",
    "5d09d6a59ccf6445652a444a/65a1b2c3d4e5f60718293a4b/extra",
    "/65a1b2c3d4e5f60718293a4b",
    "5d09d6a59ccf6445652a444a/",
])
def test_import_malformed_id(sandbox, workspace, bad_id):
    sb, ws = sandbox, workspace
    ws.write(imported_key_config(sb, "import-malformed", ["ORG_READ_ONLY"]))
    ws.init()

    # The error shows the form the ID must have.
    result = ws.import_("keysmith_api_key.x", bad_id, rc=1)
    assert "<org_id>/<id>" in result.stderr
    assert_not_crashed(result.stdout, result.stderr)

    # Same through an import block.
    ws.write(imported_key_config(sb, "import-malformed", ["ORG_READ_ONLY"],
                                 f'import {{\n  to = keysmith_api_key.x\n  id = "{bad_id}"\n}}\n'))
    result = ws.plan(rc=1)
    assert "<org_id>/<id>" in result.stderr
    assert_not_crashed(result.stdout, result.stderr)
    assert sb.atlas_keys(prefix="import-malformed") == []


@pytest.mark.parametrize("auth", ["digest", "oauth"])
def test_trace_logs_hold_no_secret(sandbox, workspace, auth):
    sb, ws = sandbox, workspace
    org, prefix = sb.atlas_org_id, f"trace-{auth}-"
    ws.write(terraform_block() + sb.atlas_provider_hcl(auth)
             + api_key_hcl("one", org, f"{prefix}one", ["ORG_MEMBER"])
             + api_key_hcl("two", org, f"{prefix}two", ["ORG_READ_ONLY"]))
    ws.init()

    # 1. Apply with every log line on stderr; plan and destroy with TF_LOG_PATH.
    applied = ws.apply(env={"TF_LOG": "trace"})
    secrets = secrets_in_state(ws.resources())
    assert len(secrets) == 2
    plan_log = ws.path / "plan-trace.log"
    plan = ws.plan(rc=0, env={"TF_LOG": "trace", "TF_LOG_PATH": str(plan_log)})
    destroy_log = ws.path / "destroy-trace.log"
    destroyed = ws.destroy(env={"TF_LOG": "trace", "TF_LOG_PATH": str(destroy_log)})
    assert sb.atlas_keys(prefix=prefix) == []

    # 2. The logs are really trace logs, with the provider's own lines in them...
    assert "[TRACE]" in applied.stderr
    assert "provider.terraform-provider-keysmith" in applied.stderr
    assert "provider.terraform-provider-keysmith" in destroy_log.read_text()

    # 3. ...and none holds a key's secret or the provider's own credential.
    creds = sb.atlas_creds
    assert_no_secrets(
        secrets + [creds["private_key"], creds["client_secret"]],
        apply_stdout=applied.stdout, apply_stderr=applied.stderr,
        plan_stdout=plan.stdout, plan_stderr=plan.stderr, plan_log=plan_log.read_text(),
        destroy_stdout=destroyed.stdout, destroy_stderr=destroyed.stderr, destroy_log=destroy_log.read_text(),
    )


def test_refresh_lists_each_org_once(own_sandbox, workspace):
    """SPEC §6: refreshing many keys reads one listing of the org, not one GET per key."""
    sb, ws = own_sandbox, workspace
    org = sb.atlas_org_id

    # 1. Sixty keys of one organization.
    ws.write(terraform_block() + sb.atlas_provider_hcl() + f"""
resource "keysmith_api_key" "many" {{
  count  = 60
  org_id = "{org}"
  name   = "refresh-${{count.index}}"
  roles  = ["ORG_READ_ONLY"]
}}
""")
    ws.init()
    ws.apply()
    assert len(sb.atlas_keys(org, prefix="refresh-")) == 60

    # 2. A plan refreshes all sixty: the sandbox's own counters show no per-key GET, and the
    #    listing (one page, plus the Digest challenge of a fresh client) at most a few times.
    before = sb.state()["requests"]
    ws.plan(rc=0)
    after = sb.state()["requests"]
    delta = {k: after.get(k, 0) - before.get(k, 0) for k in after}
    assert delta.get("atlas.api_keys.get", 0) == 0, delta
    assert 1 <= delta.get("atlas.api_keys.list", 0) <= 3, delta


def test_flaky_backend_leaves_no_duplicate_nor_orphan(own_sandbox, workspace):
    """SPEC §6 through Terraform: 503s, 429s and writes committed but never answered.

    Safe requests are retried; a create that may have happened is reconciled (the orphan, whose
    secret is lost, is deleted and the key made again), so the sandbox ends up holding exactly
    the keys in state, each with a secret that works.
    """
    sb, ws = own_sandbox, workspace
    org = sb.atlas_org_id
    # With 30 % of requests failing, five retries run out for some request in a few percent
    # of runs (0.3^6 per request); ten make that negligible (0.3^11).
    ws.write(terraform_block() + sb.atlas_provider_hcl(extra="max_retries = 10") + f"""
resource "keysmith_api_key" "k" {{
  count  = 20
  org_id = "{org}"
  name   = "flaky-${{count.index}}"
  roles  = ["ORG_MEMBER"]
}}
""")
    ws.init()

    # 1. Apply while the sandbox fails, throttles and drops answers to committed writes.
    sb.set_faults("error_rate=0.15,throttle_rate=0.15,ambiguous_rate=0.1")
    ws.apply()
    sb.set_faults("")

    # 2. Exactly the twenty keys of state exist: none doubled, none orphaned.
    state = ws.resources()
    assert len(state) == 20
    in_state = sorted(v["id"] for v in state.values())
    assert sorted(k.id for k in sb.atlas_keys(org, prefix="flaky-")) == in_state
    assert all(v["secret"] for v in state.values())
    ws.plan(rc=0)

    # 3. Destroy under the same faults removes them all.
    sb.set_faults("error_rate=0.15,throttle_rate=0.15,ambiguous_rate=0.1")
    ws.destroy()
    sb.set_faults("")
    assert sb.atlas_keys(org, prefix="flaky-") == []
