"""Data sources `keysmith_org` and `keysmith_api_keys`, and the list resource `keysmith_api_key`
with `terraform query` (SPEC §5), through real Terraform against keysmith-sandbox.

Objects to look up are made outside Terraform, through each vendor's API, as a user's existing
objects would be; tests sharing the module's sandbox keep apart by name prefixes.
"""

from __future__ import annotations

import re

from harness import (
    Sandbox,
    assert_no_secrets,
    assert_not_crashed,
    data_hcl,
    diagnostics,
    planned_actions,
    planned_imports,
    strip_ansi,
    terraform_block,
    unwrap,
)

LOOKUP_BACKENDS = ("atlas", "env0", "braintrust")


def providers(sb: Sandbox, *backends: str) -> str:
    """terraform block + one aliased provider per backend (alias = backend name)."""
    return terraform_block() + "".join(sb.provider_hcl(b, alias=b) for b in backends)


def outputs_of(*names: str) -> str:
    return "".join(f'\noutput "{n}" {{\n  value = data.{n.replace("__", ".")}\n}}\n' for n in names)


# ---- data "keysmith_org" ---------------------------------------------------------------------------


def test_org_by_id_and_by_name(sandbox, workspace):
    sb, ws = sandbox, workspace
    # The organizations the sandbox's credentials belong to, as each vendor holds them.
    seeded = {
        "atlas": sb.atlas_orgs()[sb.atlas_org_id],
        "env0": sb.env0_orgs()[sb.env0_org_id],
        "braintrust": sb.braintrust_orgs()[sb.braintrust_creds["org_id"]],
    }
    config = providers(sb, *LOOKUP_BACKENDS)
    for backend, org in seeded.items():
        config += data_hcl("keysmith_org", f"{backend}_by_id", {"id": org["id"]}, provider=backend)
        config += data_hcl("keysmith_org", f"{backend}_by_name", {"name": org["name"]}, provider=backend)
        config += outputs_of(f"keysmith_org__{backend}_by_id", f"keysmith_org__{backend}_by_name")
    ws.write(config)
    ws.init()

    # 1. Both lookups find the same organization on each backend.
    ws.apply()
    out = {k: v["value"] for k, v in ws.output_json().items()}
    for backend, org in seeded.items():
        by_id, by_name = out[f"keysmith_org__{backend}_by_id"], out[f"keysmith_org__{backend}_by_name"]
        assert by_id == by_name, backend
        assert (by_id["id"], by_id["name"]) == (org["id"], org["name"]), backend

    # 2. env0 reports its organization's details.
    env0 = out["keysmith_org__env0_by_id"]
    assert env0["mode"] == seeded["env0"]["mode"] == "paying"
    assert env0["created_by"] == seeded["env0"]["created_by"]
    assert env0["policies"]["project_custom_flows_policy"] == "MERGE_WITH_TEMPLATES"
    for backend in ("atlas", "braintrust"):
        assert out[f"keysmith_org__{backend}_by_id"]["mode"] is None, backend
        assert out[f"keysmith_org__{backend}_by_id"]["policies"] is None, backend

    # 3. Nothing to do.
    assert "No changes." in ws.plan(rc=0).stdout


def test_org_lookup_needs_exactly_one_of_id_and_name(sandbox, workspace):
    sb, ws = sandbox, workspace
    ws.write(providers(sb, "atlas")
             + data_hcl("keysmith_org", "both", {"id": sb.atlas_org_id, "name": "x"}, provider="atlas")
             + data_hcl("keysmith_org", "neither", {}, provider="atlas"))
    ws.init()

    refused = ws.plan(rc=1)
    assert_not_crashed(refused.stdout, refused.stderr)
    errors = diagnostics(refused.stderr, "Error")
    assert sorted(d.address for d in errors) == ["data.keysmith_org.both", "data.keysmith_org.neither"], refused.stderr
    for d in errors:
        assert d.summary == "Set exactly one of id and name"
        assert "set exactly one of them" in unwrap(d.text)


def test_org_lookup_is_refused_on_traceloop(sandbox, workspace):
    sb, ws = sandbox, workspace
    ws.write(providers(sb, "traceloop")
             + data_hcl("keysmith_org", "t", {"name": "anything"}, provider="traceloop"))
    ws.init()

    refused = ws.plan(rc=1)
    assert_not_crashed(refused.stdout, refused.stderr)
    errors = diagnostics(refused.stderr, "Error")
    assert len(errors) == 1 and errors[0].address == "data.keysmith_org.t", refused.stderr
    assert "Traceloop has no API to read organizations" in unwrap(errors[0].text)


# ---- data "keysmith_api_keys" ----------------------------------------------------------------------


def make_keys(sb: Sandbox, prefix: str) -> tuple[dict[str, dict[str, dict]], list[str]]:
    """Keys made outside Terraform on each backend: two named `prefix…` and one not.
    Returns backend -> name -> what the vendor answered (secrets stripped), and the secrets."""
    made: dict[str, dict[str, dict]] = {b: {} for b in LOOKUP_BACKENDS}
    secrets = []
    atlas, env0, braintrust = sb.atlas_api(), sb.env0_api(), sb.braintrust_api()
    for name in (f"{prefix}one", f"{prefix}two", f"other-{prefix}"):
        k = atlas.create_key(sb.atlas_org_id, name, ["ORG_READ_ONLY"])
        secrets.append(k.pop("privateKey"))
        made["atlas"][name] = k
        k = env0.create_key(name, "Admin")
        secrets.append(k.pop("apiKeySecret"))
        made["env0"][name] = k
        k = braintrust.create_key(name)
        secrets.append(k.pop("key"))
        made["braintrust"][name] = k
    return made, secrets


