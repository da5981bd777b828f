"""Helpers for the end-to-end suite: Terraform workspaces, the sandbox process, the Atlas API.

Everything here drives real programs: the Terraform CLI (v1.15.5, `KEYSMITH_TERRAFORM`), the
release `terraform-provider-keysmith` binary (installed from a filesystem mirror by `terraform
init`) and `keysmith-sandbox`. Nothing is mocked.
"""

from __future__ import annotations

import json
import os
import re
from secrets import token_hex
import shlex
import shutil
import signal
import subprocess
import threading
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import requests
from requests.auth import HTTPDigestAuth

REPO = Path(__file__).resolve().parents[2]
TERRAFORM_VERSION = "1.15.5"
PROVIDER_SOURCE = "registry.terraform.io/keysmith/keysmith"
MAGIC_COOKIE_KEY = "TF_PLUGIN_MAGIC_COOKIE"
MAGIC_COOKIE = "d602bf8f470bc67ca7faa0386276bbdd4330efaf76d1a219cb4d6991ca9872b2"
ATLAS_MEDIA_TYPE = "application/vnd.atlas.2023-01-01+json"
ATLAS_ORG_ROLES = (
    "ORG_OWNER",
    "ORG_MEMBER",
    "ORG_GROUP_CREATOR",
    "ORG_BILLING_ADMIN",
    "ORG_BILLING_READ_ONLY",
    "ORG_STREAM_PROCESSING_ADMIN",
    "ORG_READ_ONLY",
)

# Variables of the caller's environment that would change what Terraform or the provider do.
_SCRUBBED_ENV_PREFIXES = ("TF_", "PLUGIN_", "MONGODB_ATLAS_", "BRAINTRUST_", "ENV0_", "TRACELOOP_")
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
# Output that means the provider or Terraform crashed rather than reported an error.
CRASH_MARKERS = ("panic", "Plugin did not respond", "TERRAFORM CRASH", "plugin exited before")


def bin_dir() -> Path:
    """Where the release binaries are: KEYSMITH_BIN_DIR, else $CARGO_TARGET_DIR/release, else target/release."""
    if os.environ.get("KEYSMITH_BIN_DIR"):
        return Path(os.environ["KEYSMITH_BIN_DIR"])
    return Path(os.environ.get("CARGO_TARGET_DIR") or REPO / "target") / "release"


def provider_version() -> str:
    with open(REPO / "Cargo.toml", "rb") as f:
        return tomllib.load(f)["package"]["version"]


def terraform_command() -> list[str]:
    """The Terraform command line prefix: KEYSMITH_TERRAFORM (set by the Makefile), else `terraform`."""
    cmd = os.environ.get("KEYSMITH_TERRAFORM") or shutil.which("terraform")
    if not cmd:
        raise RuntimeError("no Terraform: run the suite with `make e2e`, or set KEYSMITH_TERRAFORM")
    return shlex.split(cmd)


def clean_env(**extra: str) -> dict[str, str]:
    """The caller's environment without Terraform/plugin/backend variables, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(_SCRUBBED_ENV_PREFIXES)}
    env["CHECKPOINT_DISABLE"] = "1"
    env.update(extra)
    return env


def strip_ansi(text: str) -> str:
    return _ANSI.sub("", text)


def assert_not_crashed(*texts: str) -> None:
    for text in texts:
        for marker in CRASH_MARKERS:
            assert marker not in text, f"crash marker {marker!r} in output:\n{text}"


def assert_no_secrets(secrets: Iterable[str], **texts: str) -> None:
    """No secret value occurs in any of the named texts (the failure names which, not the value)."""
    secrets = [s for s in secrets if s]
    assert secrets, "no secrets to look for: the test is not checking anything"
    for label, text in texts.items():
        for i, secret in enumerate(secrets):
            pos = text.find(secret)
            assert pos < 0, (
                f"secret #{i} ({len(secret)} chars) appears in {label} at offset {pos}: "
                f"...{text[max(0, pos - 200):pos]}<SECRET>..."
            )


# ---- Terraform -------------------------------------------------------------------------------


def write_cli_config(root: Path, provider_binary: Path) -> Path:
    """A filesystem mirror holding a copy of the provider, a plugin cache and a CLI config using both.

    A copy (not a symlink) so that a rebuild during the run cannot change the binary under the
    lock files the workspaces already wrote.
    """
    platform = "linux_amd64" if os.uname().machine == "x86_64" else "linux_arm64"
    package = root / "mirror" / PROVIDER_SOURCE / provider_version() / platform
    package.mkdir(parents=True, exist_ok=True)
    shutil.copy2(provider_binary, package / "terraform-provider-keysmith")
    cache = root / "plugin-cache"
    cache.mkdir(exist_ok=True)
    config = root / "terraformrc"
    config.write_text(
        f"""
