"""The minimal TOML edit behind --add-ignores: entries changed or added in each way a
table can be written, every other byte of the file kept."""

from __future__ import annotations

import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from onnxslim_lint.toml_edit import TomlEditError, set_string_arrays, toml_string

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

TABLE = ("tool", "onnxslim-lint", "per-file-ignores")
ENTRIES = {"models/old.onnx": ["OSL101", "OSL201"], "new/a.onnx": ["OSL102"]}


def _edit(text: str, entries: dict[str, list[str]] = ENTRIES, table: tuple = TABLE) -> str:
    out = set_string_arrays(text, table, entries)
    node = tomllib.loads(out)
    for part in table:
        node = node[part]
    for key, codes in entries.items():
        assert node[key] == codes
    return out


def test_a_header_table_gets_its_value_replaced_and_new_keys_after_its_last_entry() -> None:
    text = (
        "[project]\n"
        'name = "x"  # the name\n'
        "\n"
        "[tool.onnxslim-lint.per-file-ignores]\n"
        "# legacy models, to be re-exported\n"
        '"models/old.onnx" = [\n'
        '  "OSL101",  # dead weight\n'
        "]\n"
        "'b.onnx' = [\"OSL1\"]   # literal key\n"
        "# ruff's, below\n"
        "[tool.ruff]\n"
        "line-length = 100\n"
    )
    assert _edit(text) == (
        "[project]\n"
        'name = "x"  # the name\n'
        "\n"
        "[tool.onnxslim-lint.per-file-ignores]\n"
        "# legacy models, to be re-exported\n"
        '"models/old.onnx" = ["OSL101", "OSL201"]\n'
        "'b.onnx' = [\"OSL1\"]   # literal key\n"
        '"new/a.onnx" = ["OSL102"]\n'
        "# ruff's, below\n"
        "[tool.ruff]\n"
        "line-length = 100\n"
    )


def test_dotted_keys_keep_their_form() -> None:
    text = '[tool.onnxslim-lint]\nper-file-ignores."models/old.onnx" = ["OSL101"]\nignore = []\n'
    assert _edit(text) == (
        "[tool.onnxslim-lint]\n"
        'per-file-ignores."models/old.onnx" = ["OSL101", "OSL201"]\n'
        'per-file-ignores."new/a.onnx" = ["OSL102"]\n'
        "ignore = []\n"
    )


@pytest.mark.parametrize(
    ("before", "after"),
    [
        (
            'per-file-ignores = { "models/old.onnx" = ["OSL101"] }  # c\n',
            'per-file-ignores = { "models/old.onnx" = ["OSL101", "OSL201"], '
            '"new/a.onnx" = ["OSL102"] }  # c\n',
        ),
        (
            "per-file-ignores = {}\n",
            'per-file-ignores = { "models/old.onnx" = ["OSL101", "OSL201"], '
            '"new/a.onnx" = ["OSL102"] }\n',
        ),
    ],
)
def test_an_inline_table_is_extended_in_place(before: str, after: str) -> None:
    assert _edit("[tool.onnxslim-lint]\n" + before) == "[tool.onnxslim-lint]\n" + after


def test_a_missing_table_follows_its_parents_last_line() -> None:
    text = (
        "[tool.onnxslim-lint]\n"
        'select = ["ALL"]\n'
        "[[tool.onnxslim-lint.verify.overrides]]\n"
        'files = ["a"]\n'
        "\n"
        "# ruff's\n"
        "[tool.ruff]\n"
        "x = 1\n"
    )
    assert _edit(text) == (
        "[tool.onnxslim-lint]\n"
        'select = ["ALL"]\n'
        "[[tool.onnxslim-lint.verify.overrides]]\n"
        'files = ["a"]\n'
        "\n"
        "[tool.onnxslim-lint.per-file-ignores]\n"
        '"models/old.onnx" = ["OSL101", "OSL201"]\n'
        '"new/a.onnx" = ["OSL102"]\n'
        "\n"
        "# ruff's\n"
        "[tool.ruff]\n"
        "x = 1\n"
    )


def test_a_new_table_never_captures_the_lines_after_it() -> None:
    """Dotted keys under [tool] after ours: the new table goes at the end instead."""
    text = '[tool]\nonnxslim-lint.select = ["ALL"]\nruff.x = 1'
    assert _edit(text) == text + (
        '\n\n[tool.onnxslim-lint.per-file-ignores]\n"models/old.onnx" = ["OSL101", "OSL201"]\n'
        '"new/a.onnx" = ["OSL102"]\n'
    )


def test_a_file_without_the_tool_table_and_an_empty_file() -> None:
    new = '[tool.onnxslim-lint.per-file-ignores]\n"new/a.onnx" = ["OSL102"]\n'
    assert _edit('[project]\nname = "x"\n', {"new/a.onnx": ["OSL102"]}) == (
        '[project]\nname = "x"\n\n' + new
    )
    assert _edit("", {"new/a.onnx": ["OSL102"]}) == new


