"""Matching alerts to policies: priority order, rendered params and targets, errors, the index."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reconciler.definitions.alert import Alert
from reconciler.definitions.loader import DirectoryTree
from reconciler.errors import ExpressionError
from reconciler.expressions.compiler import Activation, Scope, compile_expression
from reconciler.matching.index import required_alertname
from reconciler.matching.matcher import Matcher
from reconciler.validation import revision
from reconciler.validation.compiled import Revision

REPO = Path(__file__).resolve().parents[1] / "fixtures" / "repos" / "matching"
NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def compiled() -> Revision:
    outcome = revision.build([DirectoryTree(REPO)])
    assert outcome.problems == []
    assert outcome.revision is not None
    return outcome.revision


def alert(**labels: str) -> Alert:
    return Alert.model_validate({"labels": labels})


def test_matching_policies_come_in_priority_order_with_rendered_params(compiled: Revision) -> None:
    result = Matcher(compiled).match(
        alert(alertname="KubePodCrashLooping", namespace="prod-eu", pod="web-1"), NOW
    )
    assert [m.policy.name for m in result.matches] == ["crashloop-prod", "crashloop-any"]
    first, second = result.matches
    assert first.params == {"namespace": "prod-eu", "pod": "web-1", "max_restarts": 5}
    assert first.target == "prod-eu/web-1"
    assert second.params["max_restarts"] == 2


def test_target_defaults_to_the_alert_fingerprint(compiled: Revision) -> None:
    incoming = alert(alertname="KubePodCrashLooping", namespace="dev", pod="api-0")
    (match,) = Matcher(compiled).match(incoming, NOW).matches
    assert match.target == incoming.fingerprint


def test_a_match_that_errors_is_a_recorded_non_match(compiled: Revision) -> None:
    # crashloop-prod reads alert.labels.namespace, which this alert lacks.
    result = Matcher(compiled).match(alert(alertname="KubePodCrashLooping", pod="web-1"), NOW)
    errors = dict(result.errors)
    assert "namespace" in errors["crashloop-prod"]
    assert [m.policy.name for m in result.matches] == ["crashloop-any"]


def test_a_param_that_renders_to_the_wrong_type_is_reported_on_the_match(
    compiled: Revision,
) -> None:
    (match,) = Matcher(compiled).match(alert(alertname="Typed", count="many"), NOW).matches
    assert match.error is not None and "max_restarts" in match.error and "int" in match.error


def test_policies_are_only_evaluated_for_alerts_they_can_match(compiled: Revision) -> None:
    result = Matcher(compiled).match(alert(alertname="SomethingElse"), NOW)
    assert result.matches == []
    assert result.evaluated == 1  # only the policy the index cannot narrow


def test_non_indexable_policies_still_match(compiled: Revision) -> None:
    result = Matcher(compiled).match(
        alert(alertname="Other", severity="critical", namespace="a", pod="b"), NOW
    )
    assert [m.policy.name for m in result.matches] == ["by-severity"]


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ('alert.labels.alertname == "A"', "A"),
        ('alert.labels.alertname == "A" && alert.labels.x == "y"', "A"),
        ('alert.labels.x == "y" && "A" == alert.labels.alertname', "A"),
        ('alert.labels.alertname == "A" || alert.labels.x == "y"', None),
        ("alert.labels.x == \"a && b\" && alert.labels.alertname == 'B'", "B"),
        ('(alert.labels.alertname == "A" || true) && alert.labels.x == "y"', None),
        ('alert.labels.x == "y" ? alert.labels.alertname == "A" : true', None),
        ('alert.labels.alertname != "A"', None),
        ('alert.labels.alertname.startsWith("A")', None),
    ],
)
def test_the_index_only_narrows_what_provably_requires_one_alert_name(
    source: str, expected: str | None
) -> None:
    assert required_alertname(source) == expected


TERMS = st.sampled_from(
    [
        'alert.labels.alertname == "A"',
        'alert.labels.alertname == "B"',
        '"A" == alert.labels.alertname',
        'alert.labels.severity == "critical"',
        "true",
        "false",
        "has(alert.labels.team)",
        'alert.labels.alertname != "A"',
    ]
)


@st.composite
def match_expressions(draw: st.DrawFn) -> str:
    terms = draw(st.lists(TERMS, min_size=1, max_size=4))
    operators = draw(
        st.lists(
            st.sampled_from([" && ", " || "]), min_size=len(terms) - 1, max_size=len(terms) - 1
        )
    )
    source = terms[0]
    for operator, term in zip(operators, terms[1:], strict=True):
        source += operator + term
    if draw(st.booleans()):
        source = f"({source})"
    return source


@given(match_expressions(), st.sampled_from(["A", "B", "C"]), st.booleans(), st.booleans())
def test_the_index_never_hides_a_policy_that_would_match(
    source: str, name: str, critical: bool, team: bool
) -> None:
    labels = {"alertname": name}
    if critical:
        labels["severity"] = "critical"
    if team:
        labels["team"] = "sre"
    expression = compile_expression(source, Scope.MATCH)
    try:
        matched = (
            expression.evaluate(Activation(Scope.MATCH, {"alert": {"labels": labels}, "now": NOW}))
            is True
        )
    except ExpressionError:
        matched = False  # a match that errors is a non-match
    required = required_alertname(source)
    if matched and required is not None:
        assert required == name
