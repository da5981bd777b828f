"""The go-plugin side of the provider binary (SPEC §7, protocol.md §2), driven by hand the way
Terraform does it: magic cookie, version negotiation, Unix socket, AutoMTLS with Terraform's
certificate pinned, health, GRPCController/Shutdown, SIGINT, and `--debug` reattach mode."""

from __future__ import annotations

import base64
import json
import os
import re
import signal
import stat
import subprocess
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from grpc_health.v1 import health_pb2, health_pb2_grpc

from harness import (
    MAGIC_COOKIE,
    MAGIC_COOKIE_KEY,
    LineReader,
    api_key_hcl,
    assert_not_crashed,
    clean_env,
    stop_process,
    terraform_block,
)

HANDSHAKE = re.compile(r"^1\|6\|unix\|(?P<path>/[^|]+)\|grpc\|(?P<cert>[A-Za-z0-9+/]*)$")


# ---- a Terraform-like client certificate (go-plugin's generateCert, protocol.md §2.6) ----------


@dataclass(frozen=True)
class ClientCert:
    cert_pem: bytes
    key_pem: bytes


def terraform_like_cert() -> ClientCert:
    """Self-signed ECDSA P-521 / SHA-512, CA:TRUE, SAN localhost, EKU client+server auth."""
    key = ec.generate_private_key(ec.SECP521R1())
    name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "HashiCorp"),
                      x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.now(timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(seconds=30))
        .not_valid_after(now + timedelta(hours=262980))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=True,
                                     data_encipherment=False, key_agreement=True, key_cert_sign=True,
                                     crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH, ExtendedKeyUsageOID.SERVER_AUTH]),
                       critical=False)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .sign(key, hashes.SHA512())
    )
    return ClientCert(
        cert_pem=cert.public_bytes(serialization.Encoding.PEM),
        key_pem=key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()),
    )


# ---- the provider process ----------------------------------------------------------------------


@dataclass
class Plugin:
    proc: subprocess.Popen
    line: str
    socket: str
    server_cert_der: bytes
    terraform_cert: ClientCert | None
    stderr: Path

    @property
    def server_cert_pem(self) -> bytes:
        return x509.load_der_x509_certificate(self.server_cert_der).public_bytes(serialization.Encoding.PEM)

    def channel(self, client: ClientCert | None) -> grpc.Channel:
        """A TLS channel trusting the handshake's server cert, presenting `client` (or no cert)."""
        creds = grpc.ssl_channel_credentials(
            root_certificates=self.server_cert_pem,
            private_key=client.key_pem if client else None,
            certificate_chain=client.cert_pem if client else None,
        )
        return grpc.secure_channel(f"unix:{self.socket}", creds, options=[
            ("grpc.ssl_target_name_override", "localhost"), ("grpc.default_authority", "localhost")])

    def plaintext_channel(self) -> grpc.Channel:
        # grpcio's default :authority for a unix: target is the socket path, which HTTP/2 servers
        # may reject; Terraform's go-plugin client sends a plain host name.
        return grpc.insecure_channel(f"unix:{self.socket}", options=[("grpc.default_authority", "localhost")])


def health(channel: grpc.Channel) -> int:
    with channel:
        stub = health_pb2_grpc.HealthStub(channel)
        return stub.Check(health_pb2.HealthCheckRequest(service="plugin"), timeout=5).status


def start_plugin(binary: Path, tmp: Path, *, versions: str = "5,6", mtls: bool = True) -> Plugin:
    """Start the provider as Terraform does and read its handshake line."""
    cert = terraform_like_cert() if mtls else None
    env = clean_env(**{MAGIC_COOKIE_KEY: MAGIC_COOKIE, "PLUGIN_PROTOCOL_VERSIONS": versions,
                       "PLUGIN_MIN_PORT": "10000", "PLUGIN_MAX_PORT": "25000"})
    if cert:
        env["PLUGIN_CLIENT_CERT"] = cert.cert_pem.decode()
    stderr = tmp / "provider.stderr"
    proc = subprocess.Popen([str(binary)], env=env, cwd=tmp, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=stderr.open("wb"))
    line = LineReader(proc.stdout).wait_for(lambda s: True, timeout=10)
    if line is None:
        stop_process(proc)
        raise AssertionError(f"no handshake line within 10 s (exit code {proc.poll()}); stderr:\n"
                             f"{stderr.read_text(errors='replace')}")
    m = HANDSHAKE.match(line)
    if not m:
        stop_process(proc)
        raise AssertionError(f"handshake line {line!r} is not 1|6|unix|<path>|grpc|<cert>")
    b64 = m["cert"]
    der = base64.b64decode(b64 + "=" * (-len(b64) % 4)) if b64 else b""
    return Plugin(proc=proc, line=line, socket=m["path"], server_cert_der=der, terraform_cert=cert, stderr=stderr)


