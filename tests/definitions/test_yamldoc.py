"""YAML 1.2 parsing with positions and limits: what the loader builds every definition on."""

from __future__ import annotations

import subprocess
import sys
import tracemalloc
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.definitions import yamldoc, yamlscan
from reconciler.definitions.yamldoc import Document, parse_documents
from reconciler.definitions.yamlscan import NodeBudget
from reconciler.errors import Problem
from reconciler.settings import LoaderLimits

DEFAULT_LIMITS = LoaderLimits()


def parse(
    text: str | bytes, limits: LoaderLimits = DEFAULT_LIMITS
) -> tuple[list[Document], list[Problem]]:
    return parse_documents(text, "repo/file.yaml", limits)


def value_of(text: str) -> Any:
    documents, problems = parse(text)
    assert problems == []
    [document] = documents
    return document.value


def only_problem(text: str | bytes, limits: LoaderLimits = DEFAULT_LIMITS) -> Problem:
    _, problems = parse(text, limits)
    [problem] = problems
    assert problem.path == "repo/file.yaml"
    return problem


# --- YAML 1.2 scalars ---------------------------------------------------------------------------


@pytest.mark.parametrize("word", ["on", "off", "yes", "no", "y", "n", "NO", "Yes", "ON", "Off"])
def test_yaml_1_1_booleans_stay_strings_in_yaml_1_2(word: str) -> None:
    assert value_of(f"value: {word}\n") == {"value": word}


def test_on_stays_a_string_in_yaml_1_2_even_as_a_key() -> None:
    assert value_of("on:\n  push: {}\n") == {"on": {"push": {}}}


@pytest.mark.parametrize(
    ("word", "expected"),
    [
        ("true", True),
        ("false", False),
        ("True", True),
        ("FALSE", False),
        ("TRUE", True),
        ("False", False),
    ],
)
def test_only_true_and_false_are_booleans(word: str, expected: bool) -> None:
    assert value_of(f"value: {word}\n") == {"value": expected}


def test_mixed_case_true_is_a_string() -> None:
    assert value_of("value: tRue\n") == {"value": "tRue"}


def test_a_sexagesimal_looking_value_stays_a_string() -> None:
    assert value_of("value: 1:30\n") == {"value": "1:30"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [("0x1f", 31), ("0o17", 15), ("42", 42), ("-7", -7), ("+12", 12), ("012", 12)],
)
def test_yaml_1_2_integers(text: str, expected: int) -> None:
    value = value_of(f"value: {text}\n")["value"]
    assert value == expected
    assert type(value) is int


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1.5", 1.5),
        ("-0.25", -0.25),
        ("1e3", 1000.0),
        (".5", 0.5),
        (".inf", float("inf")),
        ("-.inf", float("-inf")),
    ],
)
def test_yaml_1_2_floats(text: str, expected: float) -> None:
    value = value_of(f"value: {text}\n")["value"]
    assert value == expected
    assert type(value) is float


@pytest.mark.parametrize("text", ["2024-05-14", "2024-05-14T09:21:30Z", "2024-05-14 09:21:30"])
def test_timestamps_stay_strings(text: str) -> None:
    assert value_of(f"value: {text}\n") == {"value": text}


@pytest.mark.parametrize("text", ["~", "null", "Null", "NULL", ""])
def test_null_spellings(text: str) -> None:
    assert value_of(f"value: {text}\n") == {"value": None}


@pytest.mark.parametrize("text", ["0b101", "1_000", "0x", "1e", "010:20"])
def test_yaml_1_1_number_spellings_stay_strings(text: str) -> None:
    assert value_of(f"value: {text}\n") == {"value": text}


def test_quoted_scalars_are_always_strings() -> None:
    assert value_of("a: 'true'\nb: \"42\"\nc: 'null'\n") == {"a": "true", "b": "42", "c": "null"}


def test_explicit_standard_tags_are_honoured() -> None:
    assert value_of("a: !!str 42\nb: !!int '7'\nc: !!float '1'\n") == {"a": "42", "b": 7, "c": 1.0}


def test_an_explicit_bool_tag_on_a_yaml_1_1_boolean_is_refused() -> None:
    problem = only_problem("value: !!bool yes\n")
    assert "'yes' is not a YAML 1.2 boolean" in problem.message
    assert (problem.line, problem.column) == (1, 8)


