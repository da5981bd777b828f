"""`keysmith_org` on every backend (SPEC §4), through real Terraform against keysmith-sandbox.

Atlas: create -> rename in place -> import -> drift -> destroy, and a refused delete. env0 and
Traceloop have no update or delete API: changes are refused at plan, destroy forgets the org with
a warning. Braintrust cannot create organizations at all. Each step is checked against
`/_sandbox/state`. Tests sharing the module's sandbox keep apart by organization names.
"""

from __future__ import annotations

import re

from harness import (
    Sandbox,
    assert_no_secrets,
    assert_not_crashed,
    diagnostics,
    planned_actions,
    resource_hcl,
    terraform_block,
    unwrap,
)

HEX24 = re.compile(r"^[0-9a-f]{24}$")
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
# The Atlas user who becomes Org Owner (any 24-hex id: the sandbox has no user directory).
OWNER = "5f0e1d2c3b4a596877665544"
ENV0_POLICIES = {
    "max_ttl", "default_ttl", "project_custom_flows_policy", "do_not_report_skipped_status_checks",
    "do_not_consider_merge_commits_for_pr_plans", "enable_oidc", "enforce_pr_commenter_permissions",
    "allow_env0_secrets", "require_approval_for_pr_applies",
}
CANNOT_CHANGE = "Organization cannot be changed"
FORGOTTEN = "Organization removed from state only"


def org_config(sb: Sandbox, backend: str, **attrs) -> str:
    """Provider for `backend` + `resource "keysmith_org" "this"` with `attrs`."""
    return terraform_block() + sb.provider_hcl(backend) + resource_hcl("keysmith_org", "this", attrs)


def errors_about(output: str, summary: str) -> list[str]:
    """The whole text (unwrapped) of each error diagnostic with this summary."""
    return [unwrap(d.text) for d in diagnostics(output, "Error") if d.summary == summary]


# ---- Atlas: the one backend with the whole lifecycle ------------------------------------------


def test_atlas_org_lifecycle(sandbox, workspace):
    sb, ws = sandbox, workspace

    # 1. Create with an owner: the org exists in Atlas with that owner.
    ws.write(org_config(sb, "atlas", name="e2e-acme", owner_id=OWNER))
    ws.init()
    applied = ws.apply()
    assert "Apply complete! Resources: 1 added, 0 changed, 0 destroyed." in applied.stdout
    org = ws.resources()["keysmith_org.this"]
    assert HEX24.match(org["id"]), org
    assert (org["name"], org["owner_id"]) == ("e2e-acme", OWNER)
    for other in ("environment_keys", "mode", "created_by", "policies", "description", "environments"):
        assert org[other] is None, (other, org)
    assert ws.resources("identity")["keysmith_org.this"] == {"id": org["id"]}
    held = sb.atlas_orgs()[org["id"]]
    assert (held["name"], held["org_owner_id"]) == ("e2e-acme", OWNER)

    # 2. Nothing to do.
    assert "No changes." in ws.plan(rc=0).stdout

    # 3. A new name is an in-place update: same id, Atlas renamed it.
    ws.write(org_config(sb, "atlas", name="e2e-acme-renamed", owner_id=OWNER))
    result, plan = ws.plan_json(rc=2)
    assert planned_actions(plan) == {"keysmith_org.this": ["update"]}
    assert "keysmith_org.this will be updated in-place" in result.stdout
    assert "Plan: 0 to add, 1 to change, 0 to destroy." in result.stdout
    ws.apply("tfplan")
    assert ws.resources()["keysmith_org.this"]["id"] == org["id"]
    assert sb.atlas_orgs()[org["id"]]["name"] == "e2e-acme-renamed"
    ws.plan(rc=0)

    # 4. Import by "<id>" (a malformed ID shows the expected form). Atlas never returns the
    #    owner, so owner_id is null: without it in the configuration the plan is empty...
    ws.run("state", "rm", "keysmith_org.this")
    ws.write(org_config(sb, "atlas", name="e2e-acme-renamed"))
    bad = ws.import_("keysmith_org.this", "not-an-org-id", rc=1)
    assert '"<id>"' in unwrap(bad.stderr)
    assert_not_crashed(bad.stdout, bad.stderr)
    assert "Import successful!" in ws.import_("keysmith_org.this", org["id"]).stdout
    imported = ws.resources()["keysmith_org.this"]
    assert (imported["id"], imported["name"], imported["owner_id"]) == (org["id"], "e2e-acme-renamed", None)
    assert "No changes." in ws.plan(rc=0).stdout

    # ...and with it, the plan records it in place: never a replacement of the organization.
    ws.write(org_config(sb, "atlas", name="e2e-acme-renamed", owner_id=OWNER))
    result, plan = ws.plan_json(rc=2)
    assert planned_actions(plan) == {"keysmith_org.this": ["update"]}, result.stdout
    assert "Plan: 0 to add, 1 to change, 0 to destroy." in result.stdout
    ws.apply("tfplan")
    assert ws.resources()["keysmith_org.this"]["owner_id"] == OWNER
    assert sb.atlas_orgs()[org["id"]]["name"] == "e2e-acme-renamed"
    ws.plan(rc=0)

    # 5. Deleted outside Terraform: refresh notices and the plan creates it again.
    sb.atlas_api().delete_org(org["id"])
    assert org["id"] not in sb.atlas_orgs()
    plan = ws.plan(rc=2)
    assert "keysmith_org.this will be created" in plan.stdout
    assert "Plan: 1 to add, 0 to change, 0 to destroy." in plan.stdout
    ws.apply()
    again = ws.resources()["keysmith_org.this"]
    assert again["id"] != org["id"]
    assert sb.atlas_orgs()[again["id"]]["name"] == "e2e-acme-renamed"
    ws.plan(rc=0)

    # 6. Destroy deletes it from Atlas.
    destroyed = ws.destroy()
    assert "Destroy complete! Resources: 1 destroyed." in destroyed.stdout
    assert again["id"] not in sb.atlas_orgs()
    assert not [o for o in sb.atlas_orgs().values() if o["name"].startswith("e2e-acme")]
    assert ws.resources() == {}


