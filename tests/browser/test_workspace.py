"""The annotation workspace in real Chromium against the demo site: labelling from the keyboard
without page loads, revising, pixel-exact zoom, panes in step, flicker and boxes, progress,
drafts kept in the browser, and a finished item shown read-only until revised."""

from __future__ import annotations

import re

import numpy as np
import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.helpers import (
    asset_pixels,
    away_from_panes,
    expected_view,
    log_in,
    open_demo_study,
    pane_pixels,
    viewer_state,
    wait_for_viewer,
    zoom_to,
)
from tests.demo_site import DemoSite

pytestmark = [pytest.mark.browser, pytest.mark.timeout(900)]


def _type_into(page: Page, key: str, text: str) -> None:
    page.keyboard.press(key)
    page.keyboard.type(text)
    page.keyboard.press("Enter")  # leaves the field; the next Enter submits


def test_annotator_labels_three_items_from_the_keyboard_and_revises_one(
    page: Page, demo_site: DemoSite
) -> None:
    log_in(page, demo_site, "annotator1")
    open_demo_study(page, demo_site)
    away_from_panes(page)
    expect(page.get_by_test_id("pane-label")).to_have_text(["original", "A", "B"])
    page.evaluate("() => { window.sameDocument = true; }")  # gone if the page reloads
    page_loads: list[str] = []
    page.on(
        "request",
        lambda r: (
            page_loads.append(f"{r.method} {r.url}") if r.resource_type == "document" else None
        ),
    )
    seen_urls = [page.url]

    # Item 1: miscompression, SHAPE + SYMBOL, seen in A, confidence 4, a box, descriptions.
    for key in ("m", "3", "s", "Shift+A", "Shift+Digit4"):
        page.keyboard.press(key)
    expect(page.get_by_label("Miscompression (m)")).to_be_checked()
    expect(page.get_by_label("SHAPE (3)")).to_be_checked()
    expect(page.get_by_label("SYMBOL (s)")).to_be_checked()
    expect(page.get_by_label("A (Shift+A)")).to_be_checked()
    expect(page.get_by_label("4", exact=True)).to_be_checked()
    size = viewer_state(page)["shownSide"]
    centre = size // 2
    page.keyboard.press("x")
    for key in ["Shift+ArrowRight"] * 5 + ["Shift+ArrowDown"] * 3:
        page.keyboard.press(key)
    page.keyboard.press("x")
    box = {"pane": "A", "x": centre, "y": centre, "w": 6, "h": 4}
    assert viewer_state(page)["boxes"] == [box]
    expect(page.get_by_role("button", name="Remove box 1")).to_be_visible()
    _type_into(page, "o", "a zero")
    _type_into(page, "r", "the letter O")
    # Meanwhile the browser leased the next item and fetched its four images.
    page.wait_for_function("() => document.getElementById('workspace').dataset.prefetched === '4'")
    page.keyboard.press("Enter")
    expect(page).not_to_have_url(seen_urls[-1])
    wait_for_viewer(page)
    seen_urls.append(page.url)

    # Item 2 came as the answer to the submit, naming the images of item 3 to fetch now.
    page.wait_for_function("() => document.getElementById('workspace').dataset.prefetched === '4'")
    assert page.locator("#workspace[data-prefetch]").count() == 1
    # Item 2: no miscompression, confidence 5. Item 3: unsure, with a note.
    for key in ("n", "Shift+Digit5", "Enter"):
        page.keyboard.press(key)
    expect(page).not_to_have_url(seen_urls[-1])
    wait_for_viewer(page)
    seen_urls.append(page.url)
    page.keyboard.press("u")
    page.keyboard.press("e")
    page.keyboard.type("hard to tell at 1x")
    page.keyboard.press("Escape")
    page.keyboard.press("Enter")
    expect(page).not_to_have_url(seen_urls[-1])
    wait_for_viewer(page)
    # Three submissions, three new items, and never a page load.
    assert page_loads == []
    assert page.evaluate("() => window.sameDocument") is True
    assert len({*seen_urls, page.url}) == 4
    assert viewer_state(page)["boxes"] == []

    # Revisit the first: everything comes back, including the box; add a box, undo, redo,
    # undo again, change the confidence, save.
    mine = page.request.get(f"{demo_site.url}/api/annotations/mine").json()
    first_id = sorted(a["id"] for a in mine)[-3]  # this test's first
    page.goto(f"{demo_site.url}/annotate/history")
    page.locator(f'a[href="/annotate/annotations/{first_id}"]').click()
    wait_for_viewer(page)
    assert viewer_state(page)["boxes"] == [box]
    expect(page.get_by_label("SHAPE (3)")).to_be_checked()
    expect(page.get_by_label("What the original shows (o)")).to_have_value("a zero")
    for key in ("x", "Shift+ArrowLeft", "Shift+ArrowLeft", "x"):
        page.keyboard.press(key)
    assert len(viewer_state(page)["boxes"]) == 2
    page.keyboard.press("z")
    assert viewer_state(page)["boxes"] == [box]
    page.keyboard.press("Shift+Z")
    assert len(viewer_state(page)["boxes"]) == 2
    page.keyboard.press("Control+z")
    assert viewer_state(page)["boxes"] == [box]
    page.keyboard.press("Shift+Digit2")
    page.keyboard.press("Enter")
    expect(page).to_have_url(f"{demo_site.url}/annotate/history")

    mine = page.request.get(f"{demo_site.url}/api/annotations/mine").json()
    latest = sorted(mine, key=lambda a: a["id"])[-3:]  # this test's three
    by_verdict = {a["verdict"]: a for a in latest}
    assert set(by_verdict) == {"miscompression", "no_miscompression", "unsure"}
    first = by_verdict["miscompression"]
    assert (first["categories"], first["modifiers"], first["seen_in"]) == (
        ["shape"],
        ["symbol"],
        ["A"],
    )
    assert first["boxes"] == [box]
    assert (first["original_shows"], first["compressed_shows"]) == ("a zero", "the letter O")
    assert (first["confidence"], first["revision"]) == (2, 2)
    assert (by_verdict["no_miscompression"]["confidence"], by_verdict["unsure"]["note"]) == (
        5,
        "hard to tell at 1x",
    )


