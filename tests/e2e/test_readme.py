"""README.md's "Use it with your own configuration" recipe, run by bash exactly as written.

The block is taken from README.md at test time, so the README cannot drift from what works. It
runs from the repository root, as the README says, with a temporary HOME (so `make install` and
`~/keysmith-try` land there), no TF_CLI_CONFIG_FILE, no KEYSMITH_* or backend variables, and the
caller's PATH (whatever `terraform` that holds, the recipe must pick v1.15.5 itself). Around it,
only a trap that stops the background sandbox should the recipe fail before its own `kill`.
"""

from __future__ import annotations

import re
import subprocess

from harness import REPO, TERRAFORM_VERSION, assert_not_crashed, make_env, strip_ansi

HEADING = "## Use it with your own configuration"


def recipe() -> str:
    text = (REPO / "README.md").read_text()
    assert HEADING in text, f"README.md has no {HEADING!r} section"
    section = text.split(HEADING, 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"^```sh\n(.*?)^```$", section, re.S | re.M)
    assert blocks, "the section has no ```sh block"
    return blocks[0]


def test_readme_recipe_runs_as_written(tmp_path, binaries):
    home = tmp_path / "home"
    home.mkdir()
    script = tmp_path / "recipe.sh"
    script.write_text(recipe())
    status = tmp_path / "sandbox-at-exit"
    # At exit: was the sandbox already stopped by the recipe (given 5 s to finish)? Stop it if not.
    harness = f"""
alive() {{ # a zombie (exited, not yet reaped) counts as stopped
  kill -0 "$1" 2> /dev/null && [ "$(cut -d' ' -f3 "/proc/$1/stat" 2> /dev/null)" != Z ]
}}
on_exit() {{
  [ -n "${{KEYSMITH_SANDBOX_PID:-}}" ] || return 0
  for _ in $(seq 50); do alive "$KEYSMITH_SANDBOX_PID" || break; sleep 0.1; done
  if alive "$KEYSMITH_SANDBOX_PID"; then
    echo "running $KEYSMITH_SANDBOX_PID" > {status}; kill "$KEYSMITH_SANDBOX_PID"
  else
    echo "stopped $KEYSMITH_SANDBOX_PID" > {status}
  fi
}}
trap on_exit EXIT
source {script}
"""
    env = make_env(home)
    assert not any(k.startswith(("TF_", "KEYSMITH_", "MONGODB_ATLAS_")) for k in env)
    p = subprocess.run(["bash", "-euo", "pipefail", "-c", harness], cwd=REPO, env=env, stdin=subprocess.DEVNULL,
                       capture_output=True, text=True, timeout=900)
    stdout = strip_ansi(p.stdout)  # Terraform colours its output, as it does for a user
    out = stdout + strip_ansi(p.stderr)
    assert p.returncode == 0, f"the README recipe failed (exit code {p.returncode}):\n{out}"
    assert_not_crashed(out)

    # `make terraform` and the recipe's own `terraform version`: both the one the suite drives.
    versions = re.findall(r"^Terraform v(\S+)$", stdout, re.M)
    assert len(versions) >= 2 and set(versions) == {TERRAFORM_VERSION}, (versions, out)
    assert (home / ".terraform.d" / "plugins" / "registry.terraform.io" / "keysmith" / "keysmith").is_dir()
    assert "Installed keysmith/keysmith v" in stdout, out
    assert "Apply complete! Resources: 1 added, 0 changed, 0 destroyed." in stdout, out
    assert "No changes. Your infrastructure matches the configuration." in stdout, out
    assert "Destroy complete! Resources: 1 destroyed." in stdout, out
    assert (home / "keysmith-try" / "main.tf").is_file()

    # The recipe's own `kill` stopped the sandbox it started.
    assert status.is_file(), "the recipe never set KEYSMITH_SANDBOX_PID"
    state, pid = status.read_text().split()
    assert state == "stopped", f"the sandbox (pid {pid}) still ran after the recipe's kill"
