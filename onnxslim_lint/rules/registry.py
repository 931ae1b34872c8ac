"""Every rule, by code and name.

An explicit tuple, no discovery: adding a rule is one import, one line here (where
it goes in the tuple decides when the fix loop runs it: see the comment there) and
its line in :mod:`onnxslim_lint.rules.catalog`. The selection of rules lives in
:mod:`onnxslim_lint.rules.selection` (re-exported here), which needs only the
catalog.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from onnxslim_lint.config import RuleSelection
from onnxslim_lint.model.read_errors import READ_ERRORS, ReadErrorKind
from onnxslim_lint.rules.add_zero import AddZero
from onnxslim_lint.rules.base import Rule
from onnxslim_lint.rules.chain_merge import ChainMerge
from onnxslim_lint.rules.common_subexpression import CommonSubexpression
from onnxslim_lint.rules.constant_folding import ConstantFolding
from onnxslim_lint.rules.constant_if import ConstantIf
from onnxslim_lint.rules.constant_node import ConstantNode
from onnxslim_lint.rules.conv_add import ConvAdd
from onnxslim_lint.rules.conv_bn import ConvBn
from onnxslim_lint.rules.conv_mul import ConvMul
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
from onnxslim_lint.rules.selection import (
    ALWAYS_REPORTED,
    DEFAULT_SELECT,
    default_enabled,
    enabled_codes,
    resolve_selectors,
    specificity,
    validate_selection,
)
from onnxslim_lint.rules.sequence_split import SequenceSplit
from onnxslim_lint.rules.shape_folding import ShapeFolding
from onnxslim_lint.rules.size_growth import SizeGrowth
from onnxslim_lint.rules.slice_merge import SliceMerge
from onnxslim_lint.rules.tied_weight import TiedWeight
from onnxslim_lint.rules.unused_function import UnusedFunction
from onnxslim_lint.rules.unused_graph_input import UnusedGraphInput
from onnxslim_lint.rules.unused_initializer import UnusedInitializer
from onnxslim_lint.rules.unused_opset_import import UnusedOpsetImport
from onnxslim_lint.rules.zero_initial_state import ZeroInitialState

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
    ZeroInitialState,
    ShapeFolding,
    ConstantIf,
    NoOp,
    ReshapeTarget,
    ChainMerge,
    SliceMerge,
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
    ConvMul,
    AddZero,
    ExporterMetadata,
)

FAMILIES: dict[str, str] = {
    "OSL0": "Files that cannot be checked",
    "OSL1": "Dead weight",
    "OSL2": "Graph structure",
    "OSL3": "Size budgets",
    "OSL4": "Fusions",
}


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
