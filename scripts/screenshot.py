"""Take the README's screenshot from a running demo: `make demo`, then
`.venv/bin/python scripts/screenshot.py http://127.0.0.1:8000 admin PASSWORD`."""

from __future__ import annotations

import sys

from playwright.sync_api import sync_playwright


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
        page.goto(f"{url}/datasets/1")
        page.wait_for_load_state("networkidle")
        page.screenshot(path="docs/screenshot.png")
        browser.close()


if __name__ == "__main__":
    main(*sys.argv[1:4])
