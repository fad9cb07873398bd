"""A reconciler engine process for the crash tests: run it, kill -9 it, run it again.

Usage: python crash_worker.py DB JOURNAL create N  (create N executions durably, run nothing)
       python crash_worker.py DB JOURNAL resume    (recover unfinished executions and run them)

Every step calls ``test.journal``: a non-idempotent action that appends ``execution/step`` to
the journal file (fsynced). Its ``check`` looks for that line, so after a crash a step whose
outcome is unknown is checked instead of repeated. The process exits 0 when every execution
has finished.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import Any

from pydantic import ConfigDict

from reconciler.actions.registry import catalogue
from reconciler.actions.spec import ActionContext, ActionSpec, CheckResult, Params
from reconciler.definitions.loader import MemoryTree
from reconciler.engine.engine import Engine
from reconciler.store.sqlite import SqliteStore
from reconciler.validation import revision

WORKFLOW = b"""
apiVersion: reconciler.dev/v1alpha1
kind: Workflow
metadata: {name: journaled}
spec:
  steps:
    - {id: one, action: test.journal, with: {}}
    - {id: two, action: test.journal, with: {}}
    - {id: three, action: test.journal, with: {}}
    - {id: four, action: test.journal, with: {}}
    - {id: five, action: test.journal, with: {}}
"""


class AnyParams(Params):
    model_config = ConfigDict(frozen=True, extra="allow")


def journal_actions(journal: Path) -> ActionSpec:
    def line(context: ActionContext) -> str:
        return f"{context.execution}/{context.step}\n"

    async def run(params: AnyParams, context: ActionContext) -> dict[str, Any]:
        with journal.open("a") as handle:
            handle.write(line(context))
            handle.flush()
            os.fsync(handle.fileno())
        return {"written": True}

    async def check(params: AnyParams, context: ActionContext) -> CheckResult:
        text = journal.read_text() if journal.exists() else ""
        return (
            CheckResult.DONE
            if line(context) in text.splitlines(keepends=True)
            else CheckResult.NOT_DONE
        )

    return ActionSpec(
        "test.journal",
        "append to a journal",
        AnyParams,
        mutating=True,
        idempotent=False,
        dry_run=False,
        effect="write",
        run=run,
        check=check,
    )


async def main(database: str, journal: str, mode: str, count: int) -> None:
    registry = catalogue()
    registry.register(journal_actions(Path(journal)))
    files = {"journaled.yaml": WORKFLOW}
    outcome = revision.build([MemoryTree(files)], registry=registry)
    assert outcome.revision is not None, outcome.problems
    store = SqliteStore(database)
    await store.open()
    # Creating runs nothing (sequential mode, never driven): all N exist before the first kill.
    engine = Engine(store, registry=registry, sequential=mode == "create")
    await engine.add_revision("r1", outcome.revision, files)
    if mode == "create":
        for _ in range(count):
            await engine.start(revision="r1", workflow="journaled", params={})
        await store.close()
        return
    await engine.recover()
    while await store.unfinished():
        await asyncio.sleep(0.02)
        await engine.wake_due()
    await engine.close()
    await store.close()


if __name__ == "__main__":
    database, journal, mode = sys.argv[1:4]
    asyncio.run(main(database, journal, mode, int(sys.argv[4]) if len(sys.argv) > 4 else 0))