def test_non_string_keys_become_strings() -> None:
    assert value_of("1: a\ntrue: b\n1.5: c\n") == {"1": "a", "true": "b", "1.5": "c"}


# --- positions ----------------------------------------------------------------------------------

NESTED = """\
apiVersion: reconciler.dev/v1alpha1
kind: Workflow
spec:
  steps:
    - id: inspect
      action: kubernetes.get
    -   id: restart
        with: {namespace: prod, names: [a, b]}
"""


def test_positions_of_keys_are_one_based_lines_and_columns() -> None:
    [document] = parse(NESTED)[0]

    assert document.positions[()] == (1, 1)
    assert document.positions[("apiVersion",)] == (1, 1)
    assert document.positions[("kind",)] == (2, 1)
    assert document.positions[("spec",)] == (3, 1)
    assert document.positions[("spec", "steps")] == (4, 3)
    assert document.positions[("spec", "steps", 0, "action")] == (6, 7)
    assert document.positions[("spec", "steps", 1, "with", "namespace")] == (8, 16)


def test_positions_of_list_items_point_at_the_item() -> None:
    [document] = parse(NESTED)[0]

    assert document.positions[("spec", "steps", 0)] == (5, 7)
    assert document.positions[("spec", "steps", 1)] == (7, 9)
    assert document.positions[("spec", "steps", 1, "with", "names", 0)] == (8, 41)
    assert document.positions[("spec", "steps", 1, "with", "names", 1)] == (8, 44)


def test_locate_falls_back_to_the_nearest_known_ancestor() -> None:
    [document] = parse(NESTED)[0]

    assert document.locate(("spec", "steps", 1, "retry", "limit")) == (7, 9)
    assert document.locate(("nowhere",)) == (1, 1)
    assert document.locate(()) == (1, 1)


def test_positions_count_lines_of_the_whole_file_across_documents() -> None:
    documents, problems = parse("a: 1\n---\n# a comment\nb:\n  c: 2\n")

    assert problems == []
    assert [d.index for d in documents] == [0, 1]
    assert documents[1].positions[("b", "c")] == (5, 3)


# --- documents ----------------------------------------------------------------------------------


def test_every_document_of_a_file_is_read_and_empty_ones_dropped() -> None:
    documents, problems = parse("---\na: 1\n---\n---\n# only a comment\n---\nb: 2\n...\n")

    assert problems == []
    assert [d.value for d in documents] == [{"a": 1}, {"b": 2}]


def test_an_empty_file_has_no_documents_and_no_problems() -> None:
    assert parse("") == ([], [])
    assert parse(b"") == ([], [])


def test_bytes_with_a_utf8_bom_and_utf16_are_read() -> None:
    assert parse(b"\xef\xbb\xbfa: 1\n")[0][0].value == {"a": 1}
    assert parse("a: 1\n".encode("utf-16"))[0][0].value == {"a": 1}


# --- limits -------------------------------------------------------------------------------------


def billion_laughs(levels: int = 9, width: int = 9) -> str:
    lines = ["a: &a [" + ", ".join(['"lol"'] * width) + "]"]
    for level in range(1, levels):
        name, previous = chr(ord("a") + level), chr(ord("a") + level - 1)
        lines.append(f"{name}: &{name} [" + ", ".join([f"*{previous}"] * width) + "]")
    return "\n".join(lines) + "\n"


def test_a_billion_laughs_document_is_refused_with_a_message_naming_aliases() -> None:
    documents, problems = parse(billion_laughs())

    assert documents == []
    [problem] = problems
    assert "aliases" in problem.message
    assert str(DEFAULT_LIMITS.max_alias_expansion) in problem.message


def test_a_billion_laughs_document_is_refused_at_the_first_alias_past_the_bound() -> None:
    # Expanded sizes: a=10, b=91, c=820, d=7381; aliases add 90, 819 and 7380 nodes by line 4,
    # and the first *d on line 5 takes the total past 10,000. The problem points at `d` (its
    # anchor or that alias): the four levels below, 9**8 nodes once expanded, are never built.
    problem = only_problem(billion_laughs())

    assert problem.line in (4, 5)


def test_aliases_within_the_bound_are_expanded() -> None:
    assert value_of("base: &base {cpu: 1}\nnext: *base\n") == {
        "base": {"cpu": 1},
        "next": {"cpu": 1},
    }