def test_api_keys_with_name_prefix(sandbox, workspace):
    sb, ws = sandbox, workspace
    prefix = "e2e-listed-"
    made, secrets = make_keys(sb, prefix)

    config = providers(sb, *LOOKUP_BACKENDS)
    config += data_hcl("keysmith_api_keys", "atlas", {"org_id": sb.atlas_org_id, "name_prefix": prefix},
                       provider="atlas")
    config += data_hcl("keysmith_api_keys", "env0", {"name_prefix": prefix}, provider="env0")
    config += data_hcl("keysmith_api_keys", "braintrust", {"name_prefix": prefix}, provider="braintrust")
    config += outputs_of(*(f"keysmith_api_keys__{b}" for b in LOOKUP_BACKENDS))
    ws.write(config)
    ws.init()

    # 1. Each backend lists exactly the two keys with the prefix.
    applied = ws.apply()
    out = {k: v["value"] for k, v in ws.output_json().items()}
    wanted = [f"{prefix}one", f"{prefix}two"]
    for backend in LOOKUP_BACKENDS:
        listed = out[f"keysmith_api_keys__{backend}"]
        assert sorted(k["name"] for k in listed["keys"]) == wanted, (backend, listed)
        by_name = {k["name"]: k for k in listed["keys"]}
        for name in wanted:
            vendor, key = made[backend][name], by_name[name]
            assert key["id"] == vendor["id"], backend
            if backend != "atlas":  # Atlas reports no creation time for its keys
                assert key["created_at"], backend
            if backend == "atlas":
                assert (key["public_key"], key["roles"], key["preview"]) == (vendor["publicKey"], ["ORG_READ_ONLY"], None)
            elif backend == "env0":
                assert (key["public_key"], key["roles"], key["preview"]) == (vendor["apiKeyId"], ["Admin"], None)
            else:
                assert (key["public_key"], key["preview"]) == (None, vendor["preview_name"])
    assert out["keysmith_api_keys__atlas"]["org_id"] == sb.atlas_org_id
    assert out["keysmith_api_keys__env0"]["org_id"] == sb.env0_org_id
    assert out["keysmith_api_keys__braintrust"]["org_id"] == sb.braintrust_creds["org_id"]

    # 2. Never a secret: not in the output, not in state.
    state_json = ws.run("show", "-json").stdout
    assert_no_secrets(secrets, apply=applied.output, state=state_json, outputs=str(out))

    # 3. Nothing to do.
    assert "No changes." in ws.plan(rc=0).stdout


# ---- list "keysmith_api_key": terraform query ------------------------------------------------------


def test_query_finds_keys_and_generates_their_import(sandbox, workspace):
    sb, ws = sandbox, workspace
    prefix = "e2e-query-"
    made, secrets = make_keys(sb, prefix)

    # 1. One list block per backend: the keys named prefix…, on each.
    ws.write(providers(sb, *LOOKUP_BACKENDS))
    query = ""
    for backend in LOOKUP_BACKENDS:
        org = f'\n    org_id      = "{sb.atlas_org_id}"' if backend == "atlas" else ""
        query += (f'\nlist "keysmith_api_key" "{backend}" {{\n  provider = keysmith.{backend}\n'
                  f'  config {{{org}\n    name_prefix = "{prefix}"\n  }}\n}}\n')
    ws.write(query, name="keys.tfquery.hcl")
    ws.init()
    found = ws.run("query")
    text = strip_ansi(found.stdout)
    for backend in LOOKUP_BACKENDS:
        for name in (f"{prefix}one", f"{prefix}two"):
            line = f"list.keysmith_api_key.{backend}"
            assert re.search(rf"^{re.escape(line)}\s.*{re.escape(made[backend][name]['id'])}.*{name}", text, re.M), (
                f"{backend} {name} not listed:\n{text}")
    assert f"other-{prefix}" not in text

    # 2. -generate-config-out writes a resource and an import block per key found.
    found = ws.run("query", "-generate-config-out=generated.tf")
    generated = (ws.path / "generated.tf").read_text()
    assert len(re.findall(r'^resource "keysmith_api_key" ', generated, re.M)) == 6, generated
    assert len(re.findall(r"^import \{", generated, re.M)) == 6, generated
    assert_no_secrets(secrets, query=found.output, generated=generated)

    # 3. The plan imports all six and changes nothing; after apply, nothing is left to do.
    result, plan = ws.plan_json()
    assert "Plan: 6 to import, 0 to add, 0 to change, 0 to destroy." in result.stdout, result.stdout
    assert len(planned_imports(plan)) == 6
    assert set(map(tuple, planned_actions(plan).values())) == {("no-op",)}
    ws.apply("tfplan")
    state = ws.resources()
    ids = sorted(v["id"] for v in state.values())
    assert ids == sorted(made[b][f"{prefix}{n}"]["id"] for b in LOOKUP_BACKENDS for n in ("one", "two"))
    assert all(v["secret"] is None for v in state.values())
    assert "No changes." in ws.plan(rc=0).stdout

    # 4. Terraform owns them now: destroy deletes the six, and leaves the others.
    ws.destroy()
    assert [k.desc for k in sb.atlas_keys(prefix=prefix)] == []
    assert sb.env0_keys(prefix=prefix) == [] and sb.braintrust_keys(prefix=prefix) == []
    assert len(sb.atlas_keys(prefix="other-")) >= 1
