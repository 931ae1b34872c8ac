"""OSL101 unused-initializer."""

from __future__ import annotations

from onnxslim_lint.findings import Finding, FixSafety, Location
from onnxslim_lint.model.edit import Editor
from onnxslim_lint.model.index import GraphScope, ModelIndex
from onnxslim_lint.model.tensors import tensor_detail, tensor_nbytes
from onnxslim_lint.rules.base import CheckContext, Rule, plural, size_note


class UnusedInitializer(Rule):
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
    safety = FixSafety.EXACT

    def check(self, ctx: CheckContext) -> list[Finding]:
        index = ctx.index
        unused: list[tuple[GraphScope, str, int, str]] = []
        for name, (scope, tensor) in index.initializers.items():
            if _removable(index, scope, name):
                unused.append((scope, name, tensor_nbytes(tensor), tensor_detail(tensor)))
        for name, (scope, sparse) in index.sparse_initializers.items():
            if _removable(index, scope, name):
                unused.append(
                    (
                        scope,
                        name,
                        tensor_nbytes(sparse.values) + tensor_nbytes(sparse.indices),
                        tensor_detail(sparse.values),
                    )
                )
        if not unused:
            return []
        nbytes = sum(item[2] for item in unused)
        return [
            self.finding(
                ctx,
                f"{plural(len(unused), 'unused initializer')}{size_note(nbytes)}",
                locations=[
                    Location("initializer", name, scope.path, detail, size)
                    for scope, name, size, detail in unused
                ],
                count=len(unused),
                nbytes=nbytes,
                nodes=0,
                plan=[(scope, name) for scope, name, _, _ in unused],
            )
        ]

    def fix(self, index: ModelIndex, finding: Finding) -> bool:
        editor = Editor(index)
        for scope, name in finding.plan:  # type: ignore[attr-defined]
            editor.remove_initializer(scope, name)
        editor.commit()
        return bool(finding.plan)


def _removable(index: ModelIndex, scope: GraphScope, name: str) -> bool:
    return not index.is_used(name) and name not in scope.input_names
