"""The rule contract: a rule says what it matches, what that saves and how to fix it.

Every rule is a :class:`Rule`: identity, documentation, fix availability and safety,
``check`` and ``fix``. A rule that checks the graph is a ``GraphRule[Item]``:
``match`` returns the items its fix will change (the typed plan: node refs,
dataclasses), ``saving`` says where one item is and what fixing it saves,
``message`` words the finding, and ``apply`` makes the edit. The base class does
the rest the same way for every rule: it skips models the rule's ``requires`` rules
out, builds the one :class:`Finding` per file and rule (count, bytes and nodes
summed over the items), and hands the plan back to ``apply``, so ``--fix --select
CODE`` does exactly what ``check`` reported. The fix loop rebuilds the index after
every fix.
"""

from __future__ import annotations

import inspect
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import ClassVar, Generic, TypeVar, cast

import onnx

from onnxslim_lint.config import VerifySettings
from onnxslim_lint.findings import Finding, FixAvailability, FixSafety, Location, format_bytes
from onnxslim_lint.model.index import ModelIndex

__all__ = [
    "DEFAULT_OPTIONS",
    "CheckContext",
    "GraphRule",
    "Requires",
    "Rule",
    "RuleOptions",
    "Saving",
    "default_opset",
    "plural",
    "size_note",
    "tally",
]

Item = TypeVar("Item")


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


@dataclass(frozen=True)
class Requires:
    """What a model must be for a rule to look at it at all (as onnx-ir passes declare).

    ``min_opset`` / ``max_opset`` bound the default-domain opset (1 when the model
    imports none); ``min_ir_version`` the model's IR version.
    """

    min_opset: int = 1
    max_opset: int | None = None
    min_ir_version: int = 0

    def met_by(self, index: ModelIndex) -> bool:
        opset = default_opset(index)
        if opset < self.min_opset or (self.max_opset is not None and opset > self.max_opset):
            return False
        return index.model.ir_version >= self.min_ir_version

    def describe(self) -> str:
        """The requirements in words, empty when there are none."""
        parts = []
        if self.min_opset > 1:
            parts.append(f"opset >= {self.min_opset}")
        if self.max_opset is not None:
            parts.append(f"opset <= {self.max_opset}")
        if self.min_ir_version > 0:
            parts.append(f"IR version >= {self.min_ir_version}")
        return ", ".join(parts)


@dataclass(frozen=True)
class Saving:
    """Where a planned item is and what fixing it saves (a finding's figures are the sums).

    ``count`` is the initializers, constants or nodes the fix removes or merges away;
    ``nbytes`` the bytes it saves (negative when the item alone grows the file) and
    ``nodes`` the graph nodes.
    """

    locations: tuple[Location, ...]
    count: int = 1
    nbytes: int = 0
    nodes: int = 0


class Rule(ABC):
    """What every rule is to the registry, the pipeline and ``onnxslim-lint rule``:
    identity, documentation, fix availability and safety, ``check`` and ``fix``."""

    code: ClassVar[str]
    name: ClassVar[str]
    summary: ClassVar[str]
    fix_title: ClassVar[str | None] = None
    availability: ClassVar[FixAvailability] = FixAvailability.NONE
    safety: ClassVar[FixSafety | None] = None  # None: the rule only reports
    requires: ClassVar[Requires] = Requires()
    # An opt-in rule runs only when selected by its exact code or name, never by
    # ``ALL`` or a prefix (for rules that change what a user may rely on).
    opt_in: ClassVar[bool] = False

    @classmethod
    def explanation(cls) -> str:
        """The user documentation: the class docstring, shown by ``onnxslim-lint rule``."""
        return inspect.cleandoc(cls.__doc__ or "")

    @abstractmethod
    def check(self, ctx: CheckContext) -> list[Finding]:
        """The finding (at most one) for this model, without changing it."""

    def fix(self, index: ModelIndex, finding: Finding) -> bool:
        """Apply the plan ``check`` put in ``finding`` to ``index.model``."""
        raise NotImplementedError(f"{self.code} has no fix")

    def run(self, model: onnx.ModelProto, *, verify: bool | None = None) -> onnx.ModelProto:
        """Use the rule as a pass: a fixed copy of ``model`` (the input is not changed).

        The rule's fixes go through the fix engine the CLI uses: applied until
        nothing changes, then kept only if the model keeps its interface, passes
        the full onnx checker and is not larger. A numeric rule's fix is also
        verified in onnxruntime (within the default rtol/atol) unless
        ``verify=False``; an exact rule's fix, exact by construction, is verified
        (bit-exact) only with ``verify=True``. A refused fix leaves the copy unchanged.
        """
        # fixing/ sits above rules/ (the engine runs rules); imported here, when a
        # rule is used as a pass, so that rules/ never imports fixing/ at load time.
        from onnxslim_lint.fixing.engine import fix_model

        if verify is None:
            verify = self.safety is FixSafety.NUMERIC
        outcome = fix_model(model, [self], lambda finding: True, VerifySettings(enabled=verify))
        if outcome.model is not None:
            return outcome.model
        result = onnx.ModelProto()
        result.CopyFrom(model)
        return result


