"""Execution state: one ``nodes`` map per execution, and the one function that changes phases.

Pure data, no I/O. Every phase change goes through :meth:`Execution.transition` (as Argo's
``markNodePhase``): it checks the change is allowed, stamps times, logs it, and queues the node
for the store. The shell persists queued changes before acting on them (write-ahead).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from typing import Any

import structlog

from reconciler import redaction

log = structlog.get_logger("reconciler.engine")


class Phase(enum.StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SKIPPED = "skipped"
    CANCELLED = "cancelled"
    COMPENSATED = "compensated"


class Status(enum.StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    PAUSED = "paused"
    WAITING_APPROVAL = "waiting_approval"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


TERMINAL_PHASES = {Phase.SUCCEEDED, Phase.FAILED, Phase.SKIPPED, Phase.CANCELLED, Phase.COMPENSATED}
FINAL_STATUSES = {Status.SUCCEEDED, Status.FAILED, Status.CANCELLED}

# Within one run of a step, phases only move forward.
_NEXT_PHASES: dict[Phase, set[Phase]] = {
    # A step can fail before it runs: its ``if`` or ``for_each`` failed to evaluate.
    Phase.PENDING: {Phase.RUNNING, Phase.SKIPPED, Phase.CANCELLED, Phase.FAILED},
    Phase.RUNNING: {Phase.SUCCEEDED, Phase.FAILED, Phase.CANCELLED},
    Phase.SUCCEEDED: {Phase.COMPENSATED},
    Phase.FAILED: {Phase.COMPENSATED},
    Phase.SKIPPED: set(),
    Phase.CANCELLED: set(),
    Phase.COMPENSATED: set(),
}
_NEXT_STATUSES: dict[Status, set[Status]] = {
    Status.PENDING: {Status.RUNNING, Status.CANCELLED, Status.FAILED},
    Status.RUNNING: {
        Status.PAUSED,
        Status.WAITING_APPROVAL,
        Status.SUCCEEDED,
        Status.FAILED,
        Status.CANCELLED,
    },
    Status.PAUSED: {Status.RUNNING, Status.CANCELLED, Status.FAILED},
    Status.WAITING_APPROVAL: {Status.RUNNING, Status.PAUSED, Status.FAILED, Status.CANCELLED},
    Status.SUCCEEDED: set(),
    Status.FAILED: {Status.RUNNING},  # retry-from-failed
    Status.CANCELLED: set(),
}


class TransitionError(Exception):
    """A phase or status change the rules do not allow (a bug in the engine, never user input)."""


def iso(moment: datetime) -> str:
    """UTC, always with microseconds: the engine compares stored times as strings (timers,
    the store's ``due``), which is only right when every one has the same width."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def parse_iso(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@dataclass
class Node:
    """One run of one step instance (``key`` is the step id, prefixed inside for_each bodies)."""

    key: str
    step: str
    parent: str | None = None  # key of the enclosing group, parallel or for_each node
    run: int = 1
    phase: Phase = Phase.PENDING
    attempts: int = 0
    started_at: str | None = None
    finished_at: str | None = None
    output: Any = None
    error: str | None = None
    error_kind: str | None = None  # error | timeout | permanent | cancelled | internal
    skip_failure: bool = False  # skipped while one of its own needs had failed
    waiting: str | None = (
        None  # backoff | wait | poll | approval | subflow | verify | unknown_outcome
    )
    wake_at: str | None = None  # deadline of the current wait, as a timestamp (survives restarts)
    attempt_open: bool = False  # write-ahead: an attempt started and has no recorded outcome yet
    action_done: bool = False  # its action completed (compensable even if verify failed)
    completed_seq: int | None = None  # order of completion, for compensation in reverse
    compensation: dict[str, Any] | None = None  # {phase, output, error}
    items: list[Any] | None = None  # for_each: the evaluated list
    child: str | None = None  # subflow: the child execution id
    approval: dict[str, Any] | None = None  # {decision, by, comment, at}
    data: dict[str, Any] = field(default_factory=dict)
    # Loaded from a record whose output (or items) had something redacted: the real value was
    # kept in memory only and is gone. Never recorded itself.
    output_lost: bool = False

    @property
    def terminal(self) -> bool:
        return self.phase in TERMINAL_PHASES

    def record(self) -> dict[str, Any]:
        """A shallow record for the store (which serialises it at once; ``asdict`` deep-copied
        every output and dominated the engine's time). The store redacts it."""
        data = dict(self.__dict__)  # the dataclass fields, and nothing else
        del data["output_lost"]
        data["phase"] = self.phase.value
        return data

    @classmethod
    def from_record(cls, data: dict[str, Any]) -> Node:
        values = {k: v for k, v in data.items() if k in _NODE_FIELDS}
        values["phase"] = Phase(values.get("phase", "pending"))
        node = cls(**values)
        node.output_lost = holds_mark(node.output) or holds_mark(node.items)
        return node


def holds_mark(value: Any) -> bool:
    """Whether a recorded value has something redacted in it (``***`` in a string or key)."""
    if isinstance(value, str):
        return redaction.MARK in value
    if isinstance(value, dict):
        return any(holds_mark(k) or holds_mark(v) for k, v in value.items())
    if isinstance(value, list):
        return any(holds_mark(v) for v in value)
    return False


_NODE_FIELDS = frozenset(f.name for f in fields(Node))


@dataclass
class Execution:
    """One execution of a workflow and everything that happened in it."""

    id: str
    workflow: str
    revision: str
    params: dict[str, Any]
    alert: dict[str, Any] = field(default_factory=dict)
    policy: str = ""
    target: str = ""
    mode: str = "enforce"
    status: Status = Status.PENDING
    created_at: str = ""
    started_at: str | None = None
    finished_at: str | None = None
    deadline: str | None = None
    parent: str | None = None  # parent execution id (subflows)
    parent_node: str | None = None
    outputs: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    # Why it waits (approval of an unknown outcome, a guardrail gate, ...).
    reason: str | None = None
    # Set: nothing starts until a person approves (a policy guardrail's gate).
    gate: str | None = None
    paused: bool = False
    cancel_requested: bool = False
    failing: bool = False
    compensating: bool = False
    seq: int = 0  # completions so far (derived from the nodes when loaded; not stored)
    nodes: dict[str, Node] = field(default_factory=dict)
    history: list[Node] = field(default_factory=list)  # earlier runs (retry-from-failed)
    dirty: set[str] = field(
        default_factory=set, repr=False
    )  # node keys changed since the last save
    header_dirty: bool = field(default=False, repr=False)
    saved_wake: str | None = field(default=None, repr=False)  # the header's wake_at last saved
    has_failures: bool = field(
        default=False, repr=False
    )  # some run ended failed (a cheap pre-check)
    timeline: list[dict[str, Any]] = field(default_factory=list, repr=False)  # unsaved entries
    # Loaded with ``***`` in its params or alert: a real value there was redacted (not saved).
    params_lost: bool = field(default=False, repr=False)

    @property
    def finished(self) -> bool:
        return self.status in FINAL_STATUSES

    def node(self, key: str) -> Node:
        return self.nodes[key]

    def add_node(self, node: Node) -> Node:
        self.nodes[node.key] = node
        self.dirty.add(node.key)
        return node

    def touch(self, node: Node) -> None:
        """Queue a node whose fields (not phase) changed for the next save."""
        self.dirty.add(node.key)

    def transition(self, node: Node, phase: Phase, now: datetime, **changes: Any) -> None:
        """The one place a step's phase changes: validated, stamped, logged, queued for saving."""
        if phase != node.phase and phase not in _NEXT_PHASES[node.phase]:
            raise TransitionError(
                f"step {node.key} run {node.run}: {node.phase} -> {phase} is not allowed"
            )
        previous = node.phase
        node.phase = phase
        if phase is Phase.FAILED:
            self.has_failures = True
        for name, value in changes.items():
            setattr(node, name, value)
        stamp = iso(now)
        if phase is Phase.RUNNING and node.started_at is None:
            node.started_at = stamp
        if phase in TERMINAL_PHASES and phase is not Phase.COMPENSATED:
            node.finished_at = stamp
            node.waiting = None
            node.wake_at = None
            if phase is Phase.SUCCEEDED or (phase is Phase.FAILED and node.action_done):
                self.seq += 1
                node.completed_seq = self.seq
        self.dirty.add(node.key)
        entry = {
            "at": stamp,
            "kind": "step",
            "key": node.key,
            "run": node.run,
            "from": previous.value,
            "to": phase.value,
        }
        if node.error and phase is Phase.FAILED:
            entry["error"] = node.error
        self.timeline.append(entry)
        log.info(
            "step phase",
            execution=self.id,
            workflow=self.workflow,
            step=node.key,
            run=node.run,
            phase=phase.value,
            previous=previous.value,
            revision=self.revision,
        )

    def set_status(self, status: Status, now: datetime, **changes: Any) -> None:
        """The one place an execution's status changes."""
        if status == self.status and not changes:
            return
        if status != self.status and status not in _NEXT_STATUSES[self.status]:
            raise TransitionError(f"execution {self.id}: {self.status} -> {status} is not allowed")
        previous = self.status
        self.status = status
        for name, value in changes.items():
            setattr(self, name, value)
        stamp = iso(now)
        if status is Status.RUNNING and self.started_at is None:
            self.started_at = stamp
        if status in FINAL_STATUSES:
            self.finished_at = stamp
        self.header_dirty = True
        if status != previous:
            self.timeline.append(
                {"at": stamp, "kind": "execution", "from": previous.value, "to": status.value}
            )
            log.info(
                "execution status",
                execution=self.id,
                workflow=self.workflow,
                status=status.value,
                previous=previous.value,
                revision=self.revision,
            )

    def lost_secrets(self) -> list[str]:
        """What was loaded with a redacted value whose real one was in memory only: ``params``
        and the keys of such steps (empty while nothing was lost)."""
        lost = ["params"] if self.params_lost else []
        return lost + [key for key, node in self.nodes.items() if node.output_lost]

    def note(self, now: datetime, kind: str, **detail: Any) -> None:
        """A timeline entry that is not a phase change (a decision, an approval, a guardrail)."""
        self.timeline.append({"at": iso(now), "kind": kind, **detail})

    def header(self) -> dict[str, Any]:
        return {
            name: (getattr(self, name).value if name == "status" else getattr(self, name))
            for name in (
                "id",
                "workflow",
                "revision",
                "params",
                "alert",
                "policy",
                "target",
                "mode",
                "status",
                "created_at",
                "started_at",
                "finished_at",
                "deadline",
                "parent",
                "parent_node",
                "outputs",
                "error",
                "reason",
                "gate",
                "paused",
                "cancel_requested",
                "failing",
                "compensating",
            )
        }

    @classmethod
    def from_records(cls, header: dict[str, Any], nodes: list[dict[str, Any]]) -> Execution:
        values = {k: v for k, v in header.items() if k in _EXECUTION_FIELDS}
        values["status"] = Status(values.get("status", "pending"))
        execution = cls(**values)
        execution.saved_wake = header.get("wake_at")
        execution.params_lost = holds_mark(execution.params) or holds_mark(execution.alert)
        for record in sorted(nodes, key=lambda r: r.get("run", 1)):
            node = Node.from_record(record)
            current = execution.nodes.get(node.key)
            if current is not None and current.run < node.run:
                execution.history.append(current)
            execution.nodes[node.key] = node
        execution.has_failures = any(n.phase is Phase.FAILED for n in execution.nodes.values())
        done = [n.completed_seq or 0 for n in (*execution.nodes.values(), *execution.history)]
        execution.seq = max([execution.seq, *done])
        return execution


_EXECUTION_FIELDS = frozenset(f.name for f in fields(Execution))
