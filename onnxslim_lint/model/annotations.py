"""Shape annotations an edit made stale: found against shape inference, updated or dropped.

``value_info`` is a cache of what shape inference would say about a value. The full
onnx checker runs inference again and refuses a model where the two disagree
("Inferred shape and existing shape differ in dimension 0: (3) vs (2)", "... differ in
rank"). After a fix an entry can disagree in two ways:

- the value kept its name but not its shape or type: a tensor rewritten in place
  (a merged Unsqueeze's axes written into the first one's axes initializer), a node's
  output name given to another value;
- the value is unchanged, but the fix made more of the graph inferable and an entry the
  exporter wrote wrong is contradicted for the first time (paddle2onnx's rank-0
  placeholders once a Reshape's target becomes a constant).

Both are found the same way: each entry is compared with onnx shape inference on a
copy without any ``value_info`` and without the weights' bytes
(:func:`onnxslim_lint.model.shapes.infer_shapes`, which an index computes once and
caches). Only a contradiction the checker would report counts: element types that
differ, ranks that differ, a dim static in both with two values. A stale entry is
rewritten from inference when inference knows its rank, keeping the entry's symbolic
dim names where inference has none; otherwise it is dropped. An entry inference knows
nothing about is kept, unless its value is among the ``changed`` names the caller
gives (values whose producer or tensor an edit replaced): nothing then vouches for it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import onnx

from onnxslim_lint.model.graphs import all_graphs
from onnxslim_lint.model.shapes import Dims, ShapeInfo, infer_shapes

__all__ = ["AnnotationRepair", "repair_annotations", "stale_reason"]


@dataclass(frozen=True)
class AnnotationRepair:
    """What :func:`repair_annotations` did, by value name."""

    updated: tuple[str, ...] = ()
    dropped: tuple[str, ...] = ()

    @property
    def changed(self) -> bool:
        return bool(self.updated or self.dropped)


def repair_annotations(
    model: onnx.ModelProto,
    inferred: ShapeInfo | None = None,
    changed: Iterable[str] = (),
) -> AnnotationRepair:
    """Update or drop, in every graph of ``model`` (in place), each stale ``value_info``.

    ``inferred`` is :func:`infer_shapes` of ``model`` as it is now (pass
    ``ModelIndex.build(model).inferred_shapes()`` to share it with the rules); it is
    computed when not given. ``value_info`` entries do not enter it, so it stays valid
    after this call.
    """
    if inferred is None:
        inferred = infer_shapes(model)
    unconfirmed = frozenset(changed)
    updated: list[str] = []
    dropped: list[str] = []
    for graph in all_graphs(model.graph):
        for position in range(len(graph.value_info) - 1, -1, -1):
            value = graph.value_info[position]
            known = inferred.get(value.name)
            if known is None:
                if value.name in unconfirmed:
                    del graph.value_info[position]
                    dropped.append(value.name)
                continue
            if stale_reason(value, known) is None:
                continue
            if _rewrite(value, known):
                updated.append(value.name)
            else:
                del graph.value_info[position]
                dropped.append(value.name)
    return AnnotationRepair(tuple(sorted(updated)), tuple(sorted(dropped)))


def stale_reason(value: onnx.ValueInfoProto, known: tuple[int, Dims | None]) -> str | None:
    """Why the checker would refuse ``value`` against the inferred ``known``, or None.

    A non-tensor annotation (sequence, optional, map) is stale against any inferred
    tensor: inference only reports tensors.
    """
    elem, dims = known
    if not value.type.HasField("tensor_type"):
        return "not a tensor"
    tensor_type = value.type.tensor_type
    if elem and tensor_type.elem_type and elem != tensor_type.elem_type:
        return f"element type {tensor_type.elem_type} vs {elem}"
    if dims is None or not tensor_type.HasField("shape"):
        return None
    declared = tensor_type.shape.dim
    if len(declared) != len(dims):
        return f"rank {len(declared)} vs {len(dims)}"
    for axis, (dim, size) in enumerate(zip(declared, dims, strict=True)):
        if size is not None and dim.HasField("dim_value") and dim.dim_value not in (size, -1):
            return f"dimension {axis}: {dim.dim_value} vs {size}"
    return None


def _rewrite(value: onnx.ValueInfoProto, known: tuple[int, Dims | None]) -> bool:
    """Make ``value`` say what inference says; False when inference knows no rank."""
    elem, dims = known
    if dims is None:
        return False
    names: list[str] = []
    if value.type.HasField("tensor_type"):
        old = value.type.tensor_type
        if old.HasField("shape") and len(old.shape.dim) == len(dims):
            names = [d.dim_param if d.HasField("dim_param") else "" for d in old.shape.dim]
        elem = elem or old.elem_type
    if not elem:
        return False
    tensor_type = onnx.TypeProto.Tensor(elem_type=elem)
    tensor_type.shape.SetInParent()  # a rank-0 shape is still a shape
    for axis, size in enumerate(dims):
        dim = tensor_type.shape.dim.add()
        if size is not None:
            dim.dim_value = size
        elif names and names[axis]:
            dim.dim_param = names[axis]
    value.type.Clear()
    value.type.tensor_type.CopyFrom(tensor_type)
    return True
