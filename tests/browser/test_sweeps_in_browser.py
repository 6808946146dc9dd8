"""Real Chromium against the demo site: an admin imports two small crops, queues two sweeps
from the run form, waits for their runs, and reads the dataset's curves with the BD-rate
table, then one image's."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from app.domain.testcard import draw_test_card
from tests.browser.helpers import STUDY_OPENS_S, log_in
from tests.demo_site import DemoSite

pytestmark = [pytest.mark.browser, pytest.mark.timeout(STUDY_OPENS_S + 300)]
JPEG_LABEL = "jpeg (optimize=False, progressive=False, subsampling=4:2:0)"


DATASET = "sweep-crops"


def _small_dataset(page: Page, site: DemoSite, folder: Path) -> None:
    """Two crops of the test card, imported through the browser: a few seconds of coding
    per sweep, where the 13 demo photographs would take minutes."""
    card = draw_test_card()
    files = []
    for i in range(2):
        path = folder / f"crop-{i}.png"
        card.crop((i * 150, i * 90, i * 150 + 192, i * 90 + 176)).save(path)
        files.append(str(path))
    page.goto(f"{site.url}/datasets/new")
    page.get_by_label("Name").fill(DATASET)
    page.get_by_label("Licence and attribution").fill("Apache-2.0 (miscomp test card)")
    page.get_by_role("button", name="Create dataset").click()
    page.get_by_role("link", name="Import images").click()
    page.get_by_label("Image files or zip archives").set_input_files(files)
    page.get_by_role("button", name="Upload and import").click()
    expect(page.get_by_test_id("import-status")).to_have_text("done", timeout=60_000)


def _queue_sweep(page: Page, site: DemoSite, codec: str, values: str) -> None:
    page.goto(f"{site.url}/runs/new")
    page.get_by_label("Dataset", exact=True).select_option(label=f"{DATASET} (2 images)")
    page.get_by_label("Codec", exact=True).select_option(codec)
    page.get_by_label("JPEG reference at the same bpp").select_option("no")
    for name in ("difference", "ssim", "ciede2000"):
        page.get_by_label(name, exact=True).uncheck()
    page.get_by_label("Sweep parameter").fill("quality")
    page.get_by_label("Sweep values").fill(values)
    page.get_by_role("button", name="Queue run").click()
    expect(page.get_by_role("heading", name=re.compile(r"^Sweep \d+$"))).to_be_visible()
    expect(page.get_by_test_id("sweep-summary")).to_contain_text(f"{codec} over quality = {values}")
    expect(page.get_by_role("row")).to_have_count(1 + len(values.split(",")))


def _wait_for_sweep(page: Page) -> None:
    """Reload the sweep's runs list until none of its runs is queued or running (the demo's
    one worker may be coding the neural demo run first)."""
    active = page.get_by_role("cell", name=re.compile(r"^(queued|running)$"))
    deadline = page.evaluate("Date.now()") + STUDY_OPENS_S * 1000
    while active.count() and page.evaluate("Date.now()") < deadline:
        page.wait_for_timeout(2000)
        page.reload()
    expect(active).to_have_count(0)


def test_a_sweep_from_the_form_draws_curves_and_bd_rates(
    page: Page, demo_site: DemoSite, tmp_path: Path
) -> None:
    log_in(page, demo_site, "admin")
    _small_dataset(page, demo_site, tmp_path)
    _queue_sweep(page, demo_site, "jpeg", "10, 30, 50, 80")
    jpeg_sweep = page.url
    _queue_sweep(page, demo_site, "webp", "10, 30, 50, 80")
    _wait_for_sweep(page)
    page.goto(jpeg_sweep)
    _wait_for_sweep(page)
    expect(page.get_by_role("cell", name="done", exact=True)).to_have_count(4)

    page.get_by_role("link", name=DATASET).click()
    expect(page.get_by_role("link", name=re.compile(r"^Sweep \d+$"))).to_have_count(2)
    plot = page.get_by_role("img", name=re.compile(f"^Rate-distortion plot of {DATASET}"))
    expect(plot).to_be_visible()
    assert plot.evaluate("img => img.naturalWidth") > 0
    table = page.get_by_test_id("bd-table")
    expect(table).to_contain_text(f"against {JPEG_LABEL}")
    webp = table.get_by_role("row", name=re.compile(r"^webp \(method=4\) 4 "))
    expect(webp).to_contain_text(re.compile(r"[+-]\d+\.\d %"))
    expect(webp).to_contain_text(re.compile(r"[+-]\d+\.\d\d dB"))

    page.get_by_role("link", name="crop-1.png").click()
    image_plot = page.get_by_role("img", name=re.compile("^Rate-distortion plot of crop-1"))
    expect(image_plot).to_be_visible()
    assert image_plot.evaluate("img => img.naturalWidth") > 0
    expect(
        page.get_by_test_id("bd-table").get_by_role("row", name=re.compile("^webp"))
    ).to_contain_text("%")
