"""Running one step: its start, its attempts (and their calls), verify, polls and timers.

The imperative half of the engine, called by :class:`~reconciler.engine.engine.Engine` for
steps the scheduler found ready. Nothing here sleeps: a step that must wait records what it
waits for (``node.waiting``) and until when (``node.wake_at``), and the engine calls
:meth:`StepRunner.on_timer` when that time comes. Every attempt is written ahead: "attempt N
starting" is saved before the action is called, its result before anything downstream starts.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import structlog
from pydantic import ValidationError

from reconciler.actions.http_clients import HttpClients
from reconciler.actions.kube import KubeCluster
from reconciler.actions.registry import Registry
from reconciler.actions.spec import ActionContext, ActionSpec
from reconciler.durations import format_duration
from reconciler.engine import durations, retries, scope
from reconciler.engine.clock import Bounded, Clock
from reconciler.engine.failures import (
    NeedsApproval,
    StepFailure,
    expression_failure,
    lost_secret,
)
from reconciler.engine.hooks import Hooks
from reconciler.engine.scheduler import failed_like, key_of, prefix_of
from reconciler.engine.secrets import SecretProvider
from reconciler.engine.starting import Starting, StartSubflow
from reconciler.engine.state import Execution, Node, Phase, iso
from reconciler.engine.waiting import Waiting
from reconciler.errors import (
    ActionError,
    ExpressionError,
    PermanentError,
    TemporaryError,
)
from reconciler.expressions import templates
from reconciler.expressions.compiler import secrets_from
from reconciler.expressions.values import check_bounds
from reconciler.validation.compiled import CompiledWorkflow

log = structlog.get_logger("reconciler.engine")


class StepRunner(Starting, Waiting):
    def __init__(
        self,
        registry: Registry,
        clock: Clock,
        hooks: Hooks,
        secrets: SecretProvider,
        save: Callable[[Execution], Awaitable[None]],
        start_subflow: StartSubflow,
        step_slots: asyncio.Semaphore,
    ) -> None:
        self.registry = registry
        self.clock = clock
        self.hooks = hooks
        self.secrets = secrets
        self.save = save
        self.start_subflow = start_subflow
        self.step_slots = step_slots
        self.cluster: KubeCluster | None = None  # Kubernetes actions' cluster (None: none)
        self.http = HttpClients()  # HTTP actions' pooled clients, closed by Engine.close()
        self.prometheus_url = ""  # prometheus.query's default url: (--prometheus-url)

    # -- starting a ready step ------------------------------------------------------------------
    async def begin(self, execution: Execution, workflow: CompiledWorkflow, node: Node) -> bool:
        """Start a ready step. Returns True if the step now has an attempt to run."""
        compiled = workflow.steps[node.step]
        step = compiled.step
        now = self.clock.now()
        if compiled.if_ is not None:
            try:
                allowed = compiled.if_.evaluate(self._activation(execution, workflow, node)) is True
            except ExpressionError as exc:
                self._fail(
                    execution,
                    node,
                    expression_failure(workflow, node, "if", exc, self.secrets.text),
                    "permanent",
                )
                return False
            if not allowed:
                needs = [
                    execution.nodes[key_of(prefix_of(node.key), d)] for d in compiled.depends_on
                ]
                execution.transition(
                    node,
                    Phase.SKIPPED,
                    now,
                    skip_failure=any(failed_like(n) for n in needs),
                    data={**node.data, "reason": "if: false"},
                )
                return False
        failed = durations.render(
            workflow,
            compiled,
            node,
            lambda: self._activation(execution, workflow, node),
            self.secrets.text,
        )
        if failed is not None:
            self._fail(execution, node, failed, "permanent")
            return False
        if step.action is not None:
            execution.transition(node, Phase.RUNNING, now)
            return True
        if step.steps is not None or step.parallel is not None:
            execution.transition(node, Phase.RUNNING, now)
        elif step.for_each is not None:
            self._begin_for_each(execution, workflow, compiled, node)
        elif step.wait is not None:
            wake_at = iso(now + durations.value(node, step.wait, "wait"))
            execution.transition(node, Phase.RUNNING, now, waiting="wait", wake_at=wake_at)
        elif step.wait_until is not None:
            timeout = durations.value(node, step.wait_until.timeout, "wait_until.timeout")
            deadline = iso(now + timeout)
            execution.transition(
                node,
                Phase.RUNNING,
                now,
                waiting="poll",
                wake_at=iso(now),
                data={**node.data, "deadline": deadline},
            )
        elif step.approval is not None:
            self._begin_approval(execution, workflow, compiled, node)
        elif step.decide is not None:
            execution.transition(node, Phase.RUNNING, now)
            self._decide(execution, workflow, compiled, node)
        elif step.workflow is not None:
            await self._begin_subflow(execution, workflow, compiled, node)
        return False

    # -- attempts ----------------------------------------------------------------------------------
    def open_attempt(self, execution: Execution, node: Node) -> None:
        """Record "attempt N starting". The engine saves it before :meth:`attempt` calls the
        action (write-ahead), in the same batch as whatever else the tick changed."""
        node.attempts += 1
        node.attempt_open = True
        node.waiting = None
        node.wake_at = None
        # When this attempt began: a failed one's retry note carries it, the last one's ends
        # with the step (``executions show`` lists every attempt with its times).
        node.data["attempt_started"] = iso(self.clock.now())
        execution.touch(node)

    async def attempt(self, execution: Execution, workflow: CompiledWorkflow, node: Node) -> None:
        """Call the action of an opened attempt; record its result and the retry decision."""
        compiled = workflow.steps[node.step]
        step = compiled.step
        assert step.action is not None and node.attempt_open
        action = self.registry.get(step.action)
        started = time.perf_counter()
        try:
            if action is None:
                raise StepFailure(f"unknown action {step.action!r}", "permanent")
            params = self._render(execution, workflow, node, compiled.with_, "with")
            node.data["input"] = self.secrets.redact(params)
            timeout = durations.optional(node, step.timeout, "timeout")
            output = await self._call(execution, node, action, params, timeout)
        except NeedsApproval as gate:
            node.attempt_open = False
            node.attempts -= 1  # nothing was called
            node.waiting = "gate"
            node.data["message"] = str(gate)  # why it waits, for the execution's reason
            execution.touch(node)
            execution.note(self.clock.now(), "approval_requested", key=node.key, message=str(gate))
            return
        except StepFailure as failure:
            node.attempt_open = False
            if self._observe(execution, node, step.action, started, "failed"):
                self._attempt_failed(execution, workflow, node, failure)
            return
        except Exception as exc:  # a bug of ours or of a hook: the step fails, never the engine
            node.attempt_open = False
            self.crashed(execution, node, "step", exc)
            return
        node.attempt_open = False
        node.action_done = True
        # The real output stays in memory (later steps read it); the store redacts its record.
        node.output = output
        if not self._observe(execution, node, step.action, started, "succeeded"):
            return
        if compiled.verify is not None or (step.verify is not None and step.verify.action):
            if execution.mode == "dry-run":
                node.data["verify"] = "skipped in dry-run mode"
            else:
                assert step.verify is not None
                within = durations.value(node, step.verify.within, "verify.within")
                deadline = iso(self.clock.now() + within)
                node.waiting = "verify"
                node.wake_at = iso(self.clock.now())
                node.data["verify_deadline"] = deadline
                execution.touch(node)
                return
        execution.transition(node, Phase.SUCCEEDED, self.clock.now())

    async def _call(
        self,
        execution: Execution,
        node: Node,
        action: ActionSpec,
        params: dict[str, Any],
        timeout: timedelta | None,
    ) -> dict[str, Any]:
        try:
            parsed = action.params.model_validate(params)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise StepFailure(
                f"{action.name}: {where}: {first['msg']}"
                if where
                else f"{action.name}: {first['msg']}",
                "permanent",
            ) from exc
        mutating = action.is_mutating(params)
        try:
            gate = await self.hooks.before_action(execution, node, action.name, params, mutating)
        except Exception as exc:  # a guardrail that cannot answer denies (fail closed)
            self._report(execution, node, "guardrail", exc)
            raise StepFailure(
                f"denied: the guardrail check failed: {type(exc).__name__}: {exc}", "permanent"
            ) from exc
        if gate.decision == "deny":
            raise StepFailure(f"denied by guardrail: {gate.message}", "permanent")
        if gate.decision == "approve" and not node.data.get("gate_approved"):
            raise NeedsApproval(gate.message)
        # Dry-run decides per call from the action's declared effect, before anything (a mock
        # included) could reach outside: a skipped call is recorded, never made.
        mode = action.in_dry_run(params) if execution.mode == "dry-run" else "run"
        if mode == "skip":
            return self._skipped(execution, node, action, params)
        self.hooks.action_called(execution, node, action.name, params)
        try:
            mocked = await self.hooks.mock(execution, node, action.name, params)
        except PermanentError as exc:
            raise StepFailure(str(exc), "permanent") from exc
        except ActionError as exc:
            raise StepFailure(str(exc), "error") from exc
        if mocked is not None:
            return mocked
        context = ActionContext(
            execution.id,
            node.key,
            node.attempts,
            dry_run=mode == "server-side",
            log=lambda event, fields: execution.note(
                self.clock.now(), "log", key=node.key, event=event, **fields
            ),
            cluster=self.cluster,
            http=self.http,
            clock=Bounded(self.clock, timeout.total_seconds()) if timeout else self.clock,
            prometheus_url=self.prometheus_url,
        )
        try:
            async with self.step_slots:
                call = action.call(parsed, context)
                output = await (
                    asyncio.wait_for(call, timeout.total_seconds()) if timeout else call
                )
        except TimeoutError as exc:
            after = f"after {format_duration(timeout)}" if timeout else "(the action's own timeout)"
            raise StepFailure(f"timed out {after}", "timeout") from exc
        except TemporaryError as exc:
            raise StepFailure(str(exc), "error", exc.delay) from exc
        except PermanentError as exc:
            raise StepFailure(str(exc), "permanent") from exc
        except ActionError as exc:
            raise StepFailure(str(exc), "error") from exc
        except Exception as exc:  # a bug in an action fails its attempt, never the engine
            self._report(execution, node, "action", exc)
            raise StepFailure(f"{action.name} raised {type(exc).__name__}: {exc}", "error") from exc
        try:
            check_bounds(output, f"output of {action.name}")
        except ExpressionError as exc:
            raise StepFailure(exc.message, "permanent") from exc
        return output

    def _skipped(
        self, execution: Execution, node: Node, action: ActionSpec, params: dict[str, Any]
    ) -> dict[str, Any]:
        """A call dry-run mode does not make: what it would have done, recorded."""
        would = self.secrets.redact(f"would have {action.would_have(params)}")
        execution.note(self.clock.now(), "dry_run", key=node.key, action=action.name, skipped=would)
        return {
            "dry_run": True,
            "skipped": True,
            "action": action.name,
            "would_have": would,
            "params": self.secrets.redact(params),
        }

    def _attempt_failed(
        self, execution: Execution, workflow: CompiledWorkflow, node: Node, failure: StepFailure
    ) -> None:
        step = workflow.steps[node.step].step
        message = self.secrets.redact(failure.message)
        now = self.clock.now()
        if retries.should_retry(step.retry, node.attempts, failure.kind):
            delay = retries.backoff(durations.retry(node, step.retry), node.attempts)
            if failure.delay is not None:
                delay = max(delay, timedelta(seconds=failure.delay))
            node.error, node.error_kind = message, failure.kind
            node.waiting, node.wake_at = "backoff", iso(now + delay)
            execution.touch(node)
            execution.note(
                now,
                "retry",
                key=node.key,
                run=node.run,
                attempt=node.attempts,
                started=node.data.get("attempt_started"),
                error=message,
                after=delay.total_seconds(),
            )
            return
        self._fail(execution, node, message, failure.kind)

    def _fail(self, execution: Execution, node: Node, message: str, kind: str) -> None:
        execution.transition(
            node,
            Phase.FAILED,
            self.clock.now(),
            error=self.secrets.redact(message),
            error_kind=kind,
        )

    def _observe(
        self, execution: Execution, node: Node, action: str, started: float, outcome: str
    ) -> bool:
        """Tell the ``attempt_finished`` hook; False if it raised (the step then failed)."""
        try:
            self.hooks.attempt_finished(
                execution, node, action, time.perf_counter() - started, outcome
            )
        except Exception as exc:
            self.crashed(execution, node, "hook", exc)
            return False
        return True

    def crashed(self, execution: Execution, node: Node, where: str, exc: BaseException) -> None:
        """An unexpected exception in a step: it fails (logged, counted), and so does the
        execution, whatever ``continue_on_failure`` says (nothing can be trusted after a bug)."""
        message = f"internal error in {where}: {type(exc).__name__}: {exc}"
        self._report(execution, node, where, exc)
        execution.failing = True
        execution.error = execution.error or self.secrets.redact(message)
        if node.phase in (Phase.PENDING, Phase.RUNNING):
            self._fail(execution, node, message, "internal")

    def _report(self, execution: Execution, node: Node, where: str, exc: BaseException) -> None:
        """An unexpected exception: logged with its traceback and counted (a hook that raises
        here too is ignored: reporting must not become the next failure)."""
        with contextlib.suppress(Exception):
            log.error(
                "unexpected error",
                where=where,
                execution=execution.id,
                step=node.key,
                error=self.secrets.redact(f"{type(exc).__name__}: {exc}"),
                exc_info=exc,
            )
        with contextlib.suppress(Exception):
            self.hooks.engine_error(execution, where, exc)

    # -- helpers -------------------------------------------------------------------------------------
    def _activation(self, execution: Execution, workflow: CompiledWorkflow, node: Node) -> Any:
        return scope.activation(execution, workflow, prefix_of(node.key), self.clock.now())

    def _render(
        self, execution: Execution, workflow: CompiledWorkflow, node: Node, tree: Any, field: str
    ) -> dict[str, Any]:
        if not templates.is_dynamic(tree):  # literals only: no expression scope to build
            return copy.deepcopy(tree) if isinstance(tree, dict) else {}
        try:
            with secrets_from(self.secrets.read):
                rendered = templates.render(tree, self._activation(execution, workflow, node))
        except ExpressionError as exc:
            raise StepFailure(
                expression_failure(workflow, node, field, exc, self.secrets.text),
                "permanent",
                rendering=True,
            ) from exc
        except LookupError as exc:
            raise StepFailure(str(exc), "permanent", rendering=True) from exc
        lost = lost_secret(execution, workflow, node, field, rendered)
        if lost is not None:
            raise StepFailure(lost, "permanent", rendering=True)
        return rendered if isinstance(rendered, dict) else {}
