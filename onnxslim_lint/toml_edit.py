"""Set string-array entries of one TOML table by a minimal text edit.

:func:`set_string_arrays` changes only what it must: the value of an entry that is
already there, new entries after the table's last one (or a new table), and leaves
every other byte of the file as it was: comments, blank lines, order, quoting and
other tools' tables. A small scanner finds where keys, values and table headers
are; it knows the whole TOML syntax for finding their ends (strings of the four
kinds, arrays over several lines with comments, inline tables) but decodes keys
with :mod:`tomllib` itself. The table may be a ``[header]`` table, dotted keys
(``per-file-ignores."a.onnx" = [...]``) or an inline table; when it is none of
them, a ``[header]`` table is added after its parent's last line.

Every edit is checked: the new text must parse to the old document with exactly
these entries changed, else :class:`TomlEditError` is raised and nothing is
returned (a layout this edit does not handle, such as a parent table that is
itself an inline table).
"""

from __future__ import annotations

import copy
import math
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib  # type: ignore[import-not-found, unused-ignore]

__all__ = ["TomlEditError", "set_string_arrays", "toml_array", "toml_string"]

_BARE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")
_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f"}


class TomlEditError(ValueError):
    """The file cannot be edited this way (it is left to the caller to say why)."""


def toml_string(text: str) -> str:
    """``text`` as a TOML basic string, control characters escaped."""
    out = []
    for char in text:
        if char in _ESCAPES:
            out.append(_ESCAPES[char])
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            out.append(f"\\u{ord(char):04X}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def _key_text(part: str) -> str:
    return part if part and set(part) <= _BARE else toml_string(part)


def toml_array(items: Sequence[str]) -> str:
    """``items`` as a one-line TOML array of basic strings."""
    return "[" + ", ".join(toml_string(item) for item in items) + "]"


# --------------------------------------------------------------------------- scanning


@dataclass
class _Entry:
    """One ``key = value``: its full path and where its value is."""

    path: tuple[str, ...]  # table path + the (dotted) key
    table: tuple[str, ...]  # the header it is under
    value_start: int
    value_end: int
    end: int  # past the end of its line (newline included)
    inline: list[_Entry] | None = None  # an inline table's entries (paths relative)
    brace: int = -1  # an inline table's closing brace


@dataclass
class _Header:
    path: tuple[str, ...]
    end: int  # past the end of its line


@dataclass
class _Document:
    entries: list[_Entry] = field(default_factory=list)
    headers: list[_Header] = field(default_factory=list)


class _Scanner:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def fail(self, what: str) -> TomlEditError:
        line = self.text.count("\n", 0, self.pos) + 1
        return TomlEditError(f"{what} at line {line}")

    def peek(self, count: int = 1) -> str:
        return self.text[self.pos : self.pos + count]

    def spaces(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos] in " \t":
            self.pos += 1

    def trivia(self) -> None:
        """Spaces, comments and newlines (inside arrays)."""
        while True:
            self.spaces()
            if self.peek() == "#":
                self.comment()
            elif self.peek() == "\n":
                self.pos += 1
            elif self.peek(2) == "\r\n":
                self.pos += 2
            else:
                return

    def comment(self) -> None:
        end = self.text.find("\n", self.pos)
        self.pos = len(self.text) if end < 0 else end
        if self.text[self.pos - 1 : self.pos] == "\r":
            self.pos -= 1

    def line_end(self) -> int:
        """Past the rest of a statement's line: spaces, a comment, the newline."""
        self.spaces()
        if self.peek() == "#":
            self.comment()
        if self.peek(2) == "\r\n":
            self.pos += 2
        elif self.peek() == "\n":
            self.pos += 1
        elif self.pos < len(self.text):
            raise self.fail("expected the end of the line")
        return self.pos

    def string(self) -> None:
        text, start = self.text, self.pos
        for quote in ('"""', "'''"):
            if text.startswith(quote, start):
                index = start + 3
                while True:
                    if quote == '"""' and text[index : index + 1] == "\\":
                        index += 2
                        continue
                    if index >= len(text):
                        raise self.fail("unterminated string")
                    if text.startswith(quote, index):
                        # Up to two more quotes just before the closing ones are content.
                        run = 3
                        while run < 5 and text[index + run : index + run + 1] == quote[0]:
                            run += 1
                        self.pos = index + run
                        return
                    index += 1
        quote = text[start]
        index = start + 1
        while index < len(text) and text[index] != quote:
            if text[index] == "\n":
                raise self.fail("unterminated string")
            index += 2 if quote == '"' and text[index] == "\\" else 1
        if index >= len(text):
            raise self.fail("unterminated string")
        self.pos = index + 1

    def key(self) -> tuple[str, ...]:
        """A (dotted) key, decoded by tomllib itself."""
        start = self.pos
        while True:
            self.spaces()
            if self.peek() in ('"', "'"):
                self.string()
            else:
                begin = self.pos
                while self.pos < len(self.text) and self.text[self.pos] in _BARE:
                    self.pos += 1
                if self.pos == begin:
                    raise self.fail("expected a key")
            self.spaces()
            if self.peek() != ".":
                break
            self.pos += 1
        return _decode_key(self.text[start : self.pos])

    def value(self) -> tuple[int, int, list[_Entry] | None, int]:
        """(start, end, inline-table entries or None, closing-brace position)."""
        start = self.pos
        char = self.peek()
        if char in ('"', "'"):
            self.string()
        elif char == "[":
            self.pos += 1
            while True:
                self.trivia()
                if self.peek() == "]":
                    break
                self.value()
                self.trivia()
                if self.peek() == ",":
                    self.pos += 1
                elif self.peek() != "]":
                    raise self.fail("expected ',' or ']'")
            self.pos += 1
        elif char == "{":
            return self.inline_table(start)
        else:
            while self.pos < len(self.text) and self.text[self.pos] not in ",]}#\r\n":
                self.pos += 1
            end = self.pos
            while end > start and self.text[end - 1] in " \t":
                end -= 1
            if end == start:
                raise self.fail("expected a value")
            return start, end, None, -1
        return start, self.pos, None, -1

    def inline_table(self, start: int) -> tuple[int, int, list[_Entry], int]:
        self.pos += 1
        entries: list[_Entry] = []
        self.trivia()
        while self.peek() != "}":
            path = self.key()
            if self.peek() != "=":
                raise self.fail("expected '='")
            self.pos += 1
            self.spaces()
            value_start, value_end, inline, brace = self.value()
            entries.append(_Entry(path, (), value_start, value_end, value_end, inline, brace))
            self.trivia()
            if self.peek() == ",":
                self.pos += 1
                self.trivia()
            elif self.peek() != "}":
                raise self.fail("expected ',' or '}'")
        brace = self.pos
        self.pos += 1
        return start, self.pos, entries, brace


def _decode_key(text: str) -> tuple[str, ...]:
    try:
        data: Any = tomllib.loads(f"{text} = 0")
    except tomllib.TOMLDecodeError as exc:
        raise TomlEditError(f"cannot read the key {text!r}: {exc}") from None
    parts: list[str] = []
    while isinstance(data, dict):
        ((name, data),) = data.items()
        parts.append(name)
    return tuple(parts)


def _scan(text: str) -> _Document:
    scanner = _Scanner(text)
    document = _Document()
    table: tuple[str, ...] = ()
    while scanner.pos < len(text):
        scanner.spaces()
        char = scanner.peek()
        if char == "#":
            scanner.comment()
        elif char == "\n" or scanner.peek(2) == "\r\n":
            scanner.pos += 1 if char == "\n" else 2
        elif char == "[":
            array = scanner.peek(2) == "[["
            scanner.pos += 2 if array else 1
            table = scanner.key()
            closing = "]]" if array else "]"
            if scanner.peek(len(closing)) != closing:
                raise scanner.fail(f"expected '{closing}'")
            scanner.pos += len(closing)
            document.headers.append(_Header(table, scanner.line_end()))
        elif char:
            path = scanner.key()
            if scanner.peek() != "=":
                raise scanner.fail("expected '='")
            scanner.pos += 1
            scanner.spaces()
            start, end, inline, brace = scanner.value()
            line_end = scanner.line_end()
            document.entries.append(
                _Entry(table + path, table, start, end, line_end, inline, brace)
            )
    return document


# --------------------------------------------------------------------------- editing


def _expected(text: str, table: tuple[str, ...], entries: Mapping[str, Sequence[str]]) -> Any:
    data = copy.deepcopy(tomllib.loads(text))
    node = data
    for part in table:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise TomlEditError(f"'{'.'.join(table)}' is not a table")
    for key, items in entries.items():
        node[key] = list(items)
    return data


def set_string_arrays(text: str, table: Sequence[str], entries: Mapping[str, Sequence[str]]) -> str:
    """``text`` with ``table[key] = [items]`` for each of ``entries`` (replaced where
    the key is there, added where not); every other byte unchanged."""
    table = tuple(table)
    expected = _expected(text, table, entries)
    if not entries:
        return text
    newline = "\r\n" if "\r\n" in text else "\n"
    document = _scan(text)
    edits: list[tuple[int, int, str]] = []
    remaining = dict(entries)

    def replace(entry: _Entry, key: str) -> None:
        edits.append((entry.value_start, entry.value_end, toml_array(remaining.pop(key))))

    own = [e for e in document.entries if e.path[:-1] == table and len(e.path) > len(table)]
    for entry in own:
        if entry.path[-1] in remaining:
            replace(entry, entry.path[-1])
    inline = next((e for e in document.entries if e.path == table and e.inline is not None), None)
    headers = [h for h in document.headers if h.path == table]
    if inline is not None and inline.inline is not None:
        for item in inline.inline:
            if len(item.path) == 1 and item.path[0] in remaining:
                replace(item, item.path[0])
        added = [f"{toml_string(k)} = {toml_array(v)}" for k, v in sorted(remaining.items())]
        if added and inline.inline:
            edits.append(
                (
                    inline.inline[-1].value_end,
                    inline.inline[-1].value_end,
                    "".join(f", {item}" for item in added),
                )
            )
        elif added:
            edits.append((inline.value_start, inline.value_end, "{ " + ", ".join(added) + " }"))
    elif remaining and (own or headers):
        # After the table's last entry, in the same form (a dotted key keeps its prefix).
        anchor_entry = max(own, key=lambda e: e.end) if own else None
        anchor_header = headers[-1] if headers else None
        if anchor_entry is not None:
            anchor = anchor_entry.end
            prefix = "".join(_key_text(part) + "." for part in table[len(anchor_entry.table) :])
        else:
            assert anchor_header is not None
            anchor = anchor_header.end
            prefix = ""
        lines = [
            f"{prefix}{toml_string(k)} = {toml_array(v)}" for k, v in sorted(remaining.items())
        ]
        lead = newline if anchor > 0 and not text[:anchor].endswith("\n") else ""
        edits.append((anchor, anchor, lead + "".join(line + newline for line in lines)))
    elif remaining:
        edits.append(_new_table(text, document, table, remaining, newline))
    result = text
    for start, end, replacement in sorted(edits, key=lambda edit: edit[0], reverse=True):
        result = result[:start] + replacement + result[end:]
    try:
        parsed = tomllib.loads(result)
    except tomllib.TOMLDecodeError as exc:
        raise TomlEditError(f"the edit would not be valid TOML: {exc}") from None
    if not _same(parsed, expected):
        raise TomlEditError("the edit would change more than the entries")
    return result


def _same(a: Any, b: Any) -> bool:
    """Parsed TOML equality, with nan equal to nan (``==`` says a file with a nan
    differs from itself)."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return type(a) is type(b) and a == b


def _new_table(
    text: str,
    document: _Document,
    table: tuple[str, ...],
    entries: Mapping[str, Sequence[str]],
    newline: str,
) -> tuple[int, int, str]:
    """A ``[table]`` after the last line of its parent table, or at the end."""
    parent = table[:-1]
    ends = [h.end for h in document.headers if h.path[: len(parent)] == parent]
    ends += [e.end for e in document.entries if e.path[: len(parent)] == parent]
    anchor = max(ends) if parent and ends else len(text)
    # Entries between the anchor and the next header would move into the new table.
    following = min((h.end for h in document.headers if h.end > anchor), default=len(text) + 1)
    if any(anchor < e.value_start < following for e in document.entries):
        anchor = len(text)
    header = "[" + ".".join(_key_text(part) for part in table) + "]"
    lines = [header] + [f"{toml_string(k)} = {toml_array(v)}" for k, v in sorted(entries.items())]
    lead = ""
    if anchor > 0:
        lead = newline if text[:anchor].endswith("\n") else newline + newline
    return anchor, anchor, lead + "".join(line + newline for line in lines)
