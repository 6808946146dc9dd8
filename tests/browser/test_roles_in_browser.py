"""Real Chromium (Debian's, driven by Playwright) against the demo site: each role logs in and
sees its own pages; an admin imports files through the browser and watches the progress."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.browser.helpers import log_in
from tests.demo_site import DemoSite
from tests.factories import image_bytes

pytestmark = pytest.mark.browser


def test_admin_sees_admin_pages_and_imports_through_the_browser(
    page: Page, demo_site: DemoSite, tmp_path: Path
) -> None:
    log_in(page, demo_site, "admin")
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
    log_in(page, demo_site, "researcher")
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
    log_in(page, demo_site, "annotator1")
    nav = page.get_by_role("navigation", name="Main")
    expect(nav.get_by_role("link", name="My studies")).to_be_visible()
    expect(nav.get_by_role("link", name="Datasets")).to_have_count(0)
    nav.get_by_role("link", name="My studies").click()
    expect(page.get_by_role("heading", name="My studies")).to_be_visible()
    # Empty until the demo study opens (once its crops are proposed, which other tests of
    # this session may have waited for); never a study closed to this annotator.
    expect(
        page.get_by_test_id("empty-queue").or_(
            page.get_by_role("link", name="demo-study", exact=True)
        )
    ).to_be_visible()
    expect(page.get_by_role("link", name="members-only-webp")).to_have_count(0)
    for path in ("/datasets", "/datasets/1", "/images/1", "/media/images/1/pixels.png"):
        response = page.goto(f"{demo_site.url}{path}")
        assert response is not None and response.status == 403, path
    page.goto(f"{demo_site.url}/")
    page.get_by_role("button", name="Log out").click()
    expect(page).to_have_url(f"{demo_site.url}/login")


def test_admin_queues_a_codec_run_and_watches_it_finish(page: Page, demo_site: DemoSite) -> None:
    log_in(page, demo_site, "admin")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Codec runs").click()
    page.get_by_role("link", name="New codec run").click()
    page.get_by_label("Dataset", exact=True).select_option(label="demo-photos (13 images)")
    page.get_by_label("Codec", exact=True).select_option("jpeg")
    # The fields of the chosen codec's declared parameters, with their defaults.
    fields = page.get_by_test_id("params-jpeg")
    expect(fields.get_by_label("quality")).to_have_value("75")
    fields.get_by_label("quality").fill("5")
    fields.get_by_label("subsampling").select_option("4:4:4")
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
    log_in(page, demo_site, "admin")
    page.goto(f"{demo_site.url}/runs/new")
    page.get_by_label("Codec", exact=True).select_option("webp")
    # Only the chosen codec's parameters show; choosing another codec shows its own.
    expect(page.get_by_test_id("params-webp")).to_be_visible()
    expect(page.get_by_test_id("params-jpeg")).to_be_hidden()
    method = page.get_by_test_id("params-webp").get_by_label("method")
    method.fill("9")
    page.get_by_role("button", name="Queue run").click()
    # The field's declared range (0 to 6) stops the form in the browser already.
    assert method.evaluate("field => field.validity.rangeOverflow")
    expect(page).to_have_url(f"{demo_site.url}/runs/new")
    page.get_by_label("Codec", exact=True).select_option("jpeg")
    expect(page.get_by_test_id("params-webp")).to_be_hidden()
    page.get_by_text("Parameters as JSON").click()
    page.get_by_label("Parameters (JSON)").fill('{"quality": 0}')
    page.get_by_role("button", name="Queue run").click()
    expect(page.get_by_role("alert")).to_contain_text("quality: must be at least 1")
    expect(page.get_by_label("Parameters (JSON)")).to_have_value('{"quality": 0}')
    expect(page.get_by_test_id("params-jpeg")).to_be_visible()