def test_zoom_is_pixel_exact_nearest_neighbour(page: Page, demo_site: DemoSite) -> None:
    log_in(page, demo_site, "annotator2")
    open_demo_study(page, demo_site)
    away_from_panes(page)
    for zoom in (8, 1, 16):
        zoom_to(page, zoom)
        state = viewer_state(page)
        assert state["dpr"] == 1
        for pane in state["panes"]:
            stored = asset_pixels(page, demo_site, pane["url"])
            shown = pane_pixels(page, pane["label"])
            expected = expected_view(stored, state)
            assert shown.shape == expected.shape
            assert np.array_equal(shown, expected), (
                f"pane {pane['label']} at {zoom}x: {np.count_nonzero(shown != expected)} values"
            )


def test_panes_stay_in_step_and_flicker_keeps_the_view(page: Page, demo_site: DemoSite) -> None:
    log_in(page, demo_site, "annotator3")
    open_demo_study(page, demo_site)
    a = page.get_by_test_id("pane-A").bounding_box()
    b = page.get_by_test_id("pane-B").bounding_box()
    assert a is not None and b is not None
    # Wheel over A (zoom about the cursor), then drag B: every pane follows.
    page.mouse.move(a["x"] + a["width"] * 0.3, a["y"] + a["height"] * 0.4)
    page.mouse.wheel(0, -120)
    page.wait_for_timeout(100)
    page.mouse.move(b["x"] + 150, b["y"] + 150)
    page.mouse.down()
    page.mouse.move(b["x"] + 113, b["y"] + 127, steps=4)
    page.mouse.up()
    away_from_panes(page)
    state = viewer_state(page)
    assert state["zoom"] > 1 and state["origin"] != {"x": 0, "y": 0}
    images = {p["label"]: asset_pixels(page, demo_site, p["url"]) for p in state["panes"]}
    for label, image in images.items():
        assert np.array_equal(pane_pixels(page, label), expected_view(image, state)), label

    # Flicker swaps original and A in place: the same view, the other image.
    page.keyboard.press("f")
    page.wait_for_timeout(100)
    flickered = viewer_state(page)
    assert (flickered["zoom"], flickered["origin"]) == (state["zoom"], state["origin"])
    showing = {p["label"]: p["showing"] for p in flickered["panes"]}
    assert showing == {"original": "A", "A": "original", "B": "B"}
    assert np.array_equal(pane_pixels(page, "A"), expected_view(images["original"], state))
    assert np.array_equal(pane_pixels(page, "original"), expected_view(images["A"], state))
    expect(page.locator('figure[data-label="A"] [data-showing]')).to_have_text("showing original")
    page.keyboard.press("f")

    # Blink swaps by itself at the set rate, then stops.
    page.keyboard.press("b")
    swaps = set()
    for _ in range(12):
        page.wait_for_timeout(150)
        swaps.add(viewer_state(page)["panes"][1]["showing"])
    page.keyboard.press("b")
    assert swaps == {"A", "original"}
    assert [p["showing"] for p in viewer_state(page)["panes"]] == ["original", "A", "B"]

    # The difference overlay of pane A alone, fully opaque: |A - original| x 8, exactly.
    page.locator("[data-opacity]").fill("100")
    page.get_by_role("button", name="Difference overlay on pane A").click()
    away_from_panes(page)
    gain = 8
    difference = np.clip(np.abs(images["A"].astype(int) - images["original"]) * gain, 0, 255)
    assert np.array_equal(
        pane_pixels(page, "A"), expected_view(difference.astype(np.uint8), viewer_state(page))
    )
    assert np.array_equal(pane_pixels(page, "B"), expected_view(images["B"], viewer_state(page)))
    page.keyboard.press("d")  # every pane's overlay: off again (one was on)
    assert np.array_equal(pane_pixels(page, "A"), expected_view(images["A"], viewer_state(page)))

    # A box drawn on A is drawn at the same screen pixels on every pane.
    page.keyboard.press("0")
    page.keyboard.press("x")
    for key in ["Shift+ArrowRight"] * 4 + ["Shift+ArrowDown"] * 4:
        page.keyboard.press(key)
    page.keyboard.press("x")
    away_from_panes(page)
    state = viewer_state(page)
    (box,) = state["boxes"]
    z, ox, oy = state["zoom"], state["origin"]["x"], state["origin"]["y"]
    left, top = ox + box["x"] * z, oy + box["y"] * z
    for label in ("original", "A", "B"):
        # Cyan on the pane it was drawn on, magenta on the others.
        colour = (0, 229, 255) if label == box["pane"] else (255, 79, 216)
        pixels = pane_pixels(page, label)
        assert tuple(pixels[top + z, left]) == colour, label  # the box's left edge
        assert tuple(pixels[top, left + z]) == colour, label  # its top edge


