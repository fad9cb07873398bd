"""What people (and timeouts) do to executions: pause, resume, cancel (an execution or one
step), retry-from-failed (every failed step or one), and which steps wait for an approval. Pure functions over execution state; the engine persists."""

from __future__ import annotations

from datetime import datetime, timedelta

from reconciler.definitions.durations import format_duration
from reconciler.engine.failures import APPROVAL_WAITS
from reconciler.engine.state import Execution, Node, Phase, Status, iso
from reconciler.validation.compiled import CompiledWorkflow


class ControlError(Exception):
    """The request does not fit the execution's state."""


def pause(execution: Execution, now: datetime) -> None:
    if execution.finished:
        raise ControlError(
            f"execution {execution.id} is {execution.status}; only unfinished executions pause"
        )
    execution.paused = True
    execution.set_status(Status.PAUSED, now)


def resume(execution: Execution, now: datetime) -> None:
    if not execution.paused:
        raise ControlError(f"execution {execution.id} is not paused")
    execution.paused = False
    execution.set_status(Status.RUNNING, now)


def cancel(execution: Execution, now: datetime, reason: str) -> None:
    """Stop at the next step boundary: nothing new starts, waiting steps are cancelled, running
    attempts are cancelled by the engine (cooperatively)."""
    if execution.finished:
        raise ControlError(f"execution {execution.id} is already {execution.status}")
    execution.cancel_requested = True
    execution.error = execution.error or reason
    _stop_waiting(execution, now, reason)


def cancel_step(execution: Execution, now: datetime, step: str, reason: str) -> None:
    """End one step that has not started, or waits (a backoff, a ``wait``, a poll, an
    approval), as failed with kind ``cancelled``: the workflow goes on as after any failure
    (``when: failure`` steps run, ``retry --step`` runs it again). A step whose action is being
    called cannot be cancelled alone: the call cannot be taken back."""
    if execution.finished:
        raise ControlError(f"execution {execution.id} is already {execution.status}")
    nodes = [n for n in execution.nodes.values() if step in (n.step, n.key) and not n.terminal]
    if not nodes:
        raise ControlError(
            f"execution {execution.id} has no unfinished step named {step!r}; "
            "`reconciler executions show` lists its steps"
        )
    for node in nodes:
        if node.child:
            raise ControlError(
                f"step {node.key} of execution {execution.id} waits for its subflow "
                f"{node.child}: cancel that execution"
            )
        if node.phase is Phase.RUNNING and node.attempt_open:
            raise ControlError(
                f"step {node.key} of execution {execution.id} is calling its action; wait for "
                "the attempt to end, or cancel the whole execution"
            )
    for node in nodes:
        execution.transition(node, Phase.FAILED, now, error=reason, error_kind="cancelled")
        node.waiting, node.wake_at = None, None
    execution.note(now, "cancel", steps=[n.key for n in nodes], reason=reason)


def time_out(execution: Execution, now: datetime, timeout: timedelta) -> None:
    """The workflow's own timeout: like a cancel, but the execution fails (and rolls back)."""
    execution.cancel_requested = True
    execution.failing = True
    execution.error = f"workflow timed out after {format_duration(timeout)}"
    _stop_waiting(execution, now, execution.error)


def _stop_waiting(execution: Execution, now: datetime, reason: str) -> None:
    for node in execution.nodes.values():
        if node.phase is Phase.PENDING or (node.phase is Phase.RUNNING and not node.attempt_open):
            execution.transition(node, Phase.CANCELLED, now, error=reason, error_kind="cancelled")


def decide_gate(
    execution: Execution, now: datetime, approve: bool, by: str, comment: str | None
) -> None:
    """A person's answer to a policy guardrail's gate: approved, the execution starts; rejected,
    it is cancelled before any step ran."""
    execution.note(
        now,
        "approval",
        key=None,
        decision="approve" if approve else "reject",
        by=by,
        comment=comment,
        gate=execution.gate,
    )
    execution.gate = None
    if not approve:
        cancel(execution, now, f"rejected by {by}" + (f": {comment}" if comment else ""))


def waiting_for_approval(execution: Execution, step: str | None) -> list[Node]:
    return [
        n
        for n in execution.nodes.values()
        if n.phase is Phase.RUNNING
        and n.waiting in APPROVAL_WAITS
        and (step is None or step in (n.step, n.key))
    ]


def _needs_rerun(node: Node) -> bool:
    if node.phase in (Phase.FAILED, Phase.CANCELLED, Phase.COMPENSATED):
        return True
    return node.phase is Phase.SKIPPED and (
        node.skip_failure or str(node.data.get("reason", "")).startswith("a step failed")
    )


def _ancestors(execution: Execution, node: Node) -> list[str]:
    keys, parent = [], node.parent
    while parent is not None and parent in execution.nodes:
        keys.append(parent)
        parent = execution.nodes[parent].parent
    return keys


def retry_from_failed(
    execution: Execution, workflow: CompiledWorkflow, now: datetime, step: str | None = None
) -> None:
    """A new run of the failed steps and of what they held back; succeeded outputs are kept and
    the old runs stay in the record. With ``step``: of that failed step only (other failed
    steps stay failed), and of the steps skipped behind a failure."""
    if execution.status not in (Status.FAILED, Status.CANCELLED):
        raise ControlError(
            f"execution {execution.id} is {execution.status}; only failed or cancelled executions are retried"
        )
    rerun = [n for n in execution.nodes.values() if _needs_rerun(n)]
    if step is not None:
        if not any(step in (n.step, n.key) and n.phase is not Phase.SKIPPED for n in rerun):
            raise ControlError(
                f"execution {execution.id} has no failed or cancelled step named {step!r} to run "
                "again; `reconciler executions show` lists its steps"
            )
        named = [n for n in rerun if step in (n.step, n.key) and n.phase is not Phase.SKIPPED]
        # The groups it is in failed with it, and run again with it.
        around = {a for n in named for a in _ancestors(execution, n)}
        rerun = [n for n in rerun if n in named or n.key in around or n.phase is Phase.SKIPPED]
    if not rerun:
        raise ControlError(f"execution {execution.id} has no failed step to run again")
    for old in rerun:
        execution.history.append(old)
        execution.add_node(Node(key=old.key, step=old.step, parent=old.parent, run=old.run + 1))
    execution.failing = False
    execution.cancel_requested = False
    execution.error = None
    execution.paused = False
    execution.status = Status.FAILED  # the transition below records failed -> running
    execution.set_status(
        Status.RUNNING, now, finished_at=None, deadline=iso(now + workflow.definition.spec.timeout)
    )
    execution.note(now, "retry", steps=[n.key for n in rerun])
