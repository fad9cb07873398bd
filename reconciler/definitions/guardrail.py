"""The ``Guardrail`` kind: CEL rules checked before every mutating action (SPEC §1.4)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from reconciler.definitions.base import DnsLabel, Envelope, Model


class GuardrailRule(Model):
    name: DnsLabel
    applies_to: list[str] | None = Field(
        None, description="action names this rule checks; all mutating actions when absent"
    )
    deny: str = Field(description="CEL; true denies (or gates) the action")
    message: str | None = Field(None, description="template shown when the rule fires")
    effect: Literal["deny", "approve"] = "deny"


class GuardrailSpec(Model):
    rules: list[GuardrailRule] = Field(min_length=1)


class Guardrail(Envelope):
    kind: Literal["Guardrail"]
    spec: GuardrailSpec
