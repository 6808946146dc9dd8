"""Steps the browser tests share."""

from __future__ import annotations

import io
import math
import time
from typing import Any

import numpy as np
from PIL import Image
from playwright.sync_api import Page, expect

from tests.demo_site import DemoSite

STUDY_OPENS_S = 780
"""The demo study opens once its neural run is coded and measured and its crops proposed: a
few minutes on a busy 2-core machine."""


def demo_run_id(page: Page, site: DemoSite, codec: str) -> int:
    """The demo's own run of ``codec``, queued at set-up: the first of that codec, whatever
    runs the other browser tests of the session queued since (the order of test files
    varies between the processes of `make test`)."""
    runs = page.request.get(f"{site.url}/api/runs").json()
    return min(int(r["id"]) for r in runs if r["codec"] == codec)


def create_webp_study(page: Page, site: DemoSite, **fields: Any) -> int:
    """A small study over the demo's WebP run, made through the researcher's JSON API (the
    study form lists a run once it has finished results; the API takes it while it runs);
    ``fields`` are the study's own (its name at least)."""
    csrf = page.locator('meta[name="csrf-token"]').get_attribute("content")
    assert csrf
    made = page.request.post(
        f"{site.url}/api/studies",
        data={
            "run_ids": [demo_run_id(page, site, "webp")],
            "crop_sizes": [64],
            "methods": ["random"],
            "raters_per_item": 1,
            **fields,
        },
        headers={"X-CSRF-Token": csrf},
    )
    assert made.status == 201, made.text()
    study_id: int = made.json()["id"]
    return study_id


def log_in(page: Page, site: DemoSite, username: str) -> None:
    page.goto(f"{site.url}/")
    expect(page).to_have_url(f"{site.url}/login?next=/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(site.passwords[username])
    # Argon2 and the demo's worker share a busy 2-core machine right after the demo starts.
    page.get_by_role("button", name="Log in").click(timeout=90_000)
    expect(page.get_by_test_id("whoami")).to_contain_text(username)


def open_demo_study(page: Page, site: DemoSite) -> None:
    """From the annotator's queue to their first item of the demo study, images decoded."""
    page.get_by_role("navigation", name="Main").get_by_role("link", name="My studies").click()
    row = page.get_by_role("row", name="demo-study")
    button = row.get_by_role("button", name="Start").or_(row.get_by_role("button", name="Continue"))
    deadline = time.monotonic() + STUDY_OPENS_S
    while not button.count() and time.monotonic() < deadline:
        page.wait_for_timeout(2000)
        page.reload()
    button.click()
    wait_for_viewer(page)


def wait_for_viewer(page: Page) -> None:
    """Until the viewer has decoded every image it shows (fails if one never arrives)."""
    page.wait_for_function(
        "() => window.miscompViewer && window.miscompViewer.state().ready", timeout=30_000
    )


BACKGROUND = (27, 27, 27)
"""The viewer's colour around the image (#1b1b1b)."""


def viewer_state(page: Page) -> dict[str, Any]:
    """The viewer's view (``Viewer.state()`` in static/js/viewer.js)."""
    state: dict[str, Any] = page.evaluate("() => window.miscompViewer.state()")
    return state


def asset_pixels(page: Page, site: DemoSite, url: str) -> np.ndarray:
    """An image the viewer shows, as served (a lossless PNG), in RGB."""
    response = page.request.get(f"{site.url}{url}")
    assert response.status == 200 and response.headers["content-type"] == "image/png"
    return np.asarray(Image.open(io.BytesIO(response.body())).convert("RGB"))


def expected_view(image: np.ndarray, state: dict[str, Any]) -> np.ndarray:
    """What a pane must show: every image pixel as zoom x zoom screen pixels (nearest
    neighbour) from the view's integer origin, the background elsewhere."""
    side, zoom = state["side"], state["zoom"]
    ox, oy = state["origin"]["x"], state["origin"]["y"]
    view = np.empty((side, side, 3), dtype=np.uint8)
    view[:] = BACKGROUND
    coords = np.arange(side)
    cols, rows = (coords - ox) // zoom, (coords - oy) // zoom
    height, width = image.shape[:2]
    inside_c, inside_r = (cols >= 0) & (cols < width), (rows >= 0) & (rows < height)
    view[np.ix_(inside_r, inside_c)] = image[np.ix_(rows[inside_r], cols[inside_c])]
    return view


def pane_pixels(page: Page, label: str) -> np.ndarray:
    """The screen pixels of a pane's canvas. Layout may place it at a fractional position;
    the browser paints it snapped to the nearest pixel, which is what is read here."""
    box = page.get_by_test_id(f"pane-{label}").bounding_box()
    assert box is not None
    clip = {
        "x": math.floor(box["x"] + 0.5),
        "y": math.floor(box["y"] + 0.5),
        "width": round(box["width"]),
        "height": round(box["height"]),
    }
    return np.asarray(Image.open(io.BytesIO(page.screenshot(clip=clip))).convert("RGB"))


def away_from_panes(page: Page) -> None:
    """The mouse off every pane, so that no crosshair is drawn."""
    page.mouse.move(2, 2)
    page.wait_for_timeout(100)


def zoom_to(page: Page, zoom: int) -> None:
    """The viewer at ``zoom`` by its keys (+ and -)."""
    for _ in range(6):
        current = viewer_state(page)["zoom"]
        if current == zoom:
            break
        page.keyboard.press("+" if current < zoom else "-")
    assert viewer_state(page)["zoom"] == zoom
    page.wait_for_timeout(100)  # one animation frame draws the view
