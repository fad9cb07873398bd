"""The SQLite schema as an append-only list of migrations (never edit one that has shipped)."""

from __future__ import annotations

MIGRATIONS: list[str] = [
    # 1: executions, their step runs, timelines, and the revisions they use.
    """
    CREATE TABLE executions (
        id TEXT PRIMARY KEY,
        status TEXT NOT NULL,
        workflow TEXT NOT NULL,
        policy TEXT NOT NULL,
        target TEXT NOT NULL,
        parent TEXT,
        created_at TEXT NOT NULL,
        wake_at TEXT,
        header TEXT NOT NULL
    );
    CREATE INDEX executions_by_status ON executions (status, created_at);
    CREATE INDEX executions_by_wake ON executions (wake_at) WHERE wake_at IS NOT NULL;
    CREATE TABLE nodes (
        execution TEXT NOT NULL,
        key TEXT NOT NULL,
        run INTEGER NOT NULL,
        phase TEXT NOT NULL,
        wake_at TEXT,
        record TEXT NOT NULL,
        PRIMARY KEY (execution, key, run)
    );
    CREATE TABLE timeline (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        execution TEXT NOT NULL,
        entry TEXT NOT NULL
    );
    CREATE INDEX timeline_by_execution ON timeline (execution, seq);
    CREATE TABLE revisions (
        id TEXT PRIMARY KEY,
        files TEXT NOT NULL
    );
    """,
    # 2: the intake: alerts as received (one row per fingerprint and startsAt), the decisions
    # taken for them, the service's own state (the kill switch), and admission's lookups.
    """
    CREATE TABLE alerts (
        fingerprint TEXT NOT NULL,
        starts_at TEXT NOT NULL,
        status TEXT NOT NULL,
        first_received_at TEXT NOT NULL,
        received_at TEXT NOT NULL,
        deliveries INTEGER NOT NULL,
        pending INTEGER NOT NULL,
        seq INTEGER NOT NULL,
        record TEXT NOT NULL,
        PRIMARY KEY (fingerprint, starts_at)
    );
    CREATE INDEX alerts_pending ON alerts (seq) WHERE pending = 1;
    CREATE INDEX alerts_by_received ON alerts (received_at);
    CREATE TABLE decisions (
        seq INTEGER PRIMARY KEY,
        fingerprint TEXT NOT NULL,
        starts_at TEXT NOT NULL,
        policy TEXT NOT NULL,
        execution TEXT,
        decision TEXT NOT NULL,
        record TEXT NOT NULL
    );
    CREATE INDEX decisions_by_alert ON decisions (fingerprint, starts_at, policy);
    CREATE INDEX decisions_by_execution ON decisions (execution) WHERE execution IS NOT NULL;
    CREATE TABLE service_state (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );
    CREATE INDEX executions_by_policy ON executions (policy, target, created_at);
    """,
    # 3: lookups on the intake's path that must not grow with history: the newest alert (its
    # sequence), a policy's open executions, and its recent ones.
    """
    CREATE INDEX alerts_by_seq ON alerts (seq);
    CREATE INDEX executions_open_by_policy ON executions (policy)
        WHERE status NOT IN ('succeeded', 'failed', 'cancelled');
    CREATE INDEX executions_by_policy_created ON executions (policy, created_at);
    """,
]
