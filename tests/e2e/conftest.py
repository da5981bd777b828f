"""Fixtures of the end-to-end suite (see harness.py for the helpers they hand out).

- `binaries` (session): the release binaries exist (`make build`).
- `terraform` (session): the Terraform command, checked to be v1.15.5.
- `cli_config` (session): one filesystem mirror + plugin cache + CLI config shared by every workspace.
- `sandbox` (module): one keysmith-sandbox per test module; `own_sandbox`: one for this test only.
- `workspace` / `new_workspace`: Terraform working directories in the test's temp dir.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from harness import TERRAFORM_VERSION, Sandbox, Workspace, bin_dir, clean_env, terraform_command, write_cli_config


@dataclass(frozen=True)
class Binaries:
    provider: Path
    sandbox: Path


@pytest.fixture(scope="session")
def binaries() -> Binaries:
    d = bin_dir()
    found = Binaries(provider=d / "terraform-provider-keysmith", sandbox=d / "keysmith-sandbox")
    missing = [str(p) for p in (found.provider, found.sandbox) if not p.is_file()]
    if missing:
        pytest.fail(f"release binaries missing: {', '.join(missing)} (run `make build`)", pytrace=False)
    return found


@pytest.fixture(scope="session")
def terraform() -> list[str]:
    cmd = terraform_command()
    p = subprocess.run(cmd + ["version", "-json"], capture_output=True, text=True, timeout=60,
                       env=clean_env(TF_CLI_CONFIG_FILE="/dev/null"), stdin=subprocess.DEVNULL)
    assert p.returncode == 0, f"{cmd} version failed:\n{p.stdout}\n{p.stderr}"
    version = json.loads(p.stdout)["terraform_version"]
    if version != TERRAFORM_VERSION:
        pytest.fail(f"{' '.join(cmd)} is Terraform {version}; this suite drives {TERRAFORM_VERSION} "
                    "(run it with `make e2e`, which installs it)", pytrace=False)
    return cmd


@pytest.fixture(scope="session")
def cli_config(tmp_path_factory, binaries) -> Path:
    return write_cli_config(tmp_path_factory.mktemp("terraform-cli"), binaries.provider)


def _start_sandbox(binaries: Binaries, workdir: Path):
    sb = Sandbox.start(binaries.sandbox, workdir)
    try:
        yield sb
    finally:
        sb.stop()


@pytest.fixture(scope="module")
def sandbox(binaries, tmp_path_factory) -> Sandbox:
    """One keysmith-sandbox for the whole test module (tests keep apart by key names)."""
    yield from _start_sandbox(binaries, tmp_path_factory.mktemp("sandbox"))


@pytest.fixture
def own_sandbox(binaries, tmp_path) -> Sandbox:
    """A keysmith-sandbox of this test alone, for assertions about everything it holds."""
    yield from _start_sandbox(binaries, tmp_path / "sandbox")


@pytest.fixture
def new_workspace(tmp_path, terraform, cli_config):
    """Factory: new_workspace("name") -> a fresh Terraform working directory in this test's temp dir."""
    return lambda name="ws": Workspace(tmp_path / name, terraform, cli_config)


@pytest.fixture
def workspace(new_workspace) -> Workspace:
    return new_workspace("ws")
