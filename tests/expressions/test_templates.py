"""`{{ }}` templates: typed single expressions, text rendering, nested values, errors; references."""

from __future__ import annotations

from typing import Any

import pytest

from reconciler.errors import ExpressionError
from reconciler.expressions.compiler import Activation, Expression, Scope
from reconciler.expressions.references import names_used, step_references
from reconciler.expressions.templates import (
    compile_string,
    compile_value,
    expressions_in,
    has_interpolation,
    is_dynamic,
    render,
)

WHERE = "policies/crashloop.yaml:8:11: spec.params.pod"

DATA = {
    "alert": {"labels": {"alertname": "KubePodCrashLooping", "namespace": "prod", "pod": "web-1"}},
    "params": {
        "replicas": 3,
        "ratio": 1.5,
        "dry_run": True,
        "pods": ["web-1", "web-2"],
        "limits": {"memory": "512Mi", "cpu": 2},
        "nothing": None,
    },
    "steps": {"inspect": {"output": {"ready": False}}},
    "execution": {"id": "ex-1"},
}


@pytest.fixture
def activation() -> Activation:
    return Activation(Scope.STEP, DATA)


def rendered(template: Any, activation: Activation) -> Any:
    return render(compile_value(template, Scope.STEP), activation)


# --- a value that is exactly one expression keeps its type ---------------------------------------


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{{ params.replicas }}", 3),
        ("{{ params.replicas + 1 }}", 4),
        ("{{ params.ratio }}", 1.5),
        ("{{ params.dry_run }}", True),
        ("{{ !params.dry_run }}", False),
        ("{{ params.pods }}", ["web-1", "web-2"]),
        ("{{ params.limits }}", {"memory": "512Mi", "cpu": 2}),
        ("{{ params.nothing }}", None),
        ("{{ alert.labels.pod }}", "web-1"),
        ("{{params.replicas}}", 3),
        ("{{\n  params.replicas\n}}", 3),
    ],
)
def test_a_value_that_is_exactly_one_expression_keeps_its_type(
    template: str, expected: Any, activation: Activation
) -> None:
    value = rendered(template, activation)

    assert value == expected
    assert type(value) is type(expected)


def test_a_single_expression_compiles_to_an_expression() -> None:
    node = compile_string("{{ params.replicas }}", Scope.STEP)

    assert isinstance(node, Expression)
    assert node.source == "params.replicas"


# --- mixed text renders to a string with CEL spelling -------------------------------------------


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("pod {{ alert.labels.pod }} restarted", "pod web-1 restarted"),
        ("{{ alert.labels.namespace }}/{{ alert.labels.pod }}", "prod/web-1"),
        ("replicas={{ params.replicas }}", "replicas=3"),
        ("ratio={{ params.ratio }}", "ratio=1.5"),
        ("dry-run: {{ params.dry_run }}", "dry-run: true"),
        ("ready: {{ steps.inspect.output.ready }}", "ready: false"),
        ("value: {{ params.nothing }}", "value: null"),
        ("pods: {{ params.pods }}", 'pods: ["web-1", "web-2"]'),
        ("limits: {{ params.limits }}", 'limits: {"cpu": 2, "memory": "512Mi"}'),
        (" {{ params.replicas }}", " 3"),
        ("{{ params.replicas }}{{ params.replicas }}", "33"),
    ],
)
def test_mixed_text_renders_to_a_string_with_cel_spelling(
    template: str, expected: str, activation: Activation
) -> None:
    assert rendered(template, activation) == expected


def test_a_string_without_braces_is_left_as_it_is(activation: Activation) -> None:
    assert compile_string("kubernetes.delete_pod", Scope.STEP) == "kubernetes.delete_pod"
    assert rendered("a } and { b", activation) == "a } and { b"
    assert not has_interpolation("a } and { b")
    assert has_interpolation("{{ x }}")


# --- nested values ------------------------------------------------------------------------------


def test_nested_maps_and_lists_are_rendered_in_place(activation: Activation) -> None:
    template = {
        "kind": "Deployment",
        "namespace": "{{ alert.labels.namespace }}",
        "replicas": "{{ params.replicas * 2 }}",
        "labels": {"pod": "{{ alert.labels.pod }}", "managed-by": "reconciler"},
        "targets": ["{{ params.pods[0] }}", "static", 7, None, {"dry": "{{ params.dry_run }}"}],
        "force": False,
    }

    assert rendered(template, activation) == {
        "kind": "Deployment",
        "namespace": "prod",
        "replicas": 6,
        "labels": {"pod": "web-1", "managed-by": "reconciler"},
        "targets": ["web-1", "static", 7, None, {"dry": True}],
        "force": False,
    }


def test_a_compiled_template_renders_again_with_other_data() -> None:
    node = compile_value({"pod": "{{ alert.labels.pod }}"}, Scope.MATCH)

    first = render(node, Activation(Scope.MATCH, {"alert": {"labels": {"pod": "a"}}}))
    second = render(node, Activation(Scope.MATCH, {"alert": {"labels": {"pod": "b"}}}))

    assert (first, second) == ({"pod": "a"}, {"pod": "b"})


