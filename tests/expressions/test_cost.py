"""The compile-time cost estimate and the run-time result bound (issue 10, finding 3)."""

from __future__ import annotations

import pytest

from reconciler.errors import ExpressionError
from reconciler.expressions import checked, cost
from reconciler.expressions.compiler import Activation, Scope, compile_expression
from reconciler.settings import DEFAULT, ExpressionLimits

# The attack: 224 characters that took 19 s and 2.19 GB in plan.
CHAIN = "alert.labels.pod" + '.replace("a","aaaaaaaaaa")' * 8


def refusal(source: str, scope: Scope = Scope.GUARDRAIL) -> str:
    with pytest.raises(ExpressionError) as caught:
        compile_expression(source, scope, where="policies/p.yaml:7:10: spec.match")
    assert caught.value.where == "policies/p.yaml:7:10: spec.match"
    return caught.value.message


def test_a_replace_chain_is_refused_at_compile_time_with_the_column_and_the_reason() -> None:
    message = refusal(CHAIN)

    assert message.startswith("at column 51: replace() can build a value of about 6.2 MiB")
    assert "the limit is 1 MiB" in message


@pytest.mark.parametrize(
    ("source", "culprit"),
    [
        ("strings.quote(strings.quote(alert.labels.pod))", "strings.quote()"),
        # old may be empty and new is read from the alert: 64 KiB x 64 KiB
        ("alert.labels.pod.replace(alert.labels.a, alert.labels.b)", "replace()"),
        (
            '"%s%s%s%s".format([alert.labels.a, alert.labels.a, alert.labels.a, alert.labels.a])'
            '.replace("a", "aaaa")',
            "replace()",
        ),
        ("alert.labels.a.split(',').join(alert.labels.b)", "join()"),
    ],
)
def test_string_growing_functions_are_refused_past_the_size_limit(
    source: str, culprit: str
) -> None:
    assert f"{culprit} can build a value of about" in refusal(source)


@pytest.mark.parametrize(
    "source",
    [
        'cluster.pods.exists(p, p.metadata.name == action.params.name + "-canary")',
        "cluster.pods.map(p, alert.labels.pod.lowerAscii())",
        # nested loops: the inner one rebuilds the outer item on every iteration
        'cluster.pods.all(p, cluster.nodes.all(n, p.metadata.name + "/" != n.metadata.name))',
    ],
)
def test_building_the_same_string_on_every_iteration_of_a_loop_is_refused(source: str) -> None:
    message = refusal(source)

    assert "this loop can build about" in message
    assert "iterations" in message and "the limit is 4 MiB" in message


@pytest.mark.parametrize(
    "source",
    [
        'alert.labels.pod.replace("-", "_")',
        'alert.labels.pod.replace("a", "aaaaaaaaaa", 1)',  # at most once
        'alert.labels.namespace + "/" + alert.labels.pod',
        'cluster.pods.map(p, p.metadata.name).join(", ")',  # builds from each item: linear
        "cluster.pods.filter(p, p.metadata.namespace == action.namespace).size() > 3",
        'cluster.pods.exists(p, p.spec.containers.exists(c, c.name.lowerAscii() == "x"))',
        'alert.labels.instance.split(",").map(s, s.trim())',
        '"%s-%s".format([alert.labels.namespace, alert.labels.pod])',
        "size(history) + action.params.replicas > 3",
        'cluster.pods.map(p, action.namespace == "x").all(b, b)',  # booleans, not strings
        'timestamp(alert.startsAt) < now - duration("5m")',
    ],
)
def test_ordinary_expressions_are_accepted(source: str) -> None:
    compile_expression(source, Scope.GUARDRAIL)


def test_the_limits_are_settings() -> None:
    program = compile_expression('alert.labels.pod.replace("a", "aaaa")', Scope.MATCH).program
    tree = checked.read(program.serialize())
    tight = ExpressionLimits(max_built_bytes=128 * 1024)

    assert cost.check(tree, "", DEFAULT.expressions).size == 4 * 64 * 1024
    with pytest.raises(ExpressionError, match="the limit is 128 KiB"):
        cost.check(tree, "", tight)


def test_the_checked_tree_is_read_from_the_library_with_overloads_and_positions() -> None:
    program = compile_expression('alert.labels.pod + "x"', Scope.MATCH).program

    tree = checked.read(program.serialize())

    assert tree.root.kind == "call" and tree.root.name == "_+_"
    assert "add_string" in tree.overloads[tree.root.id]
    assert tree.root.children[1].text == "x"
    assert tree.offset(tree.root.id) == 17


def test_something_else_than_a_checked_expression_is_not_read() -> None:
    with pytest.raises(ValueError, match="not a checked CEL expression"):
        checked.read(b"\n\x1ftype.googleapis.com/cel.expr.Expr")


def test_a_result_larger_than_the_bound_fails_the_evaluation_saying_why() -> None:
    # Passing a large input through builds nothing, so it compiles; its result is still bounded.
    big = ["x" * 60_000] * 300  # 18 MB: within the input bounds, over max_result_bytes
    expression = compile_expression("params.big", Scope.STEP, where="wf.yaml:3:5: spec.outputs.x")
    activation = Activation(Scope.STEP, {"params": {"big": big}})

    with pytest.raises(ExpressionError) as caught:
        expression.evaluate(activation)

    assert "the result is over" in caught.value.message
    assert f"the limit is {DEFAULT.expressions.max_result_bytes:,}" in caught.value.message
    assert caught.value.where == "wf.yaml:3:5: spec.outputs.x"
    small = compile_expression("params.big.size()", Scope.STEP).evaluate(activation)
    assert small == 300


def test_loops_nested_too_deep_are_refused() -> None:
    nested = "cluster.pods.all(a, " * 6 + "true" + ")" * 6

    assert "loops are nested more than 5 deep" in refusal(nested)
    compile_expression("cluster.pods.all(a, " * 5 + "true" + ")" * 5, Scope.GUARDRAIL)


@pytest.mark.parametrize(
    "source",
    [
        'alert.labels.a + "x"',
        'alert.labels.a.replace("a", "b")',
        "[alert.labels.a]",
        "{'k': alert.labels.a}",
        "cluster.pods.all(p, true)",
        "cluster.pods.exists_one(p, true)",
        "cluster.pods.map(p, p)",
        "cluster.pods.filter(p, true)",
        'alert.labels.a.split(",")',
        "strings.quote(alert.labels.a)",
        'alert.labels.a.lowerAscii() == "x"',
        '"%s".format([1])',
        "string(action.params.replicas)",
        "optional.of(alert.labels.a).optMap(v, v).orValue('')",
    ],
)
def test_every_construct_the_estimate_counts_is_seen_by_the_quick_filter(source: str) -> None:
    assert cost.may_build(source)


def test_plain_conditions_skip_the_estimate() -> None:
    assert not cost.may_build(
        'alert.labels.alertname == "KubePodCrashLooping" && has(alert.labels.pod) '
        '&& alert.labels.namespace.startsWith("prod") && size(cluster.pods) > 3'
    )
