"""PostgreSQL restarted under an annotator in Chromium (issue 18, "Faults").

One real annotator labels in the workspace while the database server of the test's own goes
down: their submit is refused in plain words in the page's error area, the labels stay on the
page (htmx swaps nothing in place of the form), and the draft in this browser survives a
reload; once the database is back, submitting again stores the item, once.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from app.domain.roles import Role
from app.main import DATABASE_UNAVAILABLE
from app.studies.models import Annotation
from tests.browser.helpers import wait_for_viewer
from tests.factories import DEFAULT_PASSWORD, make_user
from tests.faults.conftest import web_server
from tests.private_postgres import PrivatePostgres
from tests.studies.helpers import blind_study, finished_run

pytestmark = [pytest.mark.browser, pytest.mark.timeout(90)]

DRAFTS = "() => Object.keys(localStorage).filter((k) => k.startsWith('miscomp:draft:'))"
SUBMIT = re.compile(r"^Submit")


def _label(page: Page, note: str) -> None:
    """Miscompression, SHAPE, confidence 4 and a note, from the keyboard; kept as a draft."""
    for key in ("m", "3", "Shift+Digit4", "e"):
        page.keyboard.press(key)
    page.keyboard.type(note)
    page.keyboard.press("Escape")
    expect(page.locator('#workspace[data-draft="saved"]')).to_be_attached()


def _labels_are_on_the_page(page: Page, note: str) -> None:
    expect(page.get_by_label("Miscompression (m)")).to_be_checked()
    expect(page.get_by_label("SHAPE (3)")).to_be_checked()
    expect(page.get_by_label("4", exact=True)).to_be_checked()
    expect(page.get_by_label("Note (e)")).to_have_value(note)


def _item(page: Page) -> str:
    item = page.locator("#workspace").get_attribute("data-item")
    assert item is not None
    return item


def test_a_submit_while_the_database_is_down_says_so_keeps_the_labels_and_stores_once(
    page: Page, private_pg: PrivatePostgres, fault_database: Engine
) -> None:
    study_id = blind_study(fault_database, finished_run(fault_database), items=3)
    with Session(fault_database) as session:
        username = make_user(session, Role.ANNOTATOR).username
        session.commit()

    with web_server(fault_database) as server:
        page.goto(f"{server.url}/login")
        page.get_by_label("Username").fill(username)
        page.get_by_label("Password").fill(DEFAULT_PASSWORD)
        page.get_by_role("button", name="Log in").click()
        expect(page.get_by_test_id("whoami")).to_contain_text(username)
        page.goto(f"{server.url}/annotate/studies/{study_id}")
        page.get_by_role("button", name="Start").click()
        wait_for_viewer(page)
        error_area = page.get_by_test_id("request-error")

        # The database crashes; the submit is refused in plain words, the labels stay.
        first = _item(page)
        _label(page, "the 3 became an 8")
        private_pg.stop("immediate")
        page.get_by_role("button", name=SUBMIT).click()
        expect(error_area).to_have_text(DATABASE_UNAVAILABLE)
        expect(page.locator("[data-draft-status]")).to_contain_text("labels are kept")
        assert _item(page) == first
        _labels_are_on_the_page(page, "the 3 became an 8")
        assert len(page.evaluate(DRAFTS)) == 1

        # Back: the same submission (the same id) goes through, and the next item comes.
        private_pg.start()
        page.get_by_role("button", name=SUBMIT).click()
        expect(page.locator("#workspace")).not_to_have_attribute("data-item", first)
        expect(error_area).to_be_hidden()
        wait_for_viewer(page)
        assert page.evaluate(DRAFTS) == []
        second = _item(page)

        # Down again (a clean shutdown): refused, then a reload while it is down shows the
        # error page, and the draft is still in this browser.
        page.wait_for_function("() => document.getElementById('workspace').dataset.prefetched")
        _label(page, "a second look")
        private_pg.stop("fast")
        page.get_by_role("button", name=SUBMIT).click()
        expect(error_area).to_have_text(DATABASE_UNAVAILABLE)
        _labels_are_on_the_page(page, "a second look")
        reloaded = page.reload()
        assert reloaded is not None and reloaded.status == 503
        expect(page.get_by_role("alert")).to_have_text(DATABASE_UNAVAILABLE)
        assert "Traceback" not in page.content()
        assert len(page.evaluate(DRAFTS)) == 1

        # Back: the reload puts the draft back, and the submit stores it.
        private_pg.start()
        page.reload()
        wait_for_viewer(page)
        assert _item(page) == second
        expect(page.locator("[data-draft-status]")).to_contain_text("restored")
        _labels_are_on_the_page(page, "a second look")
        page.get_by_role("button", name=SUBMIT).click()
        expect(page.locator("#workspace")).not_to_have_attribute("data-item", second)
        expect(error_area).to_be_hidden()
        assert page.evaluate(DRAFTS) == []
        assert server.process.poll() is None  # the web server went on by itself

    with Session(fault_database) as session:
        stored = session.execute(
            select(Annotation.assignment_id, Annotation.verdict, Annotation.note)
            .where(Annotation.study_id == study_id)
            .order_by(Annotation.id)
        ).all()
    assert [(str(a), v, n) for a, v, n in stored] == [
        (first, "miscompression", "the 3 became an 8"),
        (second, "miscompression", "a second look"),
    ]
