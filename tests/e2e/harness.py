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
from urllib.parse import quote

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


# A nested `make` must not see the parent make's job server or the choices it exported.
_MAKE_ENV = ("MAKEFLAGS", "MAKELEVEL", "MFLAGS", "MAKEOVERRIDES", "KEYSMITH_TERRAFORM", "KEYSMITH_BIN_DIR")


def make_env(home: Path | None = None, **extra: str) -> dict[str, str]:
    """clean_env() for running `make` or a README recipe as a user would: no parent make, no
    KEYSMITH_* choices, and with `home` a different HOME (cargo and rustup keep their real homes,
    so the build stays the one already made)."""
    env = {k: v for k, v in clean_env().items() if k not in _MAKE_ENV}
    if home is not None:
        real = Path(os.environ.get("HOME") or Path.home())
        env.setdefault("CARGO_HOME", str(real / ".cargo"))
        env.setdefault("RUSTUP_HOME", str(real / ".rustup"))
        env["HOME"] = str(home)
    env.update(extra)
    return env


def run_make(*targets: str, env: dict[str, str], timeout: float = 900) -> subprocess.CompletedProcess:
    """`make -C REPO TARGETS...`; a failure fails the test showing both streams."""
    p = subprocess.run(["make", "--no-print-directory", "-C", str(REPO), *targets], env=env, capture_output=True,
                       text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    assert p.returncode == 0, f"make {' '.join(targets)} exited {p.returncode}\n--- stdout ---\n{p.stdout}\n" \
                              f"--- stderr ---\n{p.stderr}"
    return p


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

    Every command runs with TF_CLI_CONFIG_FILE (unless None), TF_IN_AUTOMATION=1, -input=false and -no-color; a
    result with an unexpected exit code fails the test showing both streams. A transcript of every
    command is kept in `terraform.log` beside the configuration.
    """

    def __init__(self, path: Path, terraform: list[str], cli_config: Path | None, **env: str):
        """`cli_config` None: no TF_CLI_CONFIG_FILE at all (Terraform's defaults, e.g. the implied
        local mirrors under `env["HOME"]`); `env`: more environment variables."""
        self.path = path
        self.path.mkdir(parents=True, exist_ok=True)
        self.terraform = terraform
        self.env = clean_env(TF_IN_AUTOMATION="1", TF_INPUT="0", **env)
        if cli_config is not None:
            self.env["TF_CLI_CONFIG_FILE"] = str(cli_config)
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

    def set_faults(self, spec: str) -> None:
        """Sets the sandbox's faults at run time (`POST /_sandbox/faults`); "" turns them off."""
        _http().post(f"{self.url}/_sandbox/faults", data=spec, timeout=10).raise_for_status()

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


    def provider_hcl(self, backend: str, alias: str | None = None, extra: str = "") -> str:
        """A `provider "keysmith"` block for one backend of the sandbox (optionally aliased), with
        every credential in the block: atlas (key pair), braintrust, env0 or traceloop."""
        c = self.credentials[backend]
        settings = {
            "atlas": {"public_key": c.get("public_key"), "private_key": c.get("private_key")},
            "braintrust": {"api_key": c.get("api_key"), "org_name": c.get("org_name")},
            "env0": {"api_key_id": c.get("api_key_id"), "api_key_secret": c.get("api_key_secret"),
                     "organization_id": c.get("organization_id")},
            "traceloop": {"api_key": c.get("api_key")},
        }[backend]
        body = "\n".join(f'    {k} = "{v}"' for k, v in {"base_url": self.url, **settings}.items())
        alias_line = f'  alias = "{alias}"\n' if alias else ""
        return f"""
provider "keysmith" {{
{alias_line}  {backend} {{
{body}
  }}
  {extra}
}}
"""

    def provider_env(self, backend: str) -> dict[str, str]:
        """The provider's environment variables (SPEC §2) for one backend of the sandbox."""
        c = self.credentials[backend]
        return {
            "atlas": lambda: {"MONGODB_ATLAS_BASE_URL": self.url, "MONGODB_ATLAS_PUBLIC_API_KEY": c["public_key"],
                              "MONGODB_ATLAS_PRIVATE_API_KEY": c["private_key"]},
            "braintrust": lambda: {"BRAINTRUST_API_URL": self.url, "BRAINTRUST_API_KEY": c["api_key"],
                                   "BRAINTRUST_ORG_NAME": c["org_name"]},
            "env0": lambda: {"ENV0_API_ENDPOINT": self.url, "ENV0_API_KEY": c["api_key_id"],
                             "ENV0_API_SECRET": c["api_key_secret"], "ENV0_ORGANIZATION_ID": c["organization_id"]},
            "traceloop": lambda: {"TRACELOOP_BASE_URL": self.url, "TRACELOOP_API_KEY": c["api_key"]},
        }[backend]()

    def credential_secrets(self) -> list[str]:
        """Every secret the sandbox handed out as provider credentials."""
        c = self.credentials
        return [c["atlas"]["private_key"], c["atlas"]["client_secret"], c["braintrust"]["api_key"],
                c["braintrust"]["service_token"], c["env0"]["api_key_secret"], c["traceloop"]["api_key"]]

    # -- Atlas organizations (sandbox state and sandbox-only helpers)

    def atlas_orgs(self) -> dict[str, dict]:
        return sandbox_atlas_orgs(self.state())

    def atlas_add_project(self, org_id: str, name: str = "e2e-project") -> dict:
        """A project in an Atlas org (sandbox helper): Atlas then refuses to delete the org."""
        r = _http().post(f"{self.url}/_sandbox/atlas/orgs/{org_id}/projects", json={"name": name}, timeout=10)
        assert r.status_code < 300, f"add project -> {r.status_code}: {r.text}"
        return r.json()

    def atlas_remove_projects(self, org_id: str) -> None:
        r = _http().delete(f"{self.url}/_sandbox/atlas/orgs/{org_id}/projects", timeout=10)
        assert r.status_code < 300, f"remove projects -> {r.status_code}: {r.text}"

    # -- env0

    @property
    def env0_creds(self) -> dict:
        return self.credentials["env0"]

    @property
    def env0_org_id(self) -> str:
        return self.env0_creds["organization_id"]

    def env0_orgs(self) -> dict[str, dict]:
        return sandbox_env0_orgs(self.state())

    def env0_keys(self, org_id: str | None = None, *, prefix: str = "") -> list[dict]:
        """The API keys of an env0 org (default: the seeded one) whose name starts with `prefix`,
        without the seeded key."""
        org = self.env0_orgs().get(org_id or self.env0_org_id)
        keys = org["api_keys"] if org else []
        return [k for k in keys if not k["seeded"] and k["name"].startswith(prefix)]

    def env0_project_id(self, org_id: str | None = None) -> str:
        """The id of a project of an env0 org (the seeded org has one)."""
        return self.env0_orgs()[org_id or self.env0_org_id]["projects"][0]["id"]

    def env0_api(self) -> "Env0API":
        return Env0API(self.url, self.env0_creds["api_key_id"], self.env0_creds["api_key_secret"])

    # -- Braintrust

    @property
    def braintrust_creds(self) -> dict:
        return self.credentials["braintrust"]

    def braintrust_orgs(self) -> dict[str, dict]:
        return sandbox_braintrust_orgs(self.state())

    def braintrust_keys(self, *, prefix: str = "") -> list[dict]:
        """Braintrust API keys (every org) whose name starts with `prefix`, without the seeded key."""
        return [k for k in sandbox_braintrust_keys(self.state())
                if not k["seeded"] and k["name"].startswith(prefix)]

    def braintrust_tokens(self, *, prefix: str = "") -> list[dict]:
        """Braintrust service tokens (every org) whose name starts with `prefix`, without the
        seeded organization-owner token."""
        return [t for t in sandbox_braintrust_tokens(self.state())
                if not t["seeded"] and t["name"].startswith(prefix)]

    def braintrust_add_org(self, name: str) -> dict:
        """Another Braintrust organization the sandbox user belongs to (sandbox helper)."""
        r = _http().post(f"{self.url}/_sandbox/braintrust/organizations", json={"name": name}, timeout=10)
        assert r.status_code < 300, f"add organization -> {r.status_code}: {r.text}"
        return r.json()

    def braintrust_api(self, credential: str = "api_key") -> "BraintrustAPI":
        """Braintrust's API as the sandbox user (`api_key`) or its organization-owner service
        token (`service_token`)."""
        return BraintrustAPI(self.url, self.braintrust_creds[credential])

    # -- Traceloop

    def traceloop_orgs(self, *, prefix: str = "") -> list[dict]:
        return [o for o in sandbox_traceloop_orgs(self.state()) if o["name"].startswith(prefix)]


# Accessors of `GET /_sandbox/state` for the other vendors: the one place that knows its shape.

def sandbox_env0_orgs(state: dict) -> dict[str, dict]:
    """org id -> org, from {"env0": {"orgs": [{"id", "name", "description", "photo_url", "mode",
    "created_by", "created_at", "seeded", "projects": [{"id", "name"}], "custom_roles": [...],
    "api_keys": [{"id", "name", "api_key_id", "organization_role", "projects_permissions":
    [{"project_id", "project_role"}], "created_at", "seeded", ...}]}]}}."""
    return {o["id"]: o for o in state["env0"]["orgs"]}


def sandbox_braintrust_orgs(state: dict) -> dict[str, dict]:
    """org id -> org, from {"braintrust": {"orgs": [{"id", "name", "created", "seeded", ...}]}}."""
    return {o["id"]: o for o in state["braintrust"]["orgs"]}


def sandbox_braintrust_keys(state: dict) -> list[dict]:
    """{"braintrust": {"api_keys": [{"id", "name", "preview_name", "org_id", "user_id", "created",
    "seeded"}]}}."""
    return state["braintrust"]["api_keys"]


def sandbox_braintrust_tokens(state: dict) -> list[dict]:
    """{"braintrust": {"service_tokens": [{"id", "name", "preview_name", "service_account_id",
    "org_id", "created", "seeded"}]}}."""
    return state["braintrust"]["service_tokens"]


def sandbox_traceloop_orgs(state: dict) -> list[dict]:
    """{"traceloop": {"orgs": [{"id", "name", "envs": [slug], "retention_hours", "created"}]}}
    (environment keys are never shown)."""
    return state["traceloop"]["orgs"]


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
        # Take the Digest challenge on a body-less request: requests then authenticates every
        # later call up front. (Answering the challenge of a POST means re-sending it on a
        # connection the server may already be closing, because it never read the first body.)
        self._call("GET", "/orgs?itemsPerPage=1")

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

    def add_access_entries(self, org_id: str, key_id: str, entries: list[dict]) -> dict:
        """POST …/accessList with `[{"ipAddress": …} or {"cidrBlock": …}, …]`."""
        return self._call("POST", f"/orgs/{org_id}/apiKeys/{key_id}/accessList", json=entries)

    def remove_access_entry(self, org_id: str, key_id: str, entry: str) -> None:
        """DELETE …/accessList/{entry}: an address, or a block (sent URL-encoded)."""
        self._call("DELETE", f"/orgs/{org_id}/apiKeys/{key_id}/accessList/{quote(entry, safe='')}")

    def access_list(self, org_id: str, key_id: str) -> list[str]:
        """The key's entries as Atlas spells their blocks (`203.0.113.7/32`), sorted."""
        page = self._call("GET", f"/orgs/{org_id}/apiKeys/{key_id}/accessList?itemsPerPage=500")
        return sorted(e["cidrBlock"] for e in page["results"])

    def assign_project(self, group_id: str, key_id: str, roles: list[str]) -> None:
        """POST /groups/{groupId}/apiKeys/{id}: the key gets `roles` in the project."""
        self._call("POST", f"/groups/{group_id}/apiKeys/{key_id}", json=[{"roles": roles}])

    def unassign_project(self, group_id: str, key_id: str) -> None:
        self._call("DELETE", f"/groups/{group_id}/apiKeys/{key_id}")

    def project_roles(self, org_id: str, key_id: str) -> dict[str, list[str]]:
        """project id -> sorted roles, from the key's `roles` entries that carry a `groupId`."""
        found: dict[str, list[str]] = {}
        for r in self.get_key(org_id, key_id)["roles"]:
            if "groupId" in r:
                found.setdefault(r["groupId"], []).append(r["roleName"])
        return {g: sorted(roles) for g, roles in found.items()}

    def create_org(self, name: str, **extra: Any) -> dict:
        """POST /orgs; returns the response (`organization`, and `apiKey` if one was requested).
        Atlas wants an `orgOwnerId` (a user, 24 hex) when the caller is an API key: a made-up one."""
        body = {"name": name, "orgOwnerId": token_hex(12), **extra}
        return self._call("POST", "/orgs", json=body)

    def get_org(self, org_id: str) -> dict:
        return self._call("GET", f"/orgs/{org_id}")

    def delete_org(self, org_id: str) -> None:
        self._call("DELETE", f"/orgs/{org_id}")


class Env0API:
    """env0's API of the sandbox (HTTP Basic), for out-of-band changes."""

    def __init__(self, base_url: str, api_key_id: str, api_key_secret: str):
        self.base = base_url.rstrip("/")
        self.session = _http()
        self.session.auth = (api_key_id, api_key_secret)

    def _call(self, method: str, path: str, **kw: Any) -> Any:
        r = self.session.request(method, self.base + path, timeout=10, **kw)
        assert r.status_code < 300, f"{method} {path} -> {r.status_code}: {r.text}"
        return r.json() if r.content else None

    def create_org(self, name: str, **extra: Any) -> dict:
        return self._call("POST", "/organizations", json={"name": name, **extra})

    def create_key(self, name: str, role: str = "Admin", org_id: str | None = None) -> dict:
        body: dict[str, Any] = {"name": name, "permissions": {"organizationRole": role}}
        if org_id:
            body["organizationId"] = org_id
        return self._call("POST", "/api-keys", json=body)

    def delete_key(self, key_id: str) -> None:
        self._call("DELETE", f"/api-keys/{key_id}")


class BraintrustAPI:
    """Braintrust's API of the sandbox (Bearer), for out-of-band changes."""

    def __init__(self, base_url: str, api_key: str):
        self.base = base_url.rstrip("/") + "/v1"
        self.session = _http()
        self.session.headers["Authorization"] = f"Bearer {api_key}"

    def _call(self, method: str, path: str, **kw: Any) -> Any:
        r = self.session.request(method, self.base + path, timeout=10, **kw)
        assert r.status_code < 300, f"{method} {path} -> {r.status_code}: {r.text}"
        return r.json() if r.content else None

    def create_key(self, name: str, org_name: str | None = None) -> dict:
        body = {"name": name, **({"org_name": org_name} if org_name else {})}
        return self._call("POST", "/api_key", json=body)

    def get_key(self, key_id: str) -> dict:
        return self._call("GET", f"/api_key/{key_id}")

    def delete_key(self, key_id: str) -> None:
        self._call("DELETE", f"/api_key/{key_id}")

    def create_token(self, name: str, service_account_id: str) -> dict:
        return self._call("POST", "/service_token", json={"name": name, "service_account_id": service_account_id})

    def get_token(self, token_id: str) -> dict:
        return self._call("GET", f"/service_token/{token_id}")

    def delete_token(self, token_id: str) -> None:
        self._call("DELETE", f"/service_token/{token_id}")


@dataclass
class Diagnostic:
    """One diagnostic block Terraform printed (-no-color): `Error: <summary>` or `Warning: ...`."""

    severity: str
    summary: str
    text: str  # the whole block: the summary, `with <address>,`, the source lines and the detail

    @property
    def address(self) -> str | None:
        m = re.search(r"^\s*with ([^,\n]+),", self.text, re.M)
        return m.group(1) if m else None


def diagnostics(output: str, severity: str | None = None) -> list[Diagnostic]:
    """The diagnostics in Terraform's human output (both streams), optionally of one severity."""
    found = []
    # Terraform frames each diagnostic in a box drawn with "│" (also without colour).
    blocks = re.split(r"^(?:│ |╷\n│ )?(?=(?:Error|Warning): )", strip_ansi(output), flags=re.M)
    for block in blocks:
        m = re.match(r"(Error|Warning): (.*)", block)
        if not m:
            continue
        text = block.split("╵")[0]
        text = "\n".join(line[2:] if line.startswith("│ ") else line.lstrip("│") for line in text.splitlines())
        found.append(Diagnostic(m.group(1), m.group(2).strip(), text))
    return [d for d in found if severity is None or d.severity == severity]


def unwrap(text: str) -> str:
    """Terraform wraps long diagnostic details: the text with every run of whitespace as one space."""
    return " ".join(text.split())


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


def hcl(value: Any) -> str:
    """A Python value as an HCL expression: str, bool, int, list (tuple), dict (object)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(hcl(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{\n" + "".join(f"    {json.dumps(k)} = {hcl(v)}\n" for k, v in value.items()) + "  }"
    raise TypeError(f"no HCL form for {value!r}")


def block_hcl(kind: str, type_name: str, name: str, attrs: dict[str, Any], provider: str | None = None,
              extra: str = "") -> str:
    """`resource`/`data` block: attrs rendered with hcl(), None values left out; `provider` is
    the alias (keysmith.<provider>)."""
    lines = [f"  provider = keysmith.{provider}"] if provider else []
    lines += [f"  {k} = {hcl(v)}" for k, v in attrs.items() if v is not None]
    body = "\n".join(lines)
    return f'\n{kind} "{type_name}" "{name}" {{\n{body}\n{extra}}}\n'


def resource_hcl(type_name: str, name: str, attrs: dict[str, Any], provider: str | None = None,
                 extra: str = "") -> str:
    return block_hcl("resource", type_name, name, attrs, provider, extra)


def data_hcl(type_name: str, name: str, attrs: dict[str, Any], provider: str | None = None) -> str:
    return block_hcl("data", type_name, name, attrs, provider)
