"""keysmith's promise under failure (SPEC §6, §7): no crash, no key lost by an interrupt, no
key deleted that keysmith cannot prove it made, no credential echoed from a vendor, no
unbounded read, no process or socket left behind.

Each test drives real Terraform against keysmith-sandbox (or, for vendors that misbehave on
purpose, the small test double in hostile_vendor.py).
"""

from __future__ import annotations

import base64
import os
import signal
import subprocess
import threading
import time
import uuid
from pathlib import Path

import pytest
import requests
from requests.auth import HTTPDigestAuth

from harness import (ATLAS_MEDIA_TYPE, Result, assert_no_secrets, assert_not_crashed, diagnostics,
                     resource_hcl, terraform_block, unwrap)
from hostile_vendor import HostileVendor


def atlas_keys_hcl(sandbox, prefix: str, count: int, extra: str = "") -> str:
    return f"""
resource "keysmith_api_key" "k" {{
  count  = {count}
  org_id = "{sandbox.atlas_org_id}"
  name   = "{prefix}-${{count.index}}"
  roles  = ["ORG_READ_ONLY"]
  {extra}
}}
"""


def state_keys(ws) -> dict[str, dict]:
    """id -> attribute values of every keysmith_api_key in the workspace's state."""
    return {v["id"]: v for a, v in ws.resources().items() if a.startswith("keysmith_api_key.")}


def atlas_secret_works(sandbox, public_key: str, secret: str) -> bool:
    s = requests.Session()
    s.trust_env = False
    r = s.get(f"{sandbox.url}/api/atlas/v2/orgs/{sandbox.atlas_org_id}/apiKeys?itemsPerPage=1",
              auth=HTTPDigestAuth(public_key, secret), headers={"Accept": ATLAS_MEDIA_TYPE}, timeout=10)
    return r.status_code == 200


def run_detached(ws, *args: str) -> subprocess.Popen:
    """`terraform ARGS` in its own process group (so a Ctrl-C can go to the whole group)."""
    return subprocess.Popen(ws.terraform + list(args), cwd=ws.path, env=ws.env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)


# ---- no panic ----------------------------------------------------------------------------------


@pytest.mark.parametrize("rotate_after", ["87600000h", "0s"])
def test_out_of_range_rotate_after_is_an_error_and_creates_nothing(own_sandbox, workspace, rotate_after):
    sb = own_sandbox
    workspace.write(terraform_block() + sb.atlas_provider_hcl()
                    + atlas_keys_hcl(sb, "rot", 1, f'rotate_after = "{rotate_after}"'))
    workspace.init()
    r = workspace.apply(rc=1)
    assert_not_crashed(r.output)
    errors = diagnostics(r.output, "Error")
    assert errors and all(e.summary == "Invalid duration" for e in errors), r.describe()
    assert "rotate_after" in errors[0].text and "876000h" in unwrap(errors[0].text)
    assert sb.atlas_keys(prefix="rot") == [], "nothing at the vendor"

    # Changing an existing key's rotate_after to it fails the same way, and keeps the key.
    workspace.write(terraform_block() + sb.atlas_provider_hcl() + atlas_keys_hcl(sb, "rot", 1))
    workspace.apply()
    held = set(state_keys(workspace))
    workspace.write(terraform_block() + sb.atlas_provider_hcl()
                    + atlas_keys_hcl(sb, "rot", 1, f'rotate_after = "{rotate_after}"'))
    r = workspace.plan(rc=1)
    assert_not_crashed(r.output)
    assert {k.id for k in sb.atlas_keys(prefix="rot")} == held
    workspace.write(terraform_block() + sb.atlas_provider_hcl())
    workspace.apply()


def test_a_vendor_date_of_year_9999_is_a_warning_not_a_crash(own_sandbox, workspace):
    sb = own_sandbox
    org = sb.braintrust_creds["org_name"]
    workspace.write(terraform_block() + sb.provider_hcl("braintrust")
                    + resource_hcl("keysmith_api_key", "k", {"name": "far-future", "org_name": org,
                                                              "rotate_after": "48h"}))
    workspace.init()
    workspace.apply()
    (key_id,) = state_keys(workspace)
    r = requests.post(f"{sb.url}/_sandbox/braintrust/api_keys/{key_id}/created",
                      json={"created": "9999-12-31T23:00:00Z"}, timeout=10)
    assert r.status_code == 200, r.text
    plan = workspace.plan(rc=2)
    assert_not_crashed(plan.output)
    warnings = diagnostics(plan.output, "Warning")
    assert any(w.summary == "The key cannot expire" and "9999-12-31T23:00:00Z" in unwrap(w.text)
               for w in warnings), plan.describe()
    workspace.apply()
    values = state_keys(workspace)[key_id]
    assert values["expires_at"] is None and values["secret"], "the key and its secret are kept"
    workspace.destroy()
    assert sb.braintrust_keys(prefix="far-future") == []


