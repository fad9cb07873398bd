"""The engine: starts executions, drives them to the end, persists every transition, recovers.

Two ways to dispatch, one set of rules. In the service (``sequential=False``) each active
execution has a driver task (:mod:`~reconciler.engine.driving`) and its action attempts run as
concurrent tasks, bounded by ``max_running_steps``. In ``reconciler test`` (``sequential=True``) :meth:`run_until_idle`
dispatches one step at a time in a deterministic order and moves a fake clock to the next timer
when nothing else can progress. Executions that only wait (a timer, an approval) are dropped
from memory in the service and woken from the store when due.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import structlog

from reconciler.actions.kube import KubeCluster
from reconciler.actions.registry import Registry, default_registry
from reconciler.definitions.loader import MemoryTree
from reconciler.engine import control, scheduler
from reconciler.engine.clock import Clock, SystemClock
from reconciler.engine.driving import Driving
from reconciler.engine.failures import APPROVAL_WAITS
from reconciler.engine.finishing import Finishing
from reconciler.engine.hooks import Hooks
from reconciler.engine.loading import Loading
from reconciler.engine.operations import Operations
from reconciler.engine.secrets import SecretProvider
from reconciler.engine.state import Execution, Node, Phase, Status, iso, parse_iso
from reconciler.engine.steps import StepRunner
from reconciler.errors import EngineError
from reconciler.store.base import Batch, Store
from reconciler.validation import revision as revisions
from reconciler.validation.compiled import CompiledWorkflow, Revision

log = structlog.get_logger("reconciler.engine")


@dataclass
class Limits:
    """Concurrency caps: running executions and steps, plus caps per group (policy, target)."""

    max_running_executions: int = 1000
    max_running_steps: int = 256
    groups: dict[str, int] = field(default_factory=dict)  # group name -> cap on running executions
    evict_after: timedelta = timedelta(seconds=30)  # drop executions waiting longer than this


class Engine(Driving, Finishing, Loading, Operations):
    def __init__(
        self,
        store: Store,
        *,
        registry: Registry | None = None,
        clock: Clock | None = None,
        hooks: Hooks | None = None,
        secrets: SecretProvider | None = None,
        sequential: bool = False,
        limits: Limits | None = None,
        cluster: KubeCluster | None = None,
    ) -> None:
        self.store = store
        self.registry = registry or default_registry()
        self.clock = clock or SystemClock()
        self.hooks = hooks or Hooks()
        self.secrets = secrets or SecretProvider()
        self.sequential = sequential
        self.limits = limits or Limits()
        self.revisions: dict[str, Revision] = {}
        self.active: dict[str, Execution] = {}
        self.groups: dict[str, list[str]] = {}  # execution id -> its groups
        self._tasks: dict[str, set[asyncio.Task[None]]] = {}
        self._kicks: dict[str, asyncio.Event] = {}
        self._drivers: dict[str, asyncio.Task[None]] = {}
        self._waiting_for_a_slot: set[str] = set()  # refused by the caps; kicked when one frees
        # The kill switch: while set (to why), no step starts and no retry is attempted; running
        # steps finish, and executions show as paused.
        self.suspended: str | None = None
        self.steps = StepRunner(
            self.registry,
            self.clock,
            self.hooks,
            self.secrets,
            self.save,
            self._start_subflow,
            asyncio.Semaphore(self.limits.max_running_steps),
        )
        self.steps.cluster = cluster

    # -- revisions -----------------------------------------------------------------------------------
    async def add_revision(self, name: str, compiled: Revision, files: dict[str, bytes]) -> None:
        """Make a revision available; its files are stored so recovery never depends on Git."""
        await self.store.save_revision(name, files)
        self.revisions[name] = compiled

    async def revision(self, name: str) -> Revision:
        if name not in self.revisions:
            files = await self.store.load_revision(name)
            if files is None:
                raise EngineError(f"revision {name} is not in the store")
            outcome = revisions.build([MemoryTree(files)], registry=self.registry)
            if outcome.revision is None:
                raise EngineError(f"revision {name} no longer validates: {outcome.problems[0]}")
            self.revisions[name] = outcome.revision
        return self.revisions[name]

    def workflow(self, execution: Execution) -> CompiledWorkflow:
        return self.revisions[execution.revision].workflows[execution.workflow]

    # -- starting ----------------------------------------------------------------------------------
    async def start(
        self,
        *,
        revision: str,
        workflow: str,
        params: dict[str, Any],
        alert: dict[str, Any] | None = None,
        policy: str = "",
        target: str = "",
        mode: str = "enforce",
        parent: str | None = None,
        parent_node: str | None = None,
        groups: Iterable[str] = (),
        gate: str | None = None,
        execution_id: str | None = None,
        record: Batch | None = None,
    ) -> Execution:
        """Create an execution; it is durable when this returns.

        ``execution_id``: chosen by the caller. ``record``: the caller's records to commit in the
        same transaction (the intake's decision "alert X started execution Y": neither exists
        without the other)."""
        compiled = (await self.revision(revision)).workflows.get(workflow)
        if compiled is None:
            raise EngineError(f"revision {revision} has no workflow {workflow!r}")
        now = self.clock.now()
        defaults = {
            k: p.default for k, p in compiled.definition.spec.params.items() if not p.required
        }
        execution = Execution(
            id=execution_id or self.new_id(workflow),
            workflow=workflow,
            revision=revision,
            params={**defaults, **params},
            alert=alert or {},
            policy=policy,
            target=target,
            mode=mode,
            created_at=iso(now),
            # A gated execution's clock starts when a person lets it start (see approve).
            deadline=None if gate else iso(now + compiled.definition.spec.timeout),
            parent=parent,
            parent_node=parent_node,
            gate=gate,
        )
        execution.header_dirty = True
        execution.note(now, "created", policy=policy, target=target, mode=mode)
        batch = self.batch(execution)
        if record is not None:
            batch.extend(record)
        await self.store.save(batch)
        self.active[execution.id] = execution
        self.groups[execution.id] = list(groups)
        self._activate(execution)
        return execution

    @staticmethod
    def new_id(workflow: str) -> str:
        return f"{workflow[:40]}-{uuid.uuid4().hex[:10]}"

    async def _start_subflow(self, parent: Execution, node: Node, params: dict[str, Any]) -> str:
        workflow = self.workflow(parent).steps[node.step].step.workflow
        assert workflow is not None
        child = await self.start(
            revision=parent.revision,
            workflow=workflow,
            params=params,
            alert=parent.alert,
            policy=parent.policy,
            target=parent.target,
            mode=parent.mode,
            parent=parent.id,
            parent_node=node.key,
        )
        return child.id

    # -- persistence ---------------------------------------------------------------------------------
    async def save(self, execution: Execution) -> None:
        """Persist what changed in an execution (durable when this returns)."""
        batch = self.batch(execution)
        if batch:
            await self.store.save(batch)

    def batch(self, execution: Execution) -> Batch:
        batch = Batch()
        for key in sorted(execution.dirty):
            batch.nodes.append((execution.id, execution.nodes[key].record()))
        wake = self.next_wake(execution)
        # The header (status, timers, outputs) is rewritten only when it changed.
        if execution.header_dirty or wake != execution.saved_wake:
            header = execution.header()
            header["wake_at"] = wake
            execution.saved_wake = wake
            batch.executions.append(header)
        batch.timeline.extend((execution.id, entry) for entry in execution.timeline)
        execution.dirty.clear()
        execution.header_dirty = False
        execution.timeline = []
        return batch

    @staticmethod
    def next_wake(execution: Execution, *, without_retries: bool = False) -> str | None:
        """The earliest timer, as stored (ISO strings sort as times). ``without_retries``: not
        counting retries' backoffs (held while the kill switch is on)."""
        times = [
            n.wake_at
            for n in execution.nodes.values()
            if n.wake_at
            and n.phase is Phase.RUNNING
            and not (without_retries and n.waiting == "backoff")
        ]
        if execution.deadline and not execution.finished:
            times.append(execution.deadline)
        return min(times) if times else None

    @classmethod
    def next_timer(cls, execution: Execution) -> datetime | None:
        wake = cls.next_wake(execution)
        return parse_iso(wake) if wake else None

    async def tick(self, execution: Execution, *, one: bool = False) -> bool:
        """Do what can be done for an execution now, without waiting. True if anything changed.

        ``one``: start at most one step (deterministic dispatch for ``reconciler test``).
        """
        workflow = self.workflow(execution)
        now = self.clock.now()
        progressed = False
        if execution.status is Status.PENDING:
            if not self._admit(execution):
                self._waiting_for_a_slot.add(execution.id)
                return False
            execution.set_status(Status.RUNNING, now)
            progressed = True
        stamp = iso(now)  # fixed-width ISO-8601 UTC strings compare as times
        if execution.deadline and stamp >= execution.deadline and not execution.cancel_requested:
            control.time_out(execution, now, self.workflow(execution).definition.spec.timeout)
            self._cancel_tasks(execution.id)
            progressed = True
        launch: list[Node] = []  # attempts to call once their opening is saved (write-ahead)
        due = [
            n
            for n in execution.nodes.values()
            if n.wake_at
            and n.wake_at <= stamp
            and n.phase is Phase.RUNNING
            and not (self.suspended and n.waiting == "backoff")  # a retry is a new attempt
        ]
        for node in sorted(due, key=lambda n: n.wake_at or ""):
            if not self._busy(execution, node):
                if await self.steps.on_timer(execution, workflow, node):
                    self.steps.open_attempt(execution, node)
                    launch.append(node)
                progressed = True
                if one:
                    return await self._settle(execution, workflow, progressed, launch)
        changes = len(execution.timeline)
        ready = scheduler.advance(execution, workflow, now, hold=self.suspended is not None)
        # advance runs to a fixed point: a tick is needed again only if it changed a phase.
        progressed = progressed or len(execution.timeline) != changes
        for key in ready[:1] if one else ready:
            node = execution.nodes[key]
            if await self.steps.begin(execution, workflow, node):
                self.steps.open_attempt(execution, node)
                launch.append(node)
                # A launched attempt kicks the driver when it ends; only inline runs progress now.
                progressed = progressed or self.sequential
            else:
                progressed = True
        return await self._settle(execution, workflow, progressed, launch)

    async def _settle(
        self, execution: Execution, workflow: CompiledWorkflow, progressed: bool, launch: list[Node]
    ) -> bool:
        if launch:
            await self.save(execution)  # "attempt N starting" is durable before any call
            for node in launch:
                await self._run_attempt(execution, workflow, node)
        self._update_status(execution)
        done = scheduler.top_level_done(execution, workflow) and scheduler.nothing_running(
            execution
        )
        if done and not self._tasks.get(execution.id):
            await self._finish(execution, workflow)
            progressed = True
        await self.save(execution)
        return progressed

    def _busy(self, execution: Execution, node: Node) -> bool:
        return any(
            t.get_name() == f"{execution.id}/{node.key}" for t in self._tasks.get(execution.id, ())
        )

    async def _run_attempt(
        self, execution: Execution, workflow: CompiledWorkflow, node: Node
    ) -> None:
        if self.sequential:
            await self.steps.attempt(execution, workflow, node)
            return
        task = asyncio.create_task(
            self._attempt_task(execution, workflow, node), name=f"{execution.id}/{node.key}"
        )
        self._tasks.setdefault(execution.id, set()).add(task)

    async def _attempt_task(
        self, execution: Execution, workflow: CompiledWorkflow, node: Node
    ) -> None:
        try:
            await self.steps.attempt(execution, workflow, node)
        except Exception as exc:  # attempt() catches what it knows; this is a bug of ours
            if node.phase is Phase.RUNNING:
                node.attempt_open = False
                self.steps.crashed(execution, node, "step", exc)
        except asyncio.CancelledError:
            # Cancelled by a person (or a timeout): the step ends cancelled. Cancelled because the
            # engine stops: nothing is recorded, the open attempt is checked after the restart.
            if execution.cancel_requested and node.phase is Phase.RUNNING:
                node.attempt_open = False
                execution.transition(
                    node,
                    Phase.CANCELLED,
                    self.clock.now(),
                    error="cancelled while running",
                    error_kind="cancelled",
                )
                await asyncio.shield(self.save(execution))
            raise
        finally:
            tasks = self._tasks.get(execution.id)
            if tasks is not None:
                tasks.discard(asyncio.current_task())
            self.kick(execution.id)

    def _cancel_tasks(self, execution_id: str) -> None:
        for task in list(self._tasks.get(execution_id, ())):
            task.cancel()

    def _admit(self, execution: Execution) -> bool:
        if len(self.active) <= self.limits.max_running_executions and not self.groups.get(
            execution.id
        ):
            return True  # fewer executions than the cap, and no group caps: no need to count
        running = [
            e for e in self.active.values() if e.status not in (Status.PENDING,) and not e.finished
        ]
        if len(running) >= self.limits.max_running_executions:
            return False
        for group in self.groups.get(execution.id, ()):
            cap = self.limits.groups.get(group)
            if cap is not None and sum(group in self.groups.get(e.id, ()) for e in running) >= cap:
                return False
        return True

    def _update_status(self, execution: Execution) -> None:
        if execution.finished or execution.status is Status.PENDING:
            return
        now = self.clock.now()
        if execution.paused or self.suspended:
            reason = None if execution.paused else self.suspended
            if execution.status is not Status.PAUSED or execution.reason != reason:
                execution.set_status(Status.PAUSED, now, reason=reason)
            return
        waiting = [
            n
            for n in execution.nodes.values()
            if n.phase is Phase.RUNNING and n.waiting in APPROVAL_WAITS
        ]
        wanted = Status.WAITING_APPROVAL if waiting or execution.gate else Status.RUNNING
        if execution.status is Status.PAUSED and wanted is not Status.RUNNING:
            execution.set_status(Status.RUNNING, now)  # paused -> waiting passes through running
        reason = execution.gate or (
            waiting[0].data.get("message") or waiting[0].waiting if waiting else None
        )
        if execution.status != wanted or execution.reason != reason:
            execution.set_status(wanted, now, reason=reason)
