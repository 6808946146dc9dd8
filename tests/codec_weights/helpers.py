"""A publisher on loopback: an HTTP server in a thread serving files from memory, with Range
requests, that can cut a connection mid-body. Nothing in the tests reaches further."""

from __future__ import annotations

import hashlib
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

_RANGE = re.compile(r"^bytes=(\d+)-$")


@dataclass
class Publisher:
    url: str
    files: dict[str, bytes] = field(default_factory=dict)
    cut_after: dict[str, int] = field(default_factory=dict)
    """File name: bytes to send before cutting the connection, once (then served whole)."""
    requests: list[tuple[str, str | None]] = field(default_factory=list)
    """(path, its Range header) of every request, in order."""


@contextmanager
def loopback_publisher() -> Iterator[Publisher]:
    publisher = Publisher(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            name = self.path.rsplit("/", 1)[-1]
            wanted = self.headers.get("Range")
            publisher.requests.append((self.path, wanted))
            body = publisher.files.get(name)
            if body is None:
                self.send_error(404)
                return
            start = 0
            match = _RANGE.match(wanted or "")
            if match:
                start = int(match.group(1))
                if start >= len(body):
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{len(body)}")
                    self.end_headers()
                    return
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
            else:
                self.send_response(200)
            self.send_header("Content-Length", str(len(body) - start))
            self.end_headers()
            cut = publisher.cut_after.pop(name, None)
            if cut is not None:
                self.wfile.write(body[start : start + cut])
                self.wfile.flush()
                self.close_connection = True
                return
            self.wfile.write(body[start:])

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    publisher.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield publisher
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def write_weights_catalogue(
    path: Path, *, publishers: dict[str, str], pins: dict[str, str] | None = None
) -> Path:
    """The operator's weights catalogue file (MISCOMP_WEIGHTS_CATALOGUE)."""
    lines = ["[publishers]", *(f'{k} = "{v}"' for k, v in publishers.items()), "", "[pins]"]
    lines += [f'"{k}" = "{v}"' for k, v in (pins or {}).items()]
    path.write_text("\n".join(lines) + "\n")
    return path


def files_under(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


METAGRAPH = bytes(range(256)) * 1200
"""A stand-in for hific-lo.metagraph (300 KiB: several reads, so a cut falls mid-body)."""
