"""A step's durations written as templates (``wait: "{{ params.hold }}"``), compiled and checked.

Literal durations are checked by the model (``TemplatedDuration``); a template is compiled here
in the step's scope, its type checked where CEL knows it (a duration string, a number of seconds
or a CEL ``duration``), and the steps it names must be upstream: the engine renders it when the
step starts (:mod:`reconciler.engine.durations`), before the step's own output exists. Called by
:class:`~reconciler.validation.workflows.WorkflowChecker` for every step.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from reconciler.definitions.durations import DurationTemplate
from reconciler.definitions.workflow import Step
from reconciler.expressions import templates
from reconciler.expressions.compiler import Expression, Scope
from reconciler.validation.compiled import DocPath
from reconciler.validation.context import FAILED, DocumentContext, referenced_steps

# Every duration of a step that may be a template, as a path below the step.
FIELDS: tuple[tuple[str, ...], ...] = (
    ("wait",),
    ("timeout",),
    ("wait_until", "interval"),
    ("wait_until", "timeout"),
    ("approval", "timeout"),
    ("verify", "within"),
    ("verify", "interval"),
    ("retry", "backoff"),
    ("retry", "max_backoff"),
)
_RESULT_TYPES = ("string", "int", "uint", "double", "dyn", "duration")


def compile_step(
    ctx: DocumentContext,
    step: Step,
    path: DocPath,
    scope: Scope,
    upstream: frozenset[str],
    known: Mapping[str, Any],
) -> dict[DocPath, templates.Node]:
    """Compile the step's templated durations; problems go to ``ctx``. ``known``: every step id."""
    compiled: dict[DocPath, templates.Node] = {}
    for field in FIELDS:
        written = _get(step, field)
        if not isinstance(written, DurationTemplate):
            continue
        where = (*path, *field)
        node = ctx.template(written.source, scope, where)
        if node is FAILED:
            continue
        if isinstance(node, Expression):
            result = node.result_type.lower()
            if not result.startswith(_RESULT_TYPES):
                ctx.problem(
                    where,
                    f"CEL: a duration template gives a duration (30s, 5m, 1h30m) or a number of "
                    f"seconds; this expression has type {result}",
                )
        for name in sorted(referenced_steps(node) - upstream):
            reason = (
                "its own output does not exist yet"
                if name == step.id
                else "it is not upstream of this step"
                if name in known
                else "there is no such step"
            )
            ctx.problem(
                where,
                f"duration names steps.{name}, but {reason} (durations are rendered when "
                f"step {step.id!r} starts)",
            )
        compiled[field] = node
    return compiled


def _get(step: Step, field: tuple[str, ...]) -> Any:
    value: Any = step
    for part in field:
        value = getattr(value, part, None)
        if value is None:
            return None
    return value
