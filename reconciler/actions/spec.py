"""What an action is: its name, parameter model, flags, and the functions that run and check it.

The catalogue modules (``core``, ``k8s``, ``web``, ``process``, ``ai``) each declare their
actions with :class:`ActionSpec`; :mod:`reconciler.actions.registry` gathers them. An action
whose implementation has not landed yet fails with :class:`NotImplementedAction` when run,
never silently.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict

from reconciler.errors import NotImplementedAction

if TYPE_CHECKING:
    from reconciler.actions.http_clients import HttpClients
    from reconciler.actions.kube import KubeCluster


class Params(BaseModel):
    """Base of action parameter models: frozen, unknown parameters rejected."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class CheckResult(Enum):
    """What an action's ``check`` hook found about a call whose outcome is unknown."""

    DONE = "done"  # the effect is there: do not call again
    NOT_DONE = "not_done"  # the effect is absent: safe to call again
    UNKNOWN = "unknown"  # cannot tell: a person decides


@dataclass(frozen=True)
class ActionContext:
    """What an action knows about the call it serves."""

    execution: str
    step: str
    attempt: int
    dry_run: bool = False
    log: Callable[[str, Mapping[str, Any]], None] = lambda event, fields: None
    cluster: KubeCluster | None = None  # None: no cluster configured
    http: HttpClients | None = None  # the engine's pooled HTTP clients (None: a client per call)

    @property
    def marker(self) -> str:
        """Idempotency marker value written on objects this call changes."""
        return f"{self.execution}/{self.step}/{self.attempt}"


Runner = Callable[[Any, ActionContext], Awaitable[dict[str, Any]]]
Checker = Callable[[Any, ActionContext], Awaitable[CheckResult]]


@dataclass(frozen=True)
class ActionSpec:
    """One action of the catalogue."""

    name: str
    summary: str
    params: type[BaseModel]
    mutating: bool
    idempotent: bool
    dry_run: bool
    run: Runner | None = None
    check: Checker | None = None
    lands_with: str = ""
    needs_cluster: bool = False  # a Kubernetes action: without a cluster it cannot run at all
    mutating_when: Callable[[Mapping[str, Any]], bool] | None = field(default=None, repr=False)

    def can_dry_run(self, params: Mapping[str, Any]) -> bool:
        """Whether this call can run in dry-run mode (a read always can)."""
        return self.dry_run or not self.is_mutating(params)

    def is_mutating(self, params: Mapping[str, Any]) -> bool:
        """Whether this call changes something (``http.request`` depends on its method)."""
        return self.mutating_when(params) if self.mutating_when else self.mutating

    @property
    def implemented(self) -> bool:
        return self.run is not None

    async def call(self, params: BaseModel, context: ActionContext) -> dict[str, Any]:
        if self.run is None and self.needs_cluster:
            raise NotImplementedAction(
                f"no cluster configured: action {self.name} needs a Kubernetes cluster, and this "
                f"version cannot connect to one yet (it lands with {self.lands_with})"
            )
        if self.run is None:
            raise NotImplementedAction(
                f"action {self.name} is not implemented yet (it lands with {self.lands_with or 'a later release'})"
            )
        return await self.run(params, context)


def declared(
    name: str,
    summary: str,
    params: type[BaseModel],
    *,
    mutating: bool,
    idempotent: bool,
    dry_run: bool,
    lands_with: str,
    mutating_when: Callable[[Mapping[str, Any]], bool] | None = None,
    needs_cluster: bool = False,
) -> ActionSpec:
    """An action whose schema is known now and whose implementation lands later."""
    return ActionSpec(
        name,
        summary,
        params,
        mutating=mutating,
        idempotent=idempotent,
        dry_run=dry_run,
        lands_with=lands_with,
        mutating_when=mutating_when,
        needs_cluster=needs_cluster,
    )
