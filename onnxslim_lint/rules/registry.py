"""Every rule, by code and name, and the ruff-style selection of rules.

An explicit tuple, no discovery: adding a rule is one import and one line (where it
goes in the tuple decides when the fix loop runs it: see the comment there).
Selectors are codes (``OSL101``), prefixes (``OSL1``, ``OSL``), rule names
(``unused-initializer``) or ``ALL``. Opt-in rules are selected only by their exact
code or name.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from onnxslim_lint.errors import UsageError
from onnxslim_lint.model.read_errors import READ_ERRORS
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
    "FAMILIES",
    "resolve_selectors",
    "rule_by_code_or_name",
    "select_rules",
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


def _all_codes(include_opt_in: bool = False) -> list[str]:
    return [rule.code for rule in ALL_RULES if include_opt_in or not rule.opt_in]


def resolve_selectors(
    selectors: Iterable[str], *, what: str = "selector", include_opt_in: bool = False
) -> set[str]:
    """The rule codes a list of selectors stands for; an unknown selector is a UsageError.

    ``ALL`` and prefixes leave opt-in rules out unless ``include_opt_in`` (used for
    ``fixable``: which rules run is up to ``select``, not to what may be fixed).
    """
    codes: set[str] = set()
    by_name = {rule.name: rule.code for rule in ALL_RULES}
    known = _all_codes(include_opt_in) + list(READ_ERRORS)
    for raw in selectors:
        selector = raw.strip()
        if selector.upper() == "ALL":
            codes.update(_all_codes(include_opt_in))
            continue
        if selector in by_name:
            codes.add(by_name[selector])
            continue
        exact = [rule.code for rule in ALL_RULES if rule.code == selector.upper()]
        if exact:
            codes.update(exact)
            continue
        matched = [code for code in known if code.startswith(selector.upper())]
        if not matched or not selector.upper().startswith("OSL"):
            raise UsageError(f"unknown rule {what} '{raw}' (see `onnxslim-lint rule --all`)")
        codes.update(code for code in matched if code not in READ_ERRORS)
    return codes


def select_rules(
    select: Sequence[str] | None,
    extend_select: Sequence[str] = (),
    ignore: Sequence[str] = (),
) -> list[type[Rule]]:
    chosen = resolve_selectors(DEFAULT_SELECT if select is None else select)
    chosen |= resolve_selectors(extend_select)
    chosen -= resolve_selectors(ignore)
    return [rule for rule in ALL_RULES if rule.code in chosen]


def rule_by_code_or_name(key: str) -> type[Rule] | None:
    for rule in ALL_RULES:
        if key.upper() == rule.code or key == rule.name:
            return rule
    return None
