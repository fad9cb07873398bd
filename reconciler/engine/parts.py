"""What the engine's halves share: the attributes and core methods that :class:`Loading` and
:class:`Operations` use and :class:`~reconciler.engine.engine.Engine` provides."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import TYPE_CHECKING

from reconciler.actions.registry import Registry
from reconciler.engine.clock import Clock
from reconciler.engine.hooks import Hooks
from reconciler.engine.secrets import SecretProvider
from reconciler.engine.state import Execution
from reconciler.engine.steps import StepRunner
from reconciler.store.base import Batch, Store
from reconciler.validation.compiled import CompiledWorkflow, Revision

if TYPE_CHECKING:
    from reconciler.engine.engine import Limits


class EngineParts:
    """Declarations only: the engine sets these attributes and implements these methods."""

    clock: Clock
    hooks: Hooks
    secrets: SecretProvider
    registry: Registry
    store: Store
    steps: StepRunner
    active: dict[str, Execution]
    _tasks: dict[str, set[asyncio.Task[None]]]
    _drivers: dict[str, asyncio.Task[None]]
    _kicks: dict[str, asyncio.Event]
    _waiting_for_a_slot: set[str]
    limits: Limits
    sequential: bool
    suspended: str | None

    async def revision(self, name: str) -> Revision:
        raise NotImplementedError

    def workflow(self, execution: Execution) -> CompiledWorkflow:
        raise NotImplementedError

    async def save(self, execution: Execution) -> None:
        raise NotImplementedError

    def batch(self, execution: Execution) -> Batch:
        raise NotImplementedError

    async def tick(self, execution: Execution, *, one: bool = False) -> bool:
        raise NotImplementedError

    def kick(self, execution_id: str) -> None:
        raise NotImplementedError

    def _activate(self, execution: Execution) -> None:
        raise NotImplementedError

    def _update_status(self, execution: Execution) -> None:
        raise NotImplementedError

    def _cancel_tasks(self, execution_id: str) -> None:
        raise NotImplementedError

    def _evict(self, execution_id: str) -> None:
        raise NotImplementedError

    async def _finish(self, execution: Execution, workflow: CompiledWorkflow) -> None:
        raise NotImplementedError

    async def abort(self, execution: Execution, where: str, exc: BaseException) -> None:
        raise NotImplementedError

    @staticmethod
    def next_timer(execution: Execution) -> datetime | None:
        raise NotImplementedError

    @staticmethod
    def next_wake(execution: Execution, *, without_retries: bool = False) -> str | None:
        raise NotImplementedError

    async def get(self, execution_id: str) -> Execution:
        raise NotImplementedError

    async def wake_due(self) -> int:
        raise NotImplementedError

    async def _after_control(
        self, execution: Execution, workflow: CompiledWorkflow | None = None
    ) -> Execution:
        raise NotImplementedError
