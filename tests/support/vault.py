"""A tiny real HTTP server answering Vault KV v2 exactly as Vault documents it (no Vault server
is packaged for these machines): metadata at ``/v1/<mount>/metadata/<path>``, a canary secret
value at ``/v1/<mount>/data/<path>`` (which a probe must never ask for), every path recorded."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class FakeVault:
    token: str
    canary: str
    #: secret name -> (current version, created_time of that version)
    secrets: dict[str, tuple[int, datetime]] = field(default_factory=dict)
    mount: str = "secret"
    folder: str = "lms"
    paths: list[str] = field(default_factory=list)

    def answer(self, path: str, token: str | None) -> tuple[int, object]:
        self.paths.append(path)
        if token != self.token:
            return 403, {"errors": ["permission denied"]}
        for kind in ("metadata", "data"):
            prefix = f"/v1/{self.mount}/{kind}/{self.folder}/"
            if path.startswith(prefix) and path[len(prefix) :] in self.secrets:
                name = path[len(prefix) :]
                version, created = self.secrets[name]
                stamp = created.strftime("%Y-%m-%dT%H:%M:%S.%f") + "123Z"  # Vault's nanoseconds
                if kind == "data":
                    return 200, {"data": {"data": {"value": self.canary}, "metadata": {}}}
                versions = {
                    str(v): {"created_time": stamp, "deletion_time": "", "destroyed": False}
                    for v in range(1, version + 1)
                }
                return 200, {
                    "data": {
                        "cas_required": False,
                        "created_time": stamp,
                        "current_version": version,
                        "max_versions": 0,
                        "oldest_version": 0,
                        "updated_time": stamp,
                        "versions": versions,
                    }
                }
        return 404, {"errors": []}


@contextmanager
def serving(vault: FakeVault) -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            status, body = vault.answer(self.path, self.headers.get("X-Vault-Token"))
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
