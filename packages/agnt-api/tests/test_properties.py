"""Property tests: cursors and byte ranges hold for any input."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agnt_api.api.routes.files import parse_range
from agnt_api.errors import InvalidCursor, RangeNotSatisfiable
from agnt_api.services.cursors import decode_cursor, encode_cursor

positions = st.dictionaries(
    st.text(max_size=5), st.one_of(st.integers(), st.text(max_size=20)), max_size=3
)


@given(kind=st.text(max_size=10), query=st.text(max_size=10), position=positions)
def test_a_cursor_decodes_to_its_position_for_its_own_listing(
    kind: str, query: str, position: dict[str, object]
) -> None:
    cursor = encode_cursor(kind, query, position)
    assert decode_cursor(cursor, kind, query) == position
    with pytest.raises(InvalidCursor):
        decode_cursor(cursor, kind + "x", query)


@given(garbage=st.text(max_size=60))
def test_any_garbage_cursor_is_invalid_cursor_never_a_crash(garbage: str) -> None:
    with contextlib.suppress(InvalidCursor):
        decode_cursor(garbage, "jobs", "q")


@given(size=st.integers(1, 10_000), first=st.integers(0, 12_000), last=st.integers(0, 12_000))
def test_a_satisfiable_range_selects_what_slicing_selects(size: int, first: int, last: int) -> None:
    data = range(size)
    try:
        span = parse_range(f"bytes={first}-{last}", size)
    except RangeNotSatisfiable:
        assert first >= size or last < first
        return
    assert span is not None
    start, end = span
    assert list(data[start : end + 1]) == list(data[first : last + 1])


@given(size=st.integers(1, 10_000), suffix=st.integers(1, 20_000))
def test_a_suffix_range_selects_the_last_bytes(size: int, suffix: int) -> None:
    assert parse_range(f"bytes=-{suffix}", size) == (max(size - suffix, 0), size - 1)


@given(header=st.text(max_size=30))
def test_any_range_header_parses_or_is_refused_cleanly(header: str) -> None:
    with contextlib.suppress(RangeNotSatisfiable):
        parse_range(header, 100)


@given(
    first=st.integers(0, 6_000).map(lambda n: "9" * n),
    last=st.integers(0, 6_000).map(lambda n: "7" * n),
    zeros=st.integers(0, 30),
)
def test_a_range_of_any_number_of_digits_parses_or_is_refused_cleanly(
    first: str, last: str, zeros: int
) -> None:
    try:
        span = parse_range(f"bytes={'0' * zeros}{first}-{last}", 100)
    except RangeNotSatisfiable:
        return
    assert span is None or 0 <= span[0] <= span[1] <= 99
