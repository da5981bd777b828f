"""`ephemeral "keysmith_api_key"` (SPEC §4a) through real Terraform against keysmith-sandbox, on
Atlas, Braintrust and env0: the key exists from Open to Close and no longer; its secret reaches
no plan, state or log; a second provider alias configured by it creates a managed key; an Open
sweeps the keys left behind by runs that never closed theirs, and nothing else; Traceloop is
refused with the reason.

The sandbox never shows a secret in `/_sandbox/state`, but its `--state` file holds every one so
that a restart loses nothing. `EphemeralWatch` reads that file while Terraform runs (the
sandbox's added latency keeps each key there long enough) to learn every ephemeral key and its
secret, so that the tests can look for that secret everywhere Terraform writes.
"""

from __future__ import annotations

import json
import re
import threading
import zipfile
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from harness import (Sandbox, assert_no_secrets, assert_not_crashed, diagnostics, terraform_block,
                     unwrap)

MARKER = re.compile(r" \[keysmith-ephemeral expires=(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)\]$")
TRACELOOP_REFUSAL = ("traceloop issues API keys per environment when the organization is created; "
                     "use keysmith_org.environment_keys")
BACKENDS = ("atlas", "braintrust", "env0")
# The field of each vendor's key, in the sandbox's state file, that holds the secret.
SECRET_FIELDS = ("private_key", "api_key_secret", "key")


# ---- the sandbox, with its state file ------------------------------------------------------------


@pytest.fixture
def sandbox_with_file(binaries, tmp_path) -> Sandbox:
    """A sandbox of this test alone, persisting to `tmp_path/sandbox-state.json`."""
    sb = Sandbox.start(binaries.sandbox, tmp_path / "sandbox", "--state", str(tmp_path / "sandbox-state.json"))
    sb.state_file = tmp_path / "sandbox-state.json"
    try:
        yield sb
    finally:
        sb.stop()


@dataclass(frozen=True)
class SeenKey:
    id: str
    name: str
    secret: str
    # Atlas: (project id, role) pairs of the key when it was seen.
    project_roles: tuple = ()


def _keys_in(document) -> list[SeenKey]:
    """Every key object in the sandbox's state file whose name carries the ephemeral marker."""
    found = []

    def walk(node) -> None:
        if isinstance(node, dict):
            name = node.get("desc") or node.get("name")
            secret = next((node[f] for f in SECRET_FIELDS if isinstance(node.get(f), str)), None)
            if isinstance(name, str) and MARKER.search(name) and secret and "id" in node:
                roles = tuple(sorted((r["group_id"], r["role_name"]) for r in node.get("project_roles") or []))
                found.append(SeenKey(node["id"], name, secret, roles))
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(document)
    return found


class EphemeralWatch:
    """`with EphemeralWatch(sandbox):` -> `.seen`: every ephemeral key that was in the sandbox's
    state file at any time meanwhile (polled every 20 ms; the sandbox's latency is raised so that
    each key stays for at least `latency_ms`)."""

    def __init__(self, sb: Sandbox, latency_ms: int = 300):
        self.sb, self.latency_ms = sb, latency_ms
        self.seen: dict[str, SeenKey] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def _look(self) -> None:
        try:
            document = json.loads(self.sb.state_file.read_text())
        except (OSError, ValueError):
            return
        for key in _keys_in(document):
            # Keep the first sighting, with the project roles the key was given later.
            first = self.seen.setdefault(key.id, key)
            if key.project_roles and not first.project_roles:
                self.seen[key.id] = SeenKey(first.id, first.name, first.secret, key.project_roles)

    def _poll(self) -> None:
        while not self._stop.wait(0.02):
            self._look()

    def __enter__(self) -> "EphemeralWatch":
        self.sb.set_faults(f"latency_ms={self.latency_ms}")
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        self._look()
        self.sb.set_faults("")

    @property
    def secrets(self) -> list[str]:
        return [k.secret for k in self.seen.values()]


def ephemeral_keys_now(sb: Sandbox) -> list[SeenKey]:
    """The ephemeral keys the sandbox holds right now."""
    return _keys_in(json.loads(sb.state_file.read_text()))


def request_counts(sb: Sandbox) -> dict[str, int]:
    return dict(sb.state()["requests"])


