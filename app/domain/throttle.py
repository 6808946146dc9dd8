"""Failed-login slowdown: each recent failure doubles the wait, up to a ceiling."""

from __future__ import annotations


def login_delay_s(recent_failures: int, *, base_s: float, max_s: float) -> float:
    """Seconds to wait before checking a password, given failures in the recent window.

    No failures, no wait: an honest user who types the password right is never slowed.
    """
    if recent_failures <= 0:
        return 0.0
    return min(max_s, base_s * 2.0 ** (recent_failures - 1))
