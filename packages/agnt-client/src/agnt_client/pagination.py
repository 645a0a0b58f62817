"""Following ``next_cursor`` lazily: a page is fetched only when its first item is needed."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from typing import Protocol, TypeVar

ItemT_co = TypeVar("ItemT_co", covariant=True)
ItemT = TypeVar("ItemT")


class Page(Protocol[ItemT_co]):
    """What every page model has: its items and the cursor of the next page."""

    @property
    def items(self) -> Sequence[ItemT_co]:
        """The items of this page."""
        ...

    @property
    def next_cursor(self) -> str | None:
        """Pass back as ``cursor`` for the next page; ``None`` on the last page."""
        ...


def iterate_pages(fetch: Callable[[str | None], Page[ItemT]]) -> Iterator[ItemT]:
    """Every item of every page, fetching page after page as the caller advances."""
    cursor: str | None = None
    while True:
        page = fetch(cursor)
        yield from page.items
        if not page.next_cursor or not page.items:
            return
        cursor = page.next_cursor


async def aiterate_pages(
    fetch: Callable[[str | None], Awaitable[Page[ItemT]]],
) -> AsyncIterator[ItemT]:
    """Async ``iterate_pages``: every item of every page, fetched as the caller advances."""
    cursor: str | None = None
    while True:
        page = await fetch(cursor)
        for item in page.items:
            yield item
        if not page.next_cursor or not page.items:
            return
        cursor = page.next_cursor
