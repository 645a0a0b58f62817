"""Previous-page links for keyset-paginated lists (marketplace, my jobs)."""

from __future__ import annotations

MAX_TRAIL = 20
"""Pages of cursors a Previous link remembers (further back it goes to the first page)."""


def previous_links(cursor: str | None, trail: str) -> tuple[str | None, str, str]:
    """``(previous cursor, its trail, this page's trail for the Next link)``.

    Keyset pages have no way back: the address carries the cursors of the pages before
    (``trail``, space-separated; the first page is ``-``).
    """
    crumbs = trail.split()[-MAX_TRAIL:]
    previous = crumbs[-1] if crumbs else None
    previous_cursor = None if previous in (None, "-") else previous
    here = " ".join([*crumbs, cursor or "-"][-MAX_TRAIL:])
    return previous_cursor, " ".join(crumbs[:-1]), here