def test_atlas_org_with_projects_is_not_destroyed(sandbox, workspace):
    sb, ws = sandbox, workspace

    # 1. An org, then a project in it (made outside Terraform).
    ws.write(org_config(sb, "atlas", name="e2e-busy", owner_id=OWNER))
    ws.init()
    ws.apply()
    org_id = ws.resources()["keysmith_org.this"]["id"]
    sb.atlas_add_project(org_id)

    # 2. Destroy fails with Atlas's own reason; the org stays, in Atlas and in state.
    failed = ws.destroy(rc=1)
    assert_not_crashed(failed.stdout, failed.stderr)
    errors = errors_about(failed.stderr, "Unable to delete organization")
    assert len(errors) == 1, failed.stderr
    assert "CANNOT_DELETE_ORG_ACTIVE_PROJECTS" in errors[0]
    assert "Organizations with active projects cannot be removed" in errors[0]
    assert "409" in errors[0]
    assert org_id in sb.atlas_orgs()
    assert ws.resources()["keysmith_org.this"]["id"] == org_id

    # 3. Without projects, destroy goes through.
    sb.atlas_remove_projects(org_id)
    ws.destroy()
    assert org_id not in sb.atlas_orgs()


# ---- env0: create and read; no update, no delete ----------------------------------------------