class GraphRule(Rule, Generic[Item]):
    """A rule that checks the graph: the typed contract every graph rule implements.

    ``match`` returns the items the fix will change, ``saving`` says where one item
    is and what fixing it saves, ``message`` words the finding and ``apply`` edits
    the model. ``check`` and ``fix`` are the same for every graph rule.
    """

    @abstractmethod
    def match(self, ctx: CheckContext) -> Sequence[Item]:
        """The items the fix will change, in report order (empty: nothing to report)."""

    @abstractmethod
    def saving(self, item: Item) -> Saving:
        """Where ``item`` is and what fixing it saves."""

    @abstractmethod
    def message(self, items: Sequence[Item], total: Saving) -> str:
        """The finding's one-line message; ``total`` sums the items' savings."""

    def apply(self, index: ModelIndex, items: Sequence[Item]) -> bool:
        """Fix ``items`` in ``index.model``; return whether anything changed."""
        raise NotImplementedError(f"{self.code} has no fix")

    def fixable(self, items: Sequence[Item]) -> bool:
        """Whether the finding of ``items`` can be fixed: always or never, as the rule's
        availability says; a rule whose availability is SOMETIMES decides here."""
        return self.availability is FixAvailability.ALWAYS

    def total(self, items: Sequence[Item]) -> Saving:
        """The items' savings summed; a finding never reports negative bytes."""
        savings = [self.saving(item) for item in items]
        return Saving(
            locations=tuple(loc for saving in savings for loc in saving.locations),
            count=sum(saving.count for saving in savings),
            nbytes=max(sum(saving.nbytes for saving in savings), 0),
            nodes=sum(saving.nodes for saving in savings),
        )

    def check(self, ctx: CheckContext) -> list[Finding]:
        if not self.requires.met_by(ctx.index):
            return []
        items = self.match(ctx)
        if not items:
            return []
        total = self.total(items)
        fixable = self.fixable(items)
        return [
            Finding(
                path=ctx.path,
                code=self.code,
                name=self.name,
                message=self.message(items, total),
                fixable=fixable,
                safety=self.safety if fixable else None,
                count=total.count,
                nbytes=total.nbytes,
                nodes=total.nodes,
                locations=total.locations,
                fix_title=self.fix_title if fixable else None,
                plan=items,
            )
        ]

    def fix(self, index: ModelIndex, finding: Finding) -> bool:
        # The plan is the items this rule's own ``match`` returned: Finding holds
        # plans of every rule, so its field cannot carry this rule's item type.
        return self.apply(index, cast("Sequence[Item]", finding.plan))


def default_opset(index: ModelIndex) -> int:
    """The model's default-domain (``ai.onnx``) opset version, 1 when it imports none."""
    return index.opsets.get("", 1)


def plural(count: int, word: str, plural_word: str | None = None) -> str:
    return f"{count} {word if count == 1 else (plural_word or word + 's')}"


def size_note(nbytes: int) -> str:
    return f" ({format_bytes(nbytes)})" if nbytes else ""


def tally(kinds: Iterable[str]) -> str:
    """``2 Add, 1 Cast``: how many of each kind, sorted by kind."""
    return ", ".join(f"{n} {kind}" for kind, n in sorted(Counter(kinds).items()))
