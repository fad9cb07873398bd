"""Fixtures for the scenario tests (the harness itself is in harness.py)."""

from __future__ import annotations

import pytest
from harness import Harness


@pytest.fixture
def harness() -> Harness:
    return Harness()
