"""CEL compiling and evaluation: type checks, scopes, extensions, errors, bounds and the cache."""

from __future__ import annotations

from typing import Any

import pytest

from reconciler.errors import ExpressionError
from reconciler.expressions.compiler import (
    Activation,
    Expression,
    Scope,
    compile_expression,
    secrets_from,
    variables,
)
from reconciler.expressions.values import check_bounds
from reconciler.settings import DEFAULT, ExpressionLimits

WHERE = "workflows/restart.yaml:12:11: spec.steps[1].if"


def step_data(**params: Any) -> dict[str, Any]:
    return {
        "alert": {
            "labels": {"alertname": "KubePodCrashLooping", "namespace": "prod", "pod": "web-1"}
        },
        "params": params,
        "steps": {"inspect": {"output": {"restarts": 7}, "status": "succeeded"}},
        "execution": {"id": "ex-1", "workflow": "restart"},
    }


def evaluate(source: str, data: dict[str, Any], scope: Scope = Scope.STEP) -> Any:
    return compile_expression(source, scope).evaluate(Activation(scope, data))


def compile_error(source: str, scope: Scope = Scope.STEP) -> ExpressionError:
    with pytest.raises(ExpressionError) as caught:
        compile_expression(source, scope, WHERE)
    return caught.value


# --- type checking ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "result_type"),
    [
        ("1 < 2", "BOOL"),
        ('alert.labels.namespace.startsWith("prod")', "BOOL"),
        ("1 + 2", "INT"),
        ("size(params)", "INT"),
        ("[1, 2, 3]", "LIST<INT>"),
        ('"a,b".split(",")', "LIST<STRING>"),
        ('{"a": 1}', "MAP<STRING, INT>"),
        ("params.anything", "DYN"),
    ],
)
def test_compiling_reports_the_result_type(source: str, result_type: str) -> None:
    assert compile_expression(source, Scope.STEP).result_type == result_type


def test_adding_a_string_to_an_int_is_a_type_error() -> None:
    error = compile_error('1 + "a"')

    assert "no matching overload for '_+_'" in error.message
    assert "(int, string)" in error.message
    assert error.message.startswith("at column 3: ")


def test_adding_a_string_to_an_undeclared_variable_names_the_variable() -> None:
    error = compile_error('x + "a"')

    assert "undeclared reference to 'x'" in error.message


def test_a_syntax_error_says_at_which_column() -> None:
    error = compile_error("params.max_restarts <")

    assert "at column 22" in error.message
    assert "Syntax error" in error.message


def test_compile_errors_carry_source_and_where() -> None:
    error = compile_error("1 +")

    assert error.source == "1 +"
    assert error.where == WHERE
    assert str(error).startswith(WHERE + ": at column 4: ")


def test_an_undeclared_variable_error_lists_the_scopes_variables() -> None:
    error = compile_error("alrt.labels.pod == 'web-1'", Scope.MATCH)

    assert "undeclared reference to 'alrt" in error.message
    assert error.message.endswith("variables here: alert, now")


@pytest.mark.parametrize("scope", list(Scope))
def test_every_scope_lists_the_variables_it_declares(scope: Scope) -> None:
    names = variables(scope)
    assert names == sorted(names)
    for name in names:
        compile_expression(name, scope)


def test_item_and_index_exist_only_inside_for_each() -> None:
    assert compile_expression("item", Scope.FOR_EACH).result_type == "DYN"
    assert compile_expression("index + 1", Scope.FOR_EACH).result_type == "INT"
    for scope in (
        Scope.MATCH,
        Scope.STEP,
        Scope.POLL,
        Scope.GUARDRAIL,
        Scope.OUTPUTS,
        Scope.CLUSTER,
    ):
        error = compile_error("item", scope)
        assert "undeclared reference to 'item'" in error.message
        assert "item" not in variables(scope)


def test_output_exists_only_when_polling_an_action() -> None:
    compile_expression("output.ready", Scope.POLL)
    compile_expression("output.ready && item != null", Scope.FOR_EACH_POLL)
    assert "undeclared reference to 'output" in compile_error("output.ready").message


