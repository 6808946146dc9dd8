"""`make demo`'s platform: set up on the embedded default and serving, with a working worker."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

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


def test_demo_queues_a_neural_run_with_matched_jpeg_and_shows_it(demo_site: DemoSite) -> None:
    assert "queued codec run" in demo_site.setup_output
    with _login(demo_site, "admin") as client:
        runs = {r["codec"]: r for r in client.get("/api/runs").json()}
        neural = runs["miscomp-mbt-low"]
        assert neural["match_jpeg"]
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            report = client.get(f"/api/runs/{neural['id']}").json()
            if report["status"] == "done":
                break
            time.sleep(0.5)
        assert report["status"] == "done"
        assert {r["status"] for r in report["results"]} == {"done"}
        assert len(report["results"]) == 4
        assert all(r["jpeg_quality"] for r in report["results"])
        page = client.get(f"/runs/{neural['id']}")
        assert "miscomp-test-card.png" in page.text and "Matched JPEG" in page.text
        assert "4 of the dataset's 13, chosen when the run was queued" in page.text
        dataset_page = client.get(f"/datasets/{neural['dataset_id']}").text
        assert f"/datasets/{neural['dataset_id']}/rd.svg" in dataset_page
        # Why the runs cover 4 of the 13 images is said where the images are listed.
        assert "codec runs code 4 of these images (the test card, astronaut" in dataset_page


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
    assert "queued codec run" not in again.stdout
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


def _miscomp(site: DemoSite, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *args],
        env=embedded_env(site.var),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def test_cli_codec_run_on_the_embedded_worker(demo_site: DemoSite) -> None:
    codecs = _miscomp(demo_site, "codecs", "list", "--json")
    available = {c["name"]: c["available"] for c in json.loads(codecs.stdout)}
    assert available["jpeg"] and available["compressai"] and available["external"]
    assert available["miscomp-mbt-low"]

    created = _miscomp(
        demo_site,
        "runs",
        "create",
        "--dataset",
        "demo-photos",
        "--codec",
        "webp",
        "--param",
        "quality=10",
        "--match-jpeg",
        "--wait",
    )
    assert created.returncode == 0, created.stderr
    run_id = int(created.stdout.split()[1])
    assert f"run {run_id} done: 13 done, 0 failed" in created.stdout

    report = json.loads(_miscomp(demo_site, "runs", "show", str(run_id), "--json").stdout)
    assert report["status"] == "done" and len(report["results"]) == 13
    for result in report["results"]:
        assert Path(result["recon_path"]).is_file()
        assert Path(result["jpeg_path"]).is_file()
        assert result["bits_source"] == "file"
        assert result["jpeg_quality"] is not None and result["metrics"]["psnr_rgb"] > 10
    listing = json.loads(_miscomp(demo_site, "runs", "list", "--json").stdout)
    assert run_id in [r["id"] for r in listing]

    unknown = _miscomp(demo_site, "runs", "create", "--dataset", "demo-photos", "--codec", "x")
    assert unknown.returncode == 1
    assert unknown.stderr.startswith("error: unknown codec 'x'; known: avif, checkpoint,")
    bad = _miscomp(
        demo_site,
        "runs",
        "create",
        "--dataset",
        "demo-photos",
        "--codec",
        "jpeg",
        "--param",
        "quality=500",
    )
    assert bad.returncode == 1 and "quality" in bad.stderr and "Traceback" not in bad.stderr


def test_demo_creates_a_blind_study_with_three_raters_over_its_neural_run(
    demo_site: DemoSite,
) -> None:
    assert "'demo-study' (k=3, blind)" in demo_site.setup_output
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        listed = _miscomp(demo_site, "studies", "list", "--json")
        assert listed.returncode == 0, listed.stderr
        (study,) = [s for s in json.loads(listed.stdout) if s["name"] == "demo-study"]
        if study["status"] != "proposing":
            break
        time.sleep(1)
    assert study["status"] == "open", study
    assert study["raters_per_item"] == 3 and study["blind"]
    shortfall = study["proposal_report"]["shortfall"]["guided"]
    assert study["progress"]["items"] == 24 - shortfall and shortfall < 15
    with _login(demo_site, "annotator1") as client:
        token = re.search(r'name="csrf-token" content="([^"]+)"', client.get("/annotate").text)
        assert token is not None
        lease = client.post(
            f"/api/studies/{study['id']}/next", headers={"X-CSRF-Token": token.group(1)}
        )
        assert lease.status_code == 200, lease.text
        assert set(lease.json()["panes"]) == {"original", "A", "B"}
        image = client.get(lease.json()["panes"]["A"])
        assert image.status_code == 200 and image.headers["content-type"] == "image/png"


def test_demo_shows_agreement_and_prevalence_on_simulated_labels(demo_site: DemoSite) -> None:
    assert "'demo-study-simulated-labels' whose labels the demo simulates" in (
        demo_site.setup_output
    )
    with _login(demo_site, "researcher") as client:
        studies = client.get("/api/studies").json()
        (study,) = [s for s in studies if s["name"] == "demo-study-simulated-labels"]
        assert study["label_source"] == "simulated"
        assert study["simulation"] == {"raters": 3, "error_rate": 0.15, "seed": 0}
        deadline = time.monotonic() + 600
        report: dict[str, object] = {}
        while time.monotonic() < deadline:
            current = client.get(f"/api/studies/{study['id']}").json()
            done = current["progress"]["ratings_done"] if current.get("progress") else 0
            needed = current["progress"]["ratings_needed"] if current.get("progress") else 1
            if current["status"] == "open" and done == needed:
                report = client.get(f"/api/studies/{study['id']}/agreement").json()
                if report["status"] == "done" and not report["stale"]:
                    break
            time.sleep(2)
        assert report.get("status") == "done", report
        assert report["label_source"] == "simulated"
        verdict = {q["key"]: q for q in report["questions"]}["verdict"]  # type: ignore[index]
        assert verdict["n_raters"] == 3 and 0 < verdict["krippendorff_alpha"] < 1
        prevalence = report["prevalence"]
        assert {row["method"] for row in prevalence} >= {"random"}  # type: ignore[union-attr]
        page = client.get(f"/studies/{study['id']}/results")
        assert 'data-testid="simulated-labels"' in page.text
        assert 'data-testid="prevalence-table"' in page.text
        plot = client.get(f"/studies/{study['id']}/results/prevalence.png")
        assert plot.status_code == 200 and plot.content.startswith(b"\x89PNG")
    # The people's queue does not offer the simulated study.
    with _login(demo_site, "annotator3") as client:
        assert "demo-study-simulated-labels" not in client.get("/annotate").text
