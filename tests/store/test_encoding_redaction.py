"""The store's encoder is where redaction happens for everything recorded: no common encoding of
a known secret, no URL credentials and no token shape reach the SQLite file or a memory store."""

from __future__ import annotations

import asyncio
import base64
import json
import string
from pathlib import Path
from typing import Any
from urllib.parse import quote

from hypothesis import given
from hypothesis import strategies as st

from reconciler import redaction
from reconciler.store import encoding
from reconciler.store.base import Batch
from reconciler.store.sqlite import SqliteStore

SECRET = "Sup3r-s3cret/Tok\u00e9n+42&m\u00f6re"


def echoes(secret: str) -> list[str]:
    raw = secret.encode()
    # A secret of 12 characters or more is hidden by its halves too (one cut short).
    halves = [secret[: -(-len(secret) // 2) + 1]] if len(secret) >= 12 else []
    return [
        *halves,
        secret,
        secret.upper(),
        json.dumps(secret),
        quote(secret, safe=""),
        base64.b64encode(raw).decode(),
        base64.urlsafe_b64encode(raw).decode(),
        raw.hex().upper(),
    ]


def strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in (*strings(k), *strings(v))]
    if isinstance(value, list):
        return [s for v in value for s in strings(v)]
    return []


def readable(secret: str, text: str) -> list[str]:
    return [f for f in echoes(secret) if f.lower() in text.lower() and len(f) >= 4]


def record_of(secret: str) -> dict[str, Any]:
    forms = echoes(secret)
    return {
        "key": "ask",
        "output": {
            "body": json.dumps({"echo": forms}),  # JSON inside a string: escaped twice
            "json": {"echo": forms, forms[0]: "as a key"},
            "lines": "\n".join(forms),
        },
        "error": f"server said {forms[1]}",
        "data": {"input": {"url": "postgres://app:db-pass-9876@db/app"}},
    }


def test_a_record_holding_a_secret_in_many_encodings_is_stored_without_any(
    tmp_path: Path,
) -> None:
    redaction.register(SECRET)
    store = SqliteStore(tmp_path / "store.db")

    async def go() -> None:
        await store.open()
        try:
            header = {"id": "e1", "status": "running", "workflow": "w", "created_at": "t"}
            batch = Batch(
                executions=[{**header, "params": {"token": SECRET}}],
                nodes=[("e1", {**record_of(SECRET), "run": 1, "phase": "succeeded"})],
                timeline=[("e1", {"kind": "log", "message": f"the token is {SECRET}"})],
            )
            await store.save(batch)
        finally:
            await store.close()

    asyncio.run(go())
    stored = b"".join(p.read_bytes() for p in tmp_path.glob("store.db*"))
    text = stored.decode("utf-8", "replace")
    assert readable(SECRET, text) == []
    for escaped in (json.dumps(SECRET)[1:-1], json.dumps(SECRET, ensure_ascii=False)[1:-1]):
        assert escaped not in text
    assert "db-pass-9876" not in text


alphabet = string.ascii_letters + string.digits + string.punctuation + "\u00e9\u00c9\u00fc"


@given(secret=st.text(alphabet=alphabet, min_size=8, max_size=40))
def test_no_common_encoding_of_a_secret_survives_the_store_encoder(secret: str) -> None:
    redaction.reset()
    redaction.register(secret)
    stored = json.loads(encoding.dumps(record_of(secret)))
    for text in strings(stored):
        assert readable(secret, text) == [], text
