"""Real Chromium (Debian's, driven by Playwright) against the demo site: each role logs in and
sees its own pages; an admin imports files through the browser and watches the progress."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.demo_site import DemoSite
from tests.factories import image_bytes

pytestmark = pytest.mark.browser
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not shutil.which(CHROMIUM):
        pytest.fail(
            "Debian's chromium is missing: `make test` installs it (scripts/ensure-system.sh)"
        )
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1366, "height": 768})
    page = context.new_page()
    yield page
    context.close()


def _log_in(page: Page, site: DemoSite, username: str) -> None:
    page.goto(f"{site.url}/")
    expect(page).to_have_url(f"{site.url}/login?next=/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(site.passwords[username])
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_test_id("whoami")).to_contain_text(username)


def test_admin_sees_admin_pages_and_imports_through_the_browser(
    page: Page, demo_site: DemoSite, tmp_path: Path
) -> None:
    _log_in(page, demo_site, "admin")
    nav = page.get_by_role("navigation", name="Main")
    for link in ("Datasets", "Users", "Audit log", "API tokens"):
        expect(nav.get_by_role("link", name=link)).to_be_visible()
    nav.get_by_role("link", name="Users").click()
    expect(page.get_by_role("heading", name="Users")).to_be_visible()
    expect(page.get_by_role("cell", name="annotator3", exact=True)).to_be_visible()

    page.goto(f"{demo_site.url}/datasets/new")
    page.get_by_label("Name").fill("browser-import")
    page.get_by_label("Licence and attribution").fill("CC0")
    page.get_by_role("button", name="Create dataset").click()
    expect(page.get_by_role("heading", name="browser-import")).to_be_visible()
    page.get_by_role("link", name="Import images").click()
    good, bad = tmp_path / "good.png", tmp_path / "bad.png"
    good.write_bytes(image_bytes(size=(64, 48)))
    bad.write_bytes(b"definitely not a png")
    page.get_by_label("Image files or zip archives").set_input_files([str(good), str(bad)])
    page.get_by_role("button", name="Upload and import").click()
    expect(page.get_by_test_id("import-status")).to_have_text("done", timeout=60_000)
    expect(page.get_by_role("cell", name="not an image Pillow can read")).to_be_visible()
    page.get_by_role("link", name="← browser-import").click()
    expect(page.get_by_test_id("image-count")).to_have_text("1")
    page.get_by_role("link", name="good.png").click()
    expect(page.get_by_text("64 × 48 px")).to_be_visible()


def test_researcher_reads_datasets_but_cannot_manage(page: Page, demo_site: DemoSite) -> None:
    _log_in(page, demo_site, "researcher")
    nav = page.get_by_role("navigation", name="Main")
    expect(nav.get_by_role("link", name="Datasets")).to_be_visible()
    expect(nav.get_by_role("link", name="Users")).to_have_count(0)
    nav.get_by_role("link", name="Datasets").click()
    page.get_by_role("link", name="demo-photos").click()
    expect(page.get_by_test_id("image-count")).to_have_text("13")
    expect(page.get_by_role("link", name="Import images")).to_have_count(0)
    response = page.goto(f"{demo_site.url}/admin/users")
    assert response is not None and response.status == 403


def test_annotator_sees_only_their_queue(page: Page, demo_site: DemoSite) -> None:
    _log_in(page, demo_site, "annotator1")
    nav = page.get_by_role("navigation", name="Main")
    expect(nav.get_by_role("link", name="My studies")).to_be_visible()
    expect(nav.get_by_role("link", name="Datasets")).to_have_count(0)
    nav.get_by_role("link", name="My studies").click()
    expect(page.get_by_test_id("empty-queue")).to_be_visible()
    for path in ("/datasets", "/datasets/1", "/images/1", "/media/images/1/pixels.png"):
        response = page.goto(f"{demo_site.url}{path}")
        assert response is not None and response.status == 403, path
    page.goto(f"{demo_site.url}/")
    page.get_by_role("button", name="Log out").click()
    expect(page).to_have_url(f"{demo_site.url}/login")


def test_admin_queues_a_codec_run_and_watches_it_finish(page: Page, demo_site: DemoSite) -> None:
    _log_in(page, demo_site, "admin")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Codec runs").click()
    page.get_by_role("link", name="New codec run").click()
    page.get_by_label("Dataset", exact=True).select_option(label="demo-photos (13 images)")
    page.get_by_label("Codec", exact=True).select_option("jpeg")
    page.get_by_label("Parameters (JSON)").fill('{"quality": 5, "subsampling": "4:4:4"}')
    page.get_by_label("ssim").uncheck()
    page.get_by_role("button", name="Queue run").click()
    expect(page.get_by_test_id("run-status")).to_have_text("done", timeout=120_000)
    expect(page.get_by_text('"subsampling": "4:4:4"')).to_be_visible()
    rows = page.locator("table.report tbody tr")
    expect(rows).to_have_count(13)
    difference = page.get_by_role("link", name="difference").first
    response = page.request.get(demo_site.url + difference.get_attribute("href"))
    assert response.status == 200 and response.headers["content-type"] == "image/png"
    expect(page.get_by_role("link", name="ssim")).to_have_count(0)


def test_run_form_keeps_input_and_explains_errors(page: Page, demo_site: DemoSite) -> None:
    _log_in(page, demo_site, "admin")
    page.goto(f"{demo_site.url}/runs/new")
    page.get_by_label("Codec", exact=True).select_option("jpeg")
    page.get_by_label("Parameters (JSON)").fill('{"quality": 0}')
    page.get_by_role("button", name="Queue run").click()
    expect(page.get_by_role("alert")).to_contain_text("quality")
    expect(page.get_by_label("Parameters (JSON)")).to_have_value('{"quality": 0}')


@pytest.mark.timeout(900)
def test_annotator_labels_items_of_the_demo_study_from_the_keyboard(
    page: Page, demo_site: DemoSite
) -> None:
    _log_in(page, demo_site, "annotator2")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="My studies").click()
    start = page.get_by_role("row", name="demo-study").get_by_role("button", name="Start")
    # The study opens once its neural run is coded and measured and its crops proposed: a few
    # minutes on a busy 2-core machine.
    deadline = time.monotonic() + 780
    while not start.count() and time.monotonic() < deadline:
        page.wait_for_timeout(2000)
        page.reload()
    start.click()
    labels = page.get_by_test_id("pane-label")
    expect(labels).to_have_text(["original", "A", "B"])
    for pane in ("original", "A", "B"):
        image = page.get_by_role("img", name=f"Pane {pane}")
        expect(image).to_have_css("image-rendering", "pixelated")
        # Waits for the pixels to arrive; times out (fails) if the image never decodes.
        page.wait_for_function(
            "(img) => img.complete && img.naturalWidth > 0", arg=image.element_handle()
        )
    first_item = page.url
    page.keyboard.press("?")
    expect(page.locator("details.instructions")).to_have_attribute("open", "")
    page.keyboard.press("?")
    for key in ("m", "3", "s"):  # miscompression, SHAPE, SYMBOL
        page.keyboard.press(key)
    expect(page.get_by_label("Miscompression (m)")).to_be_checked()
    expect(page.get_by_label("SHAPE (3)")).to_be_checked()
    expect(page.get_by_label("SYMBOL (s)")).to_be_checked()
    page.keyboard.press("Enter")
    expect(page).not_to_have_url(first_item)
    expect(labels).to_have_text(["original", "A", "B"])
    second_item = page.url
    page.keyboard.press("n")
    page.keyboard.press("Enter")
    expect(page).not_to_have_url(second_item)
    page.goto(f"{demo_site.url}/annotate")
    expect(page.get_by_test_id("mine-1")).to_have_text("2")
