"""Benchmark: load + validate + compile a generated repository of 200 workflows (target <= 150 ms).

Reports two figures: cold (an empty expression cache, as the first revision after start) and
warm (the expressions of the previous revision already compiled, as every later poll with small
changes). Run with `make bench` or `python bench/loading.py`.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from generate import repository
from stats import describe, measure

from reconciler.definitions import loader
from reconciler.definitions.loader import MemoryTree
from reconciler.expressions import compiler
from reconciler.validation import revision


def _with_one_change(files: dict[str, bytes], n: int) -> MemoryTree:
    """The repository with one workflow's timeout edited, as a new commit would change it."""
    edited = dict(files)
    path = sorted(files)[n * 7 % len(files)]
    edited[path] = files[path].replace(b"timeout: 30m", f"timeout: {31 + n}m".encode(), 1)
    assert edited[path] != files[path]
    return MemoryTree(edited)


def main() -> None:
    files = repository(200)
    tree = MemoryTree(files)
    outcome = revision.build([tree])
    assert outcome.ok, outcome.problems[:5]
    assert outcome.revision is not None
    workflows = len(outcome.revision.workflows)
    expressions = outcome.revision.expressions_compiled
    unique = len(compiler._cache)
    print(
        f"repository: {len(files)} files, {workflows} workflows, {len(outcome.revision.policies)} policies, "
        f"{expressions} expressions ({unique} distinct), {sum(map(len, files.values())) // 1024} KiB"
    )

    cold = measure(lambda: revision.build([tree]), repeat=15, setup=revision.clear_caches)
    warm = measure(lambda: revision.build([tree]), repeat=15)  # the same revision again
    changed = [_with_one_change(files, n) for n in range(15)]
    next_revisions = iter(changed)
    incremental = measure(lambda: revision.build([next(next_revisions)]), repeat=15)
    parse_only = measure(lambda: loader.load([tree]), repeat=15, setup=revision.clear_caches)
    print(describe("load + validate + compile, cold cache", cold, target=150))
    print(describe("load + validate + compile, warm cache", warm, target=150))
    print(describe("next revision with one workflow changed", incremental, target=150))
    print(describe("  of which YAML + models, cold (loader.load)", parse_only))


if __name__ == "__main__":
    main()
