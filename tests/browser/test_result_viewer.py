"""The result viewer in real Chromium against the demo site: a researcher opens a result from
its run page sorted worst PSNR first; zoom moves every pane together, pixel-exact; a map is
fetched only when overlaid, and toggles; j steps to the next result in that order."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pytest
from playwright.sync_api import Page, expect

from tests.browser.helpers import (
    STUDY_OPENS_S,
    asset_pixels,
    away_from_panes,
    demo_run_id,
    expected_view,
    log_in,
    pane_pixels,
    viewer_state,
    wait_for_viewer,
)
from tests.demo_site import DemoSite

pytestmark = [pytest.mark.browser, pytest.mark.timeout(900)]
DEMO_WEBP_RUN = "webp"
"""The demo's quick classical run (4 images, matched JPEG, every map)."""


def _finished_run(page: Page, site: DemoSite) -> dict[str, Any]:
    run_id = demo_run_id(page, site, DEMO_WEBP_RUN)
    deadline = time.monotonic() + STUDY_OPENS_S
    while True:
        report: dict[str, Any] = page.request.get(f"{site.url}/api/runs/{run_id}").json()
        if report["status"] == "done" or time.monotonic() > deadline:
            break
        time.sleep(2)
    assert report["status"] == "done", report["status"]
    return report


def _panes_show_their_images(page: Page, site: DemoSite) -> None:
    state = viewer_state(page)
    assert state["dpr"] == 1
    for pane in state["panes"]:
        stored = asset_pixels(page, site, pane["url"])
        assert np.array_equal(pane_pixels(page, pane["label"]), expected_view(stored, state)), pane[
            "label"
        ]


def test_researcher_steps_through_results_worst_psnr_first(page: Page, demo_site: DemoSite) -> None:
    page.set_default_timeout(90_000)  # a busy 2-core machine: the demo's worker codes meanwhile
    log_in(page, demo_site, "researcher")
    run = _finished_run(page, demo_site)

    # The run page, sorted by PSNR ascending (worst first) with its own form.
    page.goto(f"{demo_site.url}/runs/{run['id']}")
    page.get_by_label("Order by").select_option("psnr")
    page.get_by_label("Direction").select_option("asc")
    page.get_by_role("button", name="Order").click()
    expect(page.get_by_test_id("results-order")).to_have_text("PSNR (dB), ascending (worst first)")
    links = page.get_by_test_id("view-result")
    hrefs = [links.nth(i).get_attribute("href") for i in range(links.count())]
    ids = [int(str(href).split("/results/")[1].split("?")[0]) for href in hrefs]
    by_id = {r["id"]: r for r in run["results"]}
    psnrs = [by_id[result_id]["metrics"]["psnr_rgb"] for result_id in ids]
    assert len(hrefs) == 4 and psnrs == sorted(psnrs)

    links.first.click()
    expect(page).to_have_url(f"{demo_site.url}{hrefs[0]}")
    wait_for_viewer(page)
    expect(page.get_by_test_id("pane-label")).to_have_text(["original", "reconstruction", "jpeg"])
    expect(page.get_by_test_id("result-metrics")).to_contain_text("PSNR (dB)")
    away_from_panes(page)
    _panes_show_their_images(page, demo_site)

    # Zoom with the wheel over one pane: every pane shows the same pixels, nearest neighbour.
    before = viewer_state(page)["zoom"]
    box = page.get_by_test_id("pane-reconstruction").bounding_box()
    assert box is not None
    page.mouse.move(box["x"] + box["width"] / 3, box["y"] + box["height"] / 3)
    page.mouse.wheel(0, -100)
    page.keyboard.press("+")
    assert viewer_state(page)["zoom"] == min(before * 4, 16)
    away_from_panes(page)
    _panes_show_their_images(page, demo_site)

    # The SSIM map is fetched only when overlaid; the overlay toggles on and off.
    ssim_url = page.evaluate("() => window.miscompViewer.data.maps.ssim_map")
    assert ssim_url and ssim_url not in viewer_state(page)["loaded"]
    page.locator("#overlay-kind").select_option("ssim_map")
    page.get_by_role("button", name="Difference", exact=True).click()
    page.wait_for_function(
        "(url) => window.miscompViewer.state().loaded.includes(url)", arg=ssim_url
    )
    away_from_panes(page)
    state = viewer_state(page)
    assert state["overlay"]["kind"] == "ssim_map" and "reconstruction" in state["overlay"]["panes"]
    recon = asset_pixels(page, demo_site, f"/media/results/{ids[0]}/reconstruction.png")
    assert not np.array_equal(pane_pixels(page, "reconstruction"), expected_view(recon, state))
    page.keyboard.press("d")
    assert viewer_state(page)["overlay"]["panes"] == []
    away_from_panes(page)
    _panes_show_their_images(page, demo_site)

    # j: the next result in the order the run page was sorted in; k: back.
    page.keyboard.press("j")
    expect(page).to_have_url(f"{demo_site.url}{hrefs[1]}")
    wait_for_viewer(page)
    expect(page.get_by_test_id("result-position")).to_have_text("2 of 4")
    page.keyboard.press("k")
    expect(page).to_have_url(f"{demo_site.url}{hrefs[0]}")
