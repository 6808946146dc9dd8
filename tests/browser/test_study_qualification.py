"""The qualification round in real Chromium against the demo site: a researcher makes a small
study over the demo's WebP run with control items and a round of two; its annotator gets the
round instead of real items, sees the panes blind in the viewer, is told after each answer
whether it was right and why, passes, and reaches a real item."""

from __future__ import annotations

import re
import time

import pytest
from playwright.sync_api import Page, expect

from tests.browser.helpers import STUDY_OPENS_S, create_webp_study, log_in, wait_for_viewer
from tests.demo_site import DemoSite

pytestmark = [pytest.mark.browser, pytest.mark.timeout(900)]
STUDY = "qualified-webp"
"""Not a substring of another browser test's study."""


def _create_study(page: Page, site: DemoSite) -> int:
    """Identity controls only (no planted ones): every question's answer is "no
    miscompression", so the test knows which answer is wrong without seeing the items."""
    return create_webp_study(
        page,
        site,
        name=STUDY,
        quotas={"random": 0.5, "control": 0.5},
        items=4,
        qualification_items=2,
        qualification_pass=0.5,
    )


def test_an_annotator_passes_the_qualification_round_then_labels(
    page: Page, demo_site: DemoSite
) -> None:
    log_in(page, demo_site, "researcher")
    study_id = _create_study(page, demo_site)
    page.goto(f"{demo_site.url}/studies/{study_id}")
    expect(page.get_by_test_id("study-qualification")).to_have_text(
        "2 control items with feedback before real items; 50.0 % right to pass"
    )
    # Only annotator2 labels it, so that the other browser tests' queues stay as they expect.
    page.get_by_role("button", name="Restrict to members").click()
    page.get_by_label("Name", exact=True).fill("annotator2")
    page.get_by_role("button", name="Add member").click()
    expect(page.get_by_role("button", name="Remove annotator2")).to_be_visible()
    page.get_by_role("button", name="Log out").click()

    log_in(page, demo_site, "annotator2")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="My studies").click()
    row = page.get_by_role("row", name=STUDY)
    deadline = time.monotonic() + STUDY_OPENS_S
    while not row.count() and time.monotonic() < deadline:
        page.wait_for_timeout(2000)
        page.reload()
    row.get_by_role("button", name="Start").click()
    expect(page).to_have_url(re.compile(rf"/annotate/studies/{study_id}/qualification$"))
    expect(page.get_by_role("heading", name="Question 1 of 2")).to_be_visible()
    wait_for_viewer(page)
    expect(page.get_by_test_id("pane-label")).to_have_text(["original", "A", "B"])

    # A wrong answer, by its key: told so, with the expected verdict and why.
    page.keyboard.press("m")
    page.keyboard.press("Enter")
    feedback = page.get_by_test_id("qualification-feedback")
    expect(feedback).to_contain_text("Not right.")
    expect(feedback).to_contain_text(
        "the expected verdict is no miscompression: the two panes were identical"
    )
    feedback.get_by_role("link", name="Next question").click()
    expect(page.get_by_role("heading", name="Question 2 of 2")).to_be_visible()
    wait_for_viewer(page)
    page.get_by_label("No miscompression").check()
    page.get_by_role("button", name="Answer").click()
    expect(page.get_by_test_id("qualification-feedback")).to_contain_text("Right.")
    expect(page.get_by_test_id("qualification-result")).to_contain_text(
        "You passed the qualification round: 1 of 2 right."
    )

    # Passed: the real items, in the workspace.
    page.get_by_role("button", name="Start the real items").click()
    expect(page).to_have_url(re.compile(r"/annotate/items/\d+$"))
    wait_for_viewer(page)
    expect(page.get_by_test_id("item-progress")).to_contain_text("Item 1 of")
