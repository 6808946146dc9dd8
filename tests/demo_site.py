"""The demo as `make demo` runs it: embedded SQLite, filesystem broker, web server and worker
as real subprocesses. Shared by the demo test and the browser tests."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.servers import free_port, wait_until_answering


@dataclass(frozen=True)
class DemoSite:
    url: str
    var: Path
    passwords: dict[str, str]
    setup_output: str


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
    port = free_port()
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
        wait_until_answering(
            f"{url}/healthz", process, timeout_s=120, log=(var / "demo.log").read_text
        )
        passwords = json.loads((var / "demo-accounts.json").read_text())
        yield DemoSite(url=url, var=var, passwords=passwords, setup_output=setup.stdout)
    finally:
        os.killpg(process.pid, 2)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, 9)
        log.close()
