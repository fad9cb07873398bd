"""A harness for scenario tests: a workflow in, one engine run on a fake clock, phases out.

Test actions are registered on a registry of our own (real action specs, not mocks of the
engine): ``test.record`` returns its input and logs the call, ``test.flaky`` fails with a
temporary error a given number of times, ``test.permanent`` fails for good, ``test.slow``
takes real time (for timeouts and concurrency).
"""

from __future__ import annotations

import asyncio
import builtins
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import ConfigDict

from reconciler.actions.registry import Registry, catalogue
from reconciler.actions.spec import ActionContext, ActionSpec, Params
from reconciler.definitions.loader import MemoryTree
from reconciler.engine.clock import FakeClock
from reconciler.engine.engine import Engine, Limits
from reconciler.engine.hooks import Hooks
from reconciler.engine.secrets import SecretProvider
from reconciler.engine.state import Execution
from reconciler.errors import PermanentError, TemporaryError
from reconciler.store.memory import MemoryStore
from reconciler.validation import revision

START = datetime(2026, 1, 1, tzinfo=UTC)
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "scenarios"


class AnyParams(Params):
    model_config = ConfigDict(frozen=True, extra="allow")


class Recorder(Hooks):
    def __init__(self) -> None:
        self.calls: list[tuple[str, str, dict[str, Any]]] = []  # (action, step key, params)

    def action_called(self, execution: Any, node: Any, action: str, params: Any) -> None:
        self.calls.append((action, node.key, dict(params)))

    def steps_called(self, action: str | None = None) -> list[str]:
        return [key for name, key, _ in self.calls if action is None or name == action]


class TestActions:
    """State shared by the test actions of one harness."""

    def __init__(self) -> None:
        self.failures: Counter[str] = Counter()
        self.in_flight = 0
        self.max_in_flight = 0

    def registry(self) -> Registry:
        registry = catalogue()
        registry.register(
            ActionSpec(
                "test.record",
                "returns its input",
                AnyParams,
                mutating=False,
                idempotent=True,
                dry_run=True,
                effect="internal",
                run=self._record,
            )
        )
        registry.register(
            ActionSpec(
                "test.mutate",
                "a mutating action",
                AnyParams,
                mutating=True,
                idempotent=False,
                dry_run=True,
                effect="write",
                run=self._record,
            )
        )
        registry.register(
            ActionSpec(
                "test.flaky",
                "fails `times` times then succeeds",
                AnyParams,
                mutating=False,
                idempotent=True,
                dry_run=True,
                effect="internal",
                run=self._flaky,
            )
        )
        registry.register(
            ActionSpec(
                "test.permanent",
                "always fails for good",
                AnyParams,
                mutating=False,
                idempotent=True,
                dry_run=True,
                effect="internal",
                run=self._permanent,
            )
        )
        registry.register(
            ActionSpec(
                "test.raise",
                "raises the builtin exception named `error` (a bug in an action)",
                AnyParams,
                mutating=False,
                idempotent=True,
                dry_run=True,
                effect="internal",
                run=self._raise,
            )
        )
        registry.register(
            ActionSpec(
                "test.slow",
                "sleeps `seconds` of real time",
                AnyParams,
                mutating=False,
                idempotent=True,
                dry_run=True,
                effect="internal",
                run=self._slow,
            )
        )
        return registry

    async def _record(self, params: AnyParams, context: ActionContext) -> dict[str, Any]:
        return dict(params.model_extra or {})

    async def _flaky(self, params: AnyParams, context: ActionContext) -> dict[str, Any]:
        extra = params.model_extra or {}
        key = f"{context.execution}/{context.step}"
        if self.failures[key] < int(extra.get("times", 1)):
            self.failures[key] += 1
            raise TemporaryError(f"flaky failure {self.failures[key]}")
        return {"attempt": context.attempt}

    async def _permanent(self, params: AnyParams, context: ActionContext) -> dict[str, Any]:
        raise PermanentError(str((params.model_extra or {}).get("message", "permanent failure")))

    async def _raise(self, params: AnyParams, context: ActionContext) -> dict[str, Any]:
        extra = params.model_extra or {}
        error = getattr(builtins, str(extra.get("error", "RuntimeError")))
        raise error(str(extra.get("message", "a bug")))

    async def _slow(self, params: AnyParams, context: ActionContext) -> dict[str, Any]:
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            await asyncio.sleep(float((params.model_extra or {}).get("seconds", 0.01)))
        finally:
            self.in_flight -= 1
        return {"slept": True}


class Harness:
    """Build a revision from YAML, run executions on a fake clock, look at the result."""

    def __init__(self, secrets: dict[str, dict[str, str]] | None = None) -> None:
        self.actions = TestActions()
        self.registry = self.actions.registry()
        self.hooks = Recorder()
        self.store = MemoryStore()
        self.clock = FakeClock(START)
        self.secrets = SecretProvider(values=secrets or {})
        self.engine: Engine | None = None

    def load(self, text: str, *, sequential: bool = True, limits: Limits | None = None) -> Engine:
        return asyncio.run(self.aload(text, sequential=sequential, limits=limits))

    async def aload(
        self, text: str, *, sequential: bool = True, limits: Limits | None = None
    ) -> Engine:
        """Like :meth:`load`, inside a running event loop (for stores bound to one)."""
        files = {"workflows.yaml": text.encode()}
        outcome = revision.build([MemoryTree(files)], registry=self.registry)
        assert outcome.problems == [], "\n".join(map(str, outcome.problems))
        assert outcome.revision is not None
        self.engine = Engine(
            self.store,
            registry=self.registry,
            clock=self.clock,
            hooks=self.hooks,
            secrets=self.secrets,
            sequential=sequential,
            limits=limits,
        )
        await self.engine.add_revision("r1", outcome.revision, files)
        return self.engine

    def fixture(self, name: str, **kwargs: Any) -> Engine:
        return self.load((FIXTURES / name).read_text(), **kwargs)

    def run(self, workflow: str, params: dict[str, Any] | None = None, **start: Any) -> Execution:
        """Start one execution and run everything until nothing can progress."""
        assert self.engine is not None
        engine = self.engine

        async def go() -> Execution:
            execution = await engine.start(
                revision="r1", workflow=workflow, params=params or {}, **start
            )
            await engine.run_until_idle()
            return await engine.get(execution.id)

        return asyncio.run(go())

    def phases(self, execution: Execution) -> dict[str, str]:
        return {key: node.phase.value for key, node in execution.nodes.items()}
