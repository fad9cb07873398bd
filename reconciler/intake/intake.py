"""From a delivered alert to an execution, or to a recorded decision saying why not.

Called by the HTTP API (:meth:`Intake.receive`: durable before the webhook answers 2xx) and run
by the service (:meth:`Intake.run`: one worker evaluates stored alerts in the order they came,
so concurrent deliveries of the same alert cannot race). Alerts received before any revision is
active wait in the store and are evaluated once one is.

For each firing alert and each policy that matches it, in priority order: a policy that already
started (or queued) an execution for this alert (fingerprint and startsAt) starts nothing more;
otherwise the kill switch, then the policy's guardrails (open execution per target, cooldown,
max_concurrent, the circuit of max_executions, require_approval) decide, and the decision is
recorded either way. A "started" decision commits in the same transaction as the execution it
creates: a crash leaves both or neither, never a second start. A resolved alert cancels what it started under policies with
``on_resolved: cancel``; its resolution stays on the stored alert.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import structlog

from reconciler.definitions.alert import Alert
from reconciler.definitions.policy import PolicyGuardrails
from reconciler.engine.clock import Clock, SystemClock
from reconciler.engine.engine import Engine
from reconciler.engine.state import iso, parse_iso
from reconciler.intake import records
from reconciler.intake.load import Load
from reconciler.matching.admission import Past, admit
from reconciler.matching.matcher import Match, Matcher
from reconciler.metrics import Metrics
from reconciler.store.base import FINAL, Batch, Store
from reconciler.validation.compiled import Revision

log = structlog.get_logger("reconciler.intake")
PAGE = 500  # alerts evaluated per pass: a bulk delivery takes a few round trips, not dozens
TURN = 0.005  # seconds of matching at most before the event loop serves others (one alert's
# evaluation is bounded by the compile-time estimate, reconciler/expressions/cost.py)


@dataclass(frozen=True)
class Active:
    """The revision alerts are matched against."""

    name: str
    revision: Revision
    matcher: Matcher


@dataclass(frozen=True)
class Receipt:
    received: int
    repeats: int  # re-deliveries of alerts already stored with the same status


class Intake:
    def __init__(
        self,
        store: Store,
        engine: Engine,
        metrics: Metrics | None = None,
        clock: Clock | None = None,
        *,
        dry_run: bool = False,
        load: Load | None = None,
        turn: float = TURN,
    ) -> None:
        self.store = store
        self.load = load or Load()  # alerts queued, bodies in flight, and their bounds
        self.dry_run = dry_run  # the service's --dry-run: every execution in dry-run mode
        self.engine = engine
        self.metrics = metrics or Metrics()
        self.clock = clock or SystemClock()
        self.active: Active | None = None
        self.turn = turn  # seconds of matching before the event loop gets a turn
        self._wake = asyncio.Event()

    def activate(self, name: str, revision: Revision) -> None:
        """Match from now on against this revision (stored alerts waiting for one go first)."""
        self.active = Active(name, revision, Matcher(revision))
        self.wake()

    def wake(self) -> None:
        """Look at the store for pending alerts now."""
        self._wake.set()

    # -- receiving -----------------------------------------------------------------------------
    async def receive(self, alerts: list[Alert]) -> Receipt:
        """Store a delivery; durable when this returns. Evaluation happens in :meth:`run`.

        Raises :class:`~reconciler.errors.Overloaded` (nothing stored) when the alerts queued
        would pass ``max_queued_alerts``."""
        now = self.clock.now()
        # No startsAt (amtool, a hand-made alert) is stored as None: the store decides, in the
        # write itself, which firing it continues (or that it starts now), so concurrent
        # deliveries of it cannot each start a record of their own.
        stored = records.to_records(alerts)
        with self.load.admitting(len(stored)):
            repeats = await self.store.receive_alerts(stored, iso(now))
        for status, count in Counter(record["status"] for record in stored).items():
            self.metrics.alerts_received.labels(status=status).inc(count)
        self.wake()
        return Receipt(len(stored), sum(repeats))

    # -- evaluating ----------------------------------------------------------------------------
    async def run(self) -> None:
        """Evaluate stored alerts whenever some arrive or a revision is activated."""
        while True:
            await self._wake.wait()
            self._wake.clear()
            try:
                await self.drain()
            except Exception:  # a bad alert, or the store failing, never stops the intake
                log.exception("intake pass failed; the alerts stay pending")
                await asyncio.sleep(1)
                self._wake.set()

    async def drain(self) -> int:
        """Evaluate every pending alert (none while no revision is active). Returns how many."""
        done = 0
        while self.active is not None:
            page = await self.store.pending_alerts(PAGE)
            if not page:
                self.load.drained()
                return done
            await self._evaluate_page(page, self.active)
            self.load.evaluated(len(page))
            done += len(page)
        return done

    async def _evaluate_page(self, page: list[dict[str, Any]], active: Active) -> None:
        """Decide for a page of alerts in memory, in order; then write. Each start commits with
        its decision; the other decisions and the page's end commit together. A page takes a
        few round trips to the store whatever its size, so a backlog drains in big pages."""
        now = self.clock.now()
        # Only an alert delivered before can have decisions (the common case is a first one).
        redelivered = [(r["fingerprint"], r["starts_at"]) for r in page if r["deliveries"] > 1]
        earlier = await self.store.decisions_of(redelivered) if redelivered else []
        started = {_key(d, d["policy"]): d for d in earlier if d["decision"] in STARTING}
        history = _History(self.store, now)
        starts: list[tuple[dict[str, Any], Alert, Match, dict[str, Any]]] = []
        cancels: list[tuple[dict[str, Any], Match, dict[str, Any]]] = []
        decided: list[dict[str, Any]] = []
        turn = time.monotonic()
        for record in page:
            if not active.matcher.could_match(record["labels"].get("alertname", "")):
                continue  # no policy for it: evaluated, nothing to decide
            alert = records.from_record(record)
            result = active.matcher.match(alert, now)
            if time.monotonic() - turn >= self.turn:
                # The library holds the GIL for a whole evaluation (a worker thread would not
                # free the loop): give the webhook and API a turn between alerts instead.
                await asyncio.sleep(0)
                turn = time.monotonic()
            for policy, error in result.errors:
                log.warning("policy match failed", policy=policy, alert=alert.name, error=error)
            if alert.status == "firing":  # too large to evaluate: say so, policy by policy
                decided.extend(
                    self._decide(record, m, "error", m.error or "", revision=active.name)
                    for m in result.unevaluated
                )
            for match in result.matches:
                prior = started.get(_key(record, match.policy.name))
                if alert.status == "resolved":
                    if prior is not None and match.policy.definition.spec.on_resolved == "cancel":
                        cancels.append((record, match, prior))
                    continue
                self.metrics.alerts_matched.labels(policy=match.policy.name).inc()
                if prior is not None:  # a re-delivery: it already started (or queued) one
                    self.metrics.alerts_deduplicated.inc()
                    continue
                decision = await self._firing(record, match, history, active)
                if decision["decision"] in STARTING:
                    starts.append((record, alert, match, decision))
                    started[_key(record, match.policy.name)] = decision
                else:
                    decided.append(decision)
        for record, match, prior in cancels:
            cancelled = await self._resolved(record, match, prior)
            if cancelled is not None:
                decided.append(cancelled)
        # One group commit for the page: each start with its decision and its alert's "done"
        # mark, and the other decisions with the other alerts' marks.
        starting = {_done(record) for record, _, _, _ in starts}
        others = [_done(record) for record in page if _done(record) not in starting]
        await asyncio.gather(
            *(self._start(alert, m, d, _done(record)) for record, alert, m, d in starts),
            self.store.save(Batch(decisions=decided, alerts_done=others)),
        )

    async def _firing(
        self, record: dict[str, Any], match: Match, history: _History, active: Active
    ) -> dict[str, Any]:
        if match.error is not None:
            return self._decide(record, match, "error", match.error, revision=active.name)
        if self.engine.suspended:
            return self._decide(
                record, match, "refused", self.engine.suspended, revision=active.name
            )
        guardrails = match.policy.definition.spec.guardrails
        past = await history.of(match.policy.name, _lookback(guardrails))
        admission = admit(guardrails, match.target, history.now, past)
        if admission.decision == "refuse":
            return self._decide(record, match, "refused", admission.reason, revision=active.name)
        execution = self.engine.new_id(match.workflow)
        starting = "awaiting_approval" if admission.decision == "approve" else "started"
        past.append(Past(match.target, history.now, False, execution, "pending"))  # rest of page
        return self._decide(
            record, match, starting, admission.reason, revision=active.name, execution=execution
        )

    async def _start(
        self, alert: Alert, match: Match, decision: dict[str, Any], done: tuple[str, str, int]
    ) -> None:
        spec = match.policy.definition.spec
        await self.engine.start(
            revision=decision["revision"],
            workflow=match.workflow,
            params=match.params,
            alert=alert.as_cel(),
            policy=match.policy.name,
            target=match.target,
            mode="dry-run" if self.dry_run else spec.mode,
            gate=decision["reason"] if decision["decision"] == "awaiting_approval" else None,
            execution_id=decision["execution"],
            record=Batch(decisions=[decision], alerts_done=[done]),
        )
        self.metrics.executions_started.labels(workflow=match.workflow).inc()

    async def _resolved(
        self, record: dict[str, Any], match: Match, started: dict[str, Any]
    ) -> dict[str, Any] | None:
        stored = await self.store.load(started["execution"])
        if stored is None or stored.header["status"] in FINAL:
            return None
        await self.engine.cancel(started["execution"], reason="alert resolved")
        return self._decide(
            record,
            match,
            "cancelled",
            "the alert resolved (on_resolved: cancel)",
            revision=started.get("revision", ""),
            execution=started["execution"],
        )

    def _decide(
        self,
        record: dict[str, Any],
        match: Match,
        decision: str,
        reason: str,
        *,
        revision: str,
        execution: str | None = None,
    ) -> dict[str, Any]:
        """A decision, logged and counted; the caller has it stored."""
        entry = {
            "at": iso(self.clock.now()),
            "fingerprint": record["fingerprint"],
            "starts_at": record["starts_at"],
            "alertname": record["labels"].get("alertname", ""),
            "policy": match.policy.name,
            "workflow": match.workflow,
            "target": match.target,
            "decision": decision,
            "reason": reason,
            "execution": execution,
            "revision": revision,
        }
        self.metrics.decisions.labels(policy=match.policy.name, decision=decision).inc()
        log.info(
            "decision",
            alert=entry["alertname"],
            fingerprint=entry["fingerprint"],
            policy=entry["policy"],
            target=entry["target"],
            decision=decision,
            reason=reason,
            execution=execution,
        )
        return entry


class _History:
    """Earlier executions of each policy, read once per page and extended by its starts."""

    def __init__(self, store: Store, now: datetime) -> None:
        self.store = store
        self.now = now
        self._by_policy: dict[str, list[Past]] = {}

    async def of(self, policy: str, lookback: timedelta) -> list[Past]:
        if policy not in self._by_policy:
            rows = await self.store.policy_history(policy, iso(self.now - lookback))
            self._by_policy[policy] = [
                Past(
                    h["target"],
                    parse_iso(h["created_at"]),
                    h["status"] in FINAL,
                    h["id"],
                    h["status"],
                )
                for h in rows
            ]
        return self._by_policy[policy]


def _key(record: dict[str, Any], policy: str) -> tuple[str, str, str]:
    return (record["fingerprint"], record["starts_at"], policy)


def _done(record: dict[str, Any]) -> tuple[str, str, int]:
    """An alert's "evaluated" mark (void if it was delivered again meanwhile)."""
    return (record["fingerprint"], record["starts_at"], record["deliveries"])


STARTING = ("started", "awaiting_approval")


def _lookback(guardrails: PolicyGuardrails) -> timedelta:
    """How far back admission must see earlier executions of a policy."""
    windows = [timedelta(0)]
    if guardrails.cooldown is not None:
        windows.append(guardrails.cooldown)
    if guardrails.max_executions is not None:
        windows.append(guardrails.max_executions.per)
    return max(windows)
