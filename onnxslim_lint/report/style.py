"""ANSI colour for the text formats (concise, full, the summary), as ruff colours them.

Colour is painted on text that is already escaped (``report/escape.py``): a model's
names can never carry an escape code of their own, and the codes here are the only
ones in the output. The machine formats never use a :class:`Style`.

When to colour follows ruff: ``--color always`` / ``never`` decide; in ``auto``,
a non-empty ``FORCE_COLOR`` turns colour on and a non-empty ``NO_COLOR`` turns it off
(https://no-color.org, https://force-color.org); otherwise colour is on when stdout
is a terminal.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["COLOR_CHOICES", "PLAIN", "Style", "color_enabled"]

COLOR_CHOICES = ("auto", "always", "never")

_RESET = "\x1b[0m"
_BOLD = "1"
_RED = "31"
_GREEN = "32"
_BLUE = "34"
_CYAN = "36"


def color_enabled(choice: str, *, is_tty: bool, environ: Mapping[str, str]) -> bool:
    """Whether the text formats are coloured, for ``--color choice``."""
    if choice == "always":
        return True
    if choice == "never":
        return False
    if environ.get("FORCE_COLOR"):
        return True
    if environ.get("NO_COLOR"):
        return False
    return is_tty


@dataclass(frozen=True)
class Style:
    """Paints the parts of a text line; with ``color=False`` every method returns its
    text unchanged, so a formatter writes one code path for both."""

    color: bool = False

    def _paint(self, text: str, *codes: str) -> str:
        if not self.color or not text:
            return text
        return f"\x1b[{';'.join(codes)}m{text}{_RESET}"

    def path(self, text: str) -> str:
        return self._paint(text, _BOLD)

    def separator(self, text: str) -> str:
        """The ``:`` after a path."""
        return self._paint(text, _CYAN)

    def code(self, text: str) -> str:
        return self._paint(text, _RED, _BOLD)

    def fixable(self) -> str:
        """The ``[*]`` mark of a finding ``--fix`` applies (ruff colours the star)."""
        return f"[{self._paint('*', _CYAN)}]"

    def arrow(self, text: str) -> str:
        """The ``-->`` before a path in the full format."""
        return self._paint(text, _BLUE, _BOLD)

    def emphasis(self, text: str) -> str:
        return self._paint(text, _BOLD)

    def success(self, text: str) -> str:
        """``All checks passed!``"""
        return self._paint(text, _GREEN, _BOLD)


PLAIN = Style()