def test_the_alias_bound_is_a_setting() -> None:
    text = "a: &a [1, 2, 3]\nb: [*a, *a]\n"

    assert parse(text, LoaderLimits(max_alias_expansion=8))[1] == []
    problem = only_problem(text, LoaderLimits(max_alias_expansion=7))
    assert "aliases expand to more than 7 nodes" in problem.message


def test_a_recursive_alias_is_refused() -> None:
    problem = only_problem("loop: &loop [1, *loop]\n")

    assert "recursive YAML alias" in problem.message
    assert problem.line == 1


def test_an_undefined_alias_is_a_syntax_error() -> None:
    problem = only_problem("a: *nowhere\n")

    assert "undefined alias" in problem.message
    assert (problem.line, problem.column) == (1, 4)


def test_a_file_over_the_size_limit_is_refused_before_parsing() -> None:
    limits = LoaderLimits(max_file_bytes=64)
    text = "a: [" + "x, " * 30 + "]\n"

    problem = only_problem(text.encode(), limits)

    assert problem.message == f"file is {len(text)} bytes; the limit is 64"
    assert (problem.line, problem.column) == (0, 0)
    documents, problems = parse(b"a: 1\n", limits)
    assert problems == []
    assert [d.value for d in documents] == [{"a": 1}]


def test_a_file_with_too_many_documents_is_refused() -> None:
    limits = LoaderLimits(max_documents_per_file=3)

    documents, problems = parse("---\na: 1\n" * 4, limits)

    assert [p.message for p in problems] == ["more than 3 YAML documents in one file"]
    assert len(documents) == 3
    assert parse("---\na: 1\n" * 3, limits)[1] == []


def test_nesting_deeper_than_the_limit_is_refused_where_it_goes_too_deep() -> None:
    limits = LoaderLimits(max_depth=3)

    assert parse("a: [[1]]\n", limits)[1] == []
    problem = only_problem("a: [[[[[[1]]]]]]\n", limits)
    assert problem.message == "nesting deeper than 3 levels"
    assert (problem.line, problem.column) == (1, 7)


def test_deep_block_mappings_are_refused_at_the_default_depth() -> None:
    depth = DEFAULT_LIMITS.max_depth + 2
    text = (
        "".join("  " * level + f"k{level}:\n" for level in range(depth)) + "  " * depth + "leaf\n"
    )

    problem = only_problem(text)

    assert f"nesting deeper than {DEFAULT_LIMITS.max_depth} levels" in problem.message
    assert problem.line == DEFAULT_LIMITS.max_depth + 2


# --- refused constructs -------------------------------------------------------------------------


def test_a_duplicate_key_is_refused_at_its_second_occurrence() -> None:
    problem = only_problem("spec:\n  timeout: 5m\n  steps: []\n  timeout: 10m\n")

    assert problem.message == "duplicate key 'timeout'"
    assert (problem.line, problem.column) == (4, 3)


def test_keys_that_read_the_same_after_conversion_are_duplicates() -> None:
    assert "duplicate key '1'" in only_problem("1: a\n'1': b\n").message


def test_a_merge_key_is_refused() -> None:
    problem = only_problem("base: &base {cpu: 1}\nnext:\n  <<: *base\n  memory: 2\n")

    assert "merge keys (<<) are not supported" in problem.message
    assert (problem.line, problem.column) == (3, 3)


def test_an_explicitly_tagged_merge_key_is_refused() -> None:
    problem = only_problem("base: &base {cpu: 1}\nnext:\n  !!merge <<: *base\n")

    assert (problem.line, problem.column) == (3, 3)


@pytest.mark.parametrize(
    "text",
    [
        "a: !!python/object {x: 1}\n",
        "a: !!python/object/apply:os.system [ls]\n",
        "a: !!python/object/new:os.system {args: [ls]}\n",
        "a: !!set {x}\n",
        "a: !!omap [{x: 1}]\n",
        "a: !Ref {name: thing}\n",
    ],
)
def test_unknown_tags_are_refused(text: str) -> None:
    problem = only_problem(text)

    assert "unsupported YAML tag" in problem.message
    assert (problem.line, problem.column) == (1, 4)


def test_a_complex_mapping_key_is_refused() -> None:
    problem = only_problem("? [a, b]\n: 1\n")
    assert problem.message == "mapping keys must be plain scalars"


