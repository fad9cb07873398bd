"""The engine's own settings: one root of documented sections with safe defaults.

Modelled on kopf's ``OperatorSettings``. Later, CLI flags, ``RECONCILER_*`` environment variables
and the settings file map 1:1 onto these fields. Everything below ``settings`` in the layer graph
may read them; nothing here imports the rest of the package.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class LoaderLimits(_Section):
    """Bounds on what one repository may make the loader do (hostile or broken YAML)."""

    max_file_bytes: int = Field(1024 * 1024, description="largest YAML file read, in bytes")
    max_documents_per_file: int = Field(200, description="most YAML documents in one file")
    max_alias_expansion: int = Field(
        10_000, description="most nodes YAML aliases may add to one file once expanded"
    )
    max_depth: int = Field(64, description="deepest nesting of mappings and sequences")
    max_files: int = Field(10_000, description="most YAML files in one repository")
    max_steps_per_workflow: int = Field(
        500, description="most steps in one workflow, nested included"
    )


class ExpressionLimits(_Section):
    """Bounds on CEL inputs; cel-expr-python has a fixed iteration budget but no time bound."""

    max_source_length: int = Field(4096, description="longest expression source, in characters")
    max_string_length: int = Field(64 * 1024, description="longest string handed to an expression")
    # map() and filter() in cel-expr-python 0.1.3 are quadratic: ~0.3 s over 2,000 items.
    max_list_length: int = Field(2_000, description="longest list or map handed to an expression")
    max_depth: int = Field(32, description="deepest nesting of values handed to an expression")


class Settings(_Section):
    """Root of reconciler's settings."""

    loader: LoaderLimits = LoaderLimits()
    expressions: ExpressionLimits = ExpressionLimits()


DEFAULT = Settings()
