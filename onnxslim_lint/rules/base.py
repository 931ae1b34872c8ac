"""The Rule interface: one class per rule, holding its identity, docs, check and fix.

A rule's ``check`` reads the :class:`ModelIndex` and returns at most one
:class:`Finding` (per file and rule), whose ``plan`` says exactly what the fix will
change. ``fix`` applies that plan to the same model the index was built from, and
nothing else, so ``--fix --select CODE`` does exactly what ``check`` reported.
The fix loop (:mod:`onnxslim_lint.fixing.apply`) rebuilds the index after every fix.
"""

from __future__ import annotations

import inspect
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

import onnx

from onnxslim_lint.findings import Finding, FixSafety, Location, format_bytes
from onnxslim_lint.model.index import ModelIndex

__all__ = ["DEFAULT_OPTIONS", "CheckContext", "Rule", "RuleOptions", "plural"]

MAX_ROUNDS = 20


@dataclass(frozen=True)
class RuleOptions:
    """Settings that change what rules find (from ``[tool.onnxslim-lint]``)."""

    # Folding never creates an initializer larger than this (None: only the
    # never-grow rule applies). Key ``max-folded-constant``.
    max_folded_constant: int | None = None


DEFAULT_OPTIONS = RuleOptions()


@dataclass(frozen=True)
class CheckContext:
    index: ModelIndex
    path: str = "<model>"
    options: RuleOptions = DEFAULT_OPTIONS


class Rule(ABC):
    """Base class of every rule. Subclasses set the class attributes and ``check``."""

    code: ClassVar[str]
    name: ClassVar[str]
    summary: ClassVar[str]
    fix_title: ClassVar[str | None] = None
    safety: ClassVar[FixSafety | None] = None  # None: the rule only reports
    # An opt-in rule runs only when selected by its exact code or name, never by
    # ``ALL`` or a prefix (for rules that change what a user may rely on).
    opt_in: ClassVar[bool] = False

    @classmethod
    def explanation(cls) -> str:
        """The user documentation: the class docstring, shown by ``onnxslim-lint rule``."""
        return inspect.cleandoc(cls.__doc__ or "")

    @abstractmethod
    def check(self, ctx: CheckContext) -> list[Finding]:
        """Return the findings (at most one) without changing the model."""

    def fix(self, index: ModelIndex, finding: Finding) -> bool:
        """Apply ``finding.plan`` to ``index.model``; return whether anything changed."""
        raise NotImplementedError(f"{self.code} has no fix")

    def run(self, model: onnx.ModelProto) -> onnx.ModelProto:
        """Use the rule as a pass: a fixed copy of ``model`` (the input is not changed)."""
        result = onnx.ModelProto()
        result.CopyFrom(model)
        if self.safety is None:
            return result
        for _ in range(MAX_ROUNDS):
            index = ModelIndex.build(result)
            findings = self.check(CheckContext(index))
            if not findings or not any(self.fix(index, f) for f in findings if f.fixable):
                break
        return result

    def finding(
        self,
        ctx: CheckContext,
        message: str,
        *,
        locations: Sequence[Location],
        count: int,
        nbytes: int,
        nodes: int,
        plan: object,
        fixable: bool = True,
        safety: FixSafety | None = None,
    ) -> Finding:
        return Finding(
            path=ctx.path,
            code=self.code,
            name=self.name,
            message=message,
            fixable=fixable and self.safety is not None,
            safety=(safety or self.safety) if fixable else None,
            count=count,
            nbytes=nbytes,
            nodes=nodes,
            locations=tuple(locations),
            fix_title=self.fix_title if fixable else None,
            plan=plan,
        )


def plural(count: int, word: str, plural_word: str | None = None) -> str:
    return f"{count} {word if count == 1 else (plural_word or word + 's')}"


def size_note(nbytes: int) -> str:
    return f" ({format_bytes(nbytes)})" if nbytes else ""