def test_an_evaluation_error_while_rendering_is_an_expression_error(activation: Activation) -> None:
    node = compile_value({"name": "pod-{{ params.missing }}"}, Scope.STEP, WHERE)

    with pytest.raises(ExpressionError) as caught:
        render(node, activation)

    assert caught.value.source == "params.missing"
    assert caught.value.where == WHERE


# --- compile errors -----------------------------------------------------------------------------


@pytest.mark.parametrize("template", ["{{ params.replicas", "a {{ 1 }} b {{ 2", "pod {{"])
def test_an_unclosed_interpolation_is_an_error(template: str) -> None:
    with pytest.raises(ExpressionError) as caught:
        compile_string(template, Scope.STEP, WHERE)

    assert "unclosed '{{'" in caught.value.message
    assert caught.value.source == template
    assert caught.value.where == WHERE


def test_an_invalid_expression_in_a_template_raises_with_where() -> None:
    with pytest.raises(ExpressionError) as caught:
        compile_string("pod {{ size(alert.labels) + 'a' }}", Scope.STEP, WHERE)

    assert "no matching overload" in caught.value.message
    assert caught.value.where == WHERE


def test_an_empty_interpolation_is_an_error() -> None:
    with pytest.raises(ExpressionError, match="expression is empty"):
        compile_string("a {{ }} b", Scope.STEP)


def test_templates_check_the_scope_of_their_variables() -> None:
    compile_string("{{ item.name }}", Scope.FOR_EACH)
    with pytest.raises(ExpressionError, match="undeclared reference to 'item"):
        compile_string("{{ item.name }}", Scope.STEP)


def test_on_error_collects_every_error_instead_of_raising() -> None:
    errors: list[ExpressionError] = []

    node = compile_value(
        {
            "a": "{{ nope }} and {{ 1 + 'a' }}",
            "b": ["{{ params.replicas }}", "{{ 1 + }}"],
            "c": "unclosed {{ params.replicas",
        },
        Scope.STEP,
        WHERE,
        on_error=errors.append,
    )

    messages = [e.message for e in errors]
    assert len(messages) == 4
    assert "undeclared reference to 'nope'" in messages[0]
    assert "no matching overload" in messages[1]
    assert "Syntax error" in messages[2]
    assert "unclosed '{{'" in messages[3]
    assert all(e.where == WHERE for e in errors)
    # The valid expression is still compiled.
    assert [e.source for e in expressions_in(node)] == ["params.replicas"]


def test_with_on_error_a_broken_template_keeps_its_text() -> None:
    errors: list[ExpressionError] = []

    node = compile_string("pod {{ nope }}", Scope.STEP, on_error=errors.append)

    assert len(errors) == 1
    assert render(node, Activation(Scope.STEP, DATA)) == "pod {{ nope }}"


# --- static facts -------------------------------------------------------------------------------


def test_expressions_in_finds_every_expression_of_a_tree() -> None:
    node = compile_value(
        {
            "a": "{{ params.replicas }}",
            "b": ["x {{ alert.labels.pod }} y {{ params.ratio }}", 3, {"c": "{{ params.pods }}"}],
            "d": "plain",
        },
        Scope.STEP,
    )

    assert sorted(e.source for e in expressions_in(node)) == [
        "alert.labels.pod",
        "params.pods",
        "params.ratio",
        "params.replicas",
    ]


@pytest.mark.parametrize(
    ("value", "dynamic"),
    [
        ("{{ params.replicas }}", True),
        ("pod-{{ alert.labels.pod }}", True),
        ({"a": ["b", {"c": "{{ params.pods }}"}]}, True),
        ("plain", False),
        ({"a": ["b", 1, None, True]}, False),
        (42, False),
    ],
)
def test_is_dynamic_says_whether_rendering_evaluates_anything(value: Any, dynamic: bool) -> None:
    assert is_dynamic(compile_value(value, Scope.STEP)) is dynamic


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("steps.inspect.output.restarts > 3", {"inspect"}),
        (
            'steps.restart.status != "succeeded" && steps.escalate.status == "skipped"',
            {"restart", "escalate"},
        ),
        ("size(steps.inspect.output.items) > 0", {"inspect"}),
        ("steps . spaced.output", {"spaced"}),
        ('"steps.quoted" == steps.real.output', {"real"}),
        ("'steps.single' + \"steps.double\"", set()),
        ('"escaped \\" steps.inner" + steps.outer.output', {"outer"}),
        ('"""steps.triple"""', set()),
        ("params.steps.nested", set()),
        ("mysteps.x", set()),
        ("alert.labels.pod", set()),
    ],
)
def test_step_references_finds_steps_and_ignores_string_literals(
    source: str, expected: set[str]
) -> None:
    assert step_references(source) == expected


def test_names_used_lists_top_level_identifiers_outside_strings() -> None:
    assert names_used('size(steps.inspect.output) > params.n && "alert" != ""') == {
        "size",
        "steps",
        "params",
    }


def test_step_references_finds_the_bracket_form_but_not_strings_that_look_like_it() -> None:
    assert step_references('steps["restart"].status == "failed"') == {"restart"}
    assert step_references("'steps[\"x\"]' == steps['y'].status") == {"y"}
