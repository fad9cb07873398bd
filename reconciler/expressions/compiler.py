"""Compiling and evaluating CEL with cel-expr-python (see docs/decisions/0001-cel-library.md).

Each place an expression can appear has a :class:`Scope`: the variables it may name. Compiling
type-checks against the scope, so ``validate`` catches undeclared names and type errors. Compiled
expressions are cached by (scope, source) for the life of the process: a new Git revision only
compiles what changed, and each revision still compiles every one of its expressions once.
Evaluation errors come back from the library as values of type ERROR; they are raised here as
:class:`~reconciler.errors.ExpressionError` carrying the expression's source, origin and what it
read. Results are plain JSON values whatever their CEL type (:func:`~.values.to_json`).
"""

from __future__ import annotations

import contextvars
import enum
import re
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache, partial
from typing import Any

from cel_expr_python import cel
from cel_expr_python.ext import ext_math, ext_optional, ext_strings

from reconciler.errors import ExpressionError
from reconciler.expressions import checked, cost, reads
from reconciler.expressions.values import result_size, to_json
from reconciler.settings import DEFAULT

_MAP = cel.Type.Map(cel.Type.STRING, cel.Type.DYN)
_LIST = cel.Type.List(cel.Type.DYN)

CLUSTER_COLLECTIONS = (
    "pods",
    "nodes",
    "deployments",
    "replicasets",
    "statefulsets",
    "daemonsets",
    "jobs",
    "hpas",
    "pvcs",
    "pdbs",
    "services",
    "configmaps",
    "events",
    "namespaces",
)


class Scope(enum.Enum):
    """Where an expression appears, which decides the variables it may use."""

    MATCH = "match"  # policy match, policy params and target templates
    STEP = "step"  # if, with, verify, wait_until, decide rules, approval message
    FOR_EACH = "for_each"  # inside for_each/do: also item and index
    POLL = "poll"  # wait_until with an action: also output (the polled action's output)
    FOR_EACH_POLL = "for_each_poll"
    GUARDRAIL = "guardrail"  # guardrail deny and message
    OUTPUTS = "outputs"  # workflow outputs
    CLUSTER = "cluster"  # WorkflowTest expect.cluster


_COMMON = {"alert": _MAP, "now": cel.Type.TIMESTAMP}
_STEP = {**_COMMON, "params": _MAP, "steps": _MAP, "execution": _MAP}
_VARIABLES: dict[Scope, dict[str, Any]] = {
    Scope.MATCH: _COMMON,
    Scope.STEP: _STEP,
    Scope.FOR_EACH: {**_STEP, "item": cel.Type.DYN, "index": cel.Type.INT},
    Scope.POLL: {**_STEP, "output": cel.Type.DYN},
    Scope.FOR_EACH_POLL: {
        **_STEP,
        "item": cel.Type.DYN,
        "index": cel.Type.INT,
        "output": cel.Type.DYN,
    },
    Scope.GUARDRAIL: {
        **_COMMON,
        "action": _MAP,
        "execution": _MAP,
        "params": _MAP,
        "cluster": _MAP,
        "history": _LIST,
    },
    Scope.OUTPUTS: _STEP,
    Scope.CLUSTER: {
        **dict.fromkeys(CLUSTER_COLLECTIONS, _LIST),
        "objects": _MAP,
        "now": cel.Type.TIMESTAMP,
    },
}
_SECRET_SCOPES = {Scope.STEP, Scope.FOR_EACH, Scope.POLL, Scope.FOR_EACH_POLL}

SecretReader = Callable[[str, str], str]
_secret_reader: contextvars.ContextVar[SecretReader | None] = contextvars.ContextVar(
    "reconciler_secret_reader", default=None
)


def _secret(name: str, key: str) -> str:
    reader = _secret_reader.get()
    if reader is None:
        raise LookupError("secret() is not available here: no secrets are mounted")
    return reader(name, key)


