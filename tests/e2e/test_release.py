"""`make release`: the Terraform Registry's artifact set, installed and verified by real `terraform init`.

- the set is exactly the zip, SHA256SUMS and manifest (SPEC §9 names), the zip holds the built
  binary as `terraform-provider-keysmith_v<version>` (mode 0755), and a second run gives the same bytes;
- `terraform init` installs the zip from a `filesystem_mirror` (packed layout), checking it against
  a lock file that records the SHA256SUMS entry as its `zh:` hash; the installed provider applies,
  plans and destroys; any other zip is refused;
- with GPG_FINGERPRINT, the SUMS file gets a binary detached signature that gpg verifies (a
  throwaway key in a temp GNUPGHOME; gpg is required, never skipped), and that Terraform verifies
  when the set is served by a loopback stand-in for the Registry's provider protocol.
"""

from __future__ import annotations

import datetime
import hashlib
import http.server
import ipaddress
import json
import re
import ssl
import threading
import shutil
import stat
import subprocess
import time
import zipfile
from pathlib import Path

import pytest

from harness import (PROVIDER_SOURCE, REPO, Sandbox, Workspace, api_key_hcl, make_env, provider_version,
                     run_make, sandbox_atlas_keys, unwrap)

VERSION = provider_version()
PREFIX = f"terraform-provider-keysmith_{VERSION}"


def platform() -> str:
    return subprocess.run(["python3", str(REPO / "scripts" / "release.py"), "platform"], capture_output=True,
                          text=True, check=True).stdout.strip()


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def sums(path: Path) -> dict[str, str]:
    """file name -> hash of a SHA256SUMS file, checking its `<64 hex>  <name>` format."""
    entries = {}
    for line in path.read_text().splitlines():
        m = re.fullmatch(r"([0-9a-f]{64})  (\S+)", line)
        assert m, f"not a SHA256SUMS line: {line!r}"
        entries[m.group(2)] = m.group(1)
    return entries


def release(out: Path, **env: str) -> Path:
    run_make("release", f"RELEASE_DIR={out}", f"GPG_FINGERPRINT={env.pop('GPG_FINGERPRINT', '')}",
             env=make_env(**env))
    return out


@pytest.fixture(scope="module")
def release_dir(tmp_path_factory) -> Path:
    return release(tmp_path_factory.mktemp("release-artifacts"))


def test_release_writes_the_registrys_artifact_set(release_dir, binaries):
    zip_name = f"{PREFIX}_{platform()}.zip"
    assert sorted(p.name for p in release_dir.iterdir()) == sorted(
        [zip_name, f"{PREFIX}_SHA256SUMS", f"{PREFIX}_manifest.json"])

    with zipfile.ZipFile(release_dir / zip_name) as z:
        (entry,) = z.infolist()
        assert entry.filename == f"terraform-provider-keysmith_v{VERSION}"
        mode = entry.external_attr >> 16
        assert stat.S_ISREG(mode) and stat.S_IMODE(mode) == 0o755, oct(mode)
        assert z.read(entry) == binaries.provider.read_bytes(), "the zip must hold the release build"

    assert json.loads((release_dir / f"{PREFIX}_manifest.json").read_text()) == {
        "version": 1, "metadata": {"protocol_versions": ["6.0"]}}

    assert sums(release_dir / f"{PREFIX}_SHA256SUMS") == {
        zip_name: sha256(release_dir / zip_name),
        f"{PREFIX}_manifest.json": sha256(release_dir / f"{PREFIX}_manifest.json"),
    }


def test_release_is_reproducible(release_dir, tmp_path):
    time.sleep(1.1)  # a zip stamped with the current time would differ now
    again = release(tmp_path / "again")
    for first in release_dir.iterdir():
        assert (again / first.name).read_bytes() == first.read_bytes(), f"{first.name} differs between two runs"
    commit_time = int(subprocess.run(["git", "-C", str(REPO), "log", "-1", "--format=%ct"], capture_output=True,
                                     text=True, check=True).stdout)
    with zipfile.ZipFile(again / f"{PREFIX}_{platform()}.zip") as z:
        stamped = time.struct_time(z.infolist()[0].date_time + (0, 0, -1))
    assert abs(time.mktime(stamped) - time.mktime(time.gmtime(commit_time))) <= 2, "the entry carries the commit time"


