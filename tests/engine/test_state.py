"""Stored times: the engine compares them as strings, so they must sort as the times do."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from reconciler.engine.state import iso, parse_iso

BASE = datetime(2026, 1, 1, tzinfo=UTC)


def test_a_whole_second_keeps_its_microseconds_so_it_sorts_before_a_later_fraction() -> None:
    whole, later = iso(BASE), iso(BASE + timedelta(milliseconds=500))
    assert whole == "2026-01-01T00:00:00.000000Z"
    assert whole < later


@given(st.integers(0, 10**12), st.integers(0, 10**12))
def test_stored_times_sort_as_the_times_they_stand_for(a: int, b: int) -> None:
    first, second = BASE + timedelta(microseconds=a), BASE + timedelta(microseconds=b)
    assert (iso(first) < iso(second)) == (first < second)
    assert parse_iso(iso(first)) == first