def test_a_standalone_file_table_and_crlf_line_ends() -> None:
    text = 'select = ["ALL"]\r\n[verify]\r\nsamples = 2\r\n'
    assert _edit(text, {"a.onnx": ["OSL101"]}, ("per-file-ignores",)) == (
        text + '\r\n[per-file-ignores]\r\n"a.onnx" = ["OSL101"]\r\n'
    )


def test_strings_that_look_like_syntax_are_skipped() -> None:
    text = (
        "[tool.onnxslim-lint]\n"
        'doc = """a " "" b\n[not.a.header]\nx = 1\n"""\n'
        "lit = '''x''''\n"
        'esc = "q\\"#["\n'
        'per-file-ignores = { \'models/old.onnx\' = ["OSL101"], "q\\"x" = [] }\n'
        "other = nan\n"
    )
    out = _edit(text)
    assert out == text.replace(
        '["OSL101"], "q\\"x" = [] }',
        '["OSL101", "OSL201"], "q\\"x" = [], "new/a.onnx" = ["OSL102"] }',
    )


def test_keys_are_written_as_escaped_basic_strings() -> None:
    weird = 'we"ird\\\x01\tname é.onnx'
    assert toml_string(weird) == '"we\\"ird\\\\\\u0001\\tname é.onnx"'
    out = _edit("", {weird: ["OSL101"]})
    assert tomllib.loads(out)["tool"]["onnxslim-lint"]["per-file-ignores"] == {weird: ["OSL101"]}


def test_a_layout_it_cannot_edit_is_refused_not_broken() -> None:
    with pytest.raises(TomlEditError, match="not be valid TOML"):
        set_string_arrays('[tool]\nonnxslim-lint = { select = ["ALL"] }\n', TABLE, ENTRIES)


def test_nothing_to_set_changes_nothing() -> None:
    text = "# just a comment\n[tool.onnxslim-lint]\n"
    assert set_string_arrays(text, TABLE, {}) == text


# Lines a config file may hold, in any order: headers of every kind, dotted and quoted
# keys, each kind of value, comments and blank lines. Most orders are valid TOML.
FRAGMENTS = [
    "[tool.onnxslim-lint]",
    "[tool.onnxslim-lint.per-file-ignores]",
    "[ tool . 'onnxslim-lint' . verify ]",
    "[[tool.onnxslim-lint.verify.overrides]]",
    "[tool.ruff]",
    "[tool]",
    "[project]",
    'select = ["OSL1", "OSL2"]  # comment',
    '"models/old.onnx" = ["OSL101"]',
    "'b.onnx' = [ 'OSL1', ]",
    'per-file-ignores."models/old.onnx" = ["OSL102"]',
    'per-file-ignores = { "models/old.onnx" = ["OSL103"] }',
    'onnxslim-lint.select = ["OSL1"]',
    'onnxslim-lint = { select = ["OSL1"] }',
    'onnxslim-lint.per-file-ignores."c.onnx" = []',
    'doc = """multi\n[not.a.header]\n"quoted" = 1\n"""',
    "raw = '''a ' b'''",
    'esc = "a\\"#[b"',
    "when = 1979-05-27 07:32:00Z",
    "floats = [nan, +inf, 1_000.5e3]",
    "nested = [[1, 2], [\n  3, # inner comment\n  4,\n]]",
    "inline = { a = { b = [1] }, c = 'd' }",
    "# a comment line",
    "",
]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.sampled_from(FRAGMENTS), max_size=8),
    st.sampled_from(["\n", "\r\n"]),
    st.dictionaries(
        st.sampled_from(["models/old.onnx", "new/a.onnx", "b.onnx", 'q"[*].onnx']),
        st.lists(st.sampled_from(["OSL101", "OSL201", "OSL301"]), min_size=1, unique=True),
        min_size=1,
    ),
)
def test_any_valid_file_is_edited_exactly_or_refused(
    lines: list[str], newline: str, entries: dict[str, list[str]]
) -> None:
    text = newline.join(line.replace("\n", newline) for line in lines)
    try:
        tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        return  # not a file the edit is ever given
    try:
        out = set_string_arrays(text, TABLE, entries)
    except TomlEditError:
        return  # refused: the caller leaves the file alone and prints the entries
    node = tomllib.loads(out)
    for part in TABLE:
        node = node[part]
    assert all(node[key] == codes for key, codes in entries.items())
    # Only the changed values and insertions: every other line survives, in order (an
    # inline table's line changes as a whole; the exact edits are tested above).
    newline = "\r\n" if "\r\n" in text else "\n"  # a file of one line has none
    remaining = iter(out.split(newline))
    untouched = [
        line
        for line in text.split(newline)
        if line and not any(k in line for k in [*entries, "per-file-ignores ="])
    ]
    assert all(line in remaining for line in untouched)