def mirror_config(root: Path, zip_path: Path) -> Path:
    """A packed-layout filesystem mirror holding `zip_path`, and a CLI config installing keysmith from it
    (no plugin cache: every init unpacks the zip itself)."""
    pkg = root / "mirror" / PROVIDER_SOURCE
    pkg.mkdir(parents=True)
    shutil.copyfile(zip_path, pkg / f"{PREFIX}_{platform()}.zip")
    config = root / "terraformrc"
    config.write_text(f"""
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
""")
    return config


def lock_hashes(workspace: Workspace) -> tuple[str, list[str]]:
    """(version, hashes) of keysmith/keysmith in the workspace's .terraform.lock.hcl."""
    text = (workspace.path / ".terraform.lock.hcl").read_text()
    m = re.search(r'provider "registry.terraform.io/keysmith/keysmith" \{(.*?)\n\}', text, re.S)
    assert m, f"keysmith/keysmith is not in the lock file:\n{text}"
    version = re.search(r'version\s*=\s*"([^"]+)"', m.group(1)).group(1)
    hashes = re.findall(r'"((?:h1|zh):[^"]+)"', m.group(1))
    return version, hashes


def config_hcl(sandbox: Sandbox, name: str) -> str:
    return f"""
terraform {{
  required_providers {{
    keysmith = {{
      source  = "keysmith/keysmith"
      version = "{VERSION}"
    }}
  }}
}}

provider "keysmith" {{
  atlas {{
    base_url    = "{sandbox.url}"
    public_key  = "{sandbox.credentials['atlas']['public_key']}"
    private_key = "{sandbox.credentials['atlas']['private_key']}"
  }}
}}
""" + api_key_hcl("k", sandbox.credentials["atlas"]["org_id"], name, ["ORG_READ_ONLY"])


def lock_file(zh: str) -> str:
    """A lock file recording keysmith/keysmith by its zip's hash alone, as an install from the
    Registry would have (the Registry reports every platform's `zh:` from the SHA256SUMS file)."""
    return f"""
provider "{PROVIDER_SOURCE}" {{
  version     = "{VERSION}"
  constraints = "{VERSION}"
  hashes = [
    "zh:{zh}",
  ]
}}
"""


def test_terraform_init_verifies_the_release_zip_from_a_filesystem_mirror(release_dir, terraform, sandbox, tmp_path):
    zip_path = release_dir / f"{PREFIX}_{platform()}.zip"
    zh = sums(release_dir / f"{PREFIX}_SHA256SUMS")[zip_path.name]
    ws = Workspace(tmp_path / "ws", terraform, mirror_config(tmp_path / "good", zip_path))
    ws.write(config_hcl(sandbox, "release-zip"))
    ws.write(lock_file(zh), ".terraform.lock.hcl")

    # A filesystem mirror gives no hashes of its own: init checks the zip against the lock file's
    # zh: (the SHA256SUMS entry), then adds the h1: of what it unpacked.
    init = ws.init()
    assert f"Installed keysmith/keysmith v{VERSION}" in init.stdout, init.describe()
    version, hashes = lock_hashes(ws)
    assert version == VERSION
    assert f"zh:{zh}" in hashes and any(h.startswith("h1:") for h in hashes), hashes
    installed = ws.path / ".terraform" / "providers" / PROVIDER_SOURCE / VERSION / platform()
    assert [p.name for p in installed.iterdir()] == [f"terraform-provider-keysmith_v{VERSION}"]

    # The provider from the zip works.
    org = sandbox.credentials["atlas"]["org_id"]
    ws.apply()
    assert [k.desc for k in sandbox_atlas_keys(sandbox.state(), org) if k.desc == "release-zip"] == ["release-zip"]
    ws.plan()  # no changes
    ws.destroy()
    assert not [k for k in sandbox_atlas_keys(sandbox.state(), org) if k.desc == "release-zip"]

    # Any other zip is refused against the same lock file.
    with zipfile.ZipFile(zip_path) as z:
        entry = z.infolist()[0]
        tampered_bytes = z.read(entry) + b"\0"
    tampered = tmp_path / "tampered.zip"
    with zipfile.ZipFile(tampered, "w") as z:
        z.writestr(entry, tampered_bytes)
    other = Workspace(tmp_path / "ws-tampered", terraform, mirror_config(tmp_path / "bad", tampered))
    other.write(config_hcl(sandbox, "release-zip"))
    other.write(lock_file(zh), ".terraform.lock.hcl")
    refused = other.init(rc=1)
    assert "checksums" in unwrap(refused.output) and "lock file" in unwrap(refused.output), refused.describe()


