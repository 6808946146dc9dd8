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
from tests.browser.test_audit_viewer import (
    _clear_of_boxes,
    _pair,
    overlays_the_score_map,
    show_the_lamps_region,
)

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

    show_the_lamps_region(page)
    _shown_exactly(page, images)
    overlays_the_score_map(page, images["reconstruction"])
