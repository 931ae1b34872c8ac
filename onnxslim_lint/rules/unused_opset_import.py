"""OSL105 unused-opset-import."""

from __future__ import annotations

from collections.abc import Sequence

import onnx

from onnxslim_lint.findings import FixAvailability, FixSafety, Location
from onnxslim_lint.model.domains import is_default_domain
from onnxslim_lint.model.graphs import all_nodes
from onnxslim_lint.model.index import ModelIndex
from onnxslim_lint.rules.base import CheckContext, GraphRule, Saving, plural, size_note


class UnusedOpsetImport(GraphRule[onnx.OperatorSetIdProto]):
    """
    ## What it does
    Finds ``opset_import`` entries of the model for domains that no node uses: no
    node of the main graph, any subgraph, any training graph or any model-local
    function body. They are removed.

    ## Why is this bad?
    Exporters import domains up front (``com.microsoft``, ``pkg.onnxscript.torch_lib``,
    ``ai.onnx.ml``) whether or not an op of them ends up in the graph. A runtime
    that does not know such a domain may refuse the model although it runs none of
    its ops.

    ## What it leaves alone
    - The default domain (``""`` / ``ai.onnx``), always.
    - A domain used by any node anywhere, including only inside a function body.
    - The domain a model-local function is defined in (its calls use it), while
      the function is in the model; once ``unused-function`` removes an uncalled
      function, its domain is reported on the next run.
    - The ``opset_import`` lists of the functions themselves.

    ## Example
    ``opset_import: ["": 17, "com.microsoft": 1]`` with only default-domain nodes:
    the ``com.microsoft`` entry is removed.

    ## Fix safety
    Exact: no node changes.
    """

    code = "OSL105"
    name = "unused-opset-import"
    summary = "Opset imports of domains no node uses"
    fix_title = "Remove the unused opset imports"
    availability = FixAvailability.ALWAYS
    safety = FixSafety.EXACT

    def match(self, ctx: CheckContext) -> list[onnx.OperatorSetIdProto]:
        used = used_domains(ctx.index)
        return [
            op
            for op in ctx.index.model.opset_import
            if not is_default_domain(op.domain) and op.domain not in used
        ]

    def saving(self, item: onnx.OperatorSetIdProto) -> Saving:
        nbytes = item.ByteSize()
        location = Location("opset", item.domain, "model", f"version {item.version}", nbytes)
        return Saving((location,), nbytes=nbytes + 2)

    def message(self, items: Sequence[onnx.OperatorSetIdProto], total: Saving) -> str:
        return (
            f"{plural(len(items), 'opset import')} of a domain no node uses"
            f"{size_note(total.nbytes)}"
        )

    def apply(self, index: ModelIndex, items: Sequence[onnx.OperatorSetIdProto]) -> bool:
        domains = {op.domain for op in items}
        imports = index.model.opset_import
        changed = False
        for position in range(len(imports) - 1, -1, -1):
            if imports[position].domain in domains and not is_default_domain(
                imports[position].domain
            ):
                del imports[position]
                changed = True
        return changed


def used_domains(index: ModelIndex) -> set[str]:
    model: onnx.ModelProto = index.model
    nodes = [ref.node for ref in index.nodes()]
    for info in model.training_info:
        nodes.extend(all_nodes(info.initialization))
        nodes.extend(all_nodes(info.algorithm))
    used = {node.domain for node in nodes}
    for function in model.functions:
        used.add(function.domain)
        used.update(node.domain for node in all_nodes(function))
        used.update(op.domain for op in function.opset_import)
    return used
