"""Step durations written as templates (``wait: "{{ params.hold }}"``), rendered when the step
starts.

:func:`render` is called by :meth:`~reconciler.engine.steps.StepRunner.begin` once a step's
``if`` has passed: it renders every templated duration of the step (compiled by validation into
``CompiledStep.durations``) and records the results in ``node.data["durations"]``, so they are
durable and every later use in that run (timers, timeouts, backoffs, verify, recovery after a
restart) reads the same values through :func:`value`. A value that is not a duration fails the
step with a permanent error naming the field, the rendered value and the fix; never the engine.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from reconciler.definitions.durations import DurationTemplate
from reconciler.definitions.workflow import Retry
from reconciler.durations import EXAMPLES, format_duration, parse_duration, parse_flexible
from reconciler.engine.failures import StepFailure
from reconciler.engine.state import Node
from reconciler.errors import ExpressionError, Redactor
from reconciler.expressions import templates
from reconciler.expressions.compiler import Activation
from reconciler.validation.compiled import CompiledStep, CompiledWorkflow


def render(
    workflow: CompiledWorkflow,
    compiled: CompiledStep,
    node: Node,
    scope: Callable[[], Activation],
    redact: Redactor,
) -> str | None:
    """Render the step's templated durations into the node; an error message if one fails.

    ``scope`` gives the step's activation (built only if the step has a templated duration)."""
    if not compiled.durations:
        return None
    activation = scope()
    rendered: dict[str, str] = {}
    for path, node_template in compiled.durations.items():
        field = ".".join(str(part) for part in path)
        where = workflow.located.where((*compiled.path, *path))
        try:
            result = templates.render(node_template, activation)
        except ExpressionError as exc:
            return f"{where}: {exc.explain(redact)}"
        try:
            rendered[field] = format_duration(parse_flexible(result))
        except ValueError:
            return (
                f"{where}: {field} rendered to {result!r}, which is not a duration: "
                f"write {EXAMPLES}, or a number of seconds"
            )
    node.data = {**node.data, "durations": rendered}
    return None


def value(node: Node, written: timedelta | DurationTemplate, field: str) -> timedelta:
    """The duration a step uses: as written, or as rendered when the step started."""
    if isinstance(written, timedelta):
        return written
    text = node.data.get("durations", {}).get(field)
    if text is None:  # render() runs first; a missing value would be a bug, not a user error
        raise StepFailure(f"{field} {written.source!r} was not rendered", "permanent")
    return parse_duration(text)


def optional(
    node: Node, written: timedelta | DurationTemplate | None, field: str
) -> timedelta | None:
    """:func:`value` for a duration that may be absent (a step's ``timeout``)."""
    return None if written is None else value(node, written, field)


def retry(node: Node, policy: Retry | None) -> Retry | None:
    """The retry policy with its backoffs as rendered for this run of the step."""
    if policy is None:
        return None
    return policy.model_copy(
        update={
            "backoff": value(node, policy.backoff, "retry.backoff"),
            "max_backoff": value(node, policy.max_backoff, "retry.max_backoff"),
        }
    )


def fixed(written: timedelta | DurationTemplate) -> timedelta:
    """A duration that must already be resolved (a policy from :func:`retry`)."""
    if isinstance(written, DurationTemplate):
        raise StepFailure(f"duration {written.source!r} was not rendered", "permanent")
    return written
