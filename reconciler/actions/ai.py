"""``ai.investigate``: a read-only investigation by a model (lands with the AI roadmap work)."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from reconciler.actions.spec import ActionSpec, Params, declared


class InvestigateParams(Params):
    question: str = Field(min_length=1)
    context: dict[str, Any] = Field(default_factory=dict, description="facts handed to the model")
    max_tokens: int = Field(1024, ge=64, le=8192)


ACTIONS: list[ActionSpec] = [
    declared(
        "ai.investigate",
        "ask a model to investigate (read-only; it never acts)",
        InvestigateParams,
        mutating=False,
        idempotent=True,
        dry_run=True,
        effect="read",
        lands_with="the AI work of the roadmap",
    ),
]
