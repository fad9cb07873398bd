"""The fake clock moves when an action sleeps on it; a step timeout holds on it."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from reconciler.engine.clock import Bounded, FakeClock

START = datetime(2026, 1, 1, tzinfo=UTC)


def test_a_sleep_on_the_fake_clock_moves_it_at_once() -> None:
    clock = FakeClock(START)
    asyncio.run(clock.sleep(20))
    assert clock.now() == START + timedelta(seconds=20)
    assert clock.monotonic() == 20.0
    clock.advance_to(START + timedelta(minutes=5))
    assert clock.monotonic() == 300.0


def test_a_sleep_past_the_step_deadline_ends_at_it_with_a_timeout() -> None:
    clock = FakeClock(START)
    bounded = Bounded(clock, 30)
    asyncio.run(bounded.sleep(25))
    assert clock.monotonic() == 25.0
    with pytest.raises(TimeoutError):
        asyncio.run(bounded.sleep(10))
    assert clock.now() == START + timedelta(seconds=30)
