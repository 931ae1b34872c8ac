"""OSL107 node-metadata."""

from __future__ import annotations

import onnx

from onnxslim_lint.findings import Finding, FixSafety, Location
from onnxslim_lint.model.index import ModelIndex, NodeRef
from onnxslim_lint.rules.base import CheckContext, Rule, plural, size_note


class NodeMetadata(Rule):
    """
    ## What it does
    Finds nodes (in the main graph and every subgraph) that carry ``metadata_props``
    or a ``doc_string``, and reports the bytes they take. The fix strips both from
    every node.

    Opt-in: selected only by its code or name (``--select OSL107``), never by
    ``ALL`` or a prefix, since some users rely on this information.

    ## Why is this bad?
    The dynamo exporter writes, for every node, the Python stack trace, the module
    hierarchy, the FX node and name scopes (``pkg.torch.onnx.*``, ``namespace``) as
    node metadata. In small models that is often more bytes than the weights, and
    it names the source files of the machine that exported the model.

    ## What it leaves alone
    - Model-level and graph-level ``metadata_props`` and ``doc_string`` (licence,
      producer notes, ...).
    - Function bodies.
    - Node names, which the runtime uses in profiles and error messages.

    ## Example
    A ``Conv`` with ``metadata_props {key: "pkg.torch.onnx.stack_trace", value:
    "File ..."}`` keeps its name, inputs, outputs and attributes, without the
    metadata.

    ## Fix safety
    Exact: metadata and doc strings are never read by a runtime to compute outputs.
    It does remove debugging information (where in the source a node came from).
    """

    code = "OSL107"
    name = "node-metadata"
    summary = "Per-node metadata_props and doc_string written by exporters"
    fix_title = "Strip node metadata_props and doc_string"
    safety = FixSafety.EXACT
    opt_in = True

    def check(self, ctx: CheckContext) -> list[Finding]:
        marked = [(ref, _metadata_bytes(ref.node)) for ref in ctx.index.nodes()]
        marked = [(ref, size) for ref, size in marked if size]
        if not marked:
            return []
        nbytes = sum(size for _, size in marked)
        return [
            self.finding(
                ctx,
                f"{plural(len(marked), 'node')} carrying metadata or doc strings"
                f"{size_note(nbytes)}",
                locations=[
                    Location("node", ref.label, ref.scope.path, _keys(ref), size)
                    for ref, size in marked
                ],
                count=len(marked),
                nbytes=nbytes,
                nodes=0,
                plan=[ref for ref, _ in marked],
            )
        ]

    def fix(self, index: ModelIndex, finding: Finding) -> bool:
        refs: list[NodeRef] = finding.plan  # type: ignore[assignment]
        for ref in refs:
            ref.node.ClearField("metadata_props")
            ref.node.ClearField("doc_string")
        return bool(refs)


def _metadata_bytes(node: onnx.NodeProto) -> int:
    if not node.metadata_props and not node.doc_string:
        return 0
    stripped = onnx.NodeProto()
    stripped.CopyFrom(node)
    stripped.ClearField("metadata_props")
    stripped.ClearField("doc_string")
    return node.ByteSize() - stripped.ByteSize()


def _keys(ref: NodeRef) -> str:
    keys = [entry.key for entry in ref.node.metadata_props]
    if ref.node.doc_string:
        keys.append("doc_string")
    return ", ".join(keys)