plugin_cache_dir   = "{cache}"
disable_checkpoint = true

provider_installation {{
  filesystem_mirror {{
    path    = "{root / 'mirror'}"
    include = ["{PROVIDER_SOURCE}"]
  }}
  direct {{
    exclude = ["{PROVIDER_SOURCE}"]
  }}
}}
"""
    )
    return config


@dataclass
class Result:
    """One finished Terraform command."""

    args: list[str]
    rc: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def describe(self) -> str:
        return (
            f"$ terraform {shlex.join(self.args)}  (exit code {self.rc})\n"
            f"--- stdout ---\n{self.stdout}\n--- stderr ---\n{self.stderr}"
        )


# Per-subcommand flags every call gets.
_FLAGS = {
    "init": ["-input=false", "-no-color"],
    "plan": ["-input=false", "-no-color"],
    "apply": ["-input=false", "-no-color", "-auto-approve"],
    "destroy": ["-input=false", "-no-color", "-auto-approve"],
    "import": ["-input=false", "-no-color"],
    "show": ["-no-color"],
    "output": ["-no-color"],
    "validate": ["-no-color"],
}


class Workspace:
    """A Terraform working directory in a temp dir, with the provider installed from the mirror.

    Every command runs with TF_CLI_CONFIG_FILE, TF_IN_AUTOMATION=1, -input=false and -no-color; a
    result with an unexpected exit code fails the test showing both streams. A transcript of every
    command is kept in `terraform.log` beside the configuration.
    """

    def __init__(self, path: Path, terraform: list[str], cli_config: Path):
        self.path = path
        self.path.mkdir(parents=True, exist_ok=True)
        self.terraform = terraform
        self.env = clean_env(TF_CLI_CONFIG_FILE=str(cli_config), TF_IN_AUTOMATION="1", TF_INPUT="0")
        self.transcript = self.path / "terraform.log"

    # -- files

    def write(self, hcl: str, name: str = "main.tf") -> Path:
        target = self.path / name
        target.write_text(hcl)
        return target

    def remove(self, name: str) -> None:
        (self.path / name).unlink()

    # -- running

    def run(self, *args: str, rc: int | tuple[int, ...] | None = 0, env: dict[str, str] | None = None,
            timeout: float = 600) -> Result:
        """Run `terraform ARGS` here; `rc` is the expected exit code(s), None accepts any."""
        args = list(args)
        full = args[:1] + _FLAGS.get(args[0], []) + args[1:] if args else args
        run_env = dict(self.env, **(env or {}))
        try:
            p = subprocess.run(self.terraform + full, cwd=self.path, env=run_env, stdin=subprocess.DEVNULL,
                               capture_output=True, text=True, timeout=timeout)
            result = Result(full, p.returncode, p.stdout, p.stderr)
        except subprocess.TimeoutExpired as e:
            out = e.stdout.decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
            err = e.stderr.decode() if isinstance(e.stderr, bytes) else (e.stderr or "")
            raise AssertionError(f"terraform {shlex.join(full)} did not finish in {timeout} s\n"
                                 f"--- stdout ---\n{out}\n--- stderr ---\n{err}") from None
        with self.transcript.open("a") as log:
            log.write(result.describe() + "\n\n")
        expected = (rc,) if isinstance(rc, int) else rc
        if expected is not None and result.rc not in expected:
            raise AssertionError(f"unexpected exit code {result.rc}, expected {rc}\n{result.describe()}")
        return result

    def init(self, **kw: Any) -> Result:
        return self.run("init", **kw)

    def plan(self, *args: str, rc: int | tuple[int, ...] | None = 0, **kw: Any) -> Result:
        """`terraform plan -detailed-exitcode`: rc 0 = no changes, 2 = changes, 1 = error."""
        return self.run("plan", "-detailed-exitcode", *args, rc=rc, **kw)

    def apply(self, *args: str, **kw: Any) -> Result:
        return self.run("apply", *args, **kw)

    def destroy(self, *args: str, **kw: Any) -> Result:
        return self.run("destroy", *args, **kw)

    def import_(self, address: str, import_id: str, **kw: Any) -> Result:
        return self.run("import", address, import_id, **kw)

    def show_json(self, *args: str) -> dict:
        return json.loads(self.run("show", "-json", *args).stdout)

    def state_show(self, address: str) -> str:
        return strip_ansi(self.run("state", "show", address).stdout)

    def output_json(self) -> dict:
        return json.loads(self.run("output", "-json").stdout)

    def plan_json(self, *args: str, rc: int | tuple[int, ...] = (0, 2), **kw: Any) -> tuple[Result, dict]:
        """A saved plan and its `terraform show -json` form."""
        result = self.plan("-out=tfplan", *args, rc=rc, **kw)
        return result, self.show_json("tfplan")

    # -- state

    def resources(self, part: str = "values") -> dict[str, dict]:
        """address -> attribute values (or `part="identity"`: resource identity) of every resource
        instance in state, secrets included."""
        state = self.show_json()
        found: dict[str, dict] = {}

        def walk(module: dict) -> None:
            for r in module.get("resources", []):
                found[r["address"]] = r.get(part)
            for child in module.get("child_modules", []):
                walk(child)

        walk(state.get("values", {}).get("root_module", {}))
        return found


def planned_actions(plan: dict) -> dict[str, list[str]]:
    """address -> actions (["create"], ["update"], ["delete", "create"], ["no-op"], ...) of a plan JSON."""
    return {rc["address"]: rc["change"]["actions"] for rc in plan.get("resource_changes", [])}


def planned_imports(plan: dict) -> list[str]:
    """Addresses a plan JSON imports."""
    return [rc["address"] for rc in plan.get("resource_changes", []) if rc["change"].get("importing")]


# ---- processes ---------------------------------------------------------------------------------


class LineReader:
    """Reads a process's pipe in a thread, so tests can wait for a line with a timeout."""

    def __init__(self, stream, sink: Path | None = None):
        self.lines: list[str] = []
        self._cond = threading.Condition()
        self._stream = stream
        self._sink = sink.open("a") if sink else None
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        for raw in iter(self._stream.readline, b""):
            line = raw.decode(errors="replace")
            if self._sink:
                self._sink.write(line)
                self._sink.flush()
            with self._cond:
                self.lines.append(line)
                self._cond.notify_all()
        with self._cond:
            self.lines.append("")  # EOF marker
            self._cond.notify_all()

    def wait_for(self, predicate, timeout: float) -> str | None:
        """The first line (without EOL) satisfying `predicate`, or None at EOF or timeout."""
        deadline = time.monotonic() + timeout
        seen = 0
        with self._cond:
            while True:
                while seen < len(self.lines):
                    line = self.lines[seen]
                    seen += 1
                    if line == "":
                        return None
                    if predicate(line.rstrip("\r\n")):
                        return line.rstrip("\r\n")
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self._cond.wait(left)

    def text(self) -> str:
        with self._cond:
            return "".join(self.lines)


