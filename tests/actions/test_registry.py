"""The action catalogue: every SPEC §2 action is declared; core actions run; others refuse."""

from __future__ import annotations

import asyncio
import re

import pytest

from reconciler.actions.registry import default_registry, static_errors
from reconciler.actions.spec import ActionContext
from reconciler.errors import NotImplementedAction, PermanentError

SPEC_ACTIONS = {
    *(
        f"kubernetes.{n}"
        for n in (
            "get",
            "list",
            "patch",
            "scale_deployment",
            "scale_statefulset",
            "restart_deployment",
            "delete_pod",
            "rollback_deployment",
            "increase_resources",
            "update_hpa",
            "cordon_node",
            "uncordon_node",
            "drain_node",
            "expand_pvc",
            "wait_ready",
            "collect_diagnostics",
            "quarantine_pod",
        )
    ),
    "prometheus.query",
    "http.request",
    "notify.webhook",
    "notify.slack",
    "shell",
    "ai.investigate",
    "core.log",
    "core.fail",
    "core.set",
}
CONTEXT = ActionContext(execution="e1", step="s1", attempt=1)


def run(name: str, params: dict[str, object]) -> dict[str, object]:
    registry = default_registry()
    action = registry.get(name)
    assert action is not None
    return asyncio.run(action.call(registry.parse(name, params), CONTEXT))


def test_the_catalogue_declares_every_action_of_the_spec() -> None:
    assert set(default_registry().names()) == SPEC_ACTIONS


def test_core_set_returns_its_with_map_as_output() -> None:
    assert run("core.set", {"replicas": 3, "reason": "load"}) == {"replicas": 3, "reason": "load"}


def test_core_log_logs_and_returns_the_message() -> None:
    logged: list[tuple[str, object]] = []
    registry = default_registry()
    context = ActionContext(
        "e1", "s1", 1, log=lambda event, fields: logged.append((event, dict(fields)))
    )
    output = asyncio.run(
        registry.get("core.log").call(registry.parse("core.log", {"message": "hi"}), context)
    )  # type: ignore[union-attr]
    assert output == {"message": "hi", "level": "info"}
    assert logged == [("workflow message", {"message": "hi", "level": "info"})]


def test_core_fail_fails_permanently_with_its_message() -> None:
    with pytest.raises(PermanentError, match=r"^giving up$"):
        run("core.fail", {"message": "giving up"})


def test_the_catalogue_says_core_fail_is_permanent_and_not_retried() -> None:
    spec = default_registry().get("core.fail")
    assert spec is not None and "permanently (not retried" in spec.summary
    schema = spec.params.model_json_schema()
    assert "never retried" in schema["properties"]["message"]["description"]


KUBERNETES = {name for name in SPEC_ACTIONS if name.startswith("kubernetes.")}
IMPLEMENTED = {
    "core.log",
    "core.fail",
    "core.set",
    "http.request",
    "notify.webhook",
    "notify.slack",
    "shell",
    "prometheus.query",
    *KUBERNETES,
}


def test_core_http_notify_shell_and_the_kubernetes_catalogue_are_implemented() -> None:
    registry = default_registry()
    assert {a.name for a in registry if a.implemented} == IMPLEMENTED


@pytest.mark.parametrize("name", sorted(SPEC_ACTIONS - IMPLEMENTED))
def test_actions_not_yet_implemented_refuse_to_run_rather_than_succeed(name: str) -> None:
    action = default_registry().get(name)
    assert action is not None and not action.implemented
    expected = (
        f"no cluster configured: action {name} needs a Kubernetes cluster"
        if name.startswith("kubernetes.")
        else f"action {name} is not implemented yet"
    )
    with pytest.raises(NotImplementedAction, match=re.escape(expected)):
        asyncio.run(action.call(None, CONTEXT))  # type: ignore[arg-type]


def test_flags_follow_what_each_action_does() -> None:
    registry = default_registry()
    get = registry.get("kubernetes.get")
    drain = registry.get("kubernetes.drain_node")
    shell = registry.get("shell")
    http = registry.get("http.request")
    assert get is not None and drain is not None and shell is not None and http is not None
    assert (get.mutating, get.idempotent, get.dry_run) == (False, True, True)
    assert (drain.mutating, drain.dry_run) == (True, True)
    assert (shell.mutating, shell.idempotent, shell.dry_run) == (True, False, False)
    assert http.is_mutating({"method": "GET"}) is False
    assert http.is_mutating({"method": "POST"}) is True


def test_static_errors_skip_templated_values_but_report_literals() -> None:
    params = default_registry().get("kubernetes.scale_deployment").params  # type: ignore[union-attr]
    dynamic = lambda v: isinstance(v, str) and "{{" in v  # noqa: E731
    assert (
        static_errors(
            params, {"namespace": "a", "name": "b", "replicas": "{{ params.n }}"}, dynamic
        )
        == []
    )
    errors = static_errors(params, {"namespace": "a", "replicas": "three"}, dynamic)
    assert [loc for loc, _ in errors] == [("name",), ("replicas",)]


def test_shell_takes_an_argv_list_never_a_string() -> None:
    registry = default_registry()
    with pytest.raises(ValueError, match="list"):
        registry.parse("shell", {"command": "rm -rf /tmp/x"})
    parsed = registry.parse("shell", {"command": ["kubectl", "get", "pods"]})
    assert parsed.command == ["kubectl", "get", "pods"]  # type: ignore[attr-defined]