# ---- interrupts --------------------------------------------------------------------------------


@pytest.mark.parametrize("delay", [1.5, 2.5, 3.5])
def test_ctrl_c_mid_apply_leaves_every_vendor_key_in_state_with_its_secret(own_sandbox, new_workspace,
                                                                           delay):
    sb = own_sandbox
    ws = new_workspace("ctrl-c")
    ws.write(terraform_block() + sb.atlas_provider_hcl() + atlas_keys_hcl(sb, "intr", 45))
    ws.init()
    sb.set_faults("latency_ms=600")
    proc = run_detached(ws, "apply", "-input=false", "-no-color", "-auto-approve")
    time.sleep(delay)
    os.killpg(proc.pid, signal.SIGINT)
    out, err = proc.communicate(timeout=300)
    sb.set_faults("")
    assert_not_crashed(out, err)
    held = state_keys(ws)
    at_vendor = {k.id: k for k in sb.atlas_keys(prefix="intr-")}
    print(f"interrupted after {delay} s: {len(at_vendor)} of 45 keys created, rc {proc.returncode}")
    assert set(at_vendor) == set(held), (
        f"{len(at_vendor)} keys at the vendor, {len(held)} in state; missing from state: "
        f"{sorted(set(at_vendor) - set(held))}\n--- stdout ---\n{out}\n--- stderr ---\n{err}")
    for key_id, values in held.items():
        assert values["secret"], f"{key_id} has no secret in state"
        assert atlas_secret_works(sb, values["public_key"], values["secret"]), f"{key_id}'s secret fails"
    # The next apply converges to exactly the configured keys.
    ws.apply()
    assert len(sb.atlas_keys(prefix="intr-")) == 45
    ws.plan(rc=0)
    ws.destroy()
    assert sb.atlas_keys(prefix="intr-") == []


# ---- never delete what you cannot prove you made -----------------------------------------------


def test_a_persons_same_named_key_survives_lost_creates_and_destroy(own_sandbox, workspace):
    sb = own_sandbox
    org = sb.braintrust_creds["org_name"]
    person = sb.braintrust_api().create_key("console-key", org)
    workspace.write(terraform_block() + sb.provider_hcl("braintrust", extra="max_retries = 2")
                    + resource_hcl("keysmith_api_key", "k", {"name": "console-key", "org_name": org}))
    workspace.init()
    sb.set_faults("ambiguous_rate=1,methods=POST")
    r = workspace.apply(rc=1)
    sb.set_faults("")
    assert_not_crashed(r.output)
    left = {k["id"] for k in sb.braintrust_keys(prefix="console-key")}
    assert left == {person["id"]}, f"the person's key survives, every lost one is gone: {left}"
    workspace.apply()
    workspace.destroy()
    left = {k["id"] for k in sb.braintrust_keys(prefix="console-key")}
    assert left == {person["id"]}


def test_two_workspaces_with_lost_creates_never_delete_keys_the_other_holds(own_sandbox, new_workspace):
    sb = own_sandbox
    workspaces = [new_workspace(f"ws-{n}") for n in ("a", "b")]
    for ws in workspaces:
        ws.write(terraform_block() + sb.atlas_provider_hcl() + atlas_keys_hcl(sb, "shared", 30))
        ws.init()
    sb.set_faults("ambiguous_rate=0.3,methods=POST")
    results: dict[str, Result] = {}

    def apply(ws):
        results[ws.path.name] = ws.apply(rc=(0, 1))

    threads = [threading.Thread(target=apply, args=(ws,)) for ws in workspaces]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=600)
    sb.set_faults("")
    output = "".join(r.output for r in results.values())
    assert_not_crashed(output)
    held = set(state_keys(workspaces[0])) | set(state_keys(workspaces[1]))
    at_vendor = {k.id for k in sb.atlas_keys(prefix="shared-")}
    assert held <= at_vendor, f"keys held in a state were deleted: {sorted(held - at_vendor)}"
    unheld = at_vendor - held
    unnamed = [k for k in unheld if k not in output]
    assert not unnamed, f"vendor keys in no state and named in no output: {unnamed}"
    for ws in workspaces:
        ws.destroy()


# ---- vendors that misbehave --------------------------------------------------------------------


