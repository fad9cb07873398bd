"""``{{ <CEL> }}`` templates: every string value outside the bare-CEL fields is one.

A value that is exactly one ``{{ ... }}`` keeps the expression's type (number, bool, list, map);
otherwise each interpolation is turned into text and spliced in. Nested maps and lists (a step's
``with:``) are compiled into a :class:`Template` tree once per revision and rendered many times.
The text between ``{{`` and the first following ``}}`` is the expression, so a CEL string
literal cannot itself contain ``}}``.

A URL parameter (an action's ``url``, marked by :func:`url_template` when a workflow is
validated) renders differently: each interpolated value is percent-encoded for the part of the
URL it lands in (:mod:`.urls`), so a label such as ``../../admin?x=1`` stays one path segment or
one query value, and the rendered URL must keep the scheme and host written in the template. A
URL that is exactly one ``{{ expr }}`` is the author's whole URL and is left as it is.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from reconciler.errors import ExpressionError
from reconciler.expressions import urls
from reconciler.expressions.compiler import Activation, Expression, Scope, compile_expression
from reconciler.expressions.values import to_text

Node = Any  # str | Expression | _Parts | dict[str, Node] | list[Node] | other literals


@dataclass(frozen=True, slots=True)
class _Parts:
    """A string with interpolations: literal text and expressions, in order."""

    parts: tuple[str | Expression, ...]


@dataclass(frozen=True, slots=True)
class _UrlParts(_Parts):
    """A URL parameter with interpolations: ``written`` is the scheme and host the template
    spells out (empty where an interpolation stands in for them); ``param`` names it."""

    written: urls.Written
    param: str


def url_template(node: Node, param: str = "url") -> Node:
    """The compiled value of a URL parameter, rendered as a URL (see the module's docstring).

    Anything but literal text mixed with interpolations is returned as it is: a literal URL has
    nothing to encode, and a URL that is one ``{{ expr }}`` is the author's on purpose."""
    if type(node) is not _Parts:
        return node
    head = node.parts[0] if isinstance(node.parts[0], str) else ""
    return _UrlParts(node.parts, urls.written(head), param)


class Failed:
    """Marks a template that failed to compile, so checks of its type are not repeated."""

    def __repr__(self) -> str:
        return "<failed template>"


def has_interpolation(text: str) -> bool:
    return "{{" in text


def compile_string(
    text: str,
    scope: Scope,
    where: object = "",
    on_error: Callable[[ExpressionError], None] | None = None,
) -> Node:
    """Compile one template string. Errors raise, or go to ``on_error`` to collect them all.

    Compiled strings are cached by (scope, text): templates such as ``{{ params.namespace }}``
    repeat across a repository, and a compiled node is immutable.
    """
    if "{{" not in text:
        return text
    cached = _compiled_strings.get((scope, text))
    if cached is not None and not where:
        return cached
    failed = False

    def failing(exc: ExpressionError) -> None:
        nonlocal failed
        failed = True
        if on_error is None:
            raise exc
        on_error(exc)

    node = _compile_string(text, scope, where, failing)
    if not failed and not where:
        if len(_compiled_strings) >= 100_000:
            _compiled_strings.clear()
        _compiled_strings[(scope, text)] = node
    return node


_compiled_strings: dict[tuple[Scope, str], Node] = {}


def clear_cache() -> None:
    _compiled_strings.clear()


def _interpolations(text: str) -> list[tuple[int, int]]:
    """Spans of ``{{ ... }}``: each ``{{`` to the first ``}}`` after it (linear: ``str.find``)."""
    spans = []
    position = 0
    while (start := text.find("{{", position)) >= 0:
        end = text.find("}}", start + 2)
        if end < 0:
            break
        spans.append((start, end + 2))
        position = end + 2
    return spans


def _compile_string(
    text: str, scope: Scope, where: object, on_error: Callable[[ExpressionError], None]
) -> Node:
    pieces: list[str | Expression] = []
    position = 0
    for start, end in _interpolations(text):
        if start > position:
            pieces.append(text[position:start])
        try:
            pieces.append(compile_expression(text[start + 2 : end - 2].strip(), scope, where))
        except ExpressionError as exc:
            exc.message += " (a template ends at the first '}}')" if "}}" in exc.source else ""
            on_error(exc)
            pieces.append(text[start:end])
        position = end
    rest = text[position:]
    if "{{" in rest:
        on_error(
            ExpressionError(
                "unclosed '{{' in template; close it with '}}'", source=text, where=str(where)
            )
        )
    if rest:
        pieces.append(rest)
    if len(pieces) == 1 and isinstance(pieces[0], Expression):
        return pieces[0]
    return _Parts(tuple(pieces))


def compile_value(
    value: Any,
    scope: Scope,
    where: object = "",
    on_error: Callable[[ExpressionError], None] | None = None,
) -> Node:
    """Compile every template string inside a nested value (maps, lists, scalars)."""
    if isinstance(value, str):
        return compile_string(value, scope, where, on_error)
    if isinstance(value, dict):
        return {key: compile_value(item, scope, where, on_error) for key, item in value.items()}
    if isinstance(value, list):
        return [compile_value(item, scope, where, on_error) for item in value]
    return value


def render(node: Node, activation: Activation) -> Any:
    """Evaluate a compiled template tree into plain values."""
    if isinstance(node, Expression):
        return node.evaluate(activation)
    if isinstance(node, _UrlParts):
        return _render_url(node, activation, lambda part: True)[0]
    if isinstance(node, _Parts):
        return "".join(
            part if isinstance(part, str) else to_text(part.evaluate(activation))
            for part in node.parts
        )
    if isinstance(node, dict):
        return {key: render(item, activation) for key, item in node.items()}
    if isinstance(node, list):
        return [render(item, activation) for item in node]
    return node


def render_known(
    node: Node, activation: Activation, known: Callable[[Expression], bool]
) -> tuple[Any, bool]:
    """Render the expressions ``known`` accepts; write the others back as ``{{ source }}``.

    Returns the value and whether it is complete (``plan`` shows what it can before a run).
    """
    if isinstance(node, Expression):
        return (
            (node.evaluate(activation), True)
            if known(node)
            else ("{{ " + node.source + " }}", False)
        )
    if isinstance(node, _UrlParts):
        return _render_url(node, activation, known)
    if isinstance(node, _Parts):
        text, complete = "", True
        for part in node.parts:
            if isinstance(part, str):
                text += part
            elif known(part):
                text += to_text(part.evaluate(activation))
            else:
                text += "{{ " + part.source + " }}"
                complete = False
        return text, complete
    if isinstance(node, dict):
        items = {key: render_known(item, activation, known) for key, item in node.items()}
        return {key: value for key, (value, _) in items.items()}, all(
            done for _, done in items.values()
        )
    if isinstance(node, list):
        rendered = [render_known(item, activation, known) for item in node]
        return [value for value, _ in rendered], all(done for _, done in rendered)
    return node, True


def _render_url(
    node: _UrlParts, activation: Activation, known: Callable[[Expression], bool]
) -> tuple[str, bool]:
    """Splice each value in, encoded for where it lands; then hold the URL to what was written.

    A failure is an :class:`ExpressionError` naming the parameter and the value (cut short), so
    the step fails permanently before anything is sent."""
    url = urls.Builder(node.param)
    complete = True
    for part in node.parts:
        if isinstance(part, str):
            url.literal(part)
        elif known(part):
            url.value(to_text(part.evaluate(activation)), part.source)
        else:
            url.literal("{{ " + part.source + " }}")
            complete = False
    try:
        text = url.finish()
        if complete:
            urls.check(node.param, text, node.written)
    except urls.Escaped as exc:
        raise ExpressionError(str(exc)) from exc
    return text, complete


def expressions_in(node: Node) -> list[Expression]:
    """Every compiled expression inside a template tree."""
    found: list[Expression] = []
    if isinstance(node, Expression):
        found.append(node)
    elif isinstance(node, _Parts):
        found.extend(part for part in node.parts if isinstance(part, Expression))
    elif isinstance(node, dict):
        for item in node.values():
            found.extend(expressions_in(item))
    elif isinstance(node, list):
        for item in node:
            found.extend(expressions_in(item))
    return found


def is_dynamic(node: Node) -> bool:
    """True if rendering the tree evaluates any expression."""
    return bool(expressions_in(node))