def test_guardrails_see_the_action_and_the_cluster() -> None:
    source = 'action.namespace == "kube-system" || cluster.nodes.exists(n, n.spec.unschedulable)'
    assert compile_expression(source, Scope.GUARDRAIL).result_type == "BOOL"


@pytest.mark.parametrize("source", ["", "   ", "\n"])
def test_an_empty_expression_is_refused(source: str) -> None:
    assert compile_error(source).message == "expression is empty"


def test_an_overlong_expression_is_refused_before_compiling() -> None:
    limit = DEFAULT.expressions.max_source_length
    error = compile_error("1 + " * limit + "1")

    assert f"the limit is {limit}" in error.message


# --- extensions ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ('"Web-1".lowerAscii()', "web-1"),
        ('"prod/web-1".split("/")[1]', "web-1"),
        ('"  padded ".trim()', "padded"),
        ('["a", "b"].join("-")', "a-b"),
        ('"web-1".replace("-", "_")', "web_1"),
        ('"%s has %d restarts".format(["web-1", 7])', "web-1 has 7 restarts"),
        ("math.greatest(3, 9, 4)", 9),
        ("math.least([3, 9, 4])", 3),
        ("math.abs(-5)", 5),
        ('optional.of("x").hasValue()', True),
        ('params.?missing.orValue("fallback")', "fallback"),
        ('alert.labels.?namespace.orValue("none")', "prod"),
    ],
)
def test_strings_math_and_optional_extensions_work(source: str, expected: Any) -> None:
    assert evaluate(source, step_data()) == expected


def test_standard_cel_macros_and_timestamps_work() -> None:
    data = step_data(pods=["web-1", "web-2", "api-1"])

    assert evaluate('params.pods.filter(p, p.startsWith("web"))', data) == ["web-1", "web-2"]
    assert evaluate("params.pods.map(p, size(p))", data) == [5, 5, 5]
    assert evaluate("has(params.pods) && !has(params.nodes)", data) is True
    assert (
        evaluate(
            'timestamp("2024-05-14T10:00:00Z") + duration("90s") > timestamp("2024-05-14T10:01:00Z")',
            data,
        )
        is True
    )


# --- evaluation ---------------------------------------------------------------------------------


def test_an_expression_reads_the_variables_of_its_scope() -> None:
    data = step_data(max_restarts=5)

    assert evaluate("steps.inspect.output.restarts > params.max_restarts", data) is True
    assert evaluate("alert.labels.namespace + '/' + alert.labels.pod", data) == "prod/web-1"


def test_a_missing_map_key_raises_an_expression_error_with_source_and_where() -> None:
    expression = compile_expression("steps.inspect.output.replicas > 1", Scope.STEP, WHERE)

    with pytest.raises(ExpressionError) as caught:
        expression.evaluate(Activation(Scope.STEP, step_data()))

    error = caught.value
    assert "replicas" in error.message
    assert "INVALID_ARGUMENT" not in error.message
    assert error.source == "steps.inspect.output.replicas > 1"
    assert error.where == WHERE
    assert str(error).startswith(WHERE + ": ")


def test_with_origin_sets_where_for_later_errors() -> None:
    expression = compile_expression("params.missing", Scope.STEP).with_origin(
        "policy.yaml:7:3: spec.target"
    )

    with pytest.raises(ExpressionError) as caught:
        expression.evaluate(Activation(Scope.STEP, step_data()))

    assert caught.value.where == "policy.yaml:7:3: spec.target"


@pytest.mark.parametrize(
    "source",
    ["1 / params.zero", "params.name + 1 == 2", "int(params.name) > 0", "[1][params.three]"],
)
def test_runtime_errors_raise_expression_errors(source: str) -> None:
    data = step_data(zero=0, name="web", three=3)

    with pytest.raises(ExpressionError) as caught:
        evaluate(source, data)
    assert caught.value.source == source


