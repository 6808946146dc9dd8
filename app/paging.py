"""Pages of long lists (dataset images, the audit log, adjudication, the gallery)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Pager:
    page: int
    """1-based, within 1..pages."""
    pages: int
    size: int
    total: int

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.size

    @property
    def first(self) -> int:
        """The 1-based rank of the page's first entry (0 on an empty list)."""
        return min(self.offset + 1, self.total)

    @property
    def last(self) -> int:
        return min(self.offset + self.size, self.total)


def paginate(total: int, page: int, size: int) -> Pager:
    """The requested page, clamped into 1..pages: a page past the end shows the last one, and
    an empty list has one empty page."""
    pages = max(1, -(-total // size))
    return Pager(min(max(1, page), pages), pages, size, total)
