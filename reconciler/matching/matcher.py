"""Matching one alert against every policy of a revision, in priority order.

Used by ``plan`` and the intake (which ``reconciler test`` runs too). For each policy whose ``match``
holds, the params are rendered (workflow defaults filled in) and the target computed. A match
expression that errors (a label the alert lacks, say) is a non-match, reported with the reason.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from reconciler.definitions.alert import Alert
from reconciler.errors import ExpressionError
from reconciler.expressions import templates
from reconciler.expressions.compiler import Activation, Scope
from reconciler.expressions.values import check_bounds, to_text
from reconciler.matching.index import required_alertname
from reconciler.validation.compiled import CompiledPolicy, Revision
from reconciler.validation.params import literal_fits


@dataclass(frozen=True)
class Match:
    """A policy that matched: what it would start, or why it cannot."""

    policy: CompiledPolicy
    workflow: str
    params: dict[str, Any]
    target: str
    error: str | None = None


@dataclass
class MatchResult:
    alert: Alert
    matches: list[Match] = field(default_factory=list)
    errors: list[tuple[str, str]] = field(default_factory=list)  # (policy, why its match errored)
    evaluated: int = 0
    # The alert is over the input bounds, so no policy could be evaluated: each policy that
    # could have matched it, with the reason (the intake records an ``error`` decision for each).
    unevaluated: list[Match] = field(default_factory=list)


class Matcher:
    """The policies of one revision, indexed for matching."""

    def __init__(self, revision: Revision) -> None:
        self.revision = revision
        self._by_alertname: dict[str, list[tuple[int, CompiledPolicy]]] = defaultdict(list)
        self._always: list[tuple[int, CompiledPolicy]] = []
        for rank, policy in enumerate(revision.policies):
            name = required_alertname(policy.match.source)
            (self._by_alertname[name] if name is not None else self._always).append((rank, policy))

    def candidates(self, alert: Alert) -> list[CompiledPolicy]:
        """Policies that could match this alert, in priority order."""
        ranked = self._always + self._by_alertname.get(alert.name, [])
        return [policy for _, policy in sorted(ranked, key=lambda item: item[0])]

    def could_match(self, alertname: str) -> bool:
        """Whether any policy could match an alert of this name (most alerts of a busy
        Alertmanager have no remediation: they cost nothing more)."""
        return bool(self._always) or alertname in self._by_alertname

    def match(self, alert: Alert, now: datetime | None = None) -> MatchResult:
        result = MatchResult(alert)
        if not self.could_match(alert.name):
            return result  # no policy to evaluate: no expression scope to build
        view = alert.as_cel()
        try:
            check_bounds(view, "alert")
        except ExpressionError as exc:
            reason = f"the alert was not evaluated: {exc.message}"
            result.errors.append(("*", reason))
            result.unevaluated = [
                Match(policy, policy.definition.spec.workflow, {}, alert.fingerprint, reason)
                for policy in self.candidates(alert)
            ]
            return result
        activation = Activation(Scope.MATCH, {"alert": view, "now": now or datetime.now(UTC)})
        for policy in self.candidates(alert):
            result.evaluated += 1
            try:
                matched = policy.match.evaluate(activation) is True
            except ExpressionError as exc:
                result.errors.append((policy.name, exc.message))
                continue
            if matched:
                result.matches.append(self._render(policy, alert, activation))
        return result

    def _render(self, policy: CompiledPolicy, alert: Alert, activation: Activation) -> Match:
        spec = policy.definition.spec
        workflow = self.revision.workflows[spec.workflow].definition
        try:
            target = (
                to_text(templates.render(policy.target, activation))
                if policy.target is not None
                else alert.fingerprint
            )
            params: dict[str, Any] = {}
            for name, declared in workflow.spec.params.items():
                if name in policy.params:
                    params[name] = templates.render(policy.params[name], activation)
                elif not declared.required:
                    params[name] = declared.default
                if (
                    name in params
                    and params[name] is not None
                    and not literal_fits(declared.type, params[name])
                ):
                    raise ExpressionError(
                        f"param {name!r} rendered as {params[name]!r}, not of type {declared.type}"
                    )
        except ExpressionError as exc:
            return Match(policy, spec.workflow, {}, alert.fingerprint, error=exc.message)
        return Match(policy, spec.workflow, params, target)
