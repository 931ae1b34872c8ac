"""OSL204 shape-folding."""

from __future__ import annotations

import numpy as np

from onnxslim_lint.findings import Finding, FixSafety
from onnxslim_lint.model.evaluate import apply_folds, plan_folds
from onnxslim_lint.model.index import ModelIndex, NodeRef
from onnxslim_lint.model.shapes import is_static
from onnxslim_lint.rules.base import CheckContext, Rule
from onnxslim_lint.rules.constant_folding import _report


class ShapeFolding(Rule):
    """
    ## What it does
    Finds ``Shape`` and ``Size`` nodes of values whose shape is fully static and
    replaces them by int64 initializers, together with the constant arithmetic that
    only they feed (``Gather``, ``Slice``, ``Concat``, ``Unsqueeze``, ``Cast``,
    ``Mul``, ...), the way constant folding does.

    ## Why is this bad?
    Exporters trace shape computations (``x.size(0)``, ``view(b, -1, h)``) as
    ``Shape -> Gather -> Unsqueeze -> Concat -> Reshape`` chains even where every dim
    is fixed. Each run recomputes numbers that are known when the file is written,
    and the chains hide constant shapes from other fixes.

    ## What it leaves alone
    - A value with any symbolic (``dim_param``) or unknown dim: a graph input with
      a dynamic batch size stays dynamic.
    - Shapes are taken from onnx shape inference run on a copy of the model with
      every ``value_info`` cleared, so a stale annotation is never trusted.
    - Nodes inside subgraphs, Shape nodes whose output is a graph output, and any
      fold that would make the file larger.

    ## Example
    With ``x: float[1, 3, 224, 224]``, ``s = Shape(x, start=2); y = Reshape(z, s)``
    becomes ``y = Reshape(z, s)`` with ``s`` an initializer ``[224, 224]``.

    ## Fix safety
    Exact: the shape of a statically shaped value is the same on every run.
    """

    code = "OSL204"
    name = "shape-folding"
    summary = "Shape and Size of values with a static shape"
    fix_title = "Replace the shape computations by initializers"
    safety = FixSafety.EXACT

    def check(self, ctx: CheckContext) -> list[Finding]:
        index = ctx.index
        if index.model.ir_version <= 3:
            return []
        candidates = [
            ref
            for ref in index.nodes()
            if ref.scope is index.main
            and ref.node.op_type in ("Shape", "Size")
            and ref.node.domain in ("", "ai.onnx")
            and len(ref.node.input) == 1
            and ref.node.input[0]
            and len(ref.node.output) == 1
            and ref.node.output[0]
        ]
        if not candidates:
            return []
        shapes = index.inferred_shapes()
        seeds: dict[int, list[np.ndarray]] = {}
        for ref in candidates:
            dims = shapes.get(ref.node.input[0], (0, None))[1]
            if not is_static(dims):
                continue
            seeds[id(ref)] = [_value(ref, dims)]  # type: ignore[arg-type]
        if not seeds:
            return []
        return _report(self, ctx, plan_folds(index, seeds, constants=False), "static shape")

    def fix(self, index: ModelIndex, finding: Finding) -> bool:
        return apply_folds(index, finding.plan)  # type: ignore[arg-type]


def _value(ref: NodeRef, dims: tuple[int, ...]) -> np.ndarray:
    if ref.node.op_type == "Size":
        return np.array(int(np.prod(dims, dtype=np.int64)), dtype=np.int64)
    rank = len(dims)
    start, end = 0, rank
    for attr in ref.node.attribute:
        if attr.name == "start":
            start = attr.i
        elif attr.name == "end":
            end = attr.i
    start = min(max(start + rank if start < 0 else start, 0), rank)
    end = min(max(end + rank if end < 0 else end, 0), rank)
    return np.array(dims[start:end], dtype=np.int64)