@pytest.mark.parametrize("backend", ["braintrust", "env0"])
def test_a_vendor_quoting_authorization_shows_no_credential(workspace, backend):
    key_id, secret = "key-id-" + uuid.uuid4().hex[:8], "secret-" + uuid.uuid4().hex
    with HostileVendor("echo") as vendor:
        if backend == "braintrust":
            block = f'braintrust {{\n base_url = "{vendor.url}"\n api_key = "{secret}"\n org_name = "acme"\n }}'
            attrs = {"name": "echoed"}
        else:
            block = (f'env0 {{\n base_url = "{vendor.url}"\n api_key_id = "{key_id}"\n'
                     f' api_key_secret = "{secret}"\n organization_id = "org-1"\n }}')
            attrs = {"name": "echoed", "roles": ["Admin"]}
        workspace.write(terraform_block() + f'provider "keysmith" {{\n {block}\n max_retries = 0\n}}\n'
                        + resource_hcl("keysmith_api_key", "k", attrs))
        workspace.init()
        r = workspace.apply(rc=1)
        assert ("POST", "/v1/api_key" if backend == "braintrust" else "/api-keys") in vendor.requests
        traced = workspace.apply(rc=1, env={"TF_LOG": "trace"})
    assert_not_crashed(r.output, traced.output)
    basic = base64.b64encode(f"{key_id}:{secret}".encode()).decode()
    assert_no_secrets([secret, basic], stdout=r.stdout, stderr=r.stderr,
                      trace_stdout=traced.stdout, trace_stderr=traced.stderr)
    assert "[redacted]" in r.output, r.describe()[:3000]
    for bad in ("\x1b", "\x00", "\x07"):
        assert bad not in r.output, f"{bad!r} reached the terminal"
    assert not any(line.startswith("Apply complete!") for line in r.output.splitlines())
    errors = diagnostics(r.output, "Error")
    assert errors and all(len(e.text) < 4000 for e in errors), "vendor text is cut short"


def test_a_huge_body_and_an_endless_listing_are_clear_errors_within_the_timeout(workspace):
    org_id = str(uuid.uuid4())
    for mode, data, expected in [
        ("huge", 'data "keysmith_org" "o" {\n id = "%s"\n}\n' % org_id, "larger than 16 MiB"),
        ("endless", 'data "keysmith_api_keys" "k" {\n org_id = "%s"\n}\n' % org_id, "passed 100000 items"),
    ]:
        with HostileVendor(mode) as vendor:
            workspace.write(terraform_block() + f"""
provider "keysmith" {{
  braintrust {{
    base_url = "{vendor.url}"
    api_key  = "sk-hostile-vendor-test"
  }}
  request_timeout = "120s"
}}
""" + data)
            workspace.init()
            started = time.monotonic()
            r = workspace.plan(rc=1, timeout=300)
            elapsed = time.monotonic() - started
        assert_not_crashed(r.output)
        assert expected in unwrap(r.output), r.describe()[:3000]
        assert "GET /v1/" in unwrap(r.output), "the error names the endpoint"
        assert elapsed < 100, f"{mode}: {elapsed:.0f} s, longer than the request timeout"


# ---- leftovers ---------------------------------------------------------------------------------


def _children(pid: int) -> list[int]:
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                stat = (proc / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(proc.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_the_provider_exits_and_cleans_up_when_terraform_is_killed(workspace, tmp_path):
    socket_parent = tmp_path / "tmp"
    socket_parent.mkdir()
    with HostileVendor("endless") as vendor:
        workspace.write(terraform_block() + f"""
provider "keysmith" {{
  braintrust {{
    base_url = "{vendor.url}"
    api_key  = "sk-hostile-vendor-test"
  }}
}}
data "keysmith_api_keys" "k" {{
  org_id = "{uuid.uuid4()}"
}}
""")
        workspace.init()
        env = dict(workspace.env, TMPDIR=str(socket_parent))
        proc = subprocess.Popen(workspace.terraform + ["plan", "-input=false", "-no-color"], cwd=workspace.path,
                                env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, start_new_session=True)
        providers: list[int] = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not providers:
            time.sleep(0.2)
            providers = [c for c in _children(proc.pid)
                         if "terraform-provider-keysmith" in (Path("/proc") / str(c) / "cmdline").read_text()]
            providers = [p for p in providers if ("GET", "/v1/api_key") in vendor.requests]
        assert providers, "the provider never started reading the endless listing"
        proc.kill()  # SIGKILL Terraform alone: its provider is orphaned mid-read
        proc.wait(timeout=10)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(_alive(p) for p in providers):
            time.sleep(0.2)
        assert not any(_alive(p) for p in providers), "the provider outlived Terraform by 10 s"
    leftovers = [p.name for p in socket_parent.iterdir() if p.name.startswith("keysmith-")]
    assert not leftovers, f"socket directories left behind: {leftovers}"
