"""Every rule, by code and name, and the ruff-style selection of rules.

An explicit tuple, no discovery: adding a rule is one import and one line (where it
goes in the tuple decides when the fix loop runs it: see the comment there).
Selectors are codes (``OSL101``), prefixes (``OSL1``, ``OSL``), rule names
(``unused-initializer``) or ``ALL``. Opt-in rules are selected only by their exact
code or name.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from onnxslim_lint.config import RuleSelection
from onnxslim_lint.errors import UsageError
from onnxslim_lint.model.read_errors import READ_ERRORS, ReadErrorKind
from onnxslim_lint.rules.base import Rule
from onnxslim_lint.rules.chain_merge import ChainMerge
from onnxslim_lint.rules.common_subexpression import CommonSubexpression
from onnxslim_lint.rules.constant_folding import ConstantFolding
from onnxslim_lint.rules.constant_node import ConstantNode
from onnxslim_lint.rules.conv_add import ConvAdd
from onnxslim_lint.rules.conv_bn import ConvBn
from onnxslim_lint.rules.dead_node import DeadNode
from onnxslim_lint.rules.duplicate_constant import DuplicateConstant
from onnxslim_lint.rules.exporter_metadata import ExporterMetadata
from onnxslim_lint.rules.gelu import Gelu
from onnxslim_lint.rules.gemm_transpose import GemmTranspose
from onnxslim_lint.rules.identity_op import IdentityOp
from onnxslim_lint.rules.layer_norm import LayerNorm
from onnxslim_lint.rules.matmul_add_gemm import MatMulAddGemm
from onnxslim_lint.rules.model_size import ModelSize
from onnxslim_lint.rules.no_op import NoOp
from onnxslim_lint.rules.pad_conv import PadConv
from onnxslim_lint.rules.parallel_matmul import ParallelMatMul
from onnxslim_lint.rules.redundant_transpose import RedundantTranspose
from onnxslim_lint.rules.redundant_value_info import RedundantValueInfo
from onnxslim_lint.rules.reshape_roundtrip import ReshapeRoundtrip
from onnxslim_lint.rules.reshape_target import ReshapeTarget
from onnxslim_lint.rules.reshaped_transpose import ReshapedTranspose
from onnxslim_lint.rules.sequence_split import SequenceSplit
from onnxslim_lint.rules.shape_folding import ShapeFolding
from onnxslim_lint.rules.size_growth import SizeGrowth
from onnxslim_lint.rules.tied_weight import TiedWeight
from onnxslim_lint.rules.unused_function import UnusedFunction
from onnxslim_lint.rules.unused_graph_input import UnusedGraphInput
from onnxslim_lint.rules.unused_initializer import UnusedInitializer
from onnxslim_lint.rules.unused_opset_import import UnusedOpsetImport

__all__ = [
    "ALL_RULES",
    "ALWAYS_REPORTED",
    "DEFAULT_SELECT",
    "FAMILIES",
    "default_enabled",
    "enabled_codes",
    "file_error_by_code_or_name",
    "resolve_selectors",
    "rule_by_code_or_name",
    "rules_enabled",
    "select_rules",
    "specificity",
    "validate_selection",
]

# Not in code order, on purpose. The fix loop runs the selected rules in this order
# every round, and findings are reported in it; what --fix makes depends on it (run
# in code order, 4 of the 14 test models fix to other bytes with every rule on: the
# exported Whisper encoder keeps 2 more nodes, parallel-matmul finding nothing there).
# So the order stays the one every fixed model has been verified in: the dead-weight
# rules OSL101-103, the graph-structure rules OSL2xx, the budget rules (no graph
# check), the removals added later (OSL104-106, OSL108), the fusions OSL4xx, and the
# opt-in exporter-metadata last. ``onnxslim-lint rule --all`` and docs/rules/ list
# them in this order too.
ALL_RULES: tuple[type[Rule], ...] = (
    UnusedInitializer,
    DeadNode,
    DuplicateConstant,
    IdentityOp,
    RedundantTranspose,
    ConstantFolding,
    ShapeFolding,
    NoOp,
    ReshapeTarget,
    ChainMerge,
    CommonSubexpression,
    TiedWeight,
    ConstantNode,
    SequenceSplit,
    ReshapeRoundtrip,
    ReshapedTranspose,
    # Size budgets: no graph check; evaluated on the files by onnxslim_lint.budget.
    ModelSize,
    SizeGrowth,
    UnusedFunction,
    UnusedOpsetImport,
    UnusedGraphInput,
    RedundantValueInfo,
    ConvBn,
    ConvAdd,
    PadConv,
    MatMulAddGemm,
    Gelu,
    LayerNorm,
    ParallelMatMul,
    GemmTranspose,
    ExporterMetadata,
)

FAMILIES: dict[str, str] = {
    "OSL0": "Files that cannot be checked",
    "OSL1": "Dead weight",
    "OSL2": "Graph structure",
    "OSL3": "Size budgets",
    "OSL4": "Fusions",
}

# Enforced by default: the rules with exact fixes and the report-only rules a user can
# act on, so that `--fix` with the defaults always ends green (as ruff keeps risky
# rules out of its defaults). The fusions (OSL4xx) have numeric fixes that need
# --unsafe-fixes; they run when selected: `extend-select = ["OSL4"]`, or `ALL`.
DEFAULT_SELECT: tuple[str, ...] = ("OSL0", "OSL1", "OSL2", "OSL3")


# Reported whatever ``select`` says: a file that cannot be checked (OSL0xx) and a size
# budget that is configured (OSL3xx; without a budget they find nothing). A ``select``
# never drops them and the broad ignores (``ALL``, ``OSL``) leave them alone; an
# ``ignore`` or ``per-file-ignores`` naming them (``OSL0``, ``OSL3``, ``OSL30``, a code or a
# name) turns them off. A file error turned off is a warning, as ruff does with E902.
ALWAYS_REPORTED: frozenset[str] = frozenset([*READ_ERRORS, ModelSize.code, SizeGrowth.code])

_ALL = "ALL"
_RULE = 4  # the specificity of an exact code or a name (OSL101 = "OSL" + 3 characters)
_FAMILY = 2  # OSL1: a family prefix


def _all_codes(include_opt_in: bool = False) -> list[str]:
    return [rule.code for rule in ALL_RULES if include_opt_in or not rule.opt_in]


def _names() -> dict[str, str]:
    names = {rule.name: rule.code for rule in ALL_RULES}
    names.update({kind.name: kind.code for kind in READ_ERRORS.values()})
    return names


def default_enabled(code: str) -> bool:
    """Whether a rule (or file error) is enforced with no selection configured."""
    return code in enabled_codes(())


def specificity(selector: str) -> int:
    """ruff's order of precedence: ``ALL`` < ``OSL`` < ``OSL1`` < ``OSL10`` < ``OSL101``
    (a name counts as its code). Within one layer the more specific selector wins,
    and at equal specificity ``ignore`` wins."""
    text = selector.strip()
    if text.upper() == _ALL:
        return 0
    if text in _names():
        return _RULE
    return max(1, min(_RULE, len(text) - 2))


def _expand(raw: str, *, what: str, include_opt_in: bool) -> set[str]:
    """The codes one selector stands for (rules and file errors); unknown: UsageError."""
    selector = raw.strip()
    upper = selector.upper()
    if upper == _ALL:
        return set(_all_codes(include_opt_in)) | set(READ_ERRORS)
    names = _names()
    if selector in names:
        return {names[selector]}
    every = [rule.code for rule in ALL_RULES] + list(READ_ERRORS)
    if upper in every:
        return {upper}
    if upper.startswith("OSL"):
        opt_in = {rule.code for rule in ALL_RULES if rule.opt_in}
        matched = {code for code in every if code.startswith(upper)}
        if matched:
            return matched if include_opt_in else matched - opt_in
    raise UsageError(
        f"unknown rule selector '{raw}' {what} (codes, prefixes such as OSL1, names, or ALL; "
        "see `onnxslim-lint rule --all`)"
    )


def resolve_selectors(
    selectors: Iterable[str], *, what: str = "selector", include_opt_in: bool = False
) -> set[str]:
    """The rule codes a list of selectors stands for; an unknown selector is a UsageError.

    ``ALL`` and prefixes leave opt-in rules out unless ``include_opt_in`` (used for
    ``fixable``: which rules run is up to ``select``, not to what may be fixed). The
    file-error codes (OSL0xx) are not rules and are never in the result.
    """
    where = what if what.startswith(("in ", "for ")) else f"in {what}"
    codes: set[str] = set()
    for raw in selectors:
        codes |= _expand(raw, what=where, include_opt_in=include_opt_in)
    return codes - set(READ_ERRORS)


def _ignored(raw: str, *, what: str) -> set[str]:
    """What an ignore selector turns off: opt-in rules too; a broad one (``ALL``, ``OSL``)
    leaves the always-reported codes alone."""
    codes = _expand(raw, what=what, include_opt_in=True)
    if specificity(raw) < _FAMILY:
        codes -= ALWAYS_REPORTED
    return codes


def enabled_codes(
    selections: Sequence[RuleSelection], per_file_ignores: Sequence[Sequence[str]] = ()
) -> set[str]:
    """The codes enforced after every layer of selection, as ruff resolves them.

    Starting from the defaults, each layer maps its selectors to on/off in order of
    specificity (``select`` and ``extend_select`` on, then ``ignore`` off, so an
    ignore wins a tie). A layer with ``select`` replaces the set with what it turned
    on, so a command-line ``--select OSL103`` beats the file's ``ignore = ["OSL103"]``;
    a layer without only changes what it names. ``per_file_ignores`` then remove
    codes. The always-reported codes (:data:`ALWAYS_REPORTED`) survive a ``select``.
    Unknown selectors are a UsageError naming the code and where it was given.
    """
    enabled = {
        code for sel in DEFAULT_SELECT for code in _expand(sel, what="", include_opt_in=False)
    }
    carried: tuple[str, ...] = ()
    for layer in selections:
        where = f"in {layer.source}" if layer.source else ""
        ignores, carried = (*layer.ignore, *carried), ()
        updates: dict[str, bool] = {}
        for level in range(_RULE + 1):
            for raw in (*(layer.select or ()), *layer.extend_select):
                if specificity(raw) == level:
                    updates.update(
                        dict.fromkeys(_expand(raw, what=where, include_opt_in=False), True)
                    )
            for raw in ignores:
                if specificity(raw) == level:
                    updates.update(dict.fromkeys(_ignored(raw, what=where), False))
        if layer.select is not None:
            kept = {code for code in enabled & ALWAYS_REPORTED if updates.get(code, True)}
            enabled = {code for code, on in updates.items() if on} | kept
            if not layer.select and not layer.extend_select and layer.ignore:
                carried = layer.ignore  # as in ruff, `select = []` passes its ignores on
        else:
            for code, on in updates.items():
                if on:
                    enabled.add(code)
                else:
                    enabled.discard(code)
    for selectors in per_file_ignores:
        for raw in selectors:
            enabled -= _ignored(raw, what="in per-file-ignores")
    return enabled


def validate_selection(selections: Sequence[RuleSelection]) -> None:
    """Raise a UsageError for the first unknown selector in any layer, naming the code,
    the option and where it was given (``--select``, or ``ignore`` in a file)."""
    for layer in selections:
        keys = (
            ("select", layer.select or ()),
            ("extend-select", layer.extend_select),
            ("ignore", layer.ignore),
        )
        for key, selectors in keys:
            if layer.source == "command line":
                where = f"in --{key}"
            else:
                where = f"in {key} ({layer.source})" if layer.source else f"in {key}"
            for raw in selectors:
                _expand(raw, what=where, include_opt_in=True)


def rules_enabled(codes: Iterable[str]) -> list[type[Rule]]:
    wanted = set(codes)
    return [rule for rule in ALL_RULES if rule.code in wanted]


def select_rules(
    select: Sequence[str] | None,
    extend_select: Sequence[str] = (),
    ignore: Sequence[str] = (),
) -> list[type[Rule]]:
    """The rules one layer of selection enforces (on top of the defaults)."""
    layer = RuleSelection(
        None if select is None else tuple(select), tuple(extend_select), tuple(ignore)
    )
    return rules_enabled(enabled_codes((layer,)))


def rule_by_code_or_name(key: str) -> type[Rule] | None:
    for rule in ALL_RULES:
        if key.upper() == rule.code or key == rule.name:
            return rule
    return None


def file_error_by_code_or_name(key: str) -> ReadErrorKind | None:
    for kind in READ_ERRORS.values():
        if key.upper() == kind.code or key == kind.name:
            return kind
    return None
