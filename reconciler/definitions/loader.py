"""Reads a remediation repository into typed definitions, reporting every problem found.

Files come from a :class:`Tree` (a directory today; a Git revision's tree later, without a
checkout). Every ``*.yaml``/``*.yml`` file is read (dot-files, dot-folders and a top-level
``reports/`` skipped); documents of the ``reconciler.dev`` group become definitions, documents of
other groups are left alone. The result is a :class:`Repository` plus a list of
:class:`~reconciler.errors.Problem` located at ``path:line:col: field.path``.
"""

from __future__ import annotations

import functools
import gc
import hashlib
import posixpath
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path as FsPath
from typing import Any, Generic, Protocol, TypeVar

from pydantic import BaseModel, ValidationError

from reconciler.definitions import messages, yamlscan
from reconciler.definitions.base import API_VERSION, GROUP
from reconciler.definitions.guardrail import Guardrail
from reconciler.definitions.policy import Policy
from reconciler.definitions.repo_settings import RepoSettings
from reconciler.definitions.workflow import Workflow
from reconciler.definitions.workflow_test import WorkflowTest
from reconciler.definitions.yamldoc import Document, Path, parse_documents
from reconciler.definitions.yamlscan import NodeBudget
from reconciler.errors import Problem
from reconciler.settings import DEFAULT, LoaderLimits

KINDS: dict[str, type[BaseModel]] = {
    "Workflow": Workflow,
    "Policy": Policy,
    "Guardrail": Guardrail,
    "WorkflowTest": WorkflowTest,
    "Settings": RepoSettings,
}

T = TypeVar("T", bound=BaseModel)


@dataclass(frozen=True)
class SourceFile:
    """One file of a tree: its path relative to the repository root, and how to read it."""

    path: str
    read: Callable[[], bytes]
    size: int | None = None  # known before reading, where the tree can tell (checked first)


class Tree(Protocol):
    """Where definitions come from: a directory, a single file, or a Git revision's tree."""

    def files(self) -> Iterable[SourceFile]: ...


def is_yaml(name: str) -> bool:
    return name.endswith((".yaml", ".yml"))


@dataclass(frozen=True)
class DirectoryTree:
    """A directory on disk (or a single file), read recursively as SPEC §1 says."""

    root: FsPath

    def files(self) -> Iterator[SourceFile]:
        if self.root.is_file():
            yield SourceFile(str(self.root), self.root.read_bytes)
            return
        yield from self._walk(self.root, top=True)

    def _walk(self, folder: FsPath, *, top: bool) -> Iterator[SourceFile]:
        for entry in sorted(folder.iterdir(), key=lambda p: p.name):
            if entry.name.startswith(".") or (top and entry.name == "reports" and entry.is_dir()):
                continue
            if entry.is_symlink() and entry.is_dir():
                continue  # never follow a folder link: it may loop or leave the repository
            if entry.is_dir():
                yield from self._walk(entry, top=False)
            elif entry.is_file() and is_yaml(entry.name):
                yield SourceFile(self._display(entry), entry.read_bytes, entry.stat().st_size)

    def _display(self, entry: FsPath) -> str:
        return str(entry)


@dataclass(frozen=True)
class MemoryTree:
    """Files held in memory (path -> content): a Git revision's blobs, or test data."""

    contents: dict[str, bytes]

    def files(self) -> Iterator[SourceFile]:
        for path in sorted(self.contents):
            parts = path.split("/")
            if (
                any(part.startswith(".") for part in parts)
                or parts[0] == "reports"
                or not is_yaml(path)
            ):
                continue
            data = self.contents[path]
            yield SourceFile(path, functools.partial(bytes, data), len(data))


@dataclass(frozen=True)
class Located(Generic[T]):
    """A definition and where it was read from, so later checks can point at file:line:col."""

    definition: T
    path: str
    document: Document

    @property
    def name(self) -> str:
        return str(self.document.value["metadata"]["name"])

    def where(self, field_path: Path) -> str:
        """``file:line:col: field.path`` of a part of this definition (for runtime errors)."""
        line, column = self.document.locate(field_path)
        return f"{self.path}:{line}:{column}: {format_path(field_path)}"

    def problem(self, field_path: Path, message: str) -> Problem:
        line, column = self.document.locate(field_path)
        return Problem(self.path, line, column, format_path(field_path), message)


@dataclass
class Repository:
    """Every definition of one revision, by kind and name."""

    workflows: dict[str, Located[Workflow]] = field(default_factory=dict)
    policies: dict[str, Located[Policy]] = field(default_factory=dict)
    guardrails: dict[str, Located[Guardrail]] = field(default_factory=dict)
    tests: dict[str, Located[WorkflowTest]] = field(default_factory=dict)
    settings: Located[RepoSettings] | None = None
    files_read: int = 0
    paths: set[str] = field(default_factory=set)
    # Parsed files this load added to the loader's cache (see :func:`forget`).
    cache_added: list[tuple[str, bytes]] = field(default_factory=list, repr=False)

    def collection(self, kind: str) -> dict[str, Any]:
        collections: dict[str, dict[str, Any]] = {
            "Workflow": self.workflows,
            "Policy": self.policies,
            "Guardrail": self.guardrails,
            "WorkflowTest": self.tests,
        }
        return collections[kind]