# --- syntax and encoding errors -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "line", "column"),
    [
        ("a: b: c\n", 1, 5),
        ("ok: 1\nlist: [1, 2\n", 3, 1),
        ("a: 1\n\t- b\n", 2, 1),
        ('a: "unterminated\n', 2, 1),
    ],
)
def test_a_syntax_error_gives_line_and_column(text: str, line: int, column: int) -> None:
    problem = only_problem(text)

    assert problem.message.startswith("YAML syntax error: ")
    assert (problem.line, problem.column) == (line, column)
    assert str(problem).startswith(f"repo/file.yaml:{line}:{column}: YAML syntax error")


def test_documents_before_a_syntax_error_are_kept() -> None:
    documents, problems = parse("a: 1\n---\nb: [\n")

    assert [d.value for d in documents] == [{"a": 1}]
    assert len(problems) == 1


def test_invalid_utf8_is_reported_at_its_line_and_column_not_a_byte_offset() -> None:
    # "café " is 6 characters but 7 bytes: the column counts characters, as editors do.
    problem = only_problem(b"a: 1\nbb: caf\xc3\xa9 \xff rest\n")

    assert str(problem) == (
        "repo/file.yaml:2:10: not valid UTF-8 (byte 0xff); "
        "is this a binary file? save definitions as UTF-8 text"
    )


def test_a_latin1_character_is_not_valid_utf8_at_its_position() -> None:
    problem = only_problem(b"name: caf\xe9\n")

    assert (problem.line, problem.column) == (1, 10)
    assert problem.message.startswith("not valid UTF-8 (byte 0xe9)")


def test_a_binary_file_is_reported_at_line_1_column_1() -> None:
    png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256))

    problem = only_problem(png)

    assert (problem.line, problem.column) == (1, 1)
    assert problem.message.startswith("not valid UTF-8 (byte 0x89); is this a binary file?")


def test_a_control_character_is_reported_at_its_line_and_column() -> None:
    problem = only_problem("a: é\nb: x\x00y\n")

    assert str(problem).startswith(
        "repo/file.yaml:2:5: control character U+0000 is not allowed in YAML"
    )


# --- never raises -------------------------------------------------------------------------------

YAML_PIECES = [
    *"ab:-[]{},&*!?|>'\"#%@` \n\t~01.x",
    "on",
    "true",
    "0x",
    "0o",
    ".inf",
    "<<",
    "---",
    "...",
    "&a ",
    "*a",
    "!!str",
    "!!int",
    "!!float",
    "!!bool",
    "!!null",
    "!!map",
    "!!seq",
    "!!merge",
    "!!python/object",
    "%YAML 1.2\n",
    "\\u",
    "\\x",
    "\xe9",
    "\u2028",
    "\ufeff",
]
yamlish = st.lists(st.sampled_from(YAML_PIECES), max_size=80).map("".join)
SMALL_LIMITS = LoaderLimits(
    max_file_bytes=2048, max_documents_per_file=4, max_alias_expansion=40, max_depth=6
)


@settings(deadline=None)
@given(st.one_of(st.text(), st.binary(), yamlish, yamlish.map(str.encode)))
def test_parse_documents_never_raises_it_returns_problems(data: str | bytes) -> None:
    for limits in (DEFAULT_LIMITS, SMALL_LIMITS):
        documents, problems = parse_documents(data, "fuzz.yaml", limits)
        assert all(isinstance(d, Document) for d in documents)
        assert all(isinstance(p, Problem) and p.path == "fuzz.yaml" for p in problems)
        assert len(problems) <= 1


