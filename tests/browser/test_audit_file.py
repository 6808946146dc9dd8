"""The page `miscomp audit --html` writes, opened from the disk in real Chromium with no
server: the pair in the pixel-exact viewer (the web's modules, inlined), the regions as
numbered boxes; "Show" zooms every pane onto a region; the score map overlays."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from playwright.sync_api import Page, expect
from typer.testing import CliRunner

from app import cli
from tests.browser.helpers import away_from_panes, expected_view, pane_pixels, viewer_state
from tests.browser.test_audit_viewer import LAMP, _clear_of_boxes, _pair

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]
pytest.importorskip("torch", reason="the detector needs torch (installed by make install)")


def _shown_exactly(page: Page, images: dict[str, np.ndarray]) -> None:
    page.locator(".panes").scroll_into_view_if_needed()
    away_from_panes(page)
    state = viewer_state(page)
    clear = _clear_of_boxes(state)
    for label, pixels in images.items():
        shown = pane_pixels(page, label)
        assert np.array_equal(shown[clear], expected_view(pixels, state)[clear]), label


def test_the_audit_file_opens_in_the_pixel_exact_viewer_without_a_server(
    page: Page, tmp_path: Path
) -> None:
    original, reconstruction = (tmp_path / "original.png", tmp_path / "reconstruction.png")
    for path, data in zip((original, reconstruction), _pair(), strict=True):
        path.write_bytes(data)
    report = tmp_path / "audit.html"
    written = CliRunner().invoke(
        cli.app,
        ["audit", str(original), str(reconstruction), "--html", str(report), "--no-ocr"],
    )
    assert written.exit_code == 0, written.output
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(report.as_uri())
    page.wait_for_function(
        "() => window.miscompViewer && window.miscompViewer.state().ready", timeout=30_000
    )
    assert errors == []
    expect(page.get_by_test_id("pane-label")).to_have_text(["original", "reconstruction"])
    images = {
        "original": np.asarray(Image.open(original).convert("RGB")),
        "reconstruction": np.asarray(Image.open(reconstruction).convert("RGB")),
    }
    assert len(viewer_state(page)["boxes"]) == page.get_by_test_id("region").count() == 10
    _shown_exactly(page, images)

    button = page.get_by_test_id("show-region").first
    x, y, size = (int(v) for v in str(button.get_attribute("data-show-region")).split(","))
    lamp_x, lamp_y, lamp = LAMP
    assert x <= lamp_x + lamp // 2 <= x + size and y <= lamp_y + lamp // 2 <= y + size
    button.click()
    state = viewer_state(page)
    assert state["zoom"] > 1
    for start, corner in ((x, state["origin"]["x"]), (y, state["origin"]["y"])):
        assert corner + start * state["zoom"] >= 0
        assert corner + (start + size) * state["zoom"] <= state["side"]
    _shown_exactly(page, images)

    page.locator("#overlay-kind").select_option("detector_map")
    page.get_by_role("button", name="Difference", exact=True).click()
    page.wait_for_function("() => window.miscompViewer.state().loaded.length === 3")
    away_from_panes(page)
    overlaid = viewer_state(page)
    clear = _clear_of_boxes(overlaid)
    shown = pane_pixels(page, "reconstruction")[clear]
    assert not np.array_equal(shown, expected_view(images["reconstruction"], overlaid)[clear])