def format_path(path: Path) -> str:
    """``("spec", "steps", 2, "id")`` -> ``spec.steps[2].id``."""
    text = ""
    for part in path:
        if isinstance(part, str) and len(part) > messages.SHOWN_LENGTH:  # a key as long as data
            part = f"{part[: messages.SHOWN_LENGTH]}…({len(part)} characters)"
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


@contextmanager
def collector_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while loading: parsing allocates tens of thousands of
    acyclic objects, and collections triggered by them cost more than the parse (measured: a
    200-file load goes from ~270 ms to ~150 ms)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def load(
    trees: Iterable[Tree], limits: LoaderLimits = DEFAULT.loader
) -> tuple[Repository, list[Problem]]:
    """Load every definition of the given trees into one repository."""
    with collector_paused():
        repository, problems = _load(trees, limits)
    return repository, [messages.clipped(problem) for problem in problems]


def _load(trees: Iterable[Tree], limits: LoaderLimits) -> tuple[Repository, list[Problem]]:
    repository = Repository()
    problems: list[Problem] = []
    budget = _Budget(NodeBudget(limits.max_nodes_per_revision), limits.max_revision_bytes)
    for tree in trees:
        for source in tree.files():
            if not _read_source(source, repository, problems, limits, budget):
                _prune(budget.seen)
                return repository, problems
    _prune(budget.seen)
    return repository, problems


@dataclass
class _Budget:
    """What a revision may still read: YAML nodes and bytes, shared by its files in order."""

    nodes: NodeBudget
    bytes_left: int
    seen: set[tuple[str, bytes]] = field(default_factory=set)  # cache keys of this load


def _read_source(
    source: SourceFile,
    repository: Repository,
    problems: list[Problem],
    limits: LoaderLimits,
    budget: _Budget,
) -> bool:
    """Read one file into the repository; False when the revision must stop being read."""
    repository.files_read += 1
    repository.paths.add(posixpath.normpath(source.path))
    if repository.files_read > limits.max_files:
        problems.append(Problem(source.path, 0, 0, "", f"more than {limits.max_files} YAML files"))
        return False
    if source.size is not None and source.size > limits.max_file_bytes:
        message = f"file is {source.size} bytes; the limit is {limits.max_file_bytes}"
        problems.append(Problem(source.path, 0, 0, "", message))
        return True
    if source.size is not None and source.size > budget.bytes_left:
        problems.append(_over_bytes(source.path, source.size, limits))
        return False
    try:
        data = source.read()
    except OSError as exc:
        message = f"cannot read file: {exc.strerror or exc}"
        problems.append(Problem(source.path, 0, 0, "", message))
        return True
    if len(data) > budget.bytes_left and len(data) <= limits.max_file_bytes:
        problems.append(_over_bytes(source.path, len(data), limits))
        return False
    budget.bytes_left -= len(data)
    for entry in _read_file(source.path, data, limits, budget, repository):
        problems.extend(entry.problems)
        if entry.definition is not None and entry.document is not None:
            located = Located(entry.definition, source.path, entry.document)
            _register(repository, entry.kind, located, problems)
    return not budget.nodes.exhausted


def _over_bytes(path: str, size: int, limits: LoaderLimits) -> Problem:
    message = (
        f"this file's {size} bytes take the revision past {limits.max_revision_bytes} bytes of "
        f"YAML (max_revision_bytes); files after it are not read; {yamlscan.WHAT_TO_DO}"
    )
    return Problem(path, 0, 0, "", message)


@dataclass(frozen=True)
class _FileEntry:
    """What one document of a file gave: a definition of ``kind``, or problems, or nothing."""

    document: Document | None
    kind: str = ""
    definition: BaseModel | None = None
    problems: tuple[Problem, ...] = ()


# Parsed files by (path, content digest): a new revision re-reads only the files it changed.
# Each load keeps only its own files (older revisions' files are dropped), and an invalid
# revision's new files are dropped too (:func:`forget`), so the cache never holds more than one
# revision's worth, within the node and byte limits.
_file_cache: dict[tuple[str, bytes], tuple[list[_FileEntry], int]] = {}


def _read_file(
    path: str, data: bytes, limits: LoaderLimits, budget: _Budget, repository: Repository
) -> list[_FileEntry]:
    key = (path, hashlib.blake2b(data, digest_size=16, person=limits_key(limits)).digest())
    budget.seen.add(key)
    nodes = budget.nodes
    cached = _file_cache.get(key)
    if cached is not None:
        entries, count = cached
        if count <= nodes.remaining:
            nodes.used += count
            return entries
        nodes.exhausted = True
        return [_FileEntry(None, problems=(Problem(path, 0, 0, "", nodes.over_message(count)),))]
    used_before = nodes.used
    documents, file_problems = parse_documents(data, path, limits, nodes)
    entries = [_FileEntry(None, problems=tuple(file_problems))] if file_problems else []
    entries.extend(_read_document(path, document) for document in documents)
    if not nodes.exhausted:  # an exhausted budget's refusal depends on the files before it
        _file_cache[key] = (entries, nodes.used - used_before)
        repository.cache_added.append(key)
    return entries