@pytest.fixture
def plugin(binaries, tmp_path):
    p = start_plugin(binaries.provider, tmp_path)
    yield p
    stop_process(p.proc, signals=(signal.SIGTERM,))


# ---- tests -------------------------------------------------------------------------------------


def test_run_by_hand_explains_itself_and_exits_1(binaries):
    p = subprocess.run([str(binaries.provider)], env=clean_env(), stdin=subprocess.DEVNULL,
                       capture_output=True, text=True, timeout=10)
    assert p.returncode == 1
    assert p.stdout == ""  # no handshake line
    assert "plugin" in p.stderr.lower(), p.stderr
    assert_not_crashed(p.stderr)


@pytest.mark.parametrize("versions", ["5,6", "6,5", "6"])
def test_handshake_line_and_socket(binaries, tmp_path, versions):
    p = start_plugin(binaries.provider, tmp_path, versions=versions)
    try:
        # 1|6|unix|<path>|grpc|<base64 DER, no padding>
        assert "=" not in p.line
        cert = x509.load_der_x509_certificate(p.server_cert_der)
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        assert "localhost" in san.get_values_for_type(x509.DNSName)

        # The socket is there, a socket, and only ours.
        st = os.stat(p.socket)
        assert stat.S_ISSOCK(st.st_mode)
        assert stat.S_IMODE(st.st_mode) == 0o600
    finally:
        stop_process(p.proc)


def test_terraforms_certificate_gets_served(plugin):
    assert health(plugin.channel(plugin.terraform_cert)) == health_pb2.HealthCheckResponse.SERVING


@pytest.mark.parametrize("path", ["/nope.Service/Method", "/tfplugin6.Provider/NoSuchMethod",
                                  "/grpc.health.v1.Health/Nope", "/not-a-grpc-path"])
def test_unknown_services_and_methods_are_unimplemented(plugin, path):
    with plugin.channel(plugin.terraform_cert) as channel:
        call = channel.unary_unary(path, request_serializer=lambda b: b, response_deserializer=lambda b: b)
        with pytest.raises(grpc.RpcError) as err:
            call(b"", timeout=5)
        assert err.value.code() == grpc.StatusCode.UNIMPLEMENTED, err.value
    # The server carries on.
    assert health(plugin.channel(plugin.terraform_cert)) == health_pb2.HealthCheckResponse.SERVING


def test_other_certificate_is_refused(plugin):
    with pytest.raises(grpc.RpcError):
        health(plugin.channel(terraform_like_cert()))
    # ...and Terraform's own still works afterwards.
    assert health(plugin.channel(plugin.terraform_cert)) == health_pb2.HealthCheckResponse.SERVING


def test_no_certificate_is_refused(plugin):
    with pytest.raises(grpc.RpcError):
        health(plugin.channel(None))
    with pytest.raises(grpc.RpcError):
        health(plugin.plaintext_channel())
    assert health(plugin.channel(plugin.terraform_cert)) == health_pb2.HealthCheckResponse.SERVING


def test_without_client_cert_serves_plaintext(binaries, tmp_path):
    # TF_DISABLE_PLUGIN_TLS: Terraform passes no PLUGIN_CLIENT_CERT and expects no cert back.
    p = start_plugin(binaries.provider, tmp_path, mtls=False)
    try:
        assert p.line.endswith("|grpc|")
        assert health(p.plaintext_channel()) == health_pb2.HealthCheckResponse.SERVING
    finally:
        stop_process(p.proc)


