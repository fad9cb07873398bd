"""What validating a hostile or invalid revision leaves behind: nothing of its own once rejected,
and no user value echoed back whole (the security issue's findings 3 and 7)."""

from __future__ import annotations

import weakref

from reconciler.definitions.loader import MemoryTree
from reconciler.validation import revision

WORKFLOW = b"""\
apiVersion: reconciler.dev/v1alpha1
kind: Workflow
metadata:
  name: %s
spec:
  steps:
    - id: log
      action: core.log
      with: {message: hello}
"""

POLICY = b"""\
apiVersion: reconciler.dev/v1alpha1
kind: Policy
metadata:
  name: page
spec:
  match: alert.labels.alertname == "Down"
  workflow: %s
"""


def test_an_invalid_revision_keeps_nothing_of_its_own_once_rejected() -> None:
    good = {"wf.yaml": WORKFLOW % b"restart", "policy.yaml": POLICY % b"restart"}
    active = revision.build([MemoryTree(good)])
    assert active.revision is not None
    bad = {**good, "new.yaml": WORKFLOW % b"added", "policy.yaml": POLICY % b"missing"}

    rejected = revision.build([MemoryTree(bad)])

    assert rejected.revision is None
    new = rejected.repository.workflows["added"]
    document, definition = weakref.ref(new.document), weakref.ref(new.definition)
    shared = weakref.ref(rejected.repository.workflows["restart"].definition)
    del new, rejected
    assert document() is None
    assert definition() is None
    assert shared() is not None  # the active revision's unchanged file is still in use


def test_a_500_kb_workflow_name_is_cut_short_in_validation_problems() -> None:
    name = b"r" * 500_000
    files = {"wf.yaml": WORKFLOW % b"restart", "policy.yaml": POLICY % name}

    outcome = revision.build([MemoryTree(files)])

    [problem] = outcome.problems
    assert problem.field == "spec.workflow"
    assert problem.message.startswith("unknown workflow 'rrrr")
    assert "characters cut" in problem.message
    assert len(str(problem)) < 1_100