def test_a_comprehension_over_twenty_thousand_items_hits_the_iteration_budget() -> None:
    data = step_data(items=list(range(20_000)))

    # exists() must visit every item here (none is negative); map() and filter() would hit the
    # same budget, only after seconds of copying their growing result list.
    with pytest.raises(ExpressionError, match=r"(?i)iteration budget"):
        evaluate("params.items.exists(i, i < 0)", data)


def test_nested_comprehensions_hit_the_iteration_budget() -> None:
    data = step_data(items=list(range(200)))

    with pytest.raises(ExpressionError, match=r"(?i)iteration budget"):
        evaluate("params.items.all(a, params.items.all(b, a * b >= 0))", data)


def test_an_activation_is_reused_across_expressions_and_evaluations() -> None:
    activation = Activation(Scope.STEP, step_data(max_restarts=5, pods=["web-1"]))
    restarts = compile_expression("steps.inspect.output.restarts", Scope.STEP)
    too_many = compile_expression("steps.inspect.output.restarts > params.max_restarts", Scope.STEP)
    pods = compile_expression("params.pods", Scope.STEP)

    for _ in range(3):
        assert restarts.evaluate(activation) == 7
        assert too_many.evaluate(activation) is True
        assert pods.evaluate(activation) == ["web-1"]


def test_an_expression_is_reused_across_activations() -> None:
    expression = compile_expression("params.n * 2", Scope.STEP)

    results = [expression.evaluate(Activation(Scope.STEP, step_data(n=n))) for n in range(4)]

    assert results == [0, 2, 4, 6]


def test_an_error_in_one_evaluation_does_not_spoil_the_activation() -> None:
    activation = Activation(Scope.STEP, step_data(n=1))

    with pytest.raises(ExpressionError):
        compile_expression("params.missing", Scope.STEP).evaluate(activation)
    assert compile_expression("params.n", Scope.STEP).evaluate(activation) == 1


def test_now_is_a_timestamp_variable() -> None:
    from datetime import UTC, datetime

    data = {"now": datetime(2024, 5, 14, 10, 0, tzinfo=UTC), "alert": {}}
    assert evaluate('now > timestamp("2024-01-01T00:00:00Z")', data, Scope.MATCH) is True


# --- secrets ------------------------------------------------------------------------------------


def test_secret_reads_through_the_reader_inside_secrets_from() -> None:
    expression = compile_expression("secret('sre-hook', 'url')", Scope.STEP)
    reads: list[tuple[str, str]] = []

    def reader(name: str, key: str) -> str:
        reads.append((name, key))
        return "https://hooks.example.com/T000/B000"

    with secrets_from(reader):
        value = expression.evaluate(Activation(Scope.STEP, step_data()))

    assert value == "https://hooks.example.com/T000/B000"
    assert reads == [("sre-hook", "url")]


def test_secret_outside_secrets_from_is_an_expression_error() -> None:
    expression = compile_expression("secret('sre-hook', 'url')", Scope.STEP, WHERE)

    with pytest.raises(ExpressionError, match="no secrets are mounted") as caught:
        expression.evaluate(Activation(Scope.STEP, step_data()))
    assert caught.value.where == WHERE


def test_secrets_from_ends_with_its_block() -> None:
    expression = compile_expression("secret('a', 'b')", Scope.STEP)
    activation = Activation(Scope.STEP, step_data())

    with secrets_from(lambda name, key: "outer"):
        with secrets_from(lambda name, key: "inner"):
            assert expression.evaluate(activation) == "inner"
        assert expression.evaluate(activation) == "outer"
    with pytest.raises(ExpressionError):
        expression.evaluate(activation)


def test_a_reader_that_fails_becomes_an_expression_error() -> None:
    def reader(name: str, key: str) -> str:
        raise KeyError(f"secret {name} has no key {key}")

    with secrets_from(reader), pytest.raises(ExpressionError):
        evaluate("secret('sre-hook', 'token')", step_data())


@pytest.mark.parametrize("scope", [Scope.MATCH, Scope.GUARDRAIL, Scope.OUTPUTS, Scope.CLUSTER])
def test_secret_is_not_declared_where_values_could_leak(scope: Scope) -> None:
    assert "undeclared reference to 'secret'" in compile_error("secret('a', 'b')", scope).message


