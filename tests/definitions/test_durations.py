"""Durations as users write them: parse, format, error hints, and a format/parse round trip."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from reconciler.definitions.durations import Duration, format_duration, parse_duration
from reconciler.durations import parse_flexible


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30s", timedelta(seconds=30)),
        ("5m", timedelta(minutes=5)),
        ("1h30m", timedelta(hours=1, minutes=30)),
        ("500ms", timedelta(milliseconds=500)),
        ("2d", timedelta(days=2)),
        ("1d2h3m4s5ms", timedelta(days=1, hours=2, minutes=3, seconds=4, milliseconds=5)),
        ("1.5h", timedelta(hours=1, minutes=30)),
        ("0s", timedelta(0)),
    ],
)
def test_durations_parse_as_users_write_them(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


def test_surrounding_whitespace_is_ignored() -> None:
    assert parse_duration("  30s\n") == timedelta(seconds=30)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (timedelta(seconds=30), "30s"),
        (timedelta(minutes=5), "5m"),
        (timedelta(hours=1, minutes=30), "1h30m"),
        (timedelta(milliseconds=500), "500ms"),
        (timedelta(days=2), "2d"),
        (timedelta(days=1, seconds=1, milliseconds=250), "1d1s250ms"),
        (timedelta(0), "0s"),
    ],
)
def test_durations_format_the_way_users_write_them(value: timedelta, expected: str) -> None:
    assert format_duration(value) == expected


@pytest.mark.parametrize(
    "text", ["30", "", "5M", "-5s", "1 h", "h", "1.s", "1e3s", "30sec", "5m 30s", "five minutes"]
)
def test_an_invalid_duration_is_refused_with_a_hint(text: str) -> None:
    with pytest.raises(ValueError, match="invalid duration") as caught:
        parse_duration(text)
    message = str(caught.value)
    assert repr(text) in message
    assert "ms, s, m, h, d" in message
    assert "1h30m" in message


def test_a_duration_field_in_a_model_accepts_text_and_serializes_back_to_text() -> None:
    class Step(BaseModel):
        timeout: Duration

    step = Step.model_validate({"timeout": "1h30m"})
    assert step.timeout == timedelta(hours=1, minutes=30)
    assert step.model_dump() == {"timeout": "1h30m"}
    assert Step.model_validate({"timeout": timedelta(seconds=5)}).timeout == timedelta(seconds=5)


def test_a_duration_field_refuses_a_bare_number_with_a_hint() -> None:
    class Step(BaseModel):
        timeout: Duration

    with pytest.raises(
        ValidationError,
        match="30 is a number; a duration has a unit \\(ms, s, m, h, d\\): write 30s",
    ):
        Step.model_validate({"timeout": 30})


# Whole milliseconds up to ten years: far beyond any timeout or backoff a definition holds.
whole_milliseconds = st.integers(min_value=0, max_value=10 * 365 * 86_400_000).map(
    lambda ms: timedelta(milliseconds=ms)
)


@settings(deadline=None)
@given(whole_milliseconds)
def test_formatting_then_parsing_gives_the_same_duration(value: timedelta) -> None:
    assert parse_duration(format_duration(value)) == value


@settings(deadline=None)
@given(whole_milliseconds)
def test_a_formatted_duration_is_canonical(value: timedelta) -> None:
    text = format_duration(value)
    assert format_duration(parse_duration(text)) == text


def test_round_trip_of_a_large_whole_millisecond_duration_is_exact() -> None:
    value = timedelta(days=99_500, milliseconds=1)
    assert parse_duration(format_duration(value)) == value


def test_an_out_of_range_duration_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="too long"):
        parse_duration("1000000000d")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("500ms", timedelta(milliseconds=500)),
        ("30s", timedelta(seconds=30)),
        ("5m", timedelta(minutes=5)),
        ("1h30m", timedelta(hours=1, minutes=30)),
        ("30", timedelta(seconds=30)),
        ("0.5", timedelta(milliseconds=500)),
        (" 2 ", timedelta(seconds=2)),
        (30, timedelta(seconds=30)),
        (1.5, timedelta(milliseconds=1500)),
    ],
)
def test_flags_and_settings_take_durations_or_a_bare_number_of_seconds(
    value: object, expected: timedelta
) -> None:
    assert parse_flexible(value) == expected


@pytest.mark.parametrize("value", ["soon", "", "-5", "-5s", "1 h", "5M", True, None, -1, [30]])
def test_a_flag_value_that_is_no_duration_is_refused_with_examples(value: object) -> None:
    with pytest.raises(ValueError, match="invalid duration") as caught:
        parse_flexible(value)
    assert repr(value) in str(caught.value)
