"""`make demo`'s platform: set up on the embedded default and serving, with a working worker."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx2 as httpx

from tests.demo_site import DemoSite, embedded_env
from tests.factories import image_bytes


@contextmanager
def _login(site: DemoSite, username: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=site.url, timeout=30) as client:
        yield _logged_in(client, site, username)


def _logged_in(client: httpx.Client, site: DemoSite, username: str) -> httpx.Client:
    page = client.get("/login")
    token = re.search(r'name="csrf-token" content="([^"]+)"', page.text)
    assert token is not None
    response = client.post(
        "/login",
        data={
            "username": username,
            "password": site.passwords[username],
            "csrf_token": token.group(1),
        },
    )
    assert response.status_code == 303
    # The token is renewed at login; read the new one from any page.
    token = re.search(r'name="csrf-token" content="([^"]+)"', client.get("/").text)
    assert token is not None
    client.headers["X-CSRF-Token"] = token.group(1)
    return client


def test_demo_creates_accounts_and_the_demo_dataset(demo_site: DemoSite) -> None:
    assert set(demo_site.passwords) == {
        "admin",
        "researcher",
        "annotator1",
        "annotator2",
        "annotator3",
    }
    for username, password in demo_site.passwords.items():
        assert f"{username:12} {password}" in demo_site.setup_output
    with _login(demo_site, "researcher") as client:
        datasets = client.get("/api/datasets").json()
    # Other tests share this site and may add datasets of their own.
    assert ("demo-photos", 13) in [(d["name"], d["image_count"]) for d in datasets]


def test_running_demo_again_reuses_what_exists(demo_site: DemoSite) -> None:
    again = subprocess.run(
        [sys.executable, "-m", "app.cli", "demo", "--no-serve"],
        env=embedded_env(demo_site.var),
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    assert "0 new images, 13 already there" in again.stdout
    for username, password in demo_site.passwords.items():
        assert f"{username:12} {password}" in again.stdout


def test_demo_worker_imports_uploads_over_the_embedded_broker(demo_site: DemoSite) -> None:
    with _login(demo_site, "admin") as client:
        dataset = client.post("/api/datasets", json={"name": "embedded-upload"}).json()
        job = client.post(
            f"/api/datasets/{dataset['id']}/imports",
            files=[("files", ("x.png", image_bytes(), "image/png"))],
        ).json()
        deadline = time.monotonic() + 90
        report = client.get(f"/api/imports/{job['id']}").json()
        while report["status"] not in ("done", "failed") and time.monotonic() < deadline:
            time.sleep(0.3)
            report = client.get(f"/api/imports/{job['id']}").json()
    assert (report["status"], report["n_imported"]) == ("done", 1)
