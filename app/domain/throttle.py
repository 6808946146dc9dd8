"""Failed-login limits: when may the next password be checked?

Nothing here waits. A login that comes too early is refused at once with the time it may
retry (HTTP 429 + Retry-After), so a flood of guesses holds neither a database connection nor
a worker thread, and an honest user's request is never queued behind it.

Two keys, two rules:

- the account (the username, from any address): each recent failure doubles the time before
  the next password check for that username, up to a ceiling. This is what stops guessing one
  account, from one address or many. A per-(username, address) key would add nothing: the
  account key is at least as strict for every address.
- the client address: only a generous cap on failures in the window, against one address
  spraying guesses over many usernames. It is deliberately not a slowdown, so that people
  behind one address (a lab's NAT) do not slow each other down: a correct password for
  another account from the same address is checked at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta


def login_delay_s(recent_failures: int, *, base_s: float, max_s: float) -> float:
    """Seconds after the latest failure before the account's next password check.

    No failures, no wait: an honest user who types the password right is never slowed.
    """
    if recent_failures <= 0:
        return 0.0
    return min(max_s, base_s * 2.0 ** (recent_failures - 1))


@dataclass(frozen=True)
class RecentFailures:
    """Failed logins of one key in the window: how many, and the newest and oldest."""

    count: int
    newest_at: datetime | None = None
    oldest_at: datetime | None = None


@dataclass(frozen=True)
class LoginLimits:
    base_s: float
    """The wait after an account's first failure; it doubles with each further one."""
    max_s: float
    """The longest wait an account's failures impose."""
    address_cap: int
    """Failures from one address in the window after which it must wait for the oldest to
    leave the window."""
    window: timedelta
    """How long a failure counts."""


def login_retry_after_s(
    account: RecentFailures, address: RecentFailures, *, now: datetime, limits: LoginLimits
) -> float:
    """0 if a password may be checked now, else the seconds until one may."""
    waits = [0.0]
    if account.count > 0 and account.newest_at is not None:
        delay = login_delay_s(account.count, base_s=limits.base_s, max_s=limits.max_s)
        waits.append((account.newest_at + timedelta(seconds=delay) - now).total_seconds())
    if address.count >= limits.address_cap and address.oldest_at is not None:
        waits.append((address.oldest_at + limits.window - now).total_seconds())
    return max(waits)