def test_env0_org_lifecycle(sandbox, workspace):
    sb, ws = sandbox, workspace
    inputs = dict(name="e2e-env0-org", description="Made by the keysmith e2e suite",
                  photo_url="https://example.com/e2e-logo.png")

    # 1. Create: env0 fills in mode, created_by and the policies.
    ws.write(org_config(sb, "env0", **inputs))
    ws.init()
    ws.apply()
    org = ws.resources()["keysmith_org.this"]
    assert UUID.match(org["id"]), org
    held = sb.env0_orgs()[org["id"]]
    assert (held["name"], held["description"], held["photo_url"]) == tuple(inputs.values())
    assert org["mode"] == held["mode"] == "trial"
    assert org["created_by"] and org["created_by"] == held["created_by"]
    assert org["created_at"]
    assert set(org["policies"]) == ENV0_POLICIES
    assert org["policies"]["project_custom_flows_policy"] == "MERGE_WITH_TEMPLATES"
    assert org["policies"]["allow_env0_secrets"] is True
    assert org["owner_id"] is None and org["environment_keys"] is None
    assert ws.resources("identity")["keysmith_org.this"] == {"id": org["id"]}

    # 2. Nothing to do.
    assert "No changes." in ws.plan(rc=0).stdout

    # 3. Any change is refused at plan, on each changed attribute, saying why and what to do.
    ws.write(org_config(sb, "env0", **dict(inputs, name="e2e-env0-org-2", description="changed")))
    refused = ws.plan(rc=1)
    assert_not_crashed(refused.stdout, refused.stderr)
    errors = errors_about(refused.stderr, CANNOT_CHANGE)
    assert len(errors) == 2, refused.stderr
    assert any('name = "e2e-env0-org-2"' in e for e in errors), errors
    assert any('description = "changed"' in e for e in errors), errors
    for e in errors:
        assert "with keysmith_org.this" in e
        assert "The env0 API can neither change nor delete an organization" in e
        assert "`terraform state rm`" in e
    assert [o["name"] for o in sb.env0_orgs().values() if o["name"].startswith("e2e-env0-org")] == ["e2e-env0-org"]

    # 4. Import by "<id>": everything is read back, the plan is empty.
    ws.write(org_config(sb, "env0", **inputs))
    ws.run("state", "rm", "keysmith_org.this")
    assert "Import successful!" in ws.import_("keysmith_org.this", org["id"]).stdout
    imported = ws.resources()["keysmith_org.this"]
    for attr in ("id", "name", "description", "photo_url", "mode", "created_by", "policies"):
        assert imported[attr] == org[attr], attr
    assert "No changes." in ws.plan(rc=0).stdout

    # 5. Destroy forgets it, with a warning that it still exists: it does.
    destroyed = ws.destroy()
    assert "Destroy complete! Resources: 1 destroyed." in destroyed.stdout
    warnings = [unwrap(d.text) for d in diagnostics(destroyed.output, "Warning") if d.summary == FORGOTTEN]
    assert len(warnings) == 1, destroyed.output
    assert "still exists" in warnings[0] and org["id"] in warnings[0]
    assert ws.resources() == {}
    assert sb.env0_orgs()[org["id"]]["name"] == "e2e-env0-org"


# ---- Traceloop: create only; the environment keys are secrets ---------------------------------


def test_traceloop_org_lifecycle(sandbox, workspace):
    sb, ws = sandbox, workspace
    envs = ["dev", "e2e-ci", "prd"]
    inputs = dict(name="e2e-traceloop", environments=envs, retention_hours=48)
    trace = {"TF_LOG": "trace"}

    # 1. Create, logging at trace level: one API key per environment, in state as a secret.
    ws.write(org_config(sb, "traceloop", **inputs))
    ws.init()
    apply_log = ws.path / "apply-trace.log"
    applied = ws.apply(env=dict(trace, TF_LOG_PATH=str(apply_log)))
    org = ws.resources()["keysmith_org.this"]
    assert UUID.match(org["id"]), org
    assert (org["name"], org["environments"], org["retention_hours"]) == ("e2e-traceloop", envs, 48)
    keys = org["environment_keys"]
    assert sorted(keys) == envs
    assert all(k.startswith("tl_") for k in keys.values()) and len(set(keys.values())) == 3
    held = [o for o in sb.traceloop_orgs() if o["id"] == org["id"]]
    assert len(held) == 1
    assert (held[0]["name"], held[0]["envs"], held[0]["retention_hours"]) == ("e2e-traceloop", envs, 48)

    # 2. Nothing to do: there is no read API, refresh keeps state as it is.
    plan_log = ws.path / "plan-trace.log"
    plan = ws.plan(rc=0, env=dict(trace, TF_LOG_PATH=str(plan_log)))
    ws.apply("-refresh-only")
    assert ws.resources()["keysmith_org.this"] == org

    # 3. The keys show nowhere: not in plan/apply output, `state show` or trace logs.
    shown = ws.state_show("keysmith_org.this")
    assert re.search(r"environment_keys\s+= \(sensitive value\)", shown), shown
    assert "environment_keys = (sensitive value)" in applied.stdout
    assert "provider.terraform-provider-keysmith" in apply_log.read_text()
    assert_no_secrets(list(keys.values()) + [sb.credentials["traceloop"]["api_key"]],
                      apply=applied.output, apply_log=apply_log.read_text(), plan=plan.output,
                      plan_log=plan_log.read_text(), state_show=shown)

    # 4. Any change is refused at plan.
    ws.write(org_config(sb, "traceloop", **dict(inputs, retention_hours=72)))
    refused = ws.plan(rc=1)
    errors = errors_about(refused.stderr, CANNOT_CHANGE)
    assert len(errors) == 1, refused.stderr
    assert "retention_hours = 72" in errors[0]
    assert "The traceloop API can neither change nor delete an organization" in errors[0]
    assert "`terraform state rm`" in errors[0]
    assert len(sb.traceloop_orgs(prefix="e2e-traceloop")) == 1

    # 5. Import is refused, saying why.
    ws.write(org_config(sb, "traceloop", **inputs)
             + resource_hcl("keysmith_org", "other", {"name": "e2e-traceloop-imported"}))
    refused = ws.import_("keysmith_org.other", org["id"], rc=1)
    assert_not_crashed(refused.stdout, refused.stderr)
    assert "Traceloop has no API to read an organization" in unwrap(refused.stderr)
    assert sorted(ws.resources()) == ["keysmith_org.this"]

    # 6. Destroy forgets it with a warning; Traceloop still has it.
    ws.write(org_config(sb, "traceloop", **inputs))
    destroy_log = ws.path / "destroy-trace.log"
    destroyed = ws.destroy(env=dict(trace, TF_LOG_PATH=str(destroy_log)))
    warnings = [unwrap(d.text) for d in diagnostics(destroyed.output, "Warning") if d.summary == FORGOTTEN]
    assert len(warnings) == 1 and "still exists" in warnings[0], destroyed.output
    assert ws.resources() == {}
    assert [o["id"] for o in sb.traceloop_orgs(prefix="e2e-traceloop")] == [org["id"]]
    assert_no_secrets(keys.values(), destroy=destroyed.output, destroy_log=destroy_log.read_text())