NAMELESS_CONTROLS = """() => [...document.querySelectorAll(
    '#workspace button, #workspace input:not([type=hidden]), #workspace select, #workspace textarea'
  )].filter((el) => !(el.labels && el.labels.length) && !el.getAttribute('aria-label')
                    && !el.textContent.trim()).map((el) => el.outerHTML)"""


@pytest.mark.parametrize("viewport", [(1366, 768), (3840, 2160)], ids=["1366x768", "4k"])
def test_every_control_is_named_and_the_workspace_fits_the_screen(
    browser: Browser, demo_site: DemoSite, viewport: tuple[int, int]
) -> None:
    width, height = viewport
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    try:
        log_in(page, demo_site, "annotator2")
        open_demo_study(page, demo_site)
        assert page.evaluate(NAMELESS_CONTROLS) == []
        assert page.evaluate("() => document.documentElement.scrollWidth") <= width
        side = viewer_state(page)["side"]
        assert side >= (340 if width < 2000 else 1000), side  # the panes grow with the screen
        # Focus is visible: the focused control draws an outline.
        page.keyboard.press("Tab")
        outline = page.evaluate("() => getComputedStyle(document.activeElement).outlineStyle")
        assert outline not in ("", "none")
        page.keyboard.press("?")
        expect(page.get_by_role("dialog", name="Keyboard shortcuts")).to_be_visible()
        page.keyboard.press("Escape")
        expect(page.get_by_role("dialog", name="Keyboard shortcuts")).to_be_hidden()
        page.keyboard.press("i")
        expect(page.locator("details.instructions")).to_have_attribute("open", "")
    finally:
        context.close()


