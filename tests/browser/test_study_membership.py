"""Study membership in real Chromium against the demo site: a researcher restricts a study to
one annotator on its page; that annotator sees and opens it, another neither sees it in their
queue nor opens its URL (a plain 404 page, as for a study that does not exist)."""

from __future__ import annotations

import re
import time

import pytest
from playwright.sync_api import Page, expect

from tests.browser.helpers import STUDY_OPENS_S, create_webp_study, log_in
from tests.demo_site import DemoSite

pytestmark = [pytest.mark.browser, pytest.mark.timeout(900)]
STUDY = "members-only-webp"
"""Not a substring of "demo-study": the other browser tests find that row by name."""


def _log_out(page: Page, site: DemoSite) -> None:
    page.goto(f"{site.url}/")
    page.get_by_role("button", name="Log out").click()
    expect(page).to_have_url(f"{site.url}/login")


def _create_study(page: Page, site: DemoSite) -> int:
    return create_webp_study(page, site, name=STUDY, quotas={"random": 1.0}, items=4)


def test_an_annotator_not_in_a_study_cannot_see_or_open_it(page: Page, demo_site: DemoSite) -> None:
    log_in(page, demo_site, "researcher")
    study_id = _create_study(page, demo_site)
    page.goto(f"{demo_site.url}/studies/{study_id}")
    access = page.get_by_test_id("study-access")
    expect(access).to_have_text("Every annotator.")
    page.get_by_role("button", name="Restrict to members").click()
    expect(access).to_contain_text("Members only")
    expect(page.get_by_test_id("no-members")).to_be_visible()
    page.get_by_label("Name", exact=True).fill("nobody-here")
    page.get_by_role("button", name="Add member").click()
    expect(page.get_by_role("alert")).to_have_text("there is no user named 'nobody-here'")
    expect(page.get_by_label("Name", exact=True)).to_have_value("nobody-here")
    page.get_by_label("Name", exact=True).fill("annotator2")
    page.get_by_role("button", name="Add member").click()
    expect(page.get_by_role("button", name="Remove annotator2")).to_be_visible()
    _log_out(page, demo_site)

    # The member: the study appears in their queue once its crops are proposed.
    log_in(page, demo_site, "annotator2")
    nav = page.get_by_role("navigation", name="Main")
    nav.get_by_role("link", name="My studies").click()
    row = page.get_by_role("row", name=STUDY)
    deadline = time.monotonic() + STUDY_OPENS_S
    while not row.count() and time.monotonic() < deadline:
        page.wait_for_timeout(2000)
        page.reload()
    row.get_by_role("link", name=STUDY).click()
    expect(page).to_have_url(re.compile(rf"/annotate/studies/{study_id}$"))
    expect(page.get_by_role("heading", name=STUDY)).to_be_visible()
    expect(page.get_by_role("button", name="Start")).to_be_visible()
    _log_out(page, demo_site)

    # Anyone else: not in the queue, and its URL answers as for a study that does not exist.
    log_in(page, demo_site, "annotator3")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="My studies").click()
    expect(page.get_by_role("heading", name="My studies")).to_be_visible()
    expect(page.get_by_role("row", name=STUDY)).to_have_count(0)
    expect(page.get_by_text(STUDY)).to_have_count(0)
    response = page.goto(f"{demo_site.url}/annotate/studies/{study_id}")
    assert response is not None and response.status == 404
    expect(page.get_by_role("heading", name="Error 404")).to_be_visible()
    expect(page.get_by_role("alert")).to_have_text(f"study {study_id} not found")
