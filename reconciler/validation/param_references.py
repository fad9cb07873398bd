"""Every expression of a workflow against the params it declares.

At run time ``params`` is a ``map(string, dyn)``, so CEL's own checker accepts ``params.typo``
and ``params.replicas < "3"``; the first fails the step when it runs, the second never holds.
:func:`check` reports both at validation: a ``params.X`` / ``params["X"]`` / ``has(params.X)``
the workflow does not declare, and, where CEL can tell, a declared ``string``, ``int`` or
``bool`` param used against its type (see
:func:`~reconciler.expressions.compiler.param_type_error`). Called by
:class:`~reconciler.validation.workflows.WorkflowChecker` once every field is compiled.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator, Mapping

from reconciler.definitions.workflow import ParamSpec
from reconciler.expressions import templates
from reconciler.expressions.compiler import (
    TYPED_PARAM_TYPES,
    Expression,
    param_type_error,
)
from reconciler.expressions.references import param_references
from reconciler.validation.compiled import CompiledStep, DocPath
from reconciler.validation.context import DocumentContext

# Where each compiled field of a step sits in the document, below the step.
_FIELDS: dict[str, DocPath] = {
    "if_": ("if",),
    "with_": ("with",),
    "for_each": ("for_each",),
    "wait_until": ("wait_until", "expr"),
    "wait_until_with": ("wait_until", "with"),
    "verify": ("verify", "expr"),
    "verify_with": ("verify", "with"),
    "compensate_with": ("compensate", "with"),
    "approval_message": ("approval", "message"),
    "decide_inputs": ("decide", "ai"),
}


def check(
    ctx: DocumentContext,
    workflow: str,
    declared: Mapping[str, ParamSpec],
    steps: Mapping[str, CompiledStep],
    outputs: Mapping[str, Expression],
) -> None:
    """Report undeclared and mistyped params in every expression of one workflow."""
    typed = {
        name: spec.type
        for name, spec in declared.items()
        if spec.type in TYPED_PARAM_TYPES and (spec.required or spec.default is not None)
    }
    for path, expression in _expressions(steps, outputs):
        if "params" not in expression.source:  # most expressions: skip the scan
            continue
        names = param_references(expression.source)
        for name in sorted(names - declared.keys()):
            ctx.problem(path, _undeclared(workflow, name, declared))
        used = tuple(sorted((n, typed[n]) for n in names if n in typed))
        message = param_type_error(expression.source, expression.scope, used) if used else None
        if message is not None:
            kinds = ", ".join(f"{n} is {kind}" for n, kind in used)
            ctx.problem(path, f"CEL: {message} (params have their declared types: {kinds})")


def _undeclared(workflow: str, name: str, declared: Mapping[str, ParamSpec]) -> str:
    known = ", ".join(sorted(declared)) or "none"
    hint = difflib.get_close_matches(name, sorted(declared), n=1)
    suggestion = f"; did you mean params.{hint[0]}?" if hint else ""
    return (
        f"expression names params.{name}, but workflow {workflow!r} declares no param {name!r}"
        f"{suggestion} (declared: {known})"
    )


def _expressions(
    steps: Mapping[str, CompiledStep], outputs: Mapping[str, Expression]
) -> Iterator[tuple[DocPath, Expression]]:
    """Every compiled expression of the workflow with the document path of its field."""
    for compiled in steps.values():
        for field, where in _FIELDS.items():
            node = getattr(compiled, field)
            if node is not None:
                yield from _walk(node, (*compiled.path, *where))
        for index, (rule, _) in enumerate(compiled.decide_rules):
            yield (*compiled.path, "decide", "rules", index, "if"), rule
        for where, node in compiled.durations.items():
            yield from _walk(node, (*compiled.path, *where))
    for name, expression in outputs.items():
        yield ("spec", "outputs", name), expression


def _walk(node: templates.Node, path: DocPath) -> Iterator[tuple[DocPath, Expression]]:
    """Expressions of a compiled template tree, each at the path of its own value."""
    if isinstance(node, Expression):
        yield path, node
    elif isinstance(node, dict):
        for key, item in node.items():
            if not isinstance(item, _LITERALS):
                yield from _walk(item, (*path, key))
    elif isinstance(node, list):
        for index, item in enumerate(node):
            if not isinstance(item, _LITERALS):
                yield from _walk(item, (*path, index))
    elif not isinstance(node, _LITERALS):  # a string with interpolations
        for expression in templates.expressions_in(node):
            yield path, expression


_LITERALS = (str, int, float, bool, type(None))
