"""`reconciler validate` and the published JSON Schema (`reconciler schema`) agree.

Every definition file of the project (tests/fixtures/**, example-repo/, policies/) goes through
both: each document the schema rejects must be rejected by ``validate`` too, with a problem
located inside that document. (So what ``validate`` accepts, the schema accepts; ``validate``
may reject more: references, graphs, CEL.) Editors and CI linters use the schema; a document
they pass must not fail in the engine for a reason the schema could have told.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from typer.testing import CliRunner

from reconciler.cli import app
from reconciler.definitions.yamldoc import Document, parse_documents
from reconciler.settings import DEFAULT

ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()


def groups() -> list[tuple[Path, ...]]:
    """What ``validate`` is run on together: a repository, a pack, a fixture folder, or (for the
    one-rule-per-file invalid fixtures) a single file."""
    found: list[tuple[Path, ...]] = [(ROOT / "example-repo",)]
    found += [(pack,) for pack in sorted((ROOT / "policies").iterdir()) if pack.is_dir()]
    folders = {p.parent for p in (ROOT / "tests" / "fixtures").rglob("*.y*ml")}
    for folder in sorted(folders):
        if folder.name == "invalid":
            found += [(f,) for f in sorted(folder.glob("*.y*ml"))]
        else:
            found.append(tuple(sorted(folder.glob("*.y*ml"))))
    return found


GROUPS = groups()


@cache
def schema() -> dict[str, Any]:
    result = runner.invoke(app, ["schema"])
    assert result.exit_code == 0, result.output
    document: dict[str, Any] = json.loads(result.stdout)
    jsonschema.Draft202012Validator.check_schema(document)
    return document


def validate(paths: tuple[Path, ...]) -> list[dict[str, Any]]:
    result = runner.invoke(app, ["validate", "-o", "json", *map(str, paths)])
    assert result.exit_code in (0, 1), result.output
    problems: list[dict[str, Any]] = json.loads(result.stdout)["problems"]
    return problems


def yaml_files(paths: tuple[Path, ...]) -> list[Path]:
    files: list[Path] = []
    for path in paths:
        files += sorted(path.rglob("*.y*ml")) if path.is_dir() else [path]
    return [f for f in files if not any(part.startswith(".") for part in f.parts)]


def definitions(path: Path) -> list[Document]:
    """Documents of the reconciler.dev group (others are Kubernetes manifests, left alone)."""
    documents, _ = parse_documents(path.read_bytes(), str(path), DEFAULT.loader)
    return [
        d
        for d in documents
        if isinstance(d.value, dict)
        and str(d.value.get("apiVersion", "reconciler.dev/")).startswith("reconciler.dev/")
    ]


def span(document: Document) -> tuple[int, int]:
    assert document.root is not None
    return document.root.start_mark.line + 1, document.root.end_mark.line + 1


@pytest.mark.parametrize("paths", GROUPS, ids=[str(g[0].relative_to(ROOT)) for g in GROUPS])
def test_what_the_schema_rejects_validate_rejects_in_the_same_document(
    paths: tuple[Path, ...],
) -> None:
    validator = jsonschema.Draft202012Validator(schema())
    problems = validate(paths)
    disagreements = []
    for file in yaml_files(paths):
        in_file = [p for p in problems if Path(p["path"]).resolve() == file.resolve()]
        for document in definitions(file):
            errors = list(validator.iter_errors(document.value))
            if not errors:
                continue
            first, last = span(document)
            located = [p for p in in_file if p["line"] == 0 or first <= p["line"] <= last]
            if not located:
                best = jsonschema.exceptions.best_match(errors)
                where = "/".join(map(str, best.absolute_path))
                disagreements.append(
                    f"{file.relative_to(ROOT)}:{first}: the schema rejects it "
                    f"({where}: {best.message}) but validate reports nothing there"
                )
    assert not disagreements, "\n".join(disagreements)


def test_every_definition_file_of_the_project_is_covered() -> None:
    covered = {f.resolve() for group in GROUPS for f in yaml_files(group)}
    for folder in ("example-repo", "policies", "tests/fixtures"):
        for file in (ROOT / folder).rglob("*.y*ml"):
            if not any(part.startswith(".") for part in file.relative_to(ROOT).parts):
                assert file.resolve() in covered, file


def test_the_schema_accepts_the_example_repository() -> None:
    validator = jsonschema.Draft202012Validator(schema())
    documents = [d for f in yaml_files((ROOT / "example-repo",)) for d in definitions(f)]
    assert len(documents) > 10
    for document in documents:
        assert not list(validator.iter_errors(document.value)), document.value["metadata"]


def test_the_schema_and_validate_accept_durations_written_as_templates(tmp_path: Path) -> None:
    text = """\
apiVersion: reconciler.dev/v1alpha1
kind: Workflow
metadata: {name: templated}
spec:
  params: {hold: {type: string, default: 5m}, seconds: {type: int, default: 30}}
  steps:
    - {id: pause, wait: "{{ params.hold }}"}
    - id: call
      action: core.log
      with: {message: hi}
      timeout: "{{ params.seconds }}"
      retry: {limit: 2, backoff: "{{ params.seconds }}s", max_backoff: 2m}
      verify: {expr: "true", within: "{{ params.hold }}", interval: "{{ params.seconds }}"}
    - id: poll
      wait_until: {expr: "true", interval: "{{ params.seconds }}", timeout: "{{ params.hold }}"}
    - {id: ask, approval: {timeout: "{{ params.hold }}"}}
"""
    (tmp_path / "wf.yaml").write_text(text)
    [document] = definitions(tmp_path / "wf.yaml")
    assert not list(jsonschema.Draft202012Validator(schema()).iter_errors(document.value))
    assert validate((tmp_path,)) == []
