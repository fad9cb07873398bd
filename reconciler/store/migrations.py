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
]