def delta(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    return {k: v - before.get(k, 0) for k, v in after.items() if v != before.get(k, 0)}


# ---- configurations ------------------------------------------------------------------------------


def ephemeral_attrs(sb: Sandbox, backend: str, name: str) -> dict[str, str]:
    """What an ephemeral key able to create keys needs on each backend, as HCL lines."""
    return {
        "atlas": {"org_id": f'"{sb.atlas_org_id}"', "roles": '["ORG_OWNER"]'},
        "braintrust": {"org_name": f'"{sb.braintrust_creds["org_name"]}"'},
        "env0": {"roles": '["Admin"]'},
    }[backend] | {"name": f'"{name}"'}


def ephemeral_hcl(attrs: dict[str, str], label: str = "deploy", provider: str | None = None) -> str:
    lines = [f"  provider = keysmith.{provider}"] if provider else []
    lines += [f"  {k} = {v}" for k, v in attrs.items()]
    body = "\n".join(lines)
    return f'\nephemeral "keysmith_api_key" "{label}" {{\n{body}\n}}\n'


def deployer_provider_hcl(sb: Sandbox, backend: str) -> str:
    """A `keysmith.deployer` provider whose credential is the ephemeral key."""
    key = "ephemeral.keysmith_api_key.deploy"
    settings = {
        "atlas": {"public_key": f"{key}.public_key", "private_key": f"{key}.secret"},
        "braintrust": {"api_key": f"{key}.secret", "org_name": f'"{sb.braintrust_creds["org_name"]}"'},
        "env0": {"api_key_id": f"{key}.public_key", "api_key_secret": f"{key}.secret",
                 "organization_id": f'"{sb.env0_org_id}"'},
    }[backend]
    body = "\n".join(f"    {k} = {v}" for k, v in {"base_url": f'"{sb.url}"', **settings}.items())
    return f'\nprovider "keysmith" {{\n  alias = "deployer"\n  {backend} {{\n{body}\n  }}\n}}\n'


def managed_key_hcl(sb: Sandbox, backend: str, name: str) -> str:
    extra = {
        "atlas": f'  org_id = "{sb.atlas_org_id}"\n  roles  = ["ORG_READ_ONLY"]\n',
        "braintrust": "",
        "env0": '  roles  = ["User"]\n',
    }[backend]
    return f"""
resource "keysmith_api_key" "made_by_deployer" {{
  provider = keysmith.deployer
  name     = "{name}"
{extra}}}
"""


def vendor_keys(sb: Sandbox, backend: str) -> list[dict]:
    """The keys of the backend's seeded organization, but the seeded one: id and name."""
    if backend == "atlas":
        return [{"id": k.id, "name": k.desc} for k in sb.atlas_keys()]
    if backend == "env0":
        return [{"id": k["id"], "name": k["name"]} for k in sb.env0_keys()]
    return [{"id": k["id"], "name": k["name"]} for k in sb.braintrust_keys()]


# ---- lifecycle -----------------------------------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
def test_ephemeral_key_lives_for_one_run_and_configures_a_second_provider(sandbox_with_file, workspace, backend):
    sb, ws = sandbox_with_file, workspace
    ws.write(terraform_block() + sb.provider_hcl(backend)
             + ephemeral_hcl(ephemeral_attrs(sb, backend, "e2e-deployer"))
             + deployer_provider_hcl(sb, backend)
             + managed_key_hcl(sb, backend, "e2e-made-by-deployer"))
    ws.init()
    trace = {"TF_LOG": "trace"}

    # 1. A saved plan: the plan opens one ephemeral key (it configures the deployer alias, which
    #    plans the managed key) and closes it before the plan is written.
    with EphemeralWatch(sb) as during_plan:
        planned = ws.plan("-out=tfplan", rc=2, env=trace)
    assert len(during_plan.seen) == 1, during_plan.seen
    (plan_key,) = during_plan.seen.values()
    assert plan_key.name.startswith("e2e-deployer [keysmith-ephemeral expires=")
    expires = datetime.strptime(MARKER.search(plan_key.name).group(1), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
    assert timedelta(minutes=55) < expires - datetime.now(timezone.utc) <= timedelta(hours=1), "ttl defaults to 1h"
    assert ephemeral_keys_now(sb) == [], "Close deleted the plan's key"
    assert vendor_keys(sb, backend) == []
    assert "ephemeral.keysmith_api_key.deploy: Opening..." in planned.stdout
    assert "ephemeral.keysmith_api_key.deploy: Closing complete" in planned.stdout
    plan_json = ws.run("show", "-json", "tfplan").stdout

    # 2. Apply the saved plan: a new ephemeral key for this run; the deployer alias, configured with
    #    it, creates the managed key; then the ephemeral key is deleted.
    with EphemeralWatch(sb) as during_apply:
        applied = ws.apply("tfplan", env=trace)
    assert "Apply complete! Resources: 1 added, 0 changed, 0 destroyed." in applied.stdout
    assert len(during_apply.seen) == 1 and plan_key.id not in during_apply.seen, during_apply.seen
    assert ephemeral_keys_now(sb) == []
    made = vendor_keys(sb, backend)
    assert [k["name"] for k in made] == ["e2e-made-by-deployer"]
    state = ws.resources()
    assert list(state) == ["keysmith_api_key.made_by_deployer"], "an ephemeral resource is never in state"
    assert state["keysmith_api_key.made_by_deployer"]["id"] == made[0]["id"]

    # 3. No ephemeral secret anywhere Terraform writes: the saved plan (as JSON and every file of
    #    the plan archive), the state (as JSON and the file), the outputs and TF_LOG=trace logs.
    secrets = during_plan.secrets + during_apply.secrets
    with zipfile.ZipFile(ws.path / "tfplan") as archive:
        plan_files = {f"tfplan:{n}": archive.read(n).decode(errors="replace") for n in archive.namelist()}
    assert_no_secrets(secrets, plan=planned.output, plan_json=plan_json, apply=applied.output,
                      state_json=ws.run("show", "-json").stdout,
                      state_file=(ws.path / "terraform.tfstate").read_text(), **plan_files)
    # The key ids and the vendor-side names are not written either.
    for key in list(during_plan.seen.values()) + list(during_apply.seen.values()):
        assert key.id not in (ws.path / "terraform.tfstate").read_text()
        assert key.id not in plan_json

    # 4. A plan after apply: no changes (the deployer refreshes the managed key with yet another
    #    ephemeral key, closed again).
    with EphemeralWatch(sb) as during_refresh:
        again = ws.plan(rc=0)
    assert "No changes." in again.stdout
    assert len(during_refresh.seen) == 1 and ephemeral_keys_now(sb) == []

    # 5. Destroy works through the deployer alias too, and leaves nothing behind.
    destroyed = ws.destroy()
    assert "Destroy complete! Resources: 1 destroyed." in destroyed.stdout
    assert vendor_keys(sb, backend) == [] and ephemeral_keys_now(sb) == []
    assert_not_crashed(planned.output, applied.output, again.output, destroyed.output)


@pytest.mark.parametrize("backend", BACKENDS)
def test_one_open_and_close_costs(sandbox_with_file, workspace, backend, record_property):
    """The requests of one ephemeral open/close, counted by the sandbox (reported, and bounded)."""
    sb, ws = sandbox_with_file, workspace
    ws.write(terraform_block() + sb.provider_hcl(backend)
             + ephemeral_hcl(ephemeral_attrs(sb, backend, "e2e-count")))
    ws.init()
    before = request_counts(sb)
    ws.plan(rc=0)
    spent = delta(before, request_counts(sb))
    record_property("requests", spent)
    print(f"{backend}: one open/close = {sum(spent.values())} requests: {spent}")
    creates = {k: v for k, v in spent.items() if k.endswith(".create")}
    deletes = {k: v for k, v in spent.items() if k.endswith(".delete")}
    assert list(creates.values()) == [1] and list(deletes.values()) == [1], spent
    assert sum(spent.values()) <= 6, spent
    assert vendor_keys(sb, backend) == []


# ---- the sweep -----------------------------------------------------------------------------------


def stamp(t: datetime) -> str:
    return t.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def make_vendor_key(sb: Sandbox, backend: str, name: str, org: dict | None = None) -> str:
    """A key created out of band through the vendor's API; its id."""
    if backend == "atlas":
        return sb.atlas_api().create_key((org or {}).get("id", sb.atlas_org_id), name, ["ORG_READ_ONLY"])["id"]
    if backend == "env0":
        return sb.env0_api().create_key(name, "Admin", (org or {}).get("id"))["id"]
    return sb.braintrust_api().create_key(name, (org or {}).get("name"))["id"]


def other_org(sb: Sandbox, backend: str) -> dict:
    """A second organization the sandbox's credentials can make keys in."""
    if backend == "atlas":
        return sb.atlas_api().create_org("e2e-other")["organization"]
    if backend == "env0":
        return sb.env0_api().create_org("e2e-other")
    return sb.braintrust_add_org("e2e-other")


def all_key_ids(sb: Sandbox) -> set[str]:
    state = sb.state()
    ids = {k["id"] for o in state["atlas"]["orgs"] for k in o["api_keys"]}
    ids |= {k["id"] for o in state["env0"]["orgs"] for k in o["api_keys"]}
    return ids | {k["id"] for k in state["braintrust"]["api_keys"]}


@pytest.mark.parametrize("backend", BACKENDS)
def test_open_sweeps_expired_marker_keys_and_nothing_else(own_sandbox, workspace, backend):
    sb, ws = own_sandbox, workspace
    now = datetime.now(timezone.utc)
    past, future = stamp(now - timedelta(hours=2)), stamp(now + timedelta(hours=2))
    expired = {
        "crashed-1": make_vendor_key(sb, backend, f"crashed-1 [keysmith-ephemeral expires={past}]"),
        "crashed-2": make_vendor_key(sb, backend, f"crashed-2 [keysmith-ephemeral expires={stamp(now - timedelta(minutes=1))}]"),
    }
    other = other_org(sb, backend)
    kept = {
        "future": make_vendor_key(sb, backend, f"running [keysmith-ephemeral expires={future}]"),
        "plain": make_vendor_key(sb, backend, "plain-named key"),
        "prefix only": make_vendor_key(sb, backend, f"note [keysmith-ephemeral expires={past}] kept"),
        "malformed": make_vendor_key(sb, backend, "bad [keysmith-ephemeral expires=2020-02-30T00:00:00Z]"),
        "lower-case": make_vendor_key(sb, backend, f"bad [keysmith-ephemeral expires={past.lower()}]"),
        "fraction": make_vendor_key(sb, backend, f"bad [keysmith-ephemeral expires={past[:-1]}.5Z]"),
        "two spaces": make_vendor_key(sb, backend, f"bad [keysmith-ephemeral  expires={past}]"),
        "another org": make_vendor_key(sb, backend, f"elsewhere [keysmith-ephemeral expires={past}]", other),
    }
    ws.write(terraform_block() + sb.provider_hcl(backend)
             + ephemeral_hcl(ephemeral_attrs(sb, backend, "e2e-sweeper")))
    ws.init()

    # 1. The first open deletes exactly the two expired marker keys of its organization, says so.
    result = ws.plan(rc=0)
    warnings = diagnostics(result.output, "Warning")
    assert [w.summary for w in warnings] == ["Deleted 2 expired ephemeral API keys"], result.output
    for key_id in expired.values():
        assert key_id in unwrap(warnings[0].text)
    ids = all_key_ids(sb)
    assert not ids & set(expired.values()), "the expired marker keys are gone"
    missing = {label: key_id for label, key_id in kept.items() if key_id not in ids}
    assert missing == {}, f"keys that must never be touched were deleted: {missing}"

    # 2. Nothing left to sweep: no warning.
    again = ws.plan(rc=0)
    assert diagnostics(again.output, "Warning") == []
    assert set(kept.values()) <= all_key_ids(sb)


# ---- refusals and failures -----------------------------------------------------------------------


def test_traceloop_is_refused_with_the_reason(own_sandbox, workspace):
    sb, ws = own_sandbox, workspace
    ws.write(terraform_block() + sb.provider_hcl("traceloop") + ephemeral_hcl({"name": '"e2e-tl"'}))
    ws.init()
    before = request_counts(sb)
    refused = ws.plan(rc=1)
    errors = diagnostics(refused.stderr, "Error")
    assert len(errors) == 1, refused.stderr
    assert errors[0].summary == "ephemeral keysmith_api_key is not supported on traceloop"
    assert TRACELOOP_REFUSAL in unwrap(errors[0].text)
    assert delta(before, request_counts(sb)) == {}, "refused before any request"
    assert_not_crashed(refused.output)


@pytest.mark.parametrize("backend, attrs, attribute, words", [
    ("atlas", {"ttl": '"30s"'}, "ttl", "at least 1m"),
    ("env0", {"ttl": '"25h"'}, "ttl", "at most 24h"),
    ("atlas", {"org_name": '"acme"'}, "org_name", "does not apply to the atlas backend"),
    ("braintrust", {"roles": '["ORG_OWNER"]'}, "roles", "does not apply to the braintrust backend"),
    ("env0", {"roles": '["Admin", "User"]'}, "roles", "exactly one organization role"),
    ("atlas", {"project_roles": '{ "6b0ec8437d09c56a5826c82f" = ["ORG_OWNER"] }'}, "project_roles",
     "GROUP_"),
])
def test_the_managed_rules_apply_to_ephemeral_keys(own_sandbox, workspace, backend, attrs, attribute, words):
    sb, ws = own_sandbox, workspace
    ws.write(terraform_block() + sb.provider_hcl(backend)
             + ephemeral_hcl(ephemeral_attrs(sb, backend, "e2e-refused") | attrs))
    ws.init()
    refused = ws.plan(rc=1)
    errors = diagnostics(refused.stderr, "Error")
    assert errors, refused.stderr
    assert any(attribute in e.text and words in unwrap(e.text) for e in errors), refused.stderr
    assert vendor_keys(sb, backend) == []


def test_an_atlas_ephemeral_key_gets_its_project_roles(sandbox_with_file, workspace):
    sb, ws = sandbox_with_file, workspace
    project = sb.atlas_add_project(sb.atlas_org_id)["id"]
    attrs = ephemeral_attrs(sb, "atlas", "e2e-project-reader") | {
        "roles": '["ORG_MEMBER"]',
        "project_roles": f'{{ "{project}" = ["GROUP_READ_ONLY", "GROUP_DATA_ACCESS_READ_ONLY"] }}',
    }
    ws.write(terraform_block() + sb.provider_hcl("atlas") + ephemeral_hcl(attrs))
    ws.init()
    with EphemeralWatch(sb) as during:
        ws.plan(rc=0)
    (key,) = during.seen.values()
    assert key.project_roles == ((project, "GROUP_DATA_ACCESS_READ_ONLY"), (project, "GROUP_READ_ONLY"))
    assert ephemeral_keys_now(sb) == []

    # A role the vendor refuses: the open fails with its message, and the half-made key is gone.
    refused = dict(attrs, project_roles=f'{{ "{project}" = ["GROUP_NO_SUCH_ROLE"] }}')
    ws.write(terraform_block() + sb.provider_hcl("atlas") + ephemeral_hcl(refused))
    with EphemeralWatch(sb) as during:
        failed = ws.plan(rc=1)
    errors = diagnostics(failed.stderr, "Error")
    assert [e.summary for e in errors] == ["Unable to give the ephemeral API key its project roles"], failed.stderr
    assert len(during.seen) == 1 and ephemeral_keys_now(sb) == [], "the half-made key was deleted"
    assert_not_crashed(failed.output)


def test_a_close_that_fails_is_an_error_naming_the_key(own_sandbox, workspace):
    sb, ws = own_sandbox, workspace
    ws.write(terraform_block() + sb.provider_hcl("env0", extra="max_retries = 0")
             + ephemeral_hcl(ephemeral_attrs(sb, "env0", "e2e-undeletable") | {"ttl": '"1m"'}))
    ws.init()
    sb.set_faults("error_rate=1,methods=DELETE")
    failed = ws.plan(rc=1)
    sb.set_faults("")
    (left,) = sb.env0_keys(prefix="e2e-undeletable")
    errors = diagnostics(failed.stderr, "Error")
    assert [e.summary for e in errors] == [f"Unable to delete ephemeral API key {left['id']}"], failed.stderr
    assert "next" not in errors[0].summary and MARKER.search(left["name"])
    assert_not_crashed(failed.output)
