"""OSL203 constant-folding."""

from __future__ import annotations

from onnxslim_lint.model.domains import is_default_domain
from onnxslim_lint.model.evaluate import EXACT_OPS
from onnxslim_lint.model.index import ModelIndex
from onnxslim_lint.rules._folding import FoldComponent, FoldingRule, plan_folds
from onnxslim_lint.rules.base import CheckContext


class ConstantFolding(FoldingRule):
    """
    ## What it does
    Finds nodes whose inputs are all constants (initializers that are not graph
    inputs, or ``Constant`` outputs), directly or through other such nodes, computes
    them once, and replaces them with initializers holding their results. Constants
    only the folded nodes read go with them. Nodes inside If/Loop/Scan subgraphs fold
    too, their results initializers of the subgraph that held them.

    ## Why is this bad?
    Exporters emit the arithmetic that builds shapes, masks and index tables as
    nodes, so every run of the model recomputes the same values. Folding them makes
    the graph smaller and lets the next fixes (no-op removal, shape folding) see
    constant shapes.

    ## What it leaves alone
    - Ops whose result a runtime may compute differently (float reductions, matrix
      products, transcendental functions) and random ops (``RandomNormal``,
      ``Bernoulli``, ...): only an allowlist of exact ops is evaluated.
    - Nodes with subgraphs, nodes in non-default domains, and nodes whose output
      is a graph output (a branch's outputs keep their nodes and names).
    - Inside a Loop or Scan body, anything computed from a loop-carried value or a
      scanned slice (body inputs, never constants); and any node reading or making
      a name that two graphs define (sibling branches, or a subgraph shadowing an
      outer name).
    - Anything reading an overridable initializer (one that is also a graph input).
    - A fold whose new initializers would be larger than what it removes (an
      ``Expand`` or ``Tile`` of a small constant to a large tensor): the file never
      grows.
    - Models with IR version 3 or older (their initializers must be graph inputs).

    ## Example
    ``s = Concat(Constant([1]), Constant([64])); y = Reshape(x, s)`` becomes
    ``y = Reshape(x, s)`` with ``s`` an initializer ``[1, 64]``.

    ## Fix safety
    Exact: the allowlisted ops give the same bits in the evaluator (onnx's reference
    implementation) as in any runtime; the result keeps the node's output type.

    ## Options
    ``max-folded-constant`` in ``[tool.onnxslim-lint]`` (a size, e.g. ``"1 MB"``):
    no fold creates an initializer larger than this, even when it saves bytes, the
    way onnx-simplifier's ``--size-threshold`` keeps large constants computed at
    run time. Default: no cap beyond never growing the file.
    """

    code = "OSL203"
    name = "constant-folding"
    summary = "Nodes computed from constants only"
    fix_title = "Replace the nodes by initializers holding their results"
    folded_from = "constant"

    def match(self, ctx: CheckContext) -> list[FoldComponent]:
        index = ctx.index
        if not _has_candidate(index):
            return []
        return plan_folds(index, max_constant=ctx.options.max_folded_constant)


def _has_candidate(index: ModelIndex) -> bool:
    for ref in index.nodes():
        node = ref.node
        if node.op_type not in EXACT_OPS:
            continue
        if is_default_domain(node.domain) and all(
            index.constant_tensor(name) is not None for name in node.input if name
        ):
            return True
    return False
