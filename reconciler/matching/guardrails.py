"""Evaluating guardrail rules before a mutating action (SPEC §1.4).

A rule whose ``deny`` is true denies the action (``effect: deny``) or gates it on approval
(``effect: approve``). A rule that errors denies: guardrails fail closed. The ``cluster`` view
comes from a :class:`ClusterView` provider; :class:`StaticClusterView` serves fixed lists (plan,
tests without a cluster).

Before any repository rule, :class:`Builtin` denies what reconciler refuses itself (SPEC §1.4
guardrails add to it, never remove from it): actions in kube-system and reconciler's own
namespace unless ``allow_protected_namespaces`` is set, and ``shell`` Jobs unless
``shell_jobs_enabled`` is set and the namespace is in ``shell_job_namespaces``. The service, the
``reconciler test`` runner (through ``engine.gates``) and ``reconciler plan`` all evaluate here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

from reconciler.errors import ExpressionError
from reconciler.expressions import templates
from reconciler.expressions.compiler import Activation, Scope
from reconciler.expressions.values import check_bounds, to_text
from reconciler.settings import ServiceSettings
from reconciler.validation.compiled import CompiledRule

GUARDED_COLLECTIONS = ("nodes", "pods", "deployments", "statefulsets", "hpas", "pdbs")


class ClusterView(Protocol):
    """Read-only lists of raw Kubernetes objects for guardrail rules."""

    def snapshot(self) -> dict[str, list[dict[str, Any]]]: ...


@dataclass(frozen=True)
class StaticClusterView:
    objects: Mapping[str, Sequence[dict[str, Any]]] = field(default_factory=dict)

    def snapshot(self) -> dict[str, list[dict[str, Any]]]:
        return {name: list(self.objects.get(name, ())) for name in GUARDED_COLLECTIONS}


@dataclass(frozen=True)
class RuleOutcome:
    guardrail: str
    rule: str
    effect: Literal["deny", "approve"]
    fired: bool
    message: str
    error: str | None = None


_PROTECTED_SETTING = (
    "allow_protected_namespaces (--allow-protected-namespaces, "
    "RECONCILER_ALLOW_PROTECTED_NAMESPACES)"
)
_SHELL_SETTING = "shell_jobs_enabled (--shell-jobs-enabled, RECONCILER_SHELL_JOBS_ENABLED)"
_SHELL_NAMESPACES = "shell_job_namespaces (--shell-job-namespaces, RECONCILER_SHELL_JOB_NAMESPACES)"


@dataclass(frozen=True)
class Builtin:
    """The denials no repository can lift; only the service's settings can. The defaults are
    the settings' defaults, so ``reconciler test`` and ``plan`` hold to them too."""

    protected_namespaces: tuple[str, ...] = ("kube-system", "reconciler")
    shell_jobs_enabled: bool = False
    shell_job_namespaces: tuple[str, ...] = ()

    @classmethod
    def from_settings(cls, settings: ServiceSettings) -> Builtin:
        protected = (
            () if settings.allow_protected_namespaces else ("kube-system", settings.own_namespace)
        )
        return cls(protected, settings.shell_jobs_enabled, tuple(settings.shell_job_namespaces))

    def check(self, action: str, params: Mapping[str, Any]) -> RuleOutcome | None:
        """The denial of a mutating call, or None; its message names the setting to change."""
        job = action == "shell" and params.get("image") is not None
        # A shell Job without a namespace runs in `default` (actions.shell_job).
        namespace = str(params.get("namespace") or ("default" if job else ""))
        if namespace and namespace in self.protected_namespaces:
            return _denied(
                "protected-namespaces",
                f"{action} refused: namespace {namespace} is protected (kube-system and "
                f"reconciler's own, whatever the guardrails say); set {_PROTECTED_SETTING} "
                "to allow it",
            )
        if job and not self.shell_jobs_enabled:
            return _denied(
                "shell-jobs",
                "shell with image: refused: running it as a Kubernetes Job is off; set "
                f"{_SHELL_SETTING} and list the namespace in {_SHELL_NAMESPACES}",
            )
        if job and namespace not in self.shell_job_namespaces:
            return _denied(
                "shell-jobs",
                f"shell with image: refused: namespace {namespace} is not in {_SHELL_NAMESPACES}",
            )
        return None


def _denied(rule: str, message: str) -> RuleOutcome:
    return RuleOutcome("reconciler", rule, "deny", True, message)


DEFAULT_BUILTIN = Builtin()


def action_view(name: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """The ``action`` variable: name, params, namespace and target of the call."""
    namespace = params.get("namespace")
    object_name = params.get("name")
    target = f"{namespace}/{object_name}" if namespace and object_name else str(object_name or "")
    return {"name": name, "params": dict(params), "namespace": namespace or "", "target": target}


def evaluate(
    rules: Sequence[CompiledRule],
    action: str,
    params: Mapping[str, Any],
    *,
    alert: Mapping[str, Any],
    execution: Mapping[str, Any],
    workflow_params: Mapping[str, Any],
    cluster: ClusterView,
    history: Sequence[Mapping[str, Any]] = (),
    now: datetime | None = None,
    builtin: Builtin = DEFAULT_BUILTIN,
) -> list[RuleOutcome]:
    """The built-in denial if any, then every applicable rule's outcome, in order; a rule that
    errors fires with effect deny."""
    denied = builtin.check(action, params)
    first = [denied] if denied is not None else []
    applicable = [rule for rule in rules if rule.applies_to(action)]
    if not applicable:
        return first
    view = cluster.snapshot()
    try:
        check_bounds(view, "cluster")
        check_bounds(list(history), "history")
    except ExpressionError as exc:
        # Too much to hand to CEL safely: every rule that applies denies (fail closed), saying why.
        message = f"{exc.message}; narrow the cluster view or raise the expression limits"
        return first + [
            RuleOutcome(r.guardrail, r.rule.name, "deny", True, message, exc.message)
            for r in applicable
        ]
    activation = Activation(
        Scope.GUARDRAIL,
        {
            "action": action_view(action, params),
            "alert": dict(alert),
            "execution": dict(execution),
            "params": dict(workflow_params),
            "cluster": view,
            "history": [dict(h) for h in history],
            "now": now or datetime.now(UTC),
        },
    )
    outcomes = []
    for rule in applicable:
        name = rule.rule.name
        try:
            fired = rule.deny.evaluate(activation) is True
        except ExpressionError as exc:
            outcomes.append(
                RuleOutcome(
                    rule.guardrail,
                    name,
                    "deny",
                    True,
                    f"rule failed to evaluate (fail closed): {exc.message}",
                    exc.message,
                )
            )
            continue
        message = ""
        if fired:
            message = f"guardrail {rule.guardrail}/{name} fired"
            if rule.message is not None:
                try:
                    message = to_text(templates.render(rule.message, activation))
                except ExpressionError as exc:
                    message = f"{message} (its message failed: {exc.message})"
        outcomes.append(RuleOutcome(rule.guardrail, name, rule.rule.effect, fired, message))
    return first + outcomes