def packet_tag(data: bytes) -> int:
    """The tag of the first OpenPGP packet (RFC 4880 §4.2: old or new format header)."""
    assert data and data[0] & 0x80, "not a binary OpenPGP packet (ASCII armour?)"
    return data[0] & 0x3F if data[0] & 0x40 else (data[0] >> 2) & 0x0F


class Registry:
    """The Terraform Registry's provider protocol (v1) for one release directory, over HTTPS on
    loopback: `versions` (protocols from the release's manifest) and `download` (the zip, the
    SHA256SUMS, its signature and the public key). Terraform reaches it as registry.terraform.io
    through a `host` block of its CLI configuration, and trusts its certificate via SSL_CERT_FILE."""

    def __init__(self, release_dir: Path, public_key: str, key_id: str, workdir: Path):
        self.release_dir, self.public_key, self.key_id = release_dir, public_key, key_id
        self.cert = workdir / "registry-cert.pem"
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(*self._self_signed(workdir))
        registry = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def do_GET(self):
                registry.requests.append(self.path)
                body, kind = registry.answer(self.path)
                self.send_response(200 if body is not None else 404)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body or b"")))
                self.end_headers()
                self.wfile.write(body or b"")

        self.requests: list[str] = []
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True)
        self.url = f"https://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def _self_signed(self, workdir: Path) -> tuple[Path, Path]:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "keysmith test registry")])
        now = datetime.datetime.now(datetime.timezone.utc)
        cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(hours=1))
                .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
                .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
                .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False)
                .sign(key, hashes.SHA256()))
        key_file = workdir / "registry-key.pem"
        self.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
        return self.cert, key_file

    def answer(self, path: str) -> tuple[bytes | None, str]:
        base = "/v1/providers/keysmith/keysmith/"
        protocols = json.loads((self.release_dir / f"{PREFIX}_manifest.json").read_text())["metadata"]["protocol_versions"]
        os_name, arch = platform().split("_")
        if path == base + "versions":
            return json.dumps({"versions": [{"version": VERSION, "protocols": protocols,
                                             "platforms": [{"os": os_name, "arch": arch}]}]}).encode(), "application/json"
        if path == f"{base}{VERSION}/download/{os_name}/{arch}":
            zip_name = f"{PREFIX}_{platform()}.zip"
            return json.dumps({
                "protocols": protocols, "os": os_name, "arch": arch, "filename": zip_name,
                "download_url": f"{self.url}/files/{zip_name}",
                "shasums_url": f"{self.url}/files/{PREFIX}_SHA256SUMS",
                "shasums_signature_url": f"{self.url}/files/{PREFIX}_SHA256SUMS.sig",
                "shasum": sums(self.release_dir / f"{PREFIX}_SHA256SUMS")[zip_name],
                "signing_keys": {"gpg_public_keys": [{"key_id": self.key_id, "ascii_armor": self.public_key}]},
            }).encode(), "application/json"
        if path.startswith("/files/") and (self.release_dir / path[len("/files/"):]).is_file():
            return (self.release_dir / path[len("/files/"):]).read_bytes(), "application/octet-stream"
        return None, "text/plain"

    def cli_config(self, path: Path) -> Path:
        path.write_text(f"""
disable_checkpoint = true
host "registry.terraform.io" {{
  services = {{
    "providers.v1" = "{self.url}/v1/providers/"
  }}
}}
""")
        return path

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_signed_release_verifies_with_gpg_and_installs_through_a_registry(tmp_path, terraform, sandbox):
    gpg = shutil.which("gpg")
    assert gpg, "gpg (GnuPG 2) is needed to test `make release GPG_FINGERPRINT=...` (Debian: apt-get install gnupg)"
    home = tmp_path / "gnupg"
    home.mkdir(mode=0o700)
    env = make_env(GNUPGHOME=str(home))

    def run_gpg(*args: str, check: bool = True) -> subprocess.CompletedProcess:
        p = subprocess.run([gpg, "--batch", *args], env=env, capture_output=True, text=True, timeout=120,
                           stdin=subprocess.DEVNULL)
        assert not check or p.returncode == 0, f"gpg {' '.join(args)}: {p.stderr}"
        return p

    registry = None
    try:
        # RSA: what the Registry and Terraform's OpenPGP library accept (no EdDSA there).
        run_gpg("--passphrase", "", "--quick-generate-key", "keysmith release test <release@keysmith.invalid>",
                "rsa3072", "sign", "never")
        listing = run_gpg("--with-colons", "--list-secret-keys").stdout
        fingerprint = re.search(r"^fpr:+([0-9A-F]{40}):", listing, re.M).group(1)

        out = release(tmp_path / "signed", GNUPGHOME=str(home), GPG_FINGERPRINT=fingerprint)
        sums_file, sig = out / f"{PREFIX}_SHA256SUMS", out / f"{PREFIX}_SHA256SUMS.sig"
        assert sig.is_file(), sorted(p.name for p in out.iterdir())
        assert packet_tag(sig.read_bytes()) == 2, "a detached signature is one OpenPGP signature packet"

        verified = run_gpg("--status-fd", "1", "--verify", str(sig), str(sums_file))
        assert re.search(rf"^\[GNUPG:\] VALIDSIG {fingerprint} ", verified.stdout, re.M), verified.stdout

        # Terraform verifies it as it does for the Registry: the signature of the SUMS file by the
        # key the registry names, then the zip against the SUMS file; the lock file gets the zh:.
        public_key = run_gpg("--armor", "--export", fingerprint).stdout
        registry = Registry(out, public_key, fingerprint[-16:], tmp_path)
        ws = Workspace(tmp_path / "ws", terraform, registry.cli_config(tmp_path / "terraformrc"),
                       SSL_CERT_FILE=str(registry.cert))
        ws.write(config_hcl(sandbox, "signed-release"))
        init = ws.init()
        assert re.search(rf"Installed keysmith/keysmith v{re.escape(VERSION)} \(self-signed, key ID {fingerprint[-16:]}\)",
                         init.stdout), init.describe()
        zip_name = f"{PREFIX}_{platform()}.zip"
        assert f"/files/{zip_name}" in registry.requests and f"/files/{sig.name}" in registry.requests
        _, hashes = lock_hashes(ws)
        assert f"zh:{sums(sums_file)[zip_name]}" in hashes, hashes
        assert "Incomplete lock file information" not in init.output
        ws.apply()
        ws.destroy()

        # It signs the SUMS file's bytes: change the manifest's hash (the zip's entry stays right),
        # and neither gpg nor Terraform accept it.
        manifest_name = f"{PREFIX}_manifest.json"
        good = sums(sums_file)[manifest_name]
        forged_hash = ("1" if good[0] == "0" else "0") + good[1:]
        sums_file.write_text(sums_file.read_text().replace(f"{good}  {manifest_name}", f"{forged_hash}  {manifest_name}"))
        assert sums(sums_file)[manifest_name] == forged_hash
        bad = run_gpg("--status-fd", "1", "--verify", str(sig), str(sums_file), check=False)
        assert bad.returncode != 0 and "BADSIG" in bad.stdout, bad.stdout
        forged = Workspace(tmp_path / "ws-forged", terraform, registry.cli_config(tmp_path / "terraformrc"),
                           SSL_CERT_FILE=str(registry.cert))
        forged.write(config_hcl(sandbox, "signed-release"))
        refused = forged.init(rc=1)
        assert "signature" in unwrap(refused.output).lower(), refused.describe()
    finally:
        if registry:
            registry.stop()
        subprocess.run(["gpgconf", "--kill", "gpg-agent"], env=env, capture_output=True)
