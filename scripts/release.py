#!/usr/bin/env python3
"""`make release` and `make install`: the provider as the Terraform Registry and Terraform expect it.

    scripts/release.py release --bin PROVIDER --out DIR [--gpg-fingerprint FPR]   (make release [GPG_FINGERPRINT=FPR])
    scripts/release.py install --bin PROVIDER --plugins DIR
    scripts/release.py platform

release  writes the Registry's artifact set for this machine's platform into DIR:
           terraform-provider-keysmith_<version>_<os>_<arch>.zip   (one file inside:
                                                                     terraform-provider-keysmith_v<version>)
           terraform-provider-keysmith_<version>_manifest.json     (protocol_versions ["6.0"])
           terraform-provider-keysmith_<version>_SHA256SUMS        (the zips and the manifest)
           terraform-provider-keysmith_<version>_SHA256SUMS.sig    (with --gpg-fingerprint:
                                                                     a binary detached signature by gpg)
         The zip is reproducible: fixed timestamp (SOURCE_DATE_EPOCH, else the HEAD commit's time),
         mode 0755, fixed compression, so the same binary always gives the same bytes and hash.
install  copies the provider into DIR/registry.terraform.io/keysmith/keysmith/<version>/<os>_<arch>/
         (DIR is ~/.terraform.d/plugins for `make install`: an implied local mirror, which a plain
         `terraform init` searches when the CLI configuration has no provider_installation block).
platform prints <os>_<arch> as Terraform names it.

The version is Cargo.toml's. Only the host platform is built (no cross-compilation offline).
Python 3.11 standard library only; gpg only when signing.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform as _platform
import shutil
import subprocess
import sys
import time
import tomllib
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
NAME = "terraform-provider-keysmith"
SOURCE = "registry.terraform.io/keysmith/keysmith"
# The Registry's manifest (terraform-registry-manifest.json): the plugin protocol we speak.
MANIFEST = {"version": 1, "metadata": {"protocol_versions": ["6.0"]}}


def version() -> str:
    with open(REPO / "Cargo.toml", "rb") as f:
        return tomllib.load(f)["package"]["version"]


def platform() -> str:
    """This machine as Terraform's <os>_<arch> (linux_amd64, darwin_arm64, ...)."""
    system = {"Linux": "linux", "Darwin": "darwin", "FreeBSD": "freebsd"}.get(_platform.system())
    arch = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(_platform.machine().lower())
    if not system or not arch:
        sys.exit(f"release.py: unsupported platform {_platform.system()} {_platform.machine()}")
    return f"{system}_{arch}"


def source_date() -> tuple[int, int, int, int, int, int]:
    """The zip entries' timestamp: SOURCE_DATE_EPOCH, else the HEAD commit's time, else 1980-01-01."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if not epoch:
        try:
            epoch = subprocess.run(["git", "-C", str(REPO), "log", "-1", "--format=%ct"], capture_output=True,
                                   text=True, check=True).stdout.strip()
        except (OSError, subprocess.CalledProcessError):
            epoch = ""
    if not epoch:
        return (1980, 1, 1, 0, 0, 0)
    t = time.gmtime(max(int(epoch), 315532800))  # zip timestamps start in 1980
    return (t.tm_year, t.tm_mon, t.tm_mday, t.tm_hour, t.tm_min, t.tm_sec)


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def check_binary(binary: Path) -> None:
    if not binary.is_file() or not os.access(binary, os.X_OK):
        sys.exit(f"release.py: no provider binary at {binary} (run: make build)")


def release(binary: Path, out: Path, fingerprint: str | None) -> list[Path]:
    check_binary(binary)
    ver, plat = version(), platform()
    prefix = f"{NAME}_{ver}"
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob(f"{prefix}_*"):  # no stale zip or signature beside the new SUMS
        old.unlink()

    archive = out / f"{prefix}_{plat}.zip"
    entry = zipfile.ZipInfo(f"{NAME}_v{ver}", date_time=source_date())
    entry.create_system = 3  # Unix, so the mode below is honoured
    entry.external_attr = (0o100755 << 16)
    entry.compress_type = zipfile.ZIP_DEFLATED
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr(entry, binary.read_bytes(), compress_type=zipfile.ZIP_DEFLATED, compresslevel=9)

    manifest = out / f"{prefix}_manifest.json"
    manifest.write_text(json.dumps(MANIFEST, indent=2) + "\n")

    sums = out / f"{prefix}_SHA256SUMS"
    listed = sorted([archive, manifest], key=lambda p: p.name)
    sums.write_text("".join(f"{sha256(p)}  {p.name}\n" for p in listed))
    written = [archive, manifest, sums]

    if fingerprint:
        gpg = shutil.which("gpg")
        if not gpg:
            sys.exit("release.py: GPG_FINGERPRINT is set but there is no gpg on PATH (Debian: apt-get install gnupg)")
        sig = out / f"{sums.name}.sig"
        # As the Registry expects (and goreleaser's terraform-provider scaffolding does): a binary,
        # not ASCII-armoured, detached signature of the SUMS file.
        p = subprocess.run([gpg, "--batch", "--yes", "--local-user", fingerprint, "--output", str(sig),
                            "--detach-sign", str(sums)], stdin=subprocess.DEVNULL, capture_output=True, text=True)
        if p.returncode != 0:
            sys.exit(f"release.py: gpg could not sign with {fingerprint}:\n{p.stderr}")
        written.append(sig)
    return written


def install(binary: Path, plugins: Path) -> Path:
    check_binary(binary)
    ver = version()
    package = plugins / SOURCE / ver / platform()
    if package.exists():
        shutil.rmtree(package)  # only our binary in it: no stale file Terraform could pick
    package.mkdir(parents=True)
    target = package / f"{NAME}_v{ver}"
    shutil.copyfile(binary, target)
    target.chmod(0o755)
    return target


def main() -> int:
    ap = argparse.ArgumentParser(prog="scripts/release.py", description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("release", help="the Registry's artifact set (zip, SHA256SUMS, manifest, signature)")
    r.add_argument("--bin", required=True, type=Path, help="the release provider binary")
    r.add_argument("--out", required=True, type=Path, help="output directory")
    r.add_argument("--gpg-fingerprint", help="sign the SUMS file with this key of gpg's keyring")
    i = sub.add_parser("install", help="copy the provider into a local filesystem mirror")
    i.add_argument("--bin", required=True, type=Path, help="the release provider binary")
    i.add_argument("--plugins", required=True, type=Path, help="mirror root, e.g. ~/.terraform.d/plugins")
    sub.add_parser("platform", help="print <os>_<arch>")
    a = ap.parse_args()
    if a.cmd == "release":
        for path in release(a.bin, a.out, a.gpg_fingerprint):
            print(path)
    elif a.cmd == "install":
        target = install(a.bin, a.plugins)
        print(f"installed {SOURCE} v{version()} for {platform()}: {target}")
    else:
        print(platform())
    return 0


if __name__ == "__main__":
    sys.exit(main())
