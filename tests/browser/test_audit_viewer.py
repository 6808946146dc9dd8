"""An audit's page in real Chromium against the demo site: a researcher uploads a pair through
the API, the page polls while the demo's worker audits it, and the finished pair appears in
the pixel-exact viewer with the regions as numbered boxes; "Show" zooms every pane onto a
region, all of it in view; the detector's score map is fetched only when overlaid."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pytest
from PIL import Image
from playwright.sync_api import Page, expect

from app.domain.codecs import registry as codecs
from tests.browser.helpers import (
    asset_pixels,
    away_from_panes,
    expected_view,
    log_in,
    pane_pixels,
    viewer_state,
    wait_for_viewer,
)
from tests.demo_site import DemoSite

pytestmark = [pytest.mark.browser, pytest.mark.timeout(900)]
LAMP = (90, 60, 12)
"""x, y and side of the lamp that goes out in the reconstruction."""


def _png(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def _pair() -> tuple[bytes, bytes]:
    rng = np.random.default_rng(5)
    scene = np.clip(rng.normal(120, 30, (240, 320, 3)), 0, 255).astype(np.uint8)
    x, y, side = LAMP
    original, changed = scene.copy(), scene.copy()
    original[y : y + side, x : x + side] = (255, 40, 30)
    changed[y : y + side, x : x + side] = (96, 32, 29)
    reconstruction = codecs.build("jpeg", quality=30).encode_decode(changed).reconstruction
    return _png(original), _png(reconstruction)


def _clear_of_boxes(state: dict[str, Any]) -> np.ndarray:
    """The screen pixels of a pane that no box's outline or number is drawn on."""
    side, zoom, origin = state["side"], state["zoom"], state["origin"]
    clear = np.ones((side, side), dtype=bool)

    def cut(x0: int, y0: int, x1: int, y1: int) -> None:
        clear[max(y0, 0) : max(y1, 0), max(x0, 0) : max(x1, 0)] = False

    for box in state["boxes"]:
        x, y = origin["x"] + box["x"] * zoom, origin["y"] + box["y"] * zoom
        w, h = box["w"] * zoom, box["h"] * zoom
        for edge_x in (x, x + w):
            cut(edge_x - 2, y - 2, edge_x + 2, y + h + 2)
        for edge_y in (y, y + h):
            cut(x - 2, edge_y - 2, x + w + 2, edge_y + 2)
        cut(x, y, x + 32, y + 20)  # its number
    return clear


def _panes_show_their_images(page: Page, site: DemoSite) -> None:
    """Every pane shows its image pixel-exact wherever no region's box is drawn over it."""
    page.locator(".panes").scroll_into_view_if_needed()
    away_from_panes(page)
    state = viewer_state(page)
    clear = _clear_of_boxes(state)
    assert clear.mean() > 0.5
    for pane in state["panes"]:
        stored = asset_pixels(page, site, pane["url"])
        shown = pane_pixels(page, pane["label"])
        assert np.array_equal(shown[clear], expected_view(stored, state)[clear]), pane["label"]


def test_researcher_reads_an_audit_in_the_pixel_exact_viewer(
    page: Page, demo_site: DemoSite
) -> None:
    page.set_default_timeout(90_000)  # the demo's worker codes its runs meanwhile
    log_in(page, demo_site, "researcher")
    csrf = page.locator('meta[name="csrf-token"]').get_attribute("content")
    assert csrf
    original, reconstruction = _pair()
    asked = page.request.post(
        f"{demo_site.url}/api/audit",
        multipart={
            "original": {"name": "lamp.png", "mimeType": "image/png", "buffer": original},
            "reconstruction": {
                "name": "out.png",
                "mimeType": "image/png",
                "buffer": reconstruction,
            },
        },
        headers={"X-CSRF-Token": csrf},
    )
    assert asked.status == 202, asked.text()
    page.goto(f"{demo_site.url}{asked.json()['page_url']}")
    # Queued or running at first, most likely: the page polls and the viewer starts when the
    # finished section arrives.
    expect(page.get_by_test_id("audit-status")).to_have_text("done", timeout=300_000)
    wait_for_viewer(page)
    expect(page.get_by_test_id("pane-label")).to_have_text(["original", "reconstruction"])
    state = viewer_state(page)
    regions = page.get_by_test_id("audit-region")
    assert len(state["boxes"]) == regions.count() == 10
    away_from_panes(page)
    _panes_show_their_images(page, demo_site)

    # "Show" on the riskiest region (it holds the lamp): as large as fits, all of it in view.
    show_the_lamps_region(page)
    _panes_show_their_images(page, demo_site)

    recon = asset_pixels(page, demo_site, viewer_state(page)["panes"][1]["url"])
    overlays_the_score_map(page, recon)


def show_the_lamps_region(page: Page) -> None:
    """Press "Show" on the riskiest region, which must hold the lamp: every pane zooms as
    far as the whole region fits, all of it in view."""
    button = page.get_by_test_id("show-region").first
    x, y, size = (int(v) for v in str(button.get_attribute("data-show-region")).split(","))
    lamp_x, lamp_y, lamp = LAMP
    assert x <= lamp_x + lamp // 2 <= x + size and y <= lamp_y + lamp // 2 <= y + size
    button.click()
    away_from_panes(page)
    state = viewer_state(page)
    zoom, side, origin = state["zoom"], state["side"], state["origin"]
    assert size * zoom <= side < size * zoom * 2 or zoom == 16
    for start, corner in ((x, origin["x"]), (y, origin["y"])):
        assert corner + start * zoom >= 0 and corner + (start + size) * zoom <= side


def overlays_the_score_map(page: Page, reconstruction: np.ndarray) -> None:
    """The detector's score map is fetched only when overlaid, and then drawn over the
    reconstruction's pixels."""
    score_url = page.evaluate("() => window.miscompViewer.data.maps.detector_map")
    assert score_url and score_url not in viewer_state(page)["loaded"]
    page.locator("#overlay-kind").select_option("detector_map")
    page.get_by_role("button", name="Difference", exact=True).click()
    page.wait_for_function(
        "(url) => window.miscompViewer.state().loaded.includes(url)", arg=score_url
    )
    away_from_panes(page)
    overlaid = viewer_state(page)
    assert overlaid["overlay"]["kind"] == "detector_map"
    clear = _clear_of_boxes(overlaid)
    shown = pane_pixels(page, "reconstruction")[clear]
    assert not np.array_equal(shown, expected_view(reconstruction, overlaid)[clear])
