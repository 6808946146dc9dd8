"""Take the README's screenshot, the annotator's workspace, from a running demo: `make demo`,
then `.venv/bin/python scripts/screenshot.py http://127.0.0.1:8000 annotator1 PASSWORD`
(the demo prints the accounts; var/demo-accounts.json keeps them). Waits for the demo study
to open (its crops are proposed once the neural run is done)."""

from __future__ import annotations

import sys
import time

from playwright.sync_api import sync_playwright

STUDY_OPENS_S = 900


def main(url: str, username: str, password: str) -> None:
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path="/usr/bin/chromium", args=["--no-sandbox", "--disable-gpu"]
        )
        page = browser.new_page(viewport={"width": 1366, "height": 820})
        page.goto(f"{url}/login")
        page.get_by_label("Username").fill(username)
        page.get_by_label("Password").fill(password)
        page.get_by_role("button", name="Log in").click()
        page.goto(f"{url}/annotate")
        row = page.get_by_role("row", name="demo-study")
        start = row.get_by_role("button", name="Start").or_(
            row.get_by_role("button", name="Continue")
        )
        deadline = time.monotonic() + STUDY_OPENS_S
        while not start.count() and time.monotonic() < deadline:
            page.wait_for_timeout(3000)
            page.reload()
        start.click()
        page.wait_for_function(
            "() => window.miscompViewer && window.miscompViewer.state().ready", timeout=60_000
        )
        page.wait_for_timeout(1500)  # the panes' first paint after decoding
        page.screenshot(path="docs/screenshot.png")
        browser.close()


if __name__ == "__main__":
    main(*sys.argv[1:4])