def stop_process(proc: subprocess.Popen, signals=(signal.SIGTERM,), grace: float = 5) -> None:
    """Send each signal in turn, waiting `grace` seconds after each, then SIGKILL."""
    for sig in signals:
        if proc.poll() is not None:
            return
        proc.send_signal(sig)
        try:
            proc.wait(timeout=grace)
            return
        except subprocess.TimeoutExpired:
            pass
    if proc.poll() is None:
        proc.kill()
        proc.wait(timeout=10)


# ---- the sandbox -------------------------------------------------------------------------------


@dataclass
class AtlasKey:
    """One Atlas organization API key as the sandbox holds it."""

    id: str
    desc: str
    public_key: str
    roles: list[str]
    seeded: bool = False  # the key the sandbox hands out as provider credentials


def sandbox_atlas_orgs(state: dict) -> dict[str, dict]:
    """org id -> org object, from `GET /_sandbox/state`. With sandbox_atlas_keys, the one place
    that knows its shape: {"atlas": {"orgs": [{"id", "name", "api_keys": [...], ...}]}}."""
    return {o["id"]: o for o in state["atlas"]["orgs"]}


def sandbox_atlas_keys(state: dict, org_id: str) -> list[AtlasKey]:
    """The API keys of one Atlas org in `GET /_sandbox/state`:
    "api_keys": [{"id", "desc", "public_key", "roles": ["ORG_..."], "seeded": bool, ...}]."""
    org = sandbox_atlas_orgs(state).get(org_id)
    if org is None:
        return []
    return [AtlasKey(id=k["id"], desc=k["desc"], public_key=k["public_key"], roles=sorted(k["roles"]),
                     seeded=bool(k.get("seeded")))
            for k in org["api_keys"]]


