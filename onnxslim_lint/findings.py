"""What a rule reports: plain frozen data, no logic beyond formatting sizes."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

__all__ = ["DOCS_URL", "Finding", "FixAvailability", "FixSafety", "Location", "format_bytes"]

#: Where each rule's page is: ``<base>/<CODE>-<name>.md``; the ``docs-url`` setting
#: replaces the base.
DOCS_URL = "https://github.com/onnxslim-lint/onnxslim-lint/blob/main/docs/rules"


class FixAvailability(Enum):
    """Whether a rule's findings come with a fix (ruff's FixAvailability)."""

    ALWAYS = "always"  # every finding is fixable
    SOMETIMES = "sometimes"  # some findings are, others are reported only
    NONE = "none"  # the rule only reports


class FixSafety(Enum):
    """How much a fix may change a model's outputs (ruff's safe / unsafe)."""

    EXACT = "exact"  # outputs are bit-identical; applied by --fix
    NUMERIC = "numeric"  # outputs move within tolerance; needs --unsafe-fixes


@dataclass(frozen=True)
class Location:
    """One place in a model a finding is about.

    ``kind`` is "initializer", "node", "constant", "value", "function", "opset" or "model";
    ``graph`` is the path of the (sub)graph, e.g. ``main`` or ``main/If_3/then_branch``.
    """

    kind: str
    name: str
    graph: str = "main"
    detail: str = ""
    nbytes: int = 0

    def as_dict(self) -> dict[str, object]:
        return {
            "kind": self.kind,
            "name": self.name,
            "graph": self.graph,
            "detail": self.detail,
            "bytes": self.nbytes,
        }


@dataclass(frozen=True)
class Finding:
    """One finding per (file, rule): what was found, what its fix removes, where.

    ``count`` is how many initializers, constants or nodes the fix removes or merges
    away; ``nbytes`` and ``nodes`` are the bytes and graph nodes it saves.
    """

    path: str
    code: str
    name: str
    message: str
    fixable: bool
    safety: FixSafety | None = None
    count: int = 0
    nbytes: int = 0
    nodes: int = 0
    locations: tuple[Location, ...] = field(default=())
    fix_title: str | None = None
    # What the rule's fix will do, computed by its check against the same index;
    # private to the rule, never shown or serialized.
    plan: object = field(default=None, compare=False, repr=False)

    def as_dict(self) -> dict[str, object]:
        """The stable JSON shape other tools read (keys never renamed)."""
        return {
            "filename": self.path,
            "code": self.code,
            "name": self.name,
            "message": self.message,
            "fixable": self.fixable,
            "fix_safety": self.safety.value if self.safety else None,
            "fix_title": self.fix_title,
            "count": self.count,
            "bytes": self.nbytes,
            "nodes": self.nodes,
            "location": [loc.as_dict() for loc in self.locations],
        }


def format_bytes(n: int) -> str:
    """Human size in decimal units as most ML tooling prints them: 512 B, 3.1 kB, 2.1 MB."""
    if n < 1000:
        return f"{n} B"
    value = float(n)
    for unit in ("kB", "MB", "GB"):
        value /= 1000.0
        if round(value, 1) < 1000:
            return f"{value:.1f} {unit}"
    return f"{value / 1000.0:.1f} TB"
