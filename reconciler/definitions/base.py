"""The Kubernetes-style envelope shared by every definition kind.

Every kind module builds on :class:`Model` (frozen, unknown fields rejected) and
:class:`Metadata`. The loader reads ``apiVersion`` and ``kind`` before choosing a model.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

GROUP = "reconciler.dev"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"

_DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
IDENTIFIER = re.compile(r"^[a-z][a-z0-9_]*$")


class Model(BaseModel):
    """Base of every definition model: immutable, strict about unknown fields and scalar types.

    ``strict``: a value is taken only in the type the field declares, as the published JSON
    Schema says. Lax mode would turn ``yes``/``off`` (strings in YAML 1.2) into booleans and
    ``"3"`` into a number, accepting what the schema, and so every editor and CI linter, rejects.
    ``allow_inf_nan=False``: ``.nan`` passes every bound (``nan < 0`` is false), so refuse it.
    The loader validates by alias only (``with``, not ``with_``); code may use either name.
    """

    model_config = ConfigDict(
        frozen=True, extra="forbid", populate_by_name=True, strict=True, allow_inf_nan=False
    )


def _dns_label(value: str) -> str:
    if len(value) > 63 or not _DNS1123_LABEL.match(value):
        raise ValueError(
            f"{value!r} is not a DNS-1123 label: use at most 63 lowercase letters, digits and '-', "
            "starting and ending with a letter or digit"
        )
    return value


DnsLabel = Annotated[str, AfterValidator(_dns_label)]


class Metadata(Model):
    """``metadata`` of a definition."""

    name: DnsLabel
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    description: str | None = None


class Envelope(Model):
    """Fields every definition carries besides its ``spec``."""

    api_version: str = Field(alias="apiVersion", pattern=r"^reconciler\.dev/v1alpha1$")
    metadata: Metadata
