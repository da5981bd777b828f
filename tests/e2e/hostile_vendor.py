"""A vendor that misbehaves on purpose, for the end-to-end tests of keysmith's defences.

keysmith-sandbox emulates the vendors faithfully; this small threaded HTTP server on loopback
plays the careless ones and the proxies in front of them. It speaks just enough of the
Braintrust and env0 APIs for the provider to reach the misbehaviour under test:

- `echo`: error bodies quote the request's `Authorization` header back, with terminal
  escapes (a fake green "Apply complete!"), NULs, and megabytes of padding;
- `huge`: a success answer whose body never ends (1 GiB, streamed);
- `endless`: a listing whose every page is full of ids never seen before.

Listings that the provider takes before a create (its baseline) answer empty in every mode.
"""

from __future__ import annotations

import json
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

ESCAPES = "\x1b[1;32mApply complete! Resources: 0 added.\x1b[0m\x00\x07\x1b]0;pwned\x07"


class HostileVendor:
    """`with HostileVendor("echo") as v:` -> v.url, v.requests (method, path) seen."""

    def __init__(self, mode: str, padding: int = 5 * 1024 * 1024):
        self.mode = mode
        self.padding = padding
        self.requests: list[tuple[str, str]] = []
        vendor = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # quiet
                pass

            def _body(self) -> bytes:
                n = int(self.headers.get("Content-Length") or 0)
                return self.rfile.read(n) if n else b""

            def _send(self, status: int, body: bytes, ctype: str = "application/json") -> None:
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _echo(self) -> None:
                auth = self.headers.get("Authorization", "")
                text = (f"{ESCAPES} proxy refused the request. Authorization: {auth} "
                        + "x" * vendor.padding)
                self._send(400, text.encode(), "text/plain")

            def do_GET(self):  # noqa: N802
                url = urlparse(self.path)
                vendor.requests.append(("GET", url.path))
                q = parse_qs(url.query)
                if vendor.mode == "huge" and url.path.startswith("/v1/organization/"):
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Transfer-Encoding", "chunked")
                    self.end_headers()
                    chunk = b"x" * 65536
                    try:
                        for _ in range(16384):  # 1 GiB
                            self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                    except (BrokenPipeError, ConnectionResetError):
                        pass
                    return
                if vendor.mode == "endless" and url.path == "/v1/api_key":
                    limit = int((q.get("limit") or ["100"])[0])
                    objects = [{"id": str(uuid.uuid4()), "name": "k", "preview_name": "sk-****",
                                "created": "2026-01-01T00:00:00Z", "org_id": None}
                               for _ in range(limit)]
                    self._send(200, json.dumps({"objects": objects}).encode())
                    return
                if url.path == "/v1/api_key":
                    self._send(200, b'{"objects": []}')
                    return
                if url.path.startswith("/v1/organization/"):
                    org_id = url.path.rsplit("/", 1)[-1]
                    self._send(200, json.dumps({"id": org_id, "name": "acme"}).encode())
                    return
                if url.path == "/api-keys":
                    self._send(200, b"[]")
                    return
                if vendor.mode == "echo":
                    self._echo()
                    return
                self._send(404, b'{"message": "not found"}')

            def do_POST(self):  # noqa: N802
                self._body()
                vendor.requests.append(("POST", urlparse(self.path).path))
                self._echo()

            def do_DELETE(self):  # noqa: N802
                vendor.requests.append(("DELETE", urlparse(self.path).path))
                self._echo()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> "HostileVendor":
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
