"""What the tests that start real servers (the web, the demo, Redis, PostgreSQL, S3, a proxy)
share: a free loopback port, and waiting until a server answers."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Callable

import httpx2 as httpx


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_until_answering(
    url: str,
    process: subprocess.Popen[bytes],
    *,
    timeout_s: float = 60,
    log: Callable[[], str] = lambda: "",
) -> httpx.Response:
    """Ask ``url`` until it answers 200 (returned); fails with the server's ``log`` if the
    process exits or ``timeout_s`` passes first."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            answer = httpx.get(url, timeout=2)
            if answer.status_code == 200:
                return answer
        except httpx.HTTPError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            raise AssertionError(f"{url} did not answer:\n{log()}")
        time.sleep(0.2)
