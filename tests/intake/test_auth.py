"""API and webhook token files: named tokens, clear errors naming the file and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.app.auth import api_tokens, webhook_token
from reconciler.errors import InputError


def test_named_tokens_identify_their_holder_and_nothing_else(tmp_path: Path) -> None:
    path = tmp_path / "tokens"
    path.write_text("# operators\nalice: a-token\n\nbob:b-token\n")
    tokens = api_tokens(str(path))
    assert tokens.who("Bearer a-token") == "alice"
    assert tokens.who("bearer b-token") == "bob"
    assert tokens.who("Bearer c-token") is None
    assert tokens.who("Basic a-token") is None
    assert tokens.who(None) is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("alice a-token\n", "tokens:1: expected `name: token`"),
        ("alice: a\nalice: b\n", "tokens:2: name 'alice' repeats"),
        ("# nothing\n", "no tokens in the file"),
    ],
)
def test_a_bad_token_file_is_refused_with_its_line(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "tokens"
    path.write_text(text)
    with pytest.raises(InputError, match=message):
        api_tokens(str(path))


def test_the_webhook_token_is_the_whole_file_and_must_not_be_empty(tmp_path: Path) -> None:
    path = tmp_path / "webhook"
    path.write_text("  s3cret\n")
    assert webhook_token(str(path)).who("Bearer s3cret") == "alertmanager"
    path.write_text("\n")
    with pytest.raises(InputError, match="the file is empty"):
        webhook_token(str(path))
    with pytest.raises(InputError, match="cannot read it"):
        webhook_token(str(tmp_path / "missing"))
