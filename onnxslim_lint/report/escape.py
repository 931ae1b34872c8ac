"""Names from a model or a file system shown safely on one line.

Tensor, node and file names are the model author's (or an attacker's) bytes: a CR
or LF in one would forge another finding line in the concise output or a CI log,
an escape code would recolour or rewrite the terminal. Every text format runs what
it prints through :func:`printable`; the Markdown job summary escapes its own
syntax on top (``job_summary``).
"""

from __future__ import annotations

import re

__all__ = ["printable"]

# C0 controls, DEL, C1 controls, and the Unicode line and paragraph separators.
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    if char in _NAMED:
        return _NAMED[char]
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: str) -> str:
    """``text`` with every control character written as its escape (``\\n``,
    ``\\x1b``, ``\\u2028``); printable text, including non-ASCII, is unchanged."""
    return _UNPRINTABLE.sub(_escape, text)
