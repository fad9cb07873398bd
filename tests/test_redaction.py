"""reconciler.redaction: a known secret in any common encoding, URL credentials and token shapes
never survive; what is not secret is left alone."""

from __future__ import annotations

import base64
import json
import string
from collections.abc import Iterator
from urllib.parse import quote, quote_plus

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reconciler import redaction
from reconciler.engine.secrets import SecretProvider
from reconciler.errors import sanitize

SECRET = "s3cr3t/Value+with&chars=42"


@pytest.fixture(autouse=True)
def fresh_registry() -> Iterator[None]:
    redaction.reset()
    yield
    redaction.reset()


def encodings(secret: str) -> dict[str, str]:
    raw = secret.encode()
    return {
        "exact": secret,
        "upper": secret.upper(),
        "lower": secret.lower(),
        "json": json.dumps(secret)[1:-1],
        "url": quote(secret, safe=""),
        "url-lower": quote(secret, safe="").lower(),
        "url-plus": quote_plus(secret),
        "url-path": quote(secret),
        "base64": base64.b64encode(raw).decode(),
        "base64url": base64.urlsafe_b64encode(raw).decode().rstrip("="),
        "hex": raw.hex(),
        "HEX": raw.hex().upper(),
    }


def visible(secret: str, text: str) -> list[str]:
    """The encodings of ``secret`` still readable in ``text`` (case-insensitively where the
    encoding is; the base64 of a secret inside a longer base64 text at any alignment)."""
    found = [
        name
        for name, form in encodings(secret).items()
        if (form in text if name.startswith("base64") else form.lower() in text.lower())
    ]
    for offset in range(3):
        padded = base64.b64encode(b"x" * offset + secret.encode()).decode()
        core = padded[-(-8 * offset // 6) : (8 * (offset + len(secret))) // 6]
        if core in text:
            found.append(f"base64@{offset}")
    return found


@pytest.mark.parametrize("name", sorted(encodings(SECRET)))
def test_a_registered_secret_is_hidden_in_each_common_encoding(name: str) -> None:
    redaction.register(SECRET)
    form = encodings(SECRET)[name]
    assert redaction.text(f"got <{form}> back") == "got <***> back"


def test_a_secret_inside_the_base64_of_a_longer_text_is_hidden() -> None:
    redaction.register(SECRET)
    for user in ("a", "ab", "abc", "user"):
        basic = base64.b64encode(f"{user}:{SECRET}".encode()).decode()
        assert visible(SECRET, redaction.text(f"Basic {basic}")) == []


def test_a_secret_cut_short_or_split_in_two_shows_at_most_half_of_itself() -> None:
    redaction.register(SECRET)
    half = len(SECRET) // 2
    assert redaction.text(f"out: {SECRET[:-3]}") == "out: ***"  # truncated output
    assert redaction.text(f"tail: {SECRET[3:]}") == "tail: ***"
    first, second = SECRET[: half + 1], SECRET[half + 1 :]
    text = redaction.text(f"{first}\n{second}")
    assert first not in text and SECRET not in text


alphabet = string.ascii_letters + string.digits + string.punctuation
secrets = st.text(alphabet=alphabet, min_size=8, max_size=48)
surroundings = st.text(alphabet=alphabet + " \n", max_size=30)


@given(secret=secrets, before=surroundings, after=surroundings)
def test_no_common_encoding_of_a_secret_survives_redaction(
    secret: str, before: str, after: str
) -> None:
    redaction.reset()
    redaction.register(secret)
    for name, form in encodings(secret).items():
        text = redaction.text(before + form + after)
        assert visible(secret, text) == [], (name, form, text)
    nested = redaction.redact({"k": [{secret: before + secret + after}]})
    assert visible(secret, json.dumps(nested)) == []


def test_url_credentials_and_token_shapes_are_hidden_without_any_secret_known() -> None:
    cases = {
        "postgres://app:hunter2@db:5432/app": "postgres://***@db:5432/app",
        "Authorization: Bearer abc.def-ghi": "Authorization: Bearer ***",
        "Authorization: Basic dXNlcjpwYXNz": "Authorization: Basic ***",
        "ghp_" + "a" * 36: "***",
        "xoxb-1234567890-abcdefghij": "***",
        "https://hooks.slack.com/services/T000/B000/XXXXXXXX": "https://hooks.slack.com/services/***",
        "AKIAABCDEFGHIJKLMNOP": "***",
        "sk-ant-api03-" + "a" * 30: "***",
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl": "***",
        "-----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY-----": "***",
    }
    for given_text, expected in cases.items():
        assert redaction.text(given_text) == expected
        assert sanitize(given_text) == expected


def test_ordinary_text_is_left_alone() -> None:
    redaction.register(SECRET)
    text = (
        "restarted pod web-1 in prod; see https://grafana.example/d/abc?var=1; "
        "scaled sk-ingest-worker-deployment-7f9c to 3"
    )
    assert redaction.text(text) == text
    record = {"a": [1, 2.5, None, True], "b": {"c": text}}
    assert redaction.redact(record) is record  # nothing changed, nothing copied


def test_the_provider_redacts_nested_values_and_keys_even_before_any_secret_is_read() -> None:
    provider = SecretProvider()
    record = {"db": {"url": ["postgres://u:p@h/x"]}, "postgres://u:p@h": 1}
    assert provider.redact(record) == {"db": {"url": ["postgres://***@h/x"]}, "postgres://***@h": 1}


def test_a_secret_read_through_the_provider_is_hidden_by_every_redaction_path() -> None:
    provider = SecretProvider(values={"api": {"token": SECRET}})
    assert provider.read("api", "token") == SECRET
    upper = SECRET.upper()
    assert provider.redact({"x": [upper]}) == {"x": ["***"]}
    assert sanitize(f"error: {upper}") == "error: ***"
    assert redaction.redact((upper,)) == ["***"]


def test_the_log_processor_redacts_every_field_and_the_traceback() -> None:
    redaction.register(SECRET)
    event = {
        "event": f"called {quote(SECRET, safe='')}",
        "fields": {"body": base64.b64encode(SECRET.encode()).decode()},
        "exception": f"Traceback ...\nValueError: {SECRET}",
    }
    cleaned = redaction.processor(None, "info", event)
    assert visible(SECRET, json.dumps(cleaned)) == []
    assert cleaned["event"] == "called ***"
