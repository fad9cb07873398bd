"""Benchmark: match one alert against 1,000 policies (target <= 5 ms).

Two repositories: policies whose match starts with an alert name (the usual case: the index
narrows them), and policies the index cannot narrow (every one is evaluated: the worst case).
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from generate import policies
from stats import describe, measure

from reconciler.definitions.alert import Alert
from reconciler.definitions.loader import MemoryTree
from reconciler.matching.matcher import Matcher
from reconciler.validation import revision

ALERT = Alert.model_validate(
    {
        "labels": {
            "alertname": "KubePodCrashLooping",
            "namespace": "team-42",
            "pod": "web-7f9c-abcde",
            "container": "web",
            "severity": "warning",
            "job": "kube-state-metrics",
        },
        "annotations": {"summary": "Pod is crash looping."},
        "startsAt": "2026-11-21T10:00:00Z",
    }
)


def main() -> None:
    now = datetime.now(UTC)
    for indexable in (True, False):
        outcome = revision.build([MemoryTree(policies(1000, indexable=indexable))])
        assert outcome.revision is not None, outcome.problems[:3]
        matcher = Matcher(outcome.revision)
        result = matcher.match(ALERT, now)
        label = "indexed by alert name" if indexable else "not indexable (all evaluated)"
        print(
            f"1,000 policies, {label}: {result.evaluated} evaluated, {len(result.matches)} matched"
        )
        timings = measure(lambda m=matcher: m.match(ALERT, now), repeat=200)
        print(describe("  match one alert", timings, target=5))


if __name__ == "__main__":
    main()
