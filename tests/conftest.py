"""Shared test set-up: hypothesis profiles (CI has no deadlines: shared machines are noisy),
logging and the registry of known secrets put back after each test."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
import structlog
from hypothesis import HealthCheck, settings

from reconciler import redaction

settings.register_profile(
    "ci",
    deadline=None,
    max_examples=100,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("dev", deadline=None, max_examples=50, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))


@pytest.fixture(autouse=True)
def logging_restored() -> Iterator[None]:
    """A test that invokes the CLI in this process (typer's CliRunner) leaves structlog printing
    to the runner's captured stderr, closed once the invocation ends: put logging back, or a
    later test's log call (on a store's writer thread, say) writes to a closed stream."""
    yield
    structlog.reset_defaults()


@pytest.fixture(autouse=True)
def secrets_forgotten() -> Iterator[None]:
    """The registry of known secrets is process-wide (a service never forgets one): a test's
    secrets must not redact another test's values."""
    yield
    redaction.reset()
