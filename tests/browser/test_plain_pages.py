"""Errors and small pages as a browser meets them (issue 17, items 8 and 9): a form's address
opened as a page, an unknown address, and the favicon."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.browser.helpers import log_in
from tests.demo_site import DemoSite


def test_a_forms_address_and_an_unknown_one_answer_pages_in_plain_words(
    page: Page, demo_site: DemoSite
) -> None:
    log_in(page, demo_site, "admin")
    answer = page.goto(f"{demo_site.url}/runs/1/cancel")
    assert answer is not None and answer.status == 405
    expect(page.get_by_role("alert")).to_have_text(
        "/runs/1/cancel is where a button sends its form, not a page to open. "
        "Go back to the page with the button and use it there."
    )
    page.get_by_role("link", name="Back to /runs/1").click()
    expect(page).to_have_url(f"{demo_site.url}/runs/1")

    missing = page.goto(f"{demo_site.url}/datasets/1/nothing")
    assert missing is not None and missing.status == 404
    expect(page.get_by_role("alert")).to_contain_text("There is no page at /datasets/1/nothing")

    icon = page.request.get(f"{demo_site.url}/favicon.ico")
    assert icon.status == 200 and icon.headers["content-type"] == "image/x-icon"