def test_shutdown_exits_promptly(plugin):
    channel = plugin.channel(plugin.terraform_cert)
    shutdown = channel.unary_unary("/plugin.GRPCController/Shutdown",
                                   request_serializer=lambda b: b, response_deserializer=lambda b: b)
    started = time.monotonic()
    try:
        shutdown(b"", timeout=2)  # google.protobuf.Empty both ways
    except grpc.RpcError:  # the process may be gone before its answer is
        pass
    try:
        rc = plugin.proc.wait(timeout=max(0.1, 2 - (time.monotonic() - started)))
    except subprocess.TimeoutExpired:
        pytest.fail("the provider was still running 2 s after GRPCController/Shutdown")
    finally:
        channel.close()
    assert rc == 0, plugin.stderr.read_text(errors="replace")
    assert not os.path.exists(os.path.dirname(plugin.socket)), "the socket directory is removed"


def test_sigterm_exits_and_removes_the_socket_directory(plugin):
    assert health(plugin.channel(plugin.terraform_cert)) == health_pb2.HealthCheckResponse.SERVING
    plugin.proc.send_signal(signal.SIGTERM)
    try:
        plugin.proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        pytest.fail("the provider was still running 5 s after SIGTERM")
    assert not os.path.exists(os.path.dirname(plugin.socket)), "the socket directory is removed"


def test_exits_when_no_client_ever_connects(binaries, tmp_path):
    p = start_plugin(binaries.provider, tmp_path)
    try:
        p.proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        stop_process(p.proc)
        pytest.fail("the provider waited more than 15 s for a Terraform that never connected")
    assert not os.path.exists(os.path.dirname(p.socket)), "the socket directory is removed"


def test_sigint_is_ignored(plugin):
    # Terraform's Ctrl-C reaches the whole process group; the provider waits for StopProvider.
    plugin.proc.send_signal(signal.SIGINT)
    time.sleep(1)
    assert plugin.proc.poll() is None, "SIGINT killed the provider"
    assert health(plugin.channel(plugin.terraform_cert)) == health_pb2.HealthCheckResponse.SERVING


def reattach_json(proc: subprocess.Popen, out: LineReader, err: LineReader, timeout: float = 10) -> dict:
    """The JSON printed after TF_REATTACH_PROVIDERS, on stdout or stderr."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for text in (out.text(), err.text()):
            at = text.find("TF_REATTACH_PROVIDERS")
            if at >= 0 and "{" in text[at:]:
                start = text.index("{", at)
                try:
                    return json.JSONDecoder().raw_decode(text[start:])[0]
                except json.JSONDecodeError:
                    pass  # not all written yet
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    raise AssertionError(f"no TF_REATTACH_PROVIDERS JSON (exit code {proc.poll()})\n"
                         f"--- stdout ---\n{out.text()}\n--- stderr ---\n{err.text()}")


def test_debug_mode_reattach(binaries, sandbox, workspace, tmp_path):
    # 1. `--debug`: no cookie needed; it prints how to attach Terraform.
    proc = subprocess.Popen([str(binaries.provider), "--debug"], env=clean_env(), cwd=tmp_path,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        out, err = LineReader(proc.stdout, tmp_path / "debug.stdout"), LineReader(proc.stderr, tmp_path / "debug.stderr")
        reattach = reattach_json(proc, out, err)
        entries = [v for k, v in reattach.items() if k.endswith("keysmith/keysmith")]
        assert len(entries) == 1, reattach
        entry = entries[0]
        assert entry["Test"] is True
        assert entry["ProtocolVersion"] == 6
        assert entry["Addr"]["Network"] in ("unix", "tcp")

        # 2. Terraform uses the running process instead of starting one.
        workspace.write(terraform_block() + sandbox.atlas_provider_hcl()
                        + api_key_hcl("k", sandbox.atlas_org_id, "reattach-k", ["ORG_READ_ONLY"]))
        env = {"TF_REATTACH_PROVIDERS": json.dumps(reattach)}
        workspace.init(env=env)
        plan = workspace.plan(rc=2, env=env)
        assert "keysmith_api_key.k will be created" in plan.stdout
        assert_not_crashed(plan.stdout, plan.stderr)

        # 3. Terraform does not stop a provider it did not start.
        assert proc.poll() is None
    finally:
        stop_process(proc, signals=(signal.SIGINT, signal.SIGTERM))
