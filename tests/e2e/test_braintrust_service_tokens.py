"""Braintrust service tokens as `keysmith_api_key` with `service_account_id` (SPEC §3, §5, §8),
through real Terraform against keysmith-sandbox: the lifecycle with the organization-owner
service token as the provider's credential, the refusals Braintrust documents (a user API key
creating a service token; `POST /v1/api_key` refused or removed) with Braintrust's own message,
and service tokens in `data "keysmith_api_keys"` and `list "keysmith_api_key"`.

Each test runs on its own sandbox and checks `/_sandbox/state`.
"""

from __future__ import annotations

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import requests

from harness import (
    BraintrustAPI,
    Sandbox,
    assert_no_secrets,
    assert_not_crashed,
    data_hcl,
    diagnostics,
    planned_actions,
    planned_imports,
    resource_hcl,
    strip_ansi,
    terraform_block,
    unwrap,
)

UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def provider_hcl(sb: Sandbox, credential: str = "service_token", base_url: str | None = None) -> str:
    """A Braintrust provider authenticated with the sandbox's organization-owner service token
    (`service_token`) or its user API key (`api_key`)."""
    c = sb.braintrust_creds
    return f"""
provider "keysmith" {{
  braintrust {{
    base_url = "{base_url or sb.url}"
    api_key  = "{c[credential]}"
    org_name = "{c["org_name"]}"
  }}
}}
"""


def tokens_config(sb: Sandbox, tokens: dict[str, dict], credential: str = "service_token",
                  base_url: str | None = None, extra: str = "") -> str:
    """The provider + one `keysmith_api_key` per entry (address name -> attributes)."""
    blocks = "".join(resource_hcl("keysmith_api_key", name, attrs) for name, attrs in tokens.items())
    return terraform_block() + provider_hcl(sb, credential, base_url) + blocks + extra


def token(sb: Sandbox, name: str, **attrs) -> dict:
    return {"name": name, "service_account_id": sb.braintrust_creds["service_account_id"], **attrs}


def requests_counted(sb: Sandbox) -> dict[str, int]:
    return {k: v for k, v in sb.state()["requests"].items() if k.startswith("braintrust.")}


