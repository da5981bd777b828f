"""The scripts a user runs by hand: `make demo`'s script end to end, and usage on bad input."""

from __future__ import annotations

import os
import subprocess

import pytest

from harness import REPO, make_env


def test_demo_log_is_plain_text_when_not_a_terminal(tmp_path, binaries, terraform):
    """`make demo > demo.log`: the whole run, with no ANSI escape and no lock file warning in it."""
    env = make_env(KEYSMITH_TERRAFORM=os.environ.get("KEYSMITH_TERRAFORM") or "terraform",
                   KEYSMITH_BIN_DIR=str(binaries.provider.parent), KEYSMITH_DEMO_DIR=str(tmp_path / "demo"))
    p = subprocess.run([str(REPO / "scripts" / "demo.sh")], env=env, stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=600)
    log = p.stdout.decode(errors="replace")
    assert p.returncode == 0, log
    assert "Demo finished" in log and "No changes." in log, log
    esc = log.find("\x1b")
    assert esc < 0, f"ANSI escape at offset {esc}: {log[max(0, esc - 80):esc + 80]!r}"
    assert "Incomplete lock file information" not in log, log


@pytest.mark.parametrize("args", [[], ["start"], ["restart", "x"]])
def test_sandbox_sh_prints_its_usage(args):
    p = subprocess.run([str(REPO / "scripts" / "sandbox.sh"), *args], capture_output=True, text=True,
                       env=make_env(), stdin=subprocess.DEVNULL, timeout=30)
    assert p.returncode == 2, p
    assert p.stderr.startswith("usage: scripts/sandbox.sh start DIR"), p.stderr


@pytest.mark.parametrize("args", [[], ["a", "b", "c"]])
def test_tfrc_sh_prints_its_usage(args):
    p = subprocess.run([str(REPO / "scripts" / "tfrc.sh"), *args], capture_output=True, text=True,
                       env=make_env(), stdin=subprocess.DEVNULL, timeout=30)
    assert p.returncode == 2, p
    assert p.stderr.startswith("usage: scripts/tfrc.sh DIR"), p.stderr