def _prune(seen: set[tuple[str, bytes]]) -> None:
    for key in [key for key in _file_cache if key not in seen]:
        del _file_cache[key]


def forget(repository: Repository) -> None:
    """Drop the files this repository's load added to the cache (an invalid revision's)."""
    for key in repository.cache_added:
        _file_cache.pop(key, None)
    repository.cache_added.clear()


def clear_cache() -> None:
    """Forget parsed files (benchmarks measure a cold start with it)."""
    _file_cache.clear()


@functools.lru_cache(maxsize=8)  # once per limits, not once per file read
def limits_key(limits: LoaderLimits) -> bytes:
    """Cache entries depend on the limits they were read under."""
    return hashlib.blake2b(limits.model_dump_json().encode(), digest_size=8).digest()


def _read_document(path: str, document: Document) -> _FileEntry:
    value = document.value
    line, column = document.locate(())
    if not isinstance(value, dict):
        return _FileEntry(
            document,
            problems=(
                Problem(
                    path, line, column, "", "a document must be a mapping with apiVersion and kind"
                ),
            ),
        )
    api_version, kind = value.get("apiVersion"), value.get("kind")
    if not isinstance(api_version, str) or not isinstance(kind, str):
        missing = "apiVersion" if not isinstance(api_version, str) else "kind"
        given = value.get(missing)
        if given is None:
            message = f"missing {missing}; every document needs apiVersion and kind"
        else:
            message = f"{missing} must be a string, got {messages.shown(given)}"
            line, column = document.locate((missing,))
        return _FileEntry(document, problems=(Problem(path, line, column, missing, message),))
    if api_version.split("/", 1)[0] != GROUP:
        return _FileEntry(document)  # another API group (a Kubernetes manifest, say): not ours
    if api_version != API_VERSION:
        message = (
            f"unknown version {messages.shown(api_version)}; this reconciler reads {API_VERSION}"
        )
        return _FileEntry(
            document,
            problems=(Problem(path, *document.locate(("apiVersion",)), "apiVersion", message),),
        )
    model = KINDS.get(kind)
    if model is None:
        message = f"unknown kind {messages.shown(kind)}; expected one of {', '.join(KINDS)}"
        return _FileEntry(
            document, problems=(Problem(path, *document.locate(("kind",)), "kind", message),)
        )
    try:
        # by_name=False: only the names the schema publishes (`with`, not the Python `with_`).
        definition = model.model_validate(value, by_alias=True, by_name=False)
    except ValidationError as exc:
        return _FileEntry(document, problems=tuple(_problems_from(exc, path, document)))
    return _FileEntry(document, kind, definition)


def _register(
    repository: Repository, kind: str, located: Located[Any], problems: list[Problem]
) -> None:
    if kind == "Settings":
        if repository.settings is not None:
            first = repository.settings
            problems.append(
                located.problem(
                    ("kind",), f"a second Settings document; the first is at {first.path}"
                )
            )
        else:
            repository.settings = located
        return
    collection = repository.collection(kind)
    name = located.name
    if name in collection:
        first = collection[name]
        line, _ = first.document.locate(("metadata", "name"))
        problems.append(
            located.problem(
                ("metadata", "name"),
                f"duplicate {kind} name {messages.shown(name)}; "
                f"first defined at {first.path}:{line}",
            )
        )
        return
    collection[name] = located


def _problems_from(exc: ValidationError, path: str, document: Document) -> list[Problem]:
    problems = []
    for error in exc.errors(include_url=False):
        data_path = _data_path(document.value, error["loc"])
        line, column = document.locate(data_path)
        problems.append(
            Problem(path, line, column, format_path(data_path), messages.message(error))
        )
    return sorted(set(problems))


def _data_path(value: Any, loc: tuple[int | str, ...]) -> Path:
    """The data path of a pydantic location: union member names dropped, a missing key kept."""
    path: list[str | int] = []
    current: Any = value
    for part in loc:
        if _has_child(current, part):
            current = current[part]
        elif isinstance(part, str) and _is_union_tag(part):
            continue
        elif isinstance(current, dict):
            path.append(part)  # a missing field: its parent's position, the field's name
            break
        else:
            continue
        path.append(part)
    return tuple(path)


def _has_child(value: Any, part: int | str) -> bool:
    if isinstance(value, dict):
        return part in value
    return isinstance(value, list) and isinstance(part, int) and 0 <= part < len(value)


def _is_union_tag(part: str) -> bool:
    return (
        part[:1].isupper() or "[" in part or part in {"str", "int", "float", "bool", "list", "dict"}
    )
