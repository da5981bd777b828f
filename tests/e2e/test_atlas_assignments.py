"""Atlas `access_list` and `project_roles` on `keysmith_api_key` (SPEC §3), through real Terraform
against keysmith-sandbox: set at create, changed in place entry by entry, drift shown as an update,
read back on import with an empty plan; the schema version 0 → 1 state upgrade; a saved plan
applied after the key fell due for rotation.
"""

from __future__ import annotations

import json
import time
from datetime import datetime, timezone

import pytest

from harness import (assert_not_crashed, diagnostics, planned_actions, resource_hcl, terraform_block,
                     unwrap)

KEY = "keysmith_api_key.k"


def key_hcl(sb, *, name: str = "e2e-assigned", roles: str = '["ORG_MEMBER"]', extra: str = "") -> str:
    """The key `k`, through a service account: bearer tokens, so that the sandbox's request
    counts hold no Digest challenges."""
    return (terraform_block() + sb.atlas_provider_hcl(auth="oauth") + f"""
resource "keysmith_api_key" "k" {{
  org_id = "{sb.atlas_org_id}"
  name   = "{name}"
  roles  = {roles}
{extra}}}
""")


def requests_of(sb) -> dict[str, int]:
    return {k: v for k, v in sb.state()["requests"].items() if k.startswith("atlas.")}