def test_deeply_nested_flow_sequences_are_a_problem_not_a_crash() -> None:
    # libyaml's composer recurses: tens of thousands of levels used to kill the process.
    code = (
        "from reconciler.definitions.yamldoc import parse_documents\n"
        "from reconciler.settings import LoaderLimits\n"
        "n = 100_000\n_, p = parse_documents('['*n + ']'*n, 'f.yaml', LoaderLimits())\nprint(p[0].message)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert "nesting deeper than 64 levels" in result.stdout


@pytest.mark.parametrize(
    "text", ["a: !Ref 12\n", "a: !!python/object:os.system 1\n", "a: !!binary aGVsbG8=\n"]
)
def test_an_unknown_tag_on_a_scalar_is_refused(text: str) -> None:
    _, problems = parse(text)
    assert len(problems) == 1
    assert "unsupported YAML tag" in problems[0].message


def test_text_with_a_lone_surrogate_is_a_problem_not_a_crash() -> None:
    _, problems = parse("a: \ud800\n")
    assert len(problems) == 1
    assert "UTF-8" in problems[0].message


def test_nan_is_a_yaml_1_2_float() -> None:
    value = value_of("a: .nan\n")["a"]
    assert value != value


# --- node limits ---------------------------------------------------------------------------------


def flow_list(size: int) -> bytes:
    """One flow list of one-letter items filling ``size`` bytes: the most nodes per byte an
    attacker gets from plain data (the issue's 1 MiB file took ~100 MB once composed)."""
    items = b"a, " * ((size - 2) // 3)
    return b"[" + items[: size - 2] + b"]"


def test_a_1_mib_flow_list_is_refused_before_python_objects_are_built() -> None:
    data = flow_list(1024 * 1024)
    tracemalloc.start()
    try:
        documents, problems = parse(data)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()

    assert documents == []
    [problem] = problems
    assert problem.message.startswith("349530 YAML nodes in one file; the limit is 100000")
    assert "max_nodes_per_file" in problem.message
    assert "split the data into smaller files" in problem.message
    # Composing it took ~100 MB; counting builds nothing (the input alone is 1 MiB).
    assert peak < 8 * 1024 * 1024


def test_a_small_file_over_the_node_limit_is_refused_and_nothing_of_it_kept() -> None:
    limits = LoaderLimits(max_nodes_per_file=50)

    documents, problems = parse(flow_list(200), limits)

    assert documents == []
    [problem] = problems
    assert problem.message.startswith("72 YAML nodes in one file; the limit is 50")


@pytest.mark.parametrize(
    "text",
    [
        "a: 1\n",
        "a: &x {b: [1, 2, {c: d}]}\ne: *x\nf: [*x, *x]\n---\n- s: &s text\n- *s\n",
        "{a, b: [], ? c}\n--- !!str tagged\n...\n",
    ],
)
def test_nodes_counted_while_building_agree_with_libyaml_count(text: str) -> None:
    budget = NodeBudget(limit=1_000)

    _, problems = parse_documents(text, "f.yaml", DEFAULT_LIMITS, budget)

    assert problems == []
    assert budget.used == yamlscan.count_nodes(text.encode())


def test_files_share_the_revision_budget_and_the_one_past_it_exhausts_it() -> None:
    budget = NodeBudget(limit=150)
    _, problems = parse_documents(flow_list(200), "a.yaml", DEFAULT_LIMITS, budget)
    assert problems == [] and budget.used == 72

    second, problems = parse_documents(flow_list(300), "b.yaml", DEFAULT_LIMITS, budget)

    assert second == []
    assert budget.exhausted
    assert problems[0].message.startswith(
        "this file's 105 YAML nodes take the revision past 150 (max_nodes_per_revision; "
        "72 used by the files before it); files after it are not read"
    )


def test_documents_before_a_syntax_error_are_counted_against_the_budget_too() -> None:
    # Otherwise many small files, each ending in a mistake, would keep their nodes unbounded.
    budget = NodeBudget(limit=120)
    text = flow_list(200) + b"\n---\n" + flow_list(200) + b"\n---\nb: [\n"

    documents, problems = parse_documents(text, "f.yaml", DEFAULT_LIMITS, budget)

    assert documents == [] and budget.exhausted
    assert problems[0].message.startswith("YAML syntax error")
    assert "take the revision past 120" in problems[1].message


def test_a_large_file_past_the_revision_budget_is_refused_before_composing() -> None:
    budget = NodeBudget(limit=100_000, used=90_000)

    documents, problems = parse_documents(flow_list(100_000), "big.yaml", DEFAULT_LIMITS, budget)

    assert documents == [] and budget.exhausted and budget.used == 90_000
    assert "take the revision past 100000" in problems[0].message


def test_the_plain_scalar_memo_keeps_no_long_text() -> None:
    long_text = "k" * 10_000
    value_of(f"short: {long_text}\n")

    assert long_text not in yamldoc._plain_tags
    assert "short" in yamldoc._plain_tags
