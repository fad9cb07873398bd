"""Build the plan of what alerts would do on a revision: matches, guardrails, ordered steps.

Nothing runs: params and ``with:`` values are rendered where they do not depend on step outputs
(or ``item``), secrets are shown as placeholders, and guardrail rules are evaluated against a
static cluster view (empty unless ``plan --cluster FILE`` gives one).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from reconciler.actions.registry import Registry
from reconciler.definitions.alert import Alert, rfc3339
from reconciler.definitions.durations import format_duration
from reconciler.errors import ExpressionError
from reconciler.expressions import templates
from reconciler.expressions.compiler import Activation, Expression, Scope, secrets_from
from reconciler.expressions.references import names_used
from reconciler.expressions.values import to_json
from reconciler.matching import guardrails
from reconciler.matching.matcher import Match, Matcher
from reconciler.validation import graph
from reconciler.validation.compiled import CompiledStep, CompiledWorkflow, Revision

_RUNTIME_NAMES = {"steps", "item", "index", "output"}

_DRY_RUN_NOTES = {
    "run": "runs in dry-run mode (it changes nothing outside)",
    "server-side": "sent as a server-side dry run (dry-run mode)",
    "skip": "skipped in dry-run mode: recorded as what it would have done",
}


@dataclass
class PlannedStep:
    id: str
    depth: int
    kind: str
    detail: str
    needs: list[str]
    when: str
    condition: str | None
    with_: Any = None
    renders_at_run_time: bool = False
    mutating: bool = False
    guardrails: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass
class PlannedExecution:
    policy: str
    priority: int
    mode: str
    workflow: str
    target: str
    params: dict[str, Any]
    policy_guardrails: list[str]
    steps: list[PlannedStep] = field(default_factory=list)
    error: str | None = None


@dataclass
class AlertPlan:
    alertname: str
    status: str
    fingerprint: str
    labels: dict[str, str]
    executions: list[PlannedExecution] = field(default_factory=list)
    match_errors: list[dict[str, str]] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        data: dict[str, Any] = to_json(asdict(self))
        for execution in data["executions"]:
            for step in execution["steps"]:
                step["with"] = step.pop("with_")
        return data


def plan(
    revision: Revision,
    alerts: list[Alert],
    registry: Registry,
    cluster: guardrails.ClusterView | None = None,
    now: datetime | None = None,
) -> list[AlertPlan]:
    """The plan of every alert, in order."""
    matcher = Matcher(revision)
    moment = now or datetime.now(UTC)
    view = cluster or guardrails.StaticClusterView()
    plans = []
    for alert in alerts:
        result = matcher.match(alert, moment)
        entry = AlertPlan(alert.name, alert.status, alert.fingerprint, dict(alert.labels))
        entry.match_errors = [{"policy": name, "error": error} for name, error in result.errors]
        if alert.status == "firing":
            for match in result.matches:
                entry.executions.append(
                    _plan_execution(revision, match, alert, registry, view, moment)
                )
        plans.append(entry)
    return plans


def _policy_gates(match: Match) -> list[str]:
    g = match.policy.definition.spec.guardrails
    gates = []
    if g.cooldown:
        gates.append(f"cooldown {format_duration(g.cooldown)} per target (checked at run time)")
    if g.max_executions:
        gates.append(
            f"at most {g.max_executions.count} per {format_duration(g.max_executions.per)} per target, "
            "then approval (checked at run time)"
        )
    if g.max_concurrent:
        gates.append(f"at most {g.max_concurrent} running at once (checked at run time)")
    if g.require_approval:
        gates.append("approval required before it starts")
    if g.min_confidence is not None:
        gates.append(f"min_confidence {g.min_confidence} (ignored until effectiveness is tracked)")
    return gates


def _plan_execution(
    revision: Revision,
    match: Match,
    alert: Alert,
    registry: Registry,
    cluster: guardrails.ClusterView,
    now: datetime,
) -> PlannedExecution:
    spec = match.policy.definition.spec
    execution = PlannedExecution(
        match.policy.name,
        spec.priority,
        spec.mode,
        match.workflow,
        match.target,
        match.params,
        _policy_gates(match),
        error=match.error,
    )
    if match.error:
        return execution
    workflow = revision.workflows[match.workflow]
    context = _StepContext(revision, workflow, alert, match, registry, cluster, now)
    execution.steps = context.ordered(None, 0)
    return execution


class _StepContext:
    def __init__(
        self,
        revision: Revision,
        workflow: CompiledWorkflow,
        alert: Alert,
        match: Match,
        registry: Registry,
        cluster: guardrails.ClusterView,
        now: datetime,
    ) -> None:
        self.revision = revision
        self.workflow = workflow
        self.alert = alert
        self.match = match
        self.registry = registry
        self.cluster = cluster
        self.now = now
        self.execution = {
            "id": "plan",
            "workflow": workflow.name,
            "revision": "",
            "started_at": rfc3339(now),
        }
        self.activation = Activation(
            Scope.STEP,
            {
                "alert": alert.as_cel(),
                "params": match.params,
                "steps": {},
                "execution": self.execution,
                "now": now,
            },
        )

    def ordered(self, parent: str | None, depth: int) -> list[PlannedStep]:
        planned: list[PlannedStep] = []
        for step_id in graph.topological_order(self.workflow.graph(parent)):
            compiled = self.workflow.steps[step_id]
            planned.append(self._step(compiled, depth))
            planned.extend(self.ordered(step_id, depth + 1))
        return planned

    def _step(self, compiled: CompiledStep, depth: int) -> PlannedStep:
        step = compiled.step
        planned = PlannedStep(
            step.id,
            depth,
            step.kind,
            _detail(compiled),
            list(compiled.depends_on),
            step.when,
            step.if_,
        )
        if step.action is not None:
            action = self.registry.get(step.action)
            raw = step.with_ or {}
            planned.mutating = bool(action and action.is_mutating(raw))
            if self.match.policy.definition.spec.mode == "dry-run" and action:
                planned.notes.append(_DRY_RUN_NOTES[action.in_dry_run(raw)])
            self._render_with(compiled, planned)
        elif step.workflow is not None:
            self._render_with(compiled, planned)
        if step.retry and step.retry.limit:
            planned.notes.append(f"retry up to {step.retry.limit} times")
        if step.compensate is not None:
            planned.notes.append(f"compensate: {step.compensate.action}")
        return planned

    def _render_with(self, compiled: CompiledStep, planned: PlannedStep) -> None:
        failures: list[str] = []
        with secrets_from(lambda name, key: f"<secret {name}/{key}>"):
            planned.with_ = self._render_partly(
                compiled.step.with_ or {}, compiled.with_ or {}, planned, failures
            )
        planned.notes.extend(f"with: fails to render: {failure}" for failure in failures)
        if planned.renders_at_run_time or failures:
            if planned.mutating:
                planned.notes.append("guardrails are checked at run time, once with: renders")
            return
        if planned.mutating and compiled.step.action:
            outcomes = guardrails.evaluate(
                self.revision.rules,
                compiled.step.action,
                planned.with_,
                alert=self.alert.as_cel(),
                execution=self.execution,
                workflow_params=self.match.params,
                cluster=self.cluster,
                now=self.now,
            )
            planned.guardrails = [asdict(o) for o in outcomes if o.fired]

    def _render_partly(self, raw: Any, node: Any, planned: PlannedStep, failures: list[str]) -> Any:
        """Render what is known before any step runs; keep the rest as written."""
        if isinstance(raw, dict) and isinstance(node, dict):
            return {
                key: self._render_partly(raw[key], node.get(key), planned, failures) for key in raw
            }
        if isinstance(raw, list) and isinstance(node, list):
            return [
                self._render_partly(r, n, planned, failures) for r, n in zip(raw, node, strict=True)
            ]
        expressions = templates.expressions_in(node)
        if not expressions:
            return raw
        try:
            rendered, complete = templates.render_known(node, self.activation, _is_known)
        except ExpressionError as exc:
            failures.append(exc.message)
            return raw
        if not complete:
            planned.renders_at_run_time = True
        return rendered


def _is_known(expression: Expression) -> bool:
    """Whether an expression can be evaluated before any step has run."""
    return not names_used(expression.source) & _RUNTIME_NAMES


def _detail(compiled: CompiledStep) -> str:
    step = compiled.step
    if step.action:
        return step.action
    if step.workflow:
        return f"workflow {step.workflow}"
    if step.wait is not None:
        return f"wait {format_duration(step.wait)}"
    if step.wait_until is not None:
        return f"wait until {step.wait_until.expr} (timeout {format_duration(step.wait_until.timeout)})"
    if step.approval is not None:
        return f"approval (timeout {format_duration(step.approval.timeout)})"
    if step.decide is not None:
        return f"decide among {', '.join(step.decide.options)}"
    if step.for_each is not None:
        return f"for each in {step.for_each}"
    if step.parallel is not None:
        return "parallel" + (f" (max {step.max_concurrency})" if step.max_concurrency else "")
    if step.steps is not None:
        return "group"
    return ""
