"""The catalogue: every action by name, and validation of a call's parameters.

``validation`` asks it whether an action exists and whether literal ``with:`` values fit;
``reconciler actions`` prints it; the engine looks actions up here to run them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import BaseModel, ValidationError

from reconciler.actions import ai, core, k8s, process, web
from reconciler.actions.spec import ActionSpec


class Registry:
    """Actions by name. Later issues register implementations over the declared entries."""

    def __init__(self, actions: Iterable[ActionSpec]) -> None:
        self._actions: dict[str, ActionSpec] = {}
        for action in actions:
            self.register(action)

    def register(self, action: ActionSpec) -> None:
        self._actions[action.name] = action

    def get(self, name: str) -> ActionSpec | None:
        return self._actions.get(name)

    def __contains__(self, name: object) -> bool:
        return name in self._actions

    def __iter__(self) -> Any:
        return iter(sorted(self._actions.values(), key=lambda a: a.name))

    def names(self) -> list[str]:
        return sorted(self._actions)

    def parse(self, name: str, params: Mapping[str, Any]) -> BaseModel:
        """Validate rendered parameters; raises pydantic's ValidationError."""
        action = self._actions[name]
        return action.params.model_validate(dict(params))


def static_errors(
    model: type[BaseModel], raw: Mapping[str, Any], is_dynamic: Any
) -> list[tuple[tuple[Any, ...], str]]:
    """Errors in literal parameters; values that are templates are checked when rendered.

    ``is_dynamic(value)`` says whether a raw value contains ``{{ }}``.
    """
    try:
        model.model_validate(dict(raw))
    except ValidationError as exc:
        errors = []
        for error in exc.errors(include_url=False):
            loc = tuple(error["loc"])
            if loc and isinstance(loc[0], str) and loc[0] in raw and is_dynamic(raw[loc[0]]):
                continue
            if not loc and any(is_dynamic(v) for v in raw.values()):
                continue  # a cross-field rule over values known only when rendered
            errors.append((loc, _friendly(error, model)))
        return errors
    return []


def catalogue() -> Registry:
    """A new registry of every declared action (tests that register fakes use their own)."""
    return Registry([*core.ACTIONS, *k8s.ACTIONS, *web.ACTIONS, *process.ACTIONS, *ai.ACTIONS])


_default = catalogue()


def _friendly(error: Any, model: type[BaseModel]) -> str:
    """Pydantic's message, with a hint where pydantic's own says too little."""
    kind = error["type"]
    if kind == "extra_forbidden":
        known = ", ".join(f.alias or name for name, f in model.model_fields.items())
        return f"unknown parameter; parameters: {known}"
    if kind == "missing":
        return "required parameter is missing"
    return str(error["msg"]).removeprefix("Value error, ")


def default_registry() -> Registry:
    """The process-wide registry: every built-in action, as the CLI, the service and the tests see it."""
    return _default