def spent(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    return {k: v - before.get(k, 0) for k, v in after.items() if v != before.get(k, 0)}


def only_update(plan: dict) -> None:
    assert planned_actions(plan) == {KEY: ["update"]}, planned_actions(plan)


# ---- access_list ---------------------------------------------------------------------------------


def test_access_list_set_changed_in_place_drift_and_import(own_sandbox, workspace):
    sb, ws = own_sandbox, workspace
    org, api = sb.atlas_org_id, sb.atlas_api()

    # 1. Created with three entries, one IPv6 in a spelling Atlas writes otherwise: plan after is empty.
    ws.write(key_hcl(sb, extra='  access_list = ["203.0.113.7", "198.51.100.0/24", "2001:db8::/32"]\n'))
    ws.init()
    ws.apply()
    key_id = ws.resources()[KEY]["id"]
    assert api.access_list(org, key_id) == ["198.51.100.0/24", "2001:db8:0:0:0:0:0:0/32", "203.0.113.7/32"]
    assert sorted(ws.resources()[KEY]["access_list"]) == ["198.51.100.0/24", "2001:db8::/32", "203.0.113.7"]
    ws.plan(rc=0)

    # 2. The same entries in other spellings: still no change.
    ws.write(key_hcl(sb, extra='  access_list = ["203.0.113.7/32", "198.51.100.0/24", "2001:0db8:0:0::/32"]\n'))
    ws.plan(rc=0)

    # 3. One entry removed, one added: an update in place, one request each, same key.
    ws.write(key_hcl(sb, extra='  access_list = ["203.0.113.7", "192.0.2.0/28"]\n'))
    result, plan = ws.plan_json()
    only_update(plan)
    before = requests_of(sb)
    ws.apply("tfplan")
    cost = spent(before, requests_of(sb))
    print(f"access-list change (1 added, 2 removed): {cost}")
    assert cost.get("atlas.access_list.list") == 1, "one read of the vendor's list, then the changes"
    assert cost.get("atlas.access_list.create") == 1 and cost.get("atlas.access_list.delete") == 2, cost
    assert "atlas.api_keys.create" not in cost and "atlas.api_keys.delete" not in cost, cost
    assert ws.resources()[KEY]["id"] == key_id
    assert api.access_list(org, key_id) == ["192.0.2.0/28", "203.0.113.7/32"]
    ws.plan(rc=0)

    # 4. Drift: an entry added and one removed outside Terraform show as an update, which undoes them.
    api.add_access_entries(org, key_id, [{"ipAddress": "198.51.100.9"}])
    api.remove_access_entry(org, key_id, "192.0.2.0/28")
    result, plan = ws.plan_json()
    only_update(plan)
    assert "198.51.100.9" in result.stdout and "192.0.2.0/28" in result.stdout, result.stdout
    ws.apply("tfplan")
    assert api.access_list(org, key_id) == ["192.0.2.0/28", "203.0.113.7/32"]
    ws.plan(rc=0)

    # 5. `[]` removes every entry; unset leaves the vendor's entries alone.
    ws.write(key_hcl(sb, extra="  access_list = []\n"))
    ws.apply()
    assert api.access_list(org, key_id) == []
    api.add_access_entries(org, key_id, [{"cidrBlock": "10.1.0.0/16"}])
    ws.write(key_hcl(sb))
    ws.plan(rc=0)
    assert api.access_list(org, key_id) == ["10.1.0.0/16"]

    # 6. Import reads the list back: a configuration naming the same entries plans no change.
    ws.run("state", "rm", KEY)
    ws.write(key_hcl(sb, extra='  access_list = ["10.1.0.0/16"]\n'))
    ws.import_(KEY, f"{org}/{key_id}")
    assert ws.resources()[KEY]["access_list"] == ["10.1.0.0/16"]
    ws.plan(rc=0)
    ws.destroy()
    assert sb.atlas_keys() == []


@pytest.mark.parametrize("entry, words", [
    ("203.0.113.7/24", "host bits"),
    ("300.1.2.3", "not an IPv4 or IPv6 address"),
    ("198.51.100.0/33", "prefix"),
])
def test_a_bad_access_list_entry_is_an_error_on_access_list(own_sandbox, workspace, entry, words):
    sb, ws = own_sandbox, workspace
    ws.write(key_hcl(sb, extra=f'  access_list = ["192.0.2.1", "{entry}"]\n'))
    ws.init()
    refused = ws.plan(rc=1)
    errors = diagnostics(refused.stderr, "Error")
    assert len(errors) == 1 and 'access_list' in errors[0].text, refused.stderr
    assert words in unwrap(errors[0].text), errors[0].text
    assert sb.atlas_keys() == []
    assert_not_crashed(refused.output)


def test_access_list_is_atlas_only(own_sandbox, workspace):
    sb, ws = own_sandbox, workspace
    ws.write(terraform_block() + sb.provider_hcl("env0") + resource_hcl(
        "keysmith_api_key", "k", {"name": "e2e-env0", "roles": ["User"], "access_list": ["192.0.2.1"]}))
    ws.init()
    refused = ws.plan(rc=1)
    (error,) = diagnostics(refused.stderr, "Error")
    assert "`access_list` does not apply to the env0 backend" in unwrap(error.text), error.text


# ---- project_roles -------------------------------------------------------------------------------


def test_project_roles_assigned_changed_and_unassigned_in_place(own_sandbox, workspace):
    sb, ws = own_sandbox, workspace
    org, api = sb.atlas_org_id, sb.atlas_api()
    p1 = sb.atlas_add_project(org, "e2e-p1")["id"]
    p2 = sb.atlas_add_project(org, "e2e-p2")["id"]

    def with_roles(roles: dict[str, list[str]]) -> str:
        body = "\n".join(f'    "{p}" = {json.dumps(r)}' for p, r in roles.items())
        return key_hcl(sb, extra=f"  project_roles = {{\n{body}\n  }}\n")

    # 1. Assigned at create.
    ws.write(with_roles({p1: ["GROUP_READ_ONLY"]}))
    ws.init()
    ws.apply()
    key_id = ws.resources()[KEY]["id"]
    assert api.project_roles(org, key_id) == {p1: ["GROUP_READ_ONLY"]}
    ws.plan(rc=0)

    # 2. Roles changed in one project (PATCH), a second project added (POST): in place.
    ws.write(with_roles({p1: ["GROUP_DATA_ACCESS_READ_ONLY", "GROUP_READ_ONLY"], p2: ["GROUP_OWNER"]}))
    result, plan = ws.plan_json()
    only_update(plan)
    before = requests_of(sb)
    ws.apply("tfplan")
    cost = spent(before, requests_of(sb))
    assert cost.get("atlas.project_keys.update") == 1 and cost.get("atlas.project_keys.assign") == 1, cost
    assert ws.resources()[KEY]["id"] == key_id
    assert api.project_roles(org, key_id) == {p1: ["GROUP_DATA_ACCESS_READ_ONLY", "GROUP_READ_ONLY"],
                                               p2: ["GROUP_OWNER"]}
    ws.plan(rc=0)

    # 3. Drift: a role given outside Terraform shows as an update that takes it back.
    api.unassign_project(p2, key_id)
    api.assign_project(p2, key_id, ["GROUP_CLUSTER_MANAGER"])
    result, plan = ws.plan_json()
    only_update(plan)
    ws.apply("tfplan")
    assert api.project_roles(org, key_id)[p2] == ["GROUP_OWNER"]

    # 4. One project removed (DELETE), then `{}` removes all: in place, same key throughout.
    ws.write(with_roles({p2: ["GROUP_OWNER"]}))
    before = requests_of(sb)
    ws.apply()
    assert spent(before, requests_of(sb)).get("atlas.project_keys.unassign") == 1
    assert api.project_roles(org, key_id) == {p2: ["GROUP_OWNER"]}
    ws.write(key_hcl(sb, extra="  project_roles = {}\n"))
    ws.apply()
    assert api.project_roles(org, key_id) == {}
    assert ws.resources()[KEY]["id"] == key_id
    ws.plan(rc=0)

    # 5. Unset: project roles given outside Terraform are left alone, and `roles` stays ORG_* only.
    api.assign_project(p1, key_id, ["GROUP_READ_ONLY"])
    ws.write(key_hcl(sb))
    ws.plan(rc=0)
    assert ws.resources()[KEY]["roles"] == ["ORG_MEMBER"]

    # 6. Import reads them back: the same configuration plans no change.
    ws.run("state", "rm", KEY)
    ws.write(with_roles({p1: ["GROUP_READ_ONLY"]}))
    ws.import_(KEY, f"{org}/{key_id}")
    assert ws.resources()[KEY]["project_roles"] == {p1: ["GROUP_READ_ONLY"]}
    ws.plan(rc=0)
    ws.destroy()
    assert sb.atlas_keys() == []


def test_a_project_role_the_vendor_refuses_keeps_the_key(own_sandbox, workspace):
    """The key exists before its roles are given: a refused assignment is an error on a key that
    stays in state (tainted, its secret kept), never a lost one."""
    sb, ws = own_sandbox, workspace
    project = sb.atlas_add_project(sb.atlas_org_id)["id"]
    ws.write(key_hcl(sb, extra=f'  project_roles = {{ "{project}" = ["GROUP_NO_SUCH_ROLE"] }}\n'))
    ws.init()
    failed = ws.apply(rc=1)
    (error,) = diagnostics(failed.stderr, "Error")
    assert error.summary == "Unable to give the API key its project roles", failed.stderr
    (made,) = sb.atlas_keys()
    state = ws.resources()[KEY]
    assert state["id"] == made.id and state["secret"], "the key and its secret are in state"
    assert "tainted" in ws.state_show(KEY)
    ws.write(key_hcl(sb, extra=f'  project_roles = {{ "{project}" = ["GROUP_READ_ONLY"] }}\n'))
    ws.apply()
    (replacement,) = sb.atlas_keys()
    assert replacement.id != made.id
    ws.plan(rc=0)
    assert_not_crashed(failed.output)


# ---- schema version 0 -> 1 -----------------------------------------------------------------------


def test_a_version_0_state_upgrades_with_no_changes(own_sandbox, workspace):
    """A state written by the release before schema version 1 (`project_roles` as map(string),
    env0 only) plans with no changes, and holds sets after the upgrade."""
    sb, ws = own_sandbox, workspace
    project = sb.env0_project_id()
    ws.write(terraform_block() + sb.provider_hcl("env0") + f"""
resource "keysmith_api_key" "k" {{
  name          = "e2e-upgraded"
  roles         = ["User"]
  project_roles = {{ "{project}" = ["Deployer"] }}
}}
""")
    ws.init()
    ws.apply()
    key_id = ws.resources()[KEY]["id"]

    # Rewrite the state as version 0 wrote it.
    path = ws.path / "terraform.tfstate"
    state = json.loads(path.read_text())
    (instance,) = state["resources"][0]["instances"]
    assert instance["schema_version"] == 1
    instance["schema_version"] = 0
    instance["attributes"]["project_roles"] = {project: "Deployer"}
    for name in ("access_list", "service_account_id"):
        instance["attributes"].pop(name, None)
    state["serial"] += 1
    path.write_text(json.dumps(state))

    plan = ws.plan(rc=0)
    assert "No changes." in plan.stdout
    ws.apply()
    upgraded = json.loads(path.read_text())["resources"][0]["instances"][0]
    assert upgraded["schema_version"] == 1
    assert upgraded["attributes"]["project_roles"] == {project: ["Deployer"]}
    assert upgraded["attributes"]["id"] == key_id
    assert [k["id"] for k in sb.env0_keys(prefix="e2e-upgraded")] == [key_id]


# ---- rotation between a saved plan and its apply -------------------------------------------------


def test_a_saved_rename_plan_applies_after_the_key_fell_due(own_sandbox, workspace):
    sb, ws = own_sandbox, workspace
    due_after = 20
    ws.write(key_hcl(sb, name="e2e-before", extra=f'  rotate_after = "{due_after}s"\n'))
    ws.init()
    ws.apply()
    key = ws.resources()[KEY]
    created = datetime.fromisoformat(key["created_at"].replace("Z", "+00:00"))

    # A rename planned while the key is not yet due ...
    ws.write(key_hcl(sb, name="e2e-after", extra=f'  rotate_after = "{due_after}s"\n'))
    result, plan = ws.plan_json()
    planned_at = datetime.now(timezone.utc)
    assert (planned_at - created).total_seconds() < due_after, "the machine was too slow to plan in time"
    only_update(plan)

    # ... applied once it is: as planned, in place, no "inconsistent final plan".
    wait = due_after + 1 - (datetime.now(timezone.utc) - created).total_seconds()
    time.sleep(max(wait, 0))
    applied = ws.apply("tfplan")
    assert "1 changed" in applied.stdout, applied.stdout
    assert [(k.id, k.desc) for k in sb.atlas_keys()] == [(key["id"], "e2e-after")]

    # The next plan replaces it.
    result, plan = ws.plan_json()
    assert planned_actions(plan)[KEY] in (["delete", "create"], ["create", "delete"]), planned_actions(plan)
    ws.apply("tfplan")
    (rotated,) = sb.atlas_keys()
    assert rotated.id != key["id"] and rotated.desc == "e2e-after"
    ws.plan(rc=0)
    assert_not_crashed(applied.output)