# ---- refusals at plan --------------------------------------------------------------------------


def test_braintrust_org_create_is_refused(sandbox, workspace):
    sb, ws = sandbox, workspace
    before = sb.braintrust_orgs()
    ws.write(org_config(sb, "braintrust", name="e2e-braintrust-org"))
    ws.init()

    refused = ws.plan(rc=1)
    assert_not_crashed(refused.stdout, refused.stderr)
    errors = errors_about(refused.stderr, "Braintrust organizations cannot be created")
    assert len(errors) == 1, refused.stderr
    assert ("Braintrust organizations cannot be created through the API; look one up with "
            "data.keysmith_org") in errors[0]
    assert sb.braintrust_orgs() == before


def test_attributes_of_another_backend_are_refused(sandbox, workspace):
    sb, ws = sandbox, workspace
    # One organization per backend (provider aliases), each with attributes of other backends.
    misfits = {
        "atlas": ({"owner_id": OWNER, "description": "env0 only", "environments": ["dev"]},
                  ["description", "environments"]),
        "env0": ({"owner_id": OWNER, "retention_hours": 24}, ["owner_id", "retention_hours"]),
        "traceloop": ({"photo_url": "https://example.com/x.png", "environments": ["dev"]}, ["photo_url"]),
    }
    config = terraform_block()
    for backend, (attrs, _) in misfits.items():
        config += sb.provider_hcl(backend, alias=backend)
        config += resource_hcl("keysmith_org", backend, {"name": f"e2e-misfit-{backend}", **attrs}, provider=backend)
    ws.write(config)
    ws.init()

    refused = ws.plan(rc=1)
    assert_not_crashed(refused.stdout, refused.stderr)
    errors = [d for d in diagnostics(refused.stderr, "Error")]
    expected = sorted((f"keysmith_org.{b}", a) for b, (_, wrong) in misfits.items() for a in wrong)
    found = []
    for d in errors:
        m = re.search(r"`(\w+)` does not apply to the (\w+) backend", unwrap(d.text))
        assert m, f"unexpected error:\n{d.text}"
        assert d.address == f"keysmith_org.{m.group(2)}", d.text
        assert re.search(rf"^\s*\d+:\s+{m.group(1)}\s+=", d.text, re.M), f"not pointing at the attribute:\n{d.text}"
        found.append((d.address, m.group(1)))
    assert sorted(found) == expected

    # Nothing was created anywhere.
    state = sb.state()
    assert not [o for o in state["atlas"]["orgs"] + state["env0"]["orgs"] + state["traceloop"]["orgs"]
                if o["name"].startswith("e2e-misfit")]
