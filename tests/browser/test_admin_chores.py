"""Real Chromium against the demo site: an admin resets a user's password, and edits the
taxonomy, which a new study's form then starts from."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.browser.helpers import log_in
from tests.demo_site import DemoSite
from tests.factories import image_bytes

pytestmark = pytest.mark.browser

TEXTURE = "Texture replaced by a plausible but different one (grass becomes gravel)."


def _log_in_as(page: Page, site: DemoSite, username: str, password: str) -> None:
    page.goto(f"{site.url}/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()


def test_an_admin_resets_a_password_and_the_user_logs_in_with_the_new_one(
    page: Page, demo_site: DemoSite
) -> None:
    log_in(page, demo_site, "admin")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Users").click()
    page.get_by_label("Username").fill("forgetful")
    page.get_by_label("Password (at least 8 characters)").fill("the first password")
    page.get_by_role("button", name="Create user").click()
    expect(page.get_by_role("cell", name="forgetful", exact=True)).to_be_visible()

    page.get_by_role("button", name="Reset the password of forgetful").click()
    notice = page.get_by_test_id("password-reset")
    expect(notice).to_contain_text("The password of forgetful was reset")
    new_password = page.get_by_test_id("new-password").inner_text()
    assert len(new_password) >= 16
    page.get_by_role("button", name="Log out").click()

    _log_in_as(page, demo_site, "forgetful", "the first password")
    expect(page.get_by_role("alert")).to_have_text("Wrong username or password.")
    page.wait_for_timeout(600)  # past the delay after a failed login (MISCOMP_LOGIN_DELAY_BASE_S)
    _log_in_as(page, demo_site, "forgetful", new_password)
    expect(page.get_by_test_id("whoami")).to_contain_text("forgetful")


def test_an_admin_adds_a_category_and_a_new_study_starts_from_it(
    page: Page, demo_site: DemoSite, tmp_path: Path
) -> None:
    log_in(page, demo_site, "admin")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Taxonomy").click()
    page.get_by_role("link", name="Edit the latest version").click()
    new_row = page.get_by_test_id("category-row").last
    new_row.get_by_label("Key").fill("texture")
    new_row.get_by_label("Name", exact=True).fill("TEXTURE")
    new_row.get_by_label("Shortcut").fill("1")
    new_row.get_by_label("Definition").fill(TEXTURE)
    crop = tmp_path / "texture.png"
    crop.write_bytes(image_bytes(size=(48, 48)))
    new_row.get_by_label("Example crop").set_input_files(str(crop))
    page.get_by_role("button", name="Save as a new version").click()

    expect(page.get_by_role("alert")).to_contain_text("shortcut '1' is taken by AMPLITUDE")
    new_row = page.get_by_test_id("category-row").last
    expect(new_row.get_by_label("Key")).to_have_value("texture")
    expect(new_row.get_by_label("Definition")).to_have_value(TEXTURE)
    expect(new_row.get_by_role("img")).to_be_visible()  # the uploaded example, kept
    new_row.get_by_label("Shortcut").fill("4")
    page.get_by_role("button", name="Save as a new version").click()

    newest = page.get_by_test_id("taxonomy-version").first
    expect(newest).to_contain_text("v2")
    expect(newest).to_contain_text("TEXTURE")

    page.goto(f"{demo_site.url}/studies/new")
    chosen = page.get_by_label("Taxonomy")
    expect(chosen.locator("option:checked")).to_contain_text("miscompression v2")
    instructions = page.get_by_label("Instructions for annotators")
    expect(instructions).to_have_value(re.compile(re.escape(f"**TEXTURE** (`4`): {TEXTURE}")))
    chosen.select_option(label=chosen.locator("option", has_text="v1").inner_text())
    expect(page.get_by_label("Instructions for annotators")).not_to_have_value(
        re.compile("TEXTURE")
    )
    expect(page.get_by_label("Instructions for annotators")).to_have_value(
        re.compile(r"\*\*AMPLITUDE\*\*")
    )
