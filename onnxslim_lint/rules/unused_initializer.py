"""OSL101 unused-initializer."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from onnxslim_lint.findings import FixAvailability, FixSafety, Location
from onnxslim_lint.model.edit import Editor
from onnxslim_lint.model.index import GraphScope, ModelIndex
from onnxslim_lint.model.tensors import tensor_detail, tensor_nbytes
from onnxslim_lint.rules.base import CheckContext, GraphRule, Saving, plural, size_note


@dataclass(eq=False)
class _Unused:
    scope: GraphScope
    name: str
    nbytes: int
    detail: str


class UnusedInitializer(GraphRule[_Unused]):
    """
    ## What it does
    Finds initializers (dense and sparse) that nothing reads: no node in the main
    graph or in any If/Loop/Scan subgraph, no graph output, no training or
    quantization side table.

    ## Why is this bad?
    An unused initializer is stored in the file and loaded into memory by every
    runtime, and contributes nothing. Exporters leave them behind when a parameter is
    registered but not used in ``forward``, or when a traced branch is dropped.

    ## What it leaves alone
    - An initializer that is also listed in the graph's inputs: it is an overridable
      default, part of the model's interface, even if no node reads it.
    - An initializer read only inside a subgraph (an outer-scope read is a read).
    - An initializer that is itself a graph output.

    ## Example
    A graph ``Y = MatMul(X, W)`` with initializers ``W`` and ``W_old`` (64x256
    float32, 65.5 kB): ``W_old`` is reported and removed; ``W`` stays.

    ## Fix safety
    Exact: removing a value nothing reads cannot change any output.
    """

    code = "OSL101"
    name = "unused-initializer"
    summary = "Initializers that nothing reads"
    fix_title = "Remove the unused initializers"
    availability = FixAvailability.ALWAYS
    safety = FixSafety.EXACT

    def match(self, ctx: CheckContext) -> list[_Unused]:
        index = ctx.index
        unused: list[_Unused] = []
        for name, (scope, tensor) in index.initializers.items():
            if _removable(index, scope, name):
                unused.append(_Unused(scope, name, tensor_nbytes(tensor), tensor_detail(tensor)))
        for name, (scope, sparse) in index.sparse_initializers.items():
            if _removable(index, scope, name):
                nbytes = tensor_nbytes(sparse.values) + tensor_nbytes(sparse.indices)
                unused.append(_Unused(scope, name, nbytes, tensor_detail(sparse.values)))
        return unused

    def saving(self, item: _Unused) -> Saving:
        location = Location("initializer", item.name, item.scope.path, item.detail, item.nbytes)
        return Saving((location,), nbytes=item.nbytes)

    def message(self, items: Sequence[_Unused], total: Saving) -> str:
        return f"{plural(len(items), 'unused initializer')}{size_note(total.nbytes)}"

    def apply(self, index: ModelIndex, items: Sequence[_Unused]) -> bool:
        editor = Editor(index)
        for item in items:
            editor.remove_initializer(item.scope, item.name)
        editor.commit()
        return bool(items)


def _removable(index: ModelIndex, scope: GraphScope, name: str) -> bool:
    return not index.is_used(name) and name not in scope.input_names
