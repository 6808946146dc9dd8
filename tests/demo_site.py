"""The demo as `make demo` runs it: embedded SQLite, filesystem broker, web server and worker
as real subprocesses. Shared by the demo test and the browser tests."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx2 as httpx


@dataclass(frozen=True)
class DemoSite:
    url: str
    var: Path
    passwords: dict[str, str]
    setup_output: str


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def embedded_env(var: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MISCOMP_")}
    env["MISCOMP_VAR_DIR"] = str(var)
    return env


def run_demo_site(var: Path) -> Iterator[DemoSite]:
    env = embedded_env(var)
    setup = subprocess.run(
        [sys.executable, "-m", "app.cli", "demo", "--no-serve"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    port = _free_port()
    log = (var / "demo.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "demo", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError((var / "demo.log").read_text())
            time.sleep(0.3)
        passwords = json.loads((var / "demo-accounts.json").read_text())
        yield DemoSite(url=url, var=var, passwords=passwords, setup_output=setup.stdout)
    finally:
        os.killpg(process.pid, 2)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, 9)
        log.close()
