"""What an action is: its name, parameter model, flags, and the functions that run and check it.

The catalogue modules (``core``, ``k8s``, ``web``, ``process``, ``ai``) each declare their
actions with :class:`ActionSpec`; :mod:`reconciler.actions.registry` gathers them. An action
whose implementation has not landed yet fails with :class:`NotImplementedAction` when run,
never silently.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, Any, Literal, Protocol

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


class Pacer(Protocol):
    """How an action that polls inside one call tells time and waits: real time in the
    service, the engine's fake clock in ``reconciler test`` (where a sleep moves the clock)."""

    def monotonic(self) -> float: ...

    async def sleep(self, seconds: float) -> None: ...


class RealTime:
    """The :class:`Pacer` of calls made outside the engine (unit tests, ``check`` hooks)."""

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


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
    # Polling actions measure and wait with this, never with time.monotonic/asyncio.sleep.
    clock: Pacer = field(default_factory=RealTime)
    prometheus_url: str = ""  # the service's --prometheus-url: prometheus.query's default url:

    @property
    def marker(self) -> str:
        """Idempotency marker value written on objects this call changes."""
        return f"{self.execution}/{self.step}/{self.attempt}"


Runner = Callable[[Any, ActionContext], Awaitable[dict[str, Any]]]
Effect = Literal["internal", "read", "write"]
DryRunMode = Literal["run", "server-side", "skip"]
Checker = Callable[[Any, ActionContext], Awaitable[CheckResult]]


@dataclass(frozen=True)
class ActionSpec:
    """One action of the catalogue.

    ``effect`` says, explicitly for every action, where its effect goes: ``internal`` (it
    stays in the process: ``core.*``), ``read`` (it reads the outside world) or ``write`` (it
    changes or sends something outside: a notification counts, a program run counts).
    ``mutating`` is narrower: a write to the systems guardrails protect (they are checked before
    every mutating call). ``dry_run`` says the action can be sent as a server-side dry run.
    In dry-run mode (:meth:`in_dry_run`) internal calls and reads run, writes that can be sent
    as a server-side dry run are, and every other write is skipped and recorded as what it would
    have done."""

    name: str
    summary: str
    params: type[BaseModel]
    mutating: bool
    idempotent: bool
    dry_run: bool
    effect: Effect
    run: Runner | None = None
    check: Checker | None = None
    lands_with: str = ""
    needs_cluster: bool = False  # a Kubernetes action: without a cluster it cannot run at all
    mutating_when: Callable[[Mapping[str, Any]], bool] | None = field(default=None, repr=False)
    # A call that is idempotent although the action is not always (``http.request`` with PUT).
    idempotent_when: Callable[[Mapping[str, Any]], bool] | None = field(default=None, repr=False)
    # The effect of one call, where it depends on the params (``http.request``: its method).
    effect_when: Callable[[Mapping[str, Any]], Effect] | None = field(default=None, repr=False)
    # What a skipped call would have done, for people ("sent POST https://..."): dry-run records.
    would: Callable[[Mapping[str, Any]], str] | None = field(default=None, repr=False)
    # Parameters that are URLs: values rendered into them are percent-encoded for where they
    # land, and the URL keeps the scheme and host its template writes (expressions/urls.py).
    url_params: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.mutating and self.effect != "write":
            raise ValueError(f"{self.name}: a mutating action's effect is write")

    def effect_of(self, params: Mapping[str, Any]) -> Effect:
        return self.effect_when(params) if self.effect_when else self.effect

    def in_dry_run(self, params: Mapping[str, Any]) -> DryRunMode:
        """What dry-run mode does with this call: run it (internal, or a read), send it as a
        server-side dry run, or skip it and record what it would have done."""
        if self.effect_of(params) != "write":
            return "run"
        return self.dry_run_mode

    @property
    def dry_run_mode(self) -> DryRunMode:
        """What dry-run mode does with a call of the declared effect (for the catalogue)."""
        if self.effect != "write":
            return "run"
        return "server-side" if self.dry_run else "skip"

    def would_have(self, params: Mapping[str, Any]) -> str:
        """What a skipped call would have done, in words."""
        return self.would(params) if self.would else f"called {self.name}"

    def is_mutating(self, params: Mapping[str, Any]) -> bool:
        """Whether this call changes something (``http.request`` depends on its method)."""
        return self.mutating_when(params) if self.mutating_when else self.mutating

    def is_idempotent(self, params: Mapping[str, Any]) -> bool:
        """Whether calling again with these params is safe after an unknown outcome."""
        return self.idempotent_when(params) if self.idempotent_when else self.idempotent

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
    effect: Effect,
    lands_with: str,
    mutating_when: Callable[[Mapping[str, Any]], bool] | None = None,
    needs_cluster: bool = False,
) -> ActionSpec:
    """An action whose schema is known now and whose implementation lands later."""
    return ActionSpec(
        name,
        summary,
        params,
        effect=effect,
        mutating=mutating,
        idempotent=idempotent,
        dry_run=dry_run,
        lands_with=lands_with,
        mutating_when=mutating_when,
        needs_cluster=needs_cluster,
    )