PROGRESS = re.compile(r"^Item (\d+) of (\d+) · (\d+) left$")
DRAFTS = "() => Object.keys(localStorage).filter((k) => k.startsWith('miscomp:draft:'))"


def _progress(page: Page) -> tuple[int, int, int]:
    text = page.get_by_test_id("item-progress").inner_text()
    found = PROGRESS.match(text)
    assert found is not None, text
    number, items, left = (int(g) for g in found.groups())
    return number, items, left


def test_progress_a_draft_surviving_a_reload_and_revising_a_finished_item(
    page: Page, demo_site: DemoSite
) -> None:
    log_in(page, demo_site, "annotator2")
    open_demo_study(page, demo_site)
    number, items, left = _progress(page)
    assert 1 <= number <= items and left < items
    first_url = page.url

    # Labels and a box, then a reload: all of it comes back from this browser's draft.
    for key in ("m", "3", "Shift+A", "Shift+Digit4"):
        page.keyboard.press(key)
    for key in ("x", "Shift+ArrowRight", "Shift+ArrowRight", "x"):
        page.keyboard.press(key)
    (box,) = viewer_state(page)["boxes"]
    page.keyboard.press("e")
    page.keyboard.type("look at the top row")
    page.keyboard.press("Escape")
    assert len(page.evaluate(DRAFTS)) == 1
    page.reload()
    wait_for_viewer(page)
    expect(page.get_by_label("Miscompression (m)")).to_be_checked()
    expect(page.get_by_label("SHAPE (3)")).to_be_checked()
    expect(page.get_by_label("A (Shift+A)")).to_be_checked()
    expect(page.get_by_label("4", exact=True)).to_be_checked()
    expect(page.get_by_label("Note (e)")).to_have_value("look at the top row")
    assert viewer_state(page)["boxes"] == [box]
    expect(page.locator("[data-draft-status]")).to_contain_text("restored")

    # Submitted: the next item, one further on, and the draft is gone.
    page.keyboard.press("Enter")
    expect(page).not_to_have_url(first_url)
    wait_for_viewer(page)
    assert _progress(page) == (number + 1, items, left - 1)
    assert page.evaluate(DRAFTS) == []

    # Back to the finished item: its labels, read-only, until Revise (Enter).
    page.go_back()
    expect(page).to_have_url(first_url)
    expect(page.locator('#workspace[data-finished="done"]')).to_be_attached()
    wait_for_viewer(page)
    assert _progress(page) == (number, items, left)  # the item now current is still to do
    page.keyboard.press("n")
    expect(page.get_by_label("Miscompression (m)")).to_be_checked()
    expect(page.get_by_label("Miscompression (m)")).to_be_disabled()
    assert viewer_state(page)["boxes"] == [box]
    expect(page.get_by_role("button", name="Save revision")).to_be_hidden()
    page.keyboard.press("Enter")
    expect(page.get_by_role("button", name="Revise")).to_be_hidden()
    expect(page.get_by_role("button", name="Save revision")).to_be_visible()
    page.keyboard.press("Shift+Digit2")
    page.keyboard.press("Enter")  # saves the revision and goes on with the current item
    expect(page).not_to_have_url(first_url)
    wait_for_viewer(page)
    mine = page.request.get(f"{demo_site.url}/api/annotations/mine").json()
    latest = max(mine, key=lambda a: a["id"])
    assert (latest["verdict"], latest["confidence"], latest["revision"]) == ("miscompression", 2, 2)
    assert latest["boxes"] == [box] and latest["note"] == "look at the top row"
