"""Real Chromium (Debian's, driven by Playwright), for the browser tests (tests/browser/) and the
fault tests that watch a page (tests/faults/). One plugin of the root conftest, so that a test
process starts one Playwright, however many folders use it: a second one would find the
first's event loop running and refuse to start."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

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


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not shutil.which(CHROMIUM):
        pytest.fail(
            "Debian's chromium is missing: `make test` installs it (scripts/ensure-system.sh)"
        )
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield browser
        browser.close()


CSP_LISTENER = """
document.addEventListener("securitypolicyviolation", (e) => {
  window.miscompCspViolation(
    `${e.effectiveDirective} refused ${e.blockedURI || "inline"} on ${e.documentURI}` +
      ` (${e.sourceFile || "?"}:${e.lineNumber}) ${e.sample || ""}`
  );
}, true);
"""
"""Installed in every page before its own scripts run (Playwright's init scripts are not
subject to the page's CSP): reports each Content-Security-Policy violation."""


@pytest.fixture
def csp_violations() -> list[str]:
    """What the CSP refused during the test; every browser test fails if it is not empty."""
    return []


@pytest.fixture
def page(browser: Browser, csp_violations: list[str]) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1366, "height": 768})

    def report(violation: str) -> None:
        csp_violations.append(violation)

    context.expose_function("miscompCspViolation", report)
    context.add_init_script(CSP_LISTENER)
    page = context.new_page()
    yield page
    context.close()
    assert not csp_violations, "the Content-Security-Policy refused:\n" + "\n".join(csp_violations)
