"""deploy/Caddyfile, the Compose file's reverse proxy, run by Caddy itself in front of a real
`miscomp serve`: it validates, and it forwards requests and answers."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx2 as httpx
from sqlalchemy import Engine

from tests.servers import free_port

CADDYFILE = Path(__file__).resolve().parent.parent / "deploy" / "Caddyfile"


def _caddy() -> str:
    found = shutil.which("caddy")
    assert found, "Debian's caddy is installed by scripts/ensure-system.sh"
    return found


def _wait_for(url: str, process: subprocess.Popen[bytes]) -> httpx.Response:
    deadline = time.monotonic() + 60
    while True:
        try:
            return httpx.get(url, timeout=5)
        except httpx.HTTPError:
            assert process.poll() is None and time.monotonic() < deadline, url
            time.sleep(0.3)


def test_the_proxy_forwards_to_the_web_replicas(engine: Engine, tmp_path: Path) -> None:
    """``engine``: the test database the server answers /healthz from exists and is migrated."""
    web_port, proxy_port = free_port(), free_port()
    caddy_env = {
        **os.environ,
        "HOME": str(tmp_path),
        "XDG_DATA_HOME": str(tmp_path / "data"),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "MISCOMP_SITE_ADDRESS": f"http://127.0.0.1:{proxy_port}",
        "MISCOMP_WEB_UPSTREAM": "127.0.0.1",
        "MISCOMP_WEB_PORT": str(web_port),
    }
    config = ["--config", str(CADDYFILE), "--adapter", "caddyfile"]
    checked = subprocess.run(
        [_caddy(), "validate", *config], env=caddy_env, capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stderr
    web = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "serve", "--port", str(web_port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    proxy = subprocess.Popen(
        [_caddy(), "run", *config],
        env=caddy_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        assert _wait_for(f"http://127.0.0.1:{web_port}/healthz", web).status_code == 200
        answer = _wait_for(f"http://127.0.0.1:{proxy_port}/healthz", proxy)
        assert answer.status_code == 200 and answer.json() == {"status": "ok"}
        login = httpx.get(f"http://127.0.0.1:{proxy_port}/login", timeout=5)
        assert login.status_code == 200 and 'name="csrf-token"' in login.text
        assert login.headers["content-security-policy"].startswith("default-src 'self'")
    finally:
        for process in (proxy, web):
            os.killpg(process.pid, 15)
            process.wait(timeout=30)
