"""Steps the browser tests share."""

from __future__ import annotations

import time

from playwright.sync_api import Page, expect

from tests.demo_site import DemoSite

STUDY_OPENS_S = 780
"""The demo study opens once its neural run is coded and measured and its crops proposed: a
few minutes on a busy 2-core machine."""


def log_in(page: Page, site: DemoSite, username: str) -> None:
    page.goto(f"{site.url}/")
    expect(page).to_have_url(f"{site.url}/login?next=/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(site.passwords[username])
    page.get_by_role("button", name="Log in").click()
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