@pytest.mark.parametrize("scope", [Scope.STEP, Scope.FOR_EACH, Scope.POLL, Scope.FOR_EACH_POLL])
def test_secret_is_declared_where_steps_run(scope: Scope) -> None:
    assert compile_expression("secret('a', 'b')", scope).result_type == "STRING"


# --- bounds on inputs ---------------------------------------------------------------------------

SMALL = ExpressionLimits(max_string_length=10, max_list_length=3, max_depth=2)


def nested(levels: int) -> Any:
    value: Any = "leaf"
    for _ in range(levels):
        value = [value]
    return value


def test_values_within_bounds_pass() -> None:
    check_bounds({"a": ["x" * 10, 1, None]}, "steps.inspect.output", SMALL)
    check_bounds(nested(2), "steps.inspect.output", SMALL)


def test_a_long_string_is_refused_with_a_clear_message() -> None:
    with pytest.raises(ExpressionError) as caught:
        check_bounds({"log": "x" * 11}, "steps.inspect.output", SMALL)
    assert (
        str(caught.value)
        == "steps.inspect.output.log holds a string of 11 characters; the limit is 10"
    )


def test_a_long_map_key_is_refused_too() -> None:
    with pytest.raises(ExpressionError, match="string of 11 characters"):
        check_bounds({"k" * 11: 1}, "alert", SMALL)


def test_a_long_list_is_refused_with_a_clear_message() -> None:
    with pytest.raises(ExpressionError) as caught:
        check_bounds([1, 2, 3, 4], "cluster.pods", SMALL)
    assert str(caught.value) == "cluster.pods holds a list of 4 items; the limit is 3"


def test_a_large_map_is_refused_with_a_clear_message() -> None:
    with pytest.raises(ExpressionError, match=r"holds a map of 4 entries; the limit is 3"):
        check_bounds(dict.fromkeys("abcd", 1), "params", SMALL)


def test_deep_nesting_is_refused_with_a_clear_message() -> None:
    with pytest.raises(ExpressionError) as caught:
        check_bounds({"a": {"b": {"c": 1}}}, "steps.inspect.output", SMALL)
    assert str(caught.value) == "steps.inspect.output.a.b.c is nested deeper than 2 levels"


def test_default_bounds_refuse_what_the_settings_say() -> None:
    limits = DEFAULT.expressions
    check_bounds("x" * limits.max_string_length, "alert")
    with pytest.raises(ExpressionError):
        check_bounds("x" * (limits.max_string_length + 1), "alert")
    with pytest.raises(ExpressionError):
        check_bounds(list(range(limits.max_list_length + 1)), "cluster.pods")
    with pytest.raises(ExpressionError):
        check_bounds(nested(limits.max_depth + 1), "steps.inspect.output")


def test_very_deep_values_are_refused_without_recursion_errors() -> None:
    with pytest.raises(ExpressionError, match="nested deeper"):
        check_bounds(nested(100_000), "steps.inspect.output")


# --- cache --------------------------------------------------------------------------------------


def test_the_compile_cache_returns_the_same_program_for_the_same_scope_and_source() -> None:
    first = compile_expression("params.n > 3", Scope.STEP, "a.yaml:1:1: if")
    second = compile_expression("params.n > 3", Scope.STEP, "b.yaml:9:9: if")

    assert first.program is second.program
    assert (first.where, second.where) == ("a.yaml:1:1: if", "b.yaml:9:9: if")


def test_the_compile_cache_keeps_scopes_apart() -> None:
    step = compile_expression("alert.labels.pod", Scope.STEP)
    match = compile_expression("alert.labels.pod", Scope.MATCH)

    assert step.program is not match.program
    assert isinstance(step, Expression)
    assert step.scope is Scope.STEP
    assert match.scope is Scope.MATCH


def test_a_failed_compile_is_not_cached_as_a_success() -> None:
    for _ in range(2):
        with pytest.raises(ExpressionError):
            compile_expression("params.n >", Scope.STEP)