@dataclass
class Sandbox:
    """A running `keysmith-sandbox` on a free loopback port."""

    proc: subprocess.Popen
    url: str
    credentials: dict
    log: Path
    _stdout: LineReader | None = field(default=None, repr=False)

    @classmethod
    def start(cls, binary: Path, workdir: Path, *args: str) -> "Sandbox":
        workdir.mkdir(parents=True, exist_ok=True)
        log = workdir / "sandbox.log"
        proc = subprocess.Popen([str(binary), "--addr", "127.0.0.1:0", *args], stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=log.open("wb"), env=clean_env())
        reader = LineReader(proc.stdout)
        line = reader.wait_for(lambda s: s.strip() != "", timeout=15)
        if line is None:
            stop_process(proc)
            raise AssertionError(f"keysmith-sandbox printed no JSON line within 15 s (exit code {proc.poll()});"
                                 f" stderr:\n{log.read_text(errors='replace')}")
        info = json.loads(line)
        return cls(proc=proc, url=info["url"].rstrip("/"), credentials=info["credentials"], log=log, _stdout=reader)

    def stop(self) -> None:
        stop_process(self.proc, signals=(signal.SIGTERM,))

    # -- its control API

    def state(self) -> dict:
        r = _http().get(f"{self.url}/_sandbox/state", timeout=10)
        r.raise_for_status()
        return r.json()

    def reset(self) -> None:
        _http().post(f"{self.url}/_sandbox/reset", timeout=10).raise_for_status()

    # -- Atlas

    @property
    def atlas_creds(self) -> dict:
        return self.credentials["atlas"]

    @property
    def atlas_org_id(self) -> str:
        return self.atlas_creds["org_id"]

    def atlas_keys(self, org_id: str | None = None, *, prefix: str = "") -> list[AtlasKey]:
        """The keys of an Atlas org (default: the seeded one) whose desc starts with `prefix`,
        leaving out the key the sandbox itself hands out as provider credentials."""
        own = self.atlas_creds["public_key"]
        keys = sandbox_atlas_keys(self.state(), org_id or self.atlas_org_id)
        return [k for k in keys if not k.seeded and k.public_key != own and k.desc.startswith(prefix)]

    def atlas_api(self) -> "AtlasAPI":
        return AtlasAPI(self.url, self.atlas_creds["public_key"], self.atlas_creds["private_key"])

    def atlas_provider_hcl(self, auth: str = "digest", extra: str = "") -> str:
        """A `provider "keysmith"` block for the sandbox's Atlas: `digest` (key pair) or `oauth`."""
        c = self.atlas_creds
        if auth == "digest":
            creds = f'public_key  = "{c["public_key"]}"\n    private_key = "{c["private_key"]}"'
        elif auth == "oauth":
            creds = f'client_id     = "{c["client_id"]}"\n    client_secret = "{c["client_secret"]}"'
        else:
            raise ValueError(auth)
        return f"""
provider "keysmith" {{
  atlas {{
    base_url    = "{self.url}"
    {creds}
  }}
  {extra}
}}
"""


def _http() -> requests.Session:
    s = requests.Session()
    s.trust_env = False  # never a proxy for the loopback sandbox
    return s


class AtlasAPI:
    """The Atlas Administration API of the sandbox, called directly (HTTP Digest), for out-of-band changes."""

    def __init__(self, base_url: str, public_key: str, private_key: str):
        self.base = base_url.rstrip("/") + "/api/atlas/v2"
        self.session = _http()
        self.session.auth = HTTPDigestAuth(public_key, private_key)
        self.session.headers.update({"Accept": ATLAS_MEDIA_TYPE, "Content-Type": ATLAS_MEDIA_TYPE})

    def _call(self, method: str, path: str, **kw: Any) -> Any:
        r = self.session.request(method, self.base + path, timeout=10, **kw)
        assert r.status_code < 300, f"{method} {path} -> {r.status_code}: {r.text}"
        return r.json() if r.content else None

    def create_key(self, org_id: str, desc: str, roles: list[str]) -> dict:
        return self._call("POST", f"/orgs/{org_id}/apiKeys", json={"desc": desc, "roles": roles})

    def get_key(self, org_id: str, key_id: str) -> dict:
        return self._call("GET", f"/orgs/{org_id}/apiKeys/{key_id}")

    def delete_key(self, org_id: str, key_id: str) -> None:
        self._call("DELETE", f"/orgs/{org_id}/apiKeys/{key_id}")

    def create_org(self, name: str, **extra: Any) -> dict:
        """POST /orgs; returns the response (`organization`, and `apiKey` if one was requested).
        Atlas wants an `orgOwnerId` (a user, 24 hex) when the caller is an API key: a made-up one."""
        body = {"name": name, "orgOwnerId": token_hex(12), **extra}
        return self._call("POST", "/orgs", json=body)


def terraform_block() -> str:
    return """
terraform {
  required_providers {
    keysmith = {
      source = "keysmith/keysmith"
    }
  }
}
"""


def api_key_hcl(name: str, org_id: str, desc: str, roles: Iterable[str], extra: str = "") -> str:
    roles_hcl = ", ".join(f'"{r}"' for r in roles)
    return f"""
resource "keysmith_api_key" "{name}" {{
  org_id = "{org_id}"
  name   = "{desc}"
  roles  = [{roles_hcl}]
  {extra}
}}
"""
