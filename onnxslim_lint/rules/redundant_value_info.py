"""OSL108 redundant-value-info."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import onnx

from onnxslim_lint.findings import FixAvailability, FixSafety, Location
from onnxslim_lint.model.index import GraphScope, ModelIndex
from onnxslim_lint.model.tensors import field_nbytes
from onnxslim_lint.rules.base import CheckContext, GraphRule, Saving, plural, size_note

_VALUE_INFO_FIELD = onnx.GraphProto.DESCRIPTOR.fields_by_name["value_info"].number


@dataclass(frozen=True)
class _Entry:
    scope: GraphScope
    position: int  # in ``scope.graph.value_info``
    name: str
    why: str
    nbytes: int


class RedundantValueInfo(GraphRule[_Entry]):
    """
    ## What it does
    Finds ``value_info`` entries (type and shape annotations) that say nothing the
    model does not already say, and removes them:

    - an entry for an initializer of the same graph, with the initializer's element
      type and either no shape or the initializer's dims;
    - an entry for an input or output of the same graph, with the same type as the
      input or output declares;
    - a second entry for a name that already has one;
    - an entry for a name that nothing in the model defines or reads.

    ## Why is this bad?
    The dynamo exporter annotates every parameter in ``value_info`` as well as in
    the initializer that holds it, and edits by other tools leave annotations of
    values that no longer exist. They are bytes, and a stale annotation is one a
    later tool may trust.

    ## What it leaves alone
    - Annotations of values computed by nodes: they are what shape inference would
      have to work out again.
    - An entry whose type or shape differs from what the initializer or the graph
      declares (it holds information, possibly wrong, that a reader should see).
    - An entry carrying ``metadata_props`` or a ``doc_string`` (provenance: the
      opt-in ``exporter-metadata`` rule strips those first, and the entry goes on
      the next round).
    - Function bodies.

    ## Example
    ``value_info: w: float[768, 768]`` next to the initializer ``w`` of that type
    and shape is removed.

    ## Fix safety
    Exact: annotations of initializers and graph inputs and outputs repeat their
    declarations; no runtime computes anything from them.
    """

    code = "OSL108"
    name = "redundant-value-info"
    summary = "Annotations that repeat an initializer, input or output, or name nothing"
    fix_title = "Remove the redundant value_info entries"
    availability = FixAvailability.ALWAYS
    safety = FixSafety.EXACT

    def match(self, ctx: CheckContext) -> list[_Entry]:
        return _redundant(ctx.index)

    def saving(self, item: _Entry) -> Saving:
        location = Location("value", item.name, item.scope.path, item.why, item.nbytes)
        return Saving((location,), nbytes=item.nbytes)

    def message(self, items: Sequence[_Entry], total: Saving) -> str:
        return (
            f"{plural(len(items), 'value_info entry', 'value_info entries')} that "
            f"repeat a declaration or name nothing{size_note(total.nbytes)}"
        )

    def apply(self, index: ModelIndex, items: Sequence[_Entry]) -> bool:
        by_scope: dict[int, tuple[GraphScope, set[int]]] = {}
        for entry in items:
            by_scope.setdefault(id(entry.scope), (entry.scope, set()))[1].add(entry.position)
        for scope, positions in by_scope.values():
            infos = scope.graph.value_info
            for position in sorted(positions, reverse=True):
                del infos[position]
        return bool(items)


def _redundant(index: ModelIndex) -> list[_Entry]:
    found: list[_Entry] = []
    for scope in index.scopes:
        graph = scope.graph
        initializers = {t.name: t for t in graph.initializer}
        declared = {v.name: v for v in (*graph.input, *graph.output)}
        seen: set[str] = set()
        for position, info in enumerate(graph.value_info):
            if info.metadata_props or info.doc_string:
                seen.add(info.name)
                continue
            why = ""
            if info.name in seen:
                why = "second entry for the name"
            elif info.name in initializers and _matches_tensor(info, initializers[info.name]):
                why = "repeats the initializer"
            elif info.name in declared and info.type == declared[info.name].type:
                why = "repeats the graph's input or output"
            elif info.name not in index.defined_in and not index.uses_of(info.name):
                why = "names no value"
            seen.add(info.name)
            if why:
                nbytes = field_nbytes(_VALUE_INFO_FIELD, info.ByteSize())
                found.append(_Entry(scope, position, info.name, why, nbytes))
    return found


def _matches_tensor(info: onnx.ValueInfoProto, tensor: onnx.TensorProto) -> bool:
    if info.type.WhichOneof("value") != "tensor_type":
        return False
    tensor_type = info.type.tensor_type
    if tensor_type.elem_type != tensor.data_type:
        return False
    if not tensor_type.HasField("shape"):
        return True
    dims = tensor_type.shape.dim
    return len(dims) == len(tensor.dims) and all(
        d.WhichOneof("value") == "dim_value" and d.dim_value == size
        for d, size in zip(dims, tensor.dims, strict=True)
    )