@contextmanager
def secrets_from(reader: SecretReader) -> Iterator[None]:
    """Make ``secret(name, key)`` read through ``reader`` for evaluations in this context."""
    token = _secret_reader.set(reader)
    try:
        yield
    finally:
        _secret_reader.reset(token)


_PARAM_TYPES = {"string": cel.Type.STRING, "int": cel.Type.INT, "bool": cel.Type.BOOL}
TYPED_PARAM_TYPES = frozenset(_PARAM_TYPES)

Typed = tuple[tuple[str, str], ...]  # (param name, declared type), sorted


@cache
def _environment(scope: Scope, typed: Typed = ()) -> Any:
    """The CEL environment of a scope; ``typed`` also declares ``params.<name>`` variables of
    the declared types (CEL resolves the qualified name first), for :func:`param_type_error`."""
    variables = dict(_VARIABLES[scope])
    variables.update({f"params.{name}": _PARAM_TYPES[kind] for name, kind in typed})
    functions = []
    impls: dict[str, Callable[..., Any]] = {}
    if scope in _SECRET_SCOPES:
        overload = cel.Overload(
            "secret_string_string", cel.Type.STRING, [cel.Type.STRING, cel.Type.STRING]
        )
        functions.append(cel.FunctionDecl("secret", [overload]))
        impls["secret_string_string"] = _secret
    return cel.NewEnv(
        variables=variables,
        extensions=[ext_strings.ExtStrings(), ext_math.ExtMath(), ext_optional.ExtOptional()],
        functions=functions,
        function_impls=impls,
    )


def variables(scope: Scope) -> list[str]:
    """Names an expression in ``scope`` may use."""
    return sorted(_VARIABLES[scope])


_SMALL = (bool, int, float, type(None))
_CEL_LOCATION = re.compile(r"<input>:(\d+):(\d+): ")


@dataclass(frozen=True, slots=True)
class Expression:
    """A compiled CEL expression, its source and where it came from."""

    source: str
    scope: Scope
    program: Any
    result_type: str
    where: object = ""  # str() gives file:line:col: field (computed lazily by validation)

    def evaluate(self, activation: Activation) -> Any:
        """Evaluate against an activation; CEL errors raise ExpressionError."""
        try:
            result = self.program.eval(activation.native)
        except RuntimeError as exc:  # the library raises for some internal limits
            raise self._failed(_clean(str(exc)), activation) from exc
        if result.type() == cel.Type.ERROR:
            raise self._failed(_clean(str(result.value())), activation)
        value = to_json(result.plain_value())
        if not isinstance(value, _SMALL):
            limit = DEFAULT.expressions.max_result_bytes
            size = result_size(value, limit)
            if size > limit:
                raise self._failed(
                    f"the result is over {size:,} bytes; the limit is {limit:,}", activation
                )
        return value

    def _failed(self, message: str, activation: Activation) -> ExpressionError:
        return ExpressionError(
            message,
            source=self.source,
            where=str(self.where),
            read=partial(reads.describe, self.source, activation.data),
        )

    def with_origin(self, where: object) -> Expression:
        return Expression(self.source, self.scope, self.program, self.result_type, where)


class Activation:
    """Variable bindings for many evaluations (converting them once is most of the cost)."""

    __slots__ = ("data", "native", "scope")

    def __init__(self, scope: Scope, data: Mapping[str, Any]) -> None:
        self.scope = scope
        self.data = data  # kept to say what a failed expression read
        self.native = _environment(scope).Activation(dict(data))


_cache: dict[tuple[Scope, str], tuple[Any, str]] = {}


def clear_cache() -> None:
    """Forget compiled programs (benchmarks measure a cold start with it)."""
    _cache.clear()
    _type_checks.clear()


_CACHE_LIMIT = 100_000


