"""URL templates: each value percent-encoded for the part of the URL it lands in, the written
scheme and host kept, a whole-URL expression left alone (expressions/urls.py)."""

from __future__ import annotations

from typing import Any

import pytest

from reconciler.errors import ExpressionError
from reconciler.expressions import urls
from reconciler.expressions.compiler import Activation, Scope
from reconciler.expressions.templates import compile_string, render, render_known, url_template

HOSTILE = "../../admin?x=1#frag&y=2 z@evil.example/"


def rendered(template: str, **params: Any) -> str:
    node = url_template(compile_string(template, Scope.STEP))
    return str(render(node, Activation(Scope.STEP, {"params": params})))


def test_a_value_is_encoded_for_the_path_the_query_and_the_fragment() -> None:
    assert rendered("https://api.example/items/{{ params.v }}", v=HOSTILE) == (
        "https://api.example/items/..%2F..%2Fadmin%3Fx%3D1%23frag%26y%3D2%20z%40evil.example%2F"
    )
    assert rendered("https://api.example/q?a={{ params.v }}&b=1", v="x&admin=1") == (
        "https://api.example/q?a=x%26admin%3D1&b=1"
    )
    assert rendered("https://api.example/#{{ params.v }}", v="a b#c") == (
        "https://api.example/#a%20b%23c"
    )


def test_a_value_in_the_authority_cannot_end_it() -> None:
    assert rendered("https://{{ params.v }}.api.example/x", v="eu:1@evil/") == (
        "https://eu:1%40evil%2F.api.example/x"
    )


def test_literal_urls_and_whole_url_expressions_are_left_as_they_are() -> None:
    assert url_template("https://api.example/a/../b") == "https://api.example/a/../b"
    whole = compile_string("{{ params.v }}", Scope.STEP)
    assert url_template(whole) is whole
    assert render(whole, Activation(Scope.STEP, {"params": {"v": "http://x/a/../b?c"}})) == (
        "http://x/a/../b?c"
    )


def test_a_leading_value_is_the_base_and_later_values_are_encoded_after_it() -> None:
    assert rendered("{{ params.b }}/items/{{ params.v }}", b="http://h/v1?", v="a/b") == (
        "http://h/v1?/items/a%2Fb"  # the base opened the query: the value is a query value
    )


@pytest.mark.parametrize("value", [".", ".."])
def test_a_value_that_makes_a_dot_segment_is_refused_naming_the_parameter(value: str) -> None:
    with pytest.raises(ExpressionError, match=r"^url: the value of `params.v`, '\.\.?', makes"):
        rendered("https://api.example/items/{{ params.v }}/x", v=value)
    assert rendered("https://api.example/items/{{ params.v }}.json", v=value).endswith(".json")


def test_plan_shows_unknown_values_as_written_and_encodes_the_known_ones() -> None:
    node = url_template(
        compile_string("https://h/{{ params.v }}/{{ steps.a.output.id }}", Scope.STEP)
    )
    text, complete = render_known(
        node, Activation(Scope.STEP, {"params": {"v": "a b"}}), lambda e: "steps" not in e.source
    )
    assert (text, complete) == ("https://h/a%20b/{{ steps.a.output.id }}", False)


def test_the_rendered_url_must_keep_the_written_scheme_and_host() -> None:
    written = urls.written("https://user:pw@API.example:8443/items/")
    assert written == urls.Written("https", "api.example:8443")
    urls.check("url", "https://api.example:8443/items/x", written)
    with pytest.raises(urls.Escaped, match=r"^url: the rendered URL has scheme 'http', not"):
        urls.check("url", "http://api.example:8443/items/x", written)
    with pytest.raises(urls.Escaped) as moved:
        urls.check("url", "https://" + "evil" * 100 + ".example/x", written)
    message = str(moved.value)
    assert message.startswith("url: the rendered URL has host 'evilevil") and "…" in message
    assert len(message) < 250 and "pw" not in message
