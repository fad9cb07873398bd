"""Compiling the expressions of one document while collecting located problems.

Every rule module uses a :class:`DocumentContext`: it compiles bare CEL fields and templates at a
document path, turns library errors into ``path:line:col: field: message`` problems, and counts
what it compiled.
"""

from __future__ import annotations

from typing import Any

from reconciler.definitions.loader import Located
from reconciler.errors import ExpressionError, Problem
from reconciler.expressions import templates
from reconciler.expressions.compiler import Expression, Scope, compile_expression
from reconciler.expressions.references import step_references

DocPath = tuple[str | int, ...]
BOOL_TYPES = {"bool", "dyn"}
FAILED = templates.Failed()  # a template that did not compile (its problem is already reported)
LIST_TYPES = {"dyn"}


class DocumentContext:
    """Problems and compiled expressions of one definition document."""

    def __init__(self, located: Located[Any], problems: list[Problem]) -> None:
        self.located = located
        self.problems = problems
        self.compiled = 0

    def problem(self, path: DocPath, message: str) -> None:
        self.problems.append(self.located.problem(path, message))

    def expression(
        self, source: str, scope: Scope, path: DocPath, *, returns: set[str] | None = None
    ) -> Expression | None:
        """Compile a bare CEL field; ``returns`` lists acceptable result types (lower case)."""
        self.compiled += 1
        try:
            compiled = compile_expression(source, scope)
        except ExpressionError as exc:
            self.problem(path, f"CEL: {exc.message}")
            return None
        result = compiled.result_type.lower()
        if returns and result not in returns and not result.startswith(tuple(returns)):
            self.problem(
                path, f"CEL: expression has type {result}; expected {' or '.join(sorted(returns))}"
            )
        return compiled

    def template(self, value: Any, scope: Scope, path: DocPath) -> templates.Node:
        """Compile every ``{{ }}`` inside a value; errors become problems at ``path``."""
        if value is None:
            return None

        failed = False

        def report(exc: ExpressionError) -> None:
            nonlocal failed
            failed = True
            self.problem(path, f"CEL in template: {exc.message}")

        node = templates.compile_value(value, scope, on_error=report)
        self.compiled += len(templates.expressions_in(node))
        return FAILED if failed else node


def referenced_steps(node: templates.Node | Expression | None) -> set[str]:
    """Step ids that the expressions of a compiled node name."""
    if node is None:
        return set()
    expressions = [node] if isinstance(node, Expression) else templates.expressions_in(node)
    found: set[str] = set()
    for expression in expressions:
        found |= step_references(expression.source)
    return found
