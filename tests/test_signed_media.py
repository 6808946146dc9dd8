"""Image links signed for one browser session: they open only for that session, only until
they expire, only unaltered, and they tell nothing of the file they name."""

from __future__ import annotations

from app import signed_media

SECRET = "a secret of the application"
KEY = "crops/ab/" + "ab" * 32 + ".png"
NOW = 1_800_000_000.0


def test_a_link_opens_for_its_session_until_it_expires() -> None:
    link = signed_media.sign(SECRET, KEY, "session one", now=NOW)
    assert signed_media.open_link(SECRET, link, "session one", now=NOW) == KEY
    expires = signed_media.valid_until(NOW)
    assert NOW + signed_media.VALID_S <= expires <= NOW + 2 * signed_media.VALID_S
    assert signed_media.open_link(SECRET, link, "session one", now=expires - 1) == KEY
    assert signed_media.open_link(SECRET, link, "session one", now=expires) is None


def test_a_link_opens_nothing_for_another_session_secret_or_when_altered() -> None:
    link = signed_media.sign(SECRET, KEY, "session one", now=NOW)
    assert signed_media.open_link(SECRET, link, "session two", now=NOW) is None
    assert signed_media.open_link(SECRET, link, None, now=NOW) is None
    assert signed_media.open_link("another secret", link, "session one", now=NOW) is None
    for altered in (
        link[:-1] + ("A" if link[-1] != "A" else "B"),
        link[:10] + link[11:],
        link + "A",
        "",
        "not a link at all",
        "é" * 20,
        "A" * 10_000,
    ):
        assert signed_media.open_link(SECRET, altered, "session one", now=NOW) is None


def test_links_are_alike_in_length_and_the_same_within_their_window() -> None:
    other = "crops/cd/" + "cd" * 32 + ".png"
    first = signed_media.sign(SECRET, KEY, "session one", now=NOW)
    # The panes of one item: the same length, nothing of the key readable.
    assert len(first) == len(signed_media.sign(SECRET, other, "session one", now=NOW))
    assert "crops" not in first and "abab" not in first
    # The page and the prefetch made a little apart name the image alike (the cache serves
    # the prefetched copy); another session or another window gets another link.
    window_start = (int(NOW) // signed_media.VALID_S) * signed_media.VALID_S
    last_second = window_start + signed_media.VALID_S - 1
    assert signed_media.sign(SECRET, KEY, "session one", now=last_second) == (
        signed_media.sign(SECRET, KEY, "session one", now=window_start)
    )
    assert signed_media.sign(SECRET, KEY, "session two", now=NOW) != first
    later = NOW + signed_media.VALID_S
    assert signed_media.sign(SECRET, KEY, "session one", now=later) != first
