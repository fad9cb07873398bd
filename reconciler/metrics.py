"""The service's Prometheus metrics: one place that names them all (names are a contract).

Every name starts with ``reconciler_`` and, once released, keeps its meaning and labels. Each
service builds its own :class:`Metrics` on its own registry (tests run several services in one
process); the intake, the reconcile loop and the engine's hooks record into it, and
``GET /metrics`` exposes the registry. Labels are bounded: policy, workflow, action and
decision names come from the repository, never from alert labels.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

# `*_created` series double the output and no dashboard here reads them.
disable_created_metrics()  # type: ignore[no-untyped-call]

STEP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900)


class Metrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.alerts_received = Counter(
            "reconciler_alerts_received",
            "Alerts received on the webhook, by status (firing, resolved).",
            ["status"],
            registry=r,
        )
        self.webhook_refused = Counter(
            "reconciler_webhook_refused",
            "Webhook deliveries answered 503 (Alertmanager sends them again), by reason: "
            "alerts_queued, deliveries_in_flight, bytes_in_flight (the intake's bounds), store "
            "(it failed).",
            ["reason"],
            registry=r,
        )
        self.webhook_rejected = Counter(
            "reconciler_webhook_rejected",
            "Webhook deliveries answered with an error, by status: 401 (no or wrong token), 413 "
            "(over 1 MiB), 415 (not JSON), 421 (a foreign Host), 422 (not an alert payload), 503 "
            "(not stored now: reconciler_webhook_refused_total says why).",
            ["status"],
            registry=r,
        )
        self.webhook_abandoned = Counter(
            "reconciler_webhook_abandoned",
            "Webhook deliveries dropped unstored because their client had disconnected.",
            registry=r,
        )
        self.alerts_queued = Gauge(
            "reconciler_alerts_queued",
            "Alerts received and not yet evaluated (bounded by max_queued_alerts).",
            registry=r,
        )
        self.webhook_bytes = Gauge(
            "reconciler_webhook_bytes_in_flight",
            "Bytes of webhook bodies being read, parsed and stored (bounded by "
            "max_bytes_in_flight).",
            registry=r,
        )
        self.alerts_deduplicated = Counter(
            "reconciler_alerts_deduplicated",
            "Re-deliveries of an alert that had already started (or queued) an execution.",
            registry=r,
        )
        self.alerts_matched = Counter(
            "reconciler_alerts_matched",
            "Policy matches of firing alerts, by policy.",
            ["policy"],
            registry=r,
        )
        self.decisions = Counter(
            "reconciler_decisions",
            "What the intake decided for a match (started, awaiting_approval, refused, error, "
            "cancelled), by policy.",
            ["policy", "decision"],
            registry=r,
        )
        self.executions_started = Counter(
            "reconciler_executions_started",
            "Executions started, by workflow.",
            ["workflow"],
            registry=r,
        )
        self.executions = Gauge(
            "reconciler_executions",
            "Executions in the store, by status.",
            ["status"],
            registry=r,
        )
        self.executions_overdue = Gauge(
            "reconciler_executions_overdue",
            "Unfinished executions past their workflow timeout by more than a minute: the engine "
            "should have ended them (it is stuck, or cannot write its store).",
            registry=r,
        )
        self.executions_pruned = Counter(
            "reconciler_executions_pruned",
            "Finished executions deleted by retention (--retention), with their steps and "
            "timelines.",
            registry=r,
        )
        self.engine_errors = Counter(
            "reconciler_engine_errors",
            "Unexpected exceptions (bugs) the engine caught, by where (step, driver, guardrail, "
            "recovery, wake); each failed the step or execution it hit.",
            ["where"],
            registry=r,
        )
        self.step_duration = Histogram(
            "reconciler_step_duration_seconds",
            "Duration of action calls, by action and outcome (succeeded, failed).",
            ["action", "outcome"],
            buckets=STEP_BUCKETS,
            registry=r,
        )
        self.reconcile_duration = Histogram(
            "reconciler_reconcile_duration_seconds",
            "Duration of a pass of the Git reconcile loop, by result (unchanged, applied, failed).",
            ["result"],
            registry=r,
        )
        self.source_rewinds = Counter(
            "reconciler_source_rewinds",
            "Heads of the Git branch that did not descend from the last adopted commit (a "
            "force-push back or aside), by outcome: refused, or allowed (--allow-rewind).",
            ["outcome"],
            registry=r,
        )
        self.revision_info = Gauge(
            "reconciler_revision_info",
            "The active revision (value 1, the revision as a label).",
            ["revision"],
            registry=r,
        )
        self.last_sync = Gauge(
            "reconciler_last_sync_timestamp_seconds",
            "When the reconcile loop last finished a pass without error (Unix time).",
            registry=r,
        )
        self.ready = Gauge(
            "reconciler_ready",
            "1 when a revision is active and the last reconcile succeeded, else 0.",
            registry=r,
        )
        self.suspended = Gauge(
            "reconciler_suspended", "1 while the kill switch is on, else 0.", registry=r
        )

    def watch_store(self, health: Callable[[], tuple[int, bool]]) -> None:
        """Expose the store's write health, read when scraped: ``health()`` gives the failed
        write attempts so far and whether writes work now."""
        self.registry.register(_StoreHealth(health))

    def set_revision(self, revision: str) -> None:
        self.revision_info.clear()
        self.revision_info.labels(revision=revision).set(1)


class _StoreHealth(Collector):
    """The store keeps its own counts (on its writer thread); this reads them at scrape time."""

    def __init__(self, health: Callable[[], tuple[int, bool]]) -> None:
        self.health = health

    def collect(self) -> Iterator[Metric]:
        failures, writable = self.health()
        yield CounterMetricFamily(
            "reconciler_store_write_failures",
            "Store writes that failed (a full disk, an I/O error), retries and probes included.",
            value=failures,
        )
        yield GaugeMetricFamily(
            "reconciler_store_writable",
            "1 while the store can write, 0 while its writes fail (and are retried).",
            value=1 if writable else 0,
        )