def requests_between(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    return {k: n - before.get(k, 0) for k, n in after.items() if n != before.get(k, 0)}


def nothing_left(sb: Sandbox) -> None:
    """Only the seeded credentials remain: no service token and no API key keysmith made."""
    assert sb.braintrust_tokens() == []
    assert sb.braintrust_keys() == []
    seeded = [t for t in sb.state()["braintrust"]["service_tokens"] if t["seeded"]]
    assert len(seeded) == 1, "the provider's own credential survives"


# ---- the lifecycle ----------------------------------------------------------------------------------


def test_service_token_lifecycle(own_sandbox, workspace):
    sb, ws = own_sandbox, workspace
    account, org_id = sb.braintrust_creds["service_account_id"], sb.braintrust_creds["org_id"]

    # 1. Create with the organization-owner service token: a service token, not an API key.
    ws.write(tokens_config(sb, {"ci": token(sb, "e2e-st-ci")}))
    ws.init()
    before = requests_counted(sb)
    applied = ws.apply()
    # One create: the baseline listing of the ownership proof (SPEC §6), then the POST.
    assert requests_between(before, requests_counted(sb)) == {
        "braintrust.service_tokens.list": 1, "braintrust.service_tokens.create": 1}
    ci = ws.resources()["keysmith_api_key.ci"]
    held = sb.braintrust_tokens(prefix="e2e-st-")
    assert [(t["id"], t["name"], t["service_account_id"]) for t in held] == [(ci["id"], "e2e-st-ci", account)]
    assert sb.braintrust_keys() == [], "no API key was made"
    assert UUID.match(ci["id"]) and ci["service_account_id"] == account
    assert ci["org_id"] == org_id and ci["preview"] == held[0]["preview_name"]
    assert ci["public_key"] is None and ci["roles"] is None and ci["created_at"]
    assert ws.resources("identity")["keysmith_api_key.ci"] == {"org_id": org_id, "id": ci["id"]}
    assert_no_secrets([ci["secret"]], apply=applied.output)

    # 2. The new token's secret authenticates against Braintrust's API.
    own = BraintrustAPI(sb.url, ci["secret"])
    assert own.get_token(ci["id"])["service_account_id"] == account
    bad = requests.get(f"{sb.url}/v1/service_token/{ci['id']}", headers={"Authorization": "Bearer nope"},
                       timeout=10)
    assert bad.status_code == 401

    # 3. Nothing to do; a refresh keeps the secret the vendor will never show again.
    before = requests_counted(sb)
    assert "No changes." in ws.plan(rc=0).stdout
    # A refresh from the listing: the organization's name, then its service tokens alone.
    assert requests_between(before, requests_counted(sb)) == {
        "braintrust.orgs.get": 1, "braintrust.service_tokens.list": 1}
    ws.run("apply", "-refresh-only", "-auto-approve")
    assert ws.resources()["keysmith_api_key.ci"]["secret"] == ci["secret"]

    # 4. No update API: a new name replaces the token, and the old one is deleted.
    ws.write(tokens_config(sb, {"ci": token(sb, "e2e-st-ci-2")}))
    result, plan = ws.plan_json(rc=2)
    assert planned_actions(plan) == {"keysmith_api_key.ci": ["delete", "create"]}, result.stdout
    assert "Plan: 1 to add, 0 to change, 1 to destroy." in result.stdout
    ws.apply("tfplan")
    ci2 = ws.resources()["keysmith_api_key.ci"]
    assert ci2["id"] != ci["id"] and ci2["secret"] != ci["secret"]
    assert [(t["id"], t["name"]) for t in sb.braintrust_tokens(prefix="e2e-st-")] == [(ci2["id"], "e2e-st-ci-2")]
    ws.plan(rc=0)

    # 5. Deleted outside Terraform: removed on refresh, planned for creation again, created.
    sb.braintrust_api("service_token").delete_token(ci2["id"])
    plan = ws.plan(rc=2)
    assert "keysmith_api_key.ci will be created" in plan.stdout, plan.stdout
    assert "Plan: 1 to add, 0 to change, 0 to destroy." in plan.stdout
    ws.apply()
    ci3 = ws.resources()["keysmith_api_key.ci"]
    assert [t["id"] for t in sb.braintrust_tokens(prefix="e2e-st-")] == [ci3["id"]]
    ws.plan(rc=0)

    # 6. Import by "<id>": found among service tokens, no changes, no secret.
    ws.run("state", "rm", "keysmith_api_key.ci")
    assert "Import successful!" in ws.import_("keysmith_api_key.ci", ci3["id"]).stdout
    imported = ws.resources()["keysmith_api_key.ci"]
    for attr in ("id", "org_id", "org_name", "name", "preview", "service_account_id"):
        assert imported[attr] == ci3[attr], attr
    assert imported["secret"] is None
    assert "No changes." in ws.plan(rc=0).stdout

    # 7. Destroy leaves nothing but the provider's own credential; the token is deleted as one.
    before = requests_counted(sb)
    ws.destroy()
    assert requests_between(before, requests_counted(sb)) == {
        "braintrust.orgs.get": 1, "braintrust.service_tokens.list": 1, "braintrust.service_tokens.delete": 1}
    nothing_left(sb)
    assert ws.resources() == {}


def test_import_block_finds_a_token_made_outside_terraform(own_sandbox, workspace):
    sb, ws = own_sandbox, workspace
    # An API key and a service token made outside Terraform: the import id alone says which.
    made = sb.braintrust_api("service_token").create_token("e2e-st-outside", sb.braintrust_creds["service_account_id"])
    key = sb.braintrust_api().create_key("e2e-st-outside-key")
    ws.write(tokens_config(sb, {"t": token(sb, "e2e-st-outside"), "k": {"name": "e2e-st-outside-key"}},
                           extra=f'\nimport {{\n  to = keysmith_api_key.t\n  id = "{made["id"]}"\n}}\n'
                                 f'\nimport {{\n  to = keysmith_api_key.k\n  id = "{key["id"]}"\n}}\n'))
    ws.init()
    result, plan = ws.plan_json()
    assert planned_imports(plan) == ["keysmith_api_key.k", "keysmith_api_key.t"]
    assert planned_actions(plan) == {"keysmith_api_key.k": ["no-op"], "keysmith_api_key.t": ["no-op"]}, result.stdout
    ws.apply("tfplan")
    state = ws.resources()
    assert state["keysmith_api_key.t"]["service_account_id"] == sb.braintrust_creds["service_account_id"]
    assert state["keysmith_api_key.k"]["service_account_id"] is None
    ws.plan(rc=0)
    ws.destroy()
    nothing_left(sb)


# ---- refusals ---------------------------------------------------------------------------------------


def test_a_user_api_key_may_not_create_a_service_token(own_sandbox, workspace):
    sb, ws = own_sandbox, workspace
    ws.write(tokens_config(sb, {"ci": token(sb, "e2e-st-refused")}, credential="api_key"))
    ws.init()
    refused = ws.apply(rc=1)
    assert_not_crashed(refused.stdout, refused.stderr)
    errors = diagnostics(refused.stderr, "Error")
    assert len(errors) == 1, refused.stderr
    text = unwrap(errors[0].text)
    assert "User API keys cannot be used" in text, text  # Braintrust's own message
    assert "403" in text and "organization-owner" in text, text
    assert errors[0].address == "keysmith_api_key.ci"
    assert_no_secrets(sb.credential_secrets(), apply=refused.output)
    assert sb.braintrust_tokens() == [] and sb.braintrust_keys() == []
    assert ws.resources() == {}


class RemovedApiKeyRoute:
    """A Braintrust in front of the sandbox that refuses `POST /v1/api_key` with `status` and
    Braintrust's JSON error, and passes every other request through unchanged."""

    def __init__(self, sandbox_url: str, status: int, message: str):
        self.posts = 0
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # quiet
                pass

            def _send(self, status: int, headers: dict[str, str], body: bytes) -> None:
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _handle(self) -> None:
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else b""
                if self.command == "POST" and self.path.split("?")[0] == "/v1/api_key":
                    proxy.posts += 1
                    self._send(status, {"Content-Type": "application/json"},
                               json.dumps({"error": message}).encode())
                    return
                s = requests.Session()
                s.trust_env = False
                r = s.request(self.command, sandbox_url + self.path, data=body or None, timeout=10,
                              headers={k: v for k, v in self.headers.items() if k.lower() != "host"})
                keep = {k: v for k, v in r.headers.items() if k.lower() in ("content-type", "retry-after", "date")}
                self._send(r.status_code, keep, r.content)

            do_GET = do_POST = do_DELETE = do_PUT = do_PATCH = _handle  # noqa: N815

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> "RemovedApiKeyRoute":
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_a_refused_api_key_create_points_to_service_tokens(own_sandbox, new_workspace):
    sb = own_sandbox
    for status, message in [(403, "API keys cannot create other API keys"),
                            (404, "Not found: POST /v1/api_key"),
                            (405, "Method Not Allowed")]:
        ws = new_workspace(f"refused-{status}")
        with RemovedApiKeyRoute(sb.url, status, message) as braintrust:
            ws.write(tokens_config(sb, {"k": {"name": f"e2e-st-key-{status}"}}, base_url=braintrust.url))
            ws.init()
            refused = ws.apply(rc=1)
        assert_not_crashed(refused.stdout, refused.stderr)
        errors = diagnostics(refused.stderr, "Error")
        assert len(errors) == 1, refused.stderr
        text = unwrap(errors[0].text)
        assert message in text and str(status) in text, text  # Braintrust's own words and status
        assert "set `service_account_id`" in text, text
        assert braintrust.posts == 1, "a refusal is not retried"
        assert sb.braintrust_keys() == [] and sb.braintrust_tokens() == []
        assert ws.resources() == {}


def test_service_account_id_is_checked_at_plan(own_sandbox, workspace):
    sb, ws = own_sandbox, workspace
    account = sb.braintrust_creds["service_account_id"]
    config = terraform_block() + provider_hcl(sb).replace('provider "keysmith" {', 'provider "keysmith" {\n  alias = "bt"')
    config += sb.provider_hcl("env0", alias="env0") + sb.provider_hcl("atlas", alias="atlas")
    config += resource_hcl("keysmith_api_key", "bt", {"name": "e2e-st-bad", "service_account_id": "sa-1"},
                           provider="bt")
    config += resource_hcl("keysmith_api_key", "env0", {"name": "e2e-st-env0", "roles": ["Admin"],
                                                        "service_account_id": account}, provider="env0")
    config += resource_hcl("keysmith_api_key", "atlas", {"name": "e2e-st-atlas", "org_id": sb.atlas_org_id,
                                                         "roles": ["ORG_MEMBER"], "service_account_id": account},
                           provider="atlas")
    ws.write(config)
    ws.init()
    refused = ws.plan(rc=1)
    assert_not_crashed(refused.stdout, refused.stderr)
    found = {}
    for d in diagnostics(refused.stderr, "Error"):
        assert re.search(r"^\s*\d+:\s+service_account_id\s+=", d.text, re.M), f"not on the attribute:\n{d.text}"
        found[d.address] = unwrap(d.text)
    assert sorted(found) == ["keysmith_api_key.atlas", "keysmith_api_key.bt", "keysmith_api_key.env0"], found
    assert "is not a Braintrust service account id" in found["keysmith_api_key.bt"]
    assert "does not apply to the env0 backend" in found["keysmith_api_key.env0"]
    assert "does not apply to the atlas backend" in found["keysmith_api_key.atlas"]
    assert sb.braintrust_tokens() == [] and sb.env0_keys(prefix="e2e-st") == [] and sb.atlas_keys() == []


# ---- listings ---------------------------------------------------------------------------------------


def test_listings_include_service_tokens(own_sandbox, new_workspace):
    sb = own_sandbox
    account = sb.braintrust_creds["service_account_id"]
    made = sb.braintrust_api("service_token").create_token("e2e-list-token", account)
    key = sb.braintrust_api().create_key("e2e-list-key")

    # 1. The data source: both kinds, service_account_id null for the API key, no secrets.
    ws = new_workspace("data")
    ws.write(terraform_block() + provider_hcl(sb)
             + data_hcl("keysmith_api_keys", "all", {"name_prefix": "e2e-list-"})
             + '\noutput "keys" {\n  value = data.keysmith_api_keys.all.keys\n}\n')
    ws.init()
    applied = ws.apply()
    listed = {k["id"]: k for k in ws.output_json()["keys"]["value"]}
    assert sorted(listed) == sorted([made["id"], key["id"]])
    assert listed[made["id"]]["service_account_id"] == account
    assert listed[made["id"]]["name"] == "e2e-list-token"
    assert listed[made["id"]]["preview"] == made["preview_name"]
    assert listed[key["id"]]["service_account_id"] is None
    assert_no_secrets([made["key"], key["key"]], apply=applied.output, state=ws.run("show", "-json").stdout)
    ws.plan(rc=0)

    # 2. The list resource: the token is found and imported with its service account, no changes.
    ws = new_workspace("query")
    ws.write(terraform_block() + provider_hcl(sb))
    ws.write('list "keysmith_api_key" "tokens" {\n  provider = keysmith\n  config {\n'
             '    name_prefix = "e2e-list-token"\n  }\n}\n', name="tokens.tfquery.hcl")
    ws.init()
    found = strip_ansi(ws.run("query").stdout)
    assert made["id"] in found and key["id"] not in found, found
    ws.run("query", "-generate-config-out=generated.tf")
    generated = (ws.path / "generated.tf").read_text()
    assert re.search(rf'service_account_id\s*=\s*"{account}"', generated), generated
    result, plan = ws.plan_json()
    assert "Plan: 1 to import, 0 to add, 0 to change, 0 to destroy." in result.stdout, result.stdout
    ws.apply("tfplan")
    (imported,) = ws.resources().values()
    assert (imported["id"], imported["service_account_id"], imported["secret"]) == (made["id"], account, None)
    ws.plan(rc=0)
    ws.destroy()
    assert sb.braintrust_tokens() == []
    assert [k["id"] for k in sb.braintrust_keys()] == [key["id"]], "the API key was never Terraform's"
