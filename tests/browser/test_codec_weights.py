"""An admin fetches published weights from the codecs page in Chromium: the demo's worker
downloads them from a publisher on loopback, and the page follows it to the verified file."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.browser.helpers import log_in
from tests.codec_weights.helpers import (
    METAGRAPH,
    loopback_publisher,
    sha256,
    write_weights_catalogue,
)
from tests.demo_site import DemoSite

pytestmark = pytest.mark.browser


def test_admin_fetches_hific_weights_from_the_codecs_page(page: Page, demo_site: DemoSite) -> None:
    catalogue_file = demo_site.var / "weights-catalogue.toml"
    fetched = demo_site.var / "weights" / "tfc_metagraphs" / "hific-lo.metagraph"
    with loopback_publisher() as publisher:
        publisher.files["hific-lo.metagraph"] = METAGRAPH
        pinned = {"hific-lo.metagraph": sha256(METAGRAPH)}
        write_weights_catalogue(catalogue_file, publishers={"tfci": publisher.url}, pins=pinned)
        try:
            log_in(page, demo_site, "admin")
            nav = page.get_by_role("navigation", name="Main")
            nav.get_by_role("link", name="Codec runs").click()
            page.get_by_role("link", name="Codecs and published weights").click()
            expect(page.get_by_role("heading", name="Published weights")).to_be_visible()
            row = page.get_by_test_id("weights-hific")
            expect(row.get_by_label("Quality")).to_have_value("lo")

            # The operator withdraws the pin meanwhile: the refusal comes back in the panel.
            write_weights_catalogue(catalogue_file, publishers={"tfci": publisher.url})
            row.get_by_role("button", name="Fetch hific").click()
            expect(page.get_by_test_id("fetch-error")).to_contain_text(
                "publishes no sha256 of hific-lo.metagraph"
            )
            assert publisher.requests == []

            write_weights_catalogue(catalogue_file, publishers={"tfci": publisher.url}, pins=pinned)
            page.reload()
            page.get_by_test_id("weights-hific").get_by_role("button", name="Fetch hific").click()
            job = page.locator("tr[data-testid^=fetch-]").first
            expect(job).to_contain_text("hific-lo.metagraph")
            expect(job).to_contain_text("done", timeout=120_000)
            expect(job).to_contain_text(sha256(METAGRAPH)[:16])
            expect(job).to_contain_text(f"{len(METAGRAPH):,} / {len(METAGRAPH):,} bytes")
            here = page.get_by_test_id("weights-hific").get_by_role("cell", name="lo", exact=True)
            expect(here).to_be_visible()
            assert fetched.read_bytes() == METAGRAPH
        finally:
            catalogue_file.unlink(missing_ok=True)
            fetched.unlink(missing_ok=True)