def compile_expression(source: str, scope: Scope, where: object = "") -> Expression:
    """Compile and type-check ``source`` in ``scope``; raise ExpressionError with the position."""
    limit = DEFAULT.expressions.max_source_length
    if len(source) > limit:
        raise ExpressionError(
            f"expression is {len(source)} characters long; the limit is {limit}",
            source=source,
            where=str(where),
        )
    if not source.strip():
        raise ExpressionError("expression is empty", source=source, where=str(where))
    key = (scope, source)
    cached = _cache.get(key)
    if cached is None:
        try:
            program = _environment(scope).compile(source)
        except RuntimeError as exc:
            raise ExpressionError(
                _compile_message(str(exc), scope), source=source, where=str(where)
            ) from exc
        _check_cost(program, source, where)
        cached = (program, program.return_type().name())
        if len(_cache) >= _CACHE_LIMIT:
            _cache.clear()
        _cache[key] = cached
    return Expression(source, scope, cached[0], cached[1], where)


def _check_cost(program: Any, source: str, where: object) -> None:
    """Refuse an expression that can build too much (see :mod:`.cost`) before it ever runs."""
    if not cost.may_build(source):
        return
    try:
        tree = checked.read(program.serialize())
    except (ValueError, IndexError) as exc:  # a library change: fail loudly, not open
        raise ExpressionError(
            f"cannot estimate the cost of this expression ({exc}); please report it",
            source=source,
            where=str(where),
        ) from exc
    try:
        cost.check(tree, source, DEFAULT.expressions)
    except ExpressionError as exc:
        raise ExpressionError(exc.message, source=source, where=str(where)) from exc


_type_checks: dict[tuple[Scope, Typed, str], str | None] = {}


def param_type_error(source: str, scope: Scope, typed: Typed) -> str | None:
    """Type-check a compiled expression again with ``params.<name>`` typed as declared.

    ``params`` is a ``map(string, dyn)`` at run time, so CEL's checker cannot see that
    ``params.replicas < "3"`` compares an int with a string. Returns the checker's message for
    errors that certainly fail or never hold at run time, else None: mixed numbers (``int``
    with ``double``) and ``null`` compare fine at run time and are never reported.
    """
    key = (scope, typed, source)
    if key not in _type_checks:
        if len(_type_checks) >= _CACHE_LIMIT:
            _type_checks.clear()
        _type_checks[key] = _param_type_error(source, scope, typed)
    return _type_checks[key]


_OVERLOAD = re.compile(r"no matching overload for '[^']*' applied to '\((.*)\)'")
_TYPE_NAME = re.compile(r"[a-z_]+")
_NUMERIC = {"int", "uint", "double", "list", "map"}


def _param_type_error(source: str, scope: Scope, typed: Typed) -> str | None:
    # has(params.x) with params.x declared as a variable confuses the checker: skip those.
    if not typed or "has(" in source:
        return None
    try:
        _environment(scope, typed).compile(source)
    except RuntimeError as exc:
        raw = str(exc)
        message = _compile_message(raw, scope)
        overload = _OVERLOAD.search(raw)
        if overload is not None:
            names = set(_TYPE_NAME.findall(overload.group(1)))
            if names & {"dyn", "null_type"} or names <= _NUMERIC:
                return None
            return message
        return message if "cannot be the operand of a select operation" in raw else None
    return None


def _compile_message(raw: str, scope: Scope) -> str:
    first = _clean(raw.split("\n", 1)[0])
    match = _CEL_LOCATION.search(raw)
    position = f"at column {match.group(2)}: " if match else ""
    first = _CEL_LOCATION.sub("", first).removeprefix("ERROR: ")
    if "undeclared reference" in first:
        first += f"; variables here: {', '.join(variables(scope))}"
        if re.search(r"reference to '(item|index)'", first) and "item" not in _VARIABLES[scope]:
            first += " (item and index exist only inside a for_each body, under do:)"
    return position + first


def _clean(message: str) -> str:
    """Strip the library's status-code decoration (``INVALID_ARGUMENT: ... [INVALID_ARGUMENT]``)."""
    text = re.sub(r"^[A-Z_]+: ", "", message.strip())
    text = re.sub(r"\s*\[[A-Z_]+\]$", "", text)
    text = re.sub(r"^Key not found in map\s*:\s*", "no such key: ", text)
    return text.removeprefix("ERROR: ")
