"""OSL207 common-subexpression."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from onnxslim_lint.findings import FixAvailability, FixSafety
from onnxslim_lint.model.domains import is_default_domain
from onnxslim_lint.model.edit import Editor
from onnxslim_lint.model.graphs import has_subgraph
from onnxslim_lint.model.index import ModelIndex, NodeRef
from onnxslim_lint.model.randomness import RANDOM_OPS
from onnxslim_lint.rules._fusion import node_saving
from onnxslim_lint.rules.base import CheckContext, GraphRule, Saving, plural, size_note


@dataclass(eq=False)
class _Merge:
    later: NodeRef
    earlier: NodeRef
    # Per output slot: (later's output, the name the kept value has after the fix,
    # the earlier output renamed to later's name because later's is pinned).
    renames: tuple[tuple[str, str, bool], ...]


class CommonSubexpression(GraphRule[_Merge]):
    """
    ## What it does
    Finds nodes of the same graph that compute the same thing: the same operator
    (op_type, domain, overload), the same input names in the same order and the
    same attributes. The later node is removed and its readers read the earlier
    node's outputs instead. Merging can make further nodes identical; the fix
    loop repeats until none are left.

    ## Why is this bad?
    Exporters trace every use of a value separately: each attention layer computes
    its own ``Shape(x)``, ``Gather(shape, 0)`` and ``Unsqueeze`` chain, and each
    reader of ``x`` gets its own ``Cast``. Every copy is run at inference time.

    ## What it leaves alone
    - Non-deterministic ops (``RandomNormal``, ``RandomUniform``, their ``Like``
      forms, ``Bernoulli``, ``Multinomial``, ``Dropout`` with a training-mode
      input): two draws are two different values.
    - Ops outside the default ONNX domain and calls of model-local functions: an
      unknown op may have side effects or state.
    - Nodes holding subgraphs (``If``, ``Loop``, ``Scan``).
    - ``Constant`` nodes: merging equal constants is ``duplicate-constant``'s job.
    - Nodes in different graphs (a subgraph node is never merged with an outer one).
    - Graph output names: when the later node's output is a graph output, the
      earlier node is renamed to produce that name; when both are graph outputs,
      or the earlier output cannot take the name, both nodes stay.

    ## Example
    ``a = Shape(x); b = Shape(x); y = Add(a, b)`` becomes ``a = Shape(x);
    y = Add(a, a)``.

    ## Fix safety
    Exact: the kept node computes bit for bit what the removed one computed.
    """

    code = "OSL207"
    name = "common-subexpression"
    summary = "Identical nodes computing the same value more than once"
    fix_title = "Keep the first of each set of identical nodes and rewire readers"
    availability = FixAvailability.ALWAYS
    safety = FixSafety.EXACT

    def match(self, ctx: CheckContext) -> list[_Merge]:
        return _plan(ctx.index)

    def saving(self, item: _Merge) -> Saving:
        later = item.later
        detail = f"{later.node.op_type} = {item.earlier.label}"
        return node_saving(later, detail, later.node.ByteSize())

    def message(self, items: Sequence[_Merge], total: Saving) -> str:
        return (
            f"{plural(len(items), 'node')} computing a value already computed"
            f"{size_note(total.nbytes)}"
        )

    def apply(self, index: ModelIndex, items: Sequence[_Merge]) -> bool:
        editor = Editor(index)
        for merge in items:
            earlier = merge.earlier.node
            for slot, (old, new, rename) in enumerate(merge.renames):
                if not old:
                    continue
                if not rename:
                    editor.replace_uses(old, new)
                    continue
                # The later output is pinned: the earlier node takes its name, and
                # every reader of the earlier output (including readers rewired to it
                # by this fix) reads the pinned name.
                original = earlier.output[slot]
                earlier.output[slot] = old
                for ref in index.nodes():
                    for position, name in enumerate(ref.node.input):
                        if name == original:
                            ref.node.input[position] = old
                editor.touched.update((old, original))
                editor._removed_values.add(original)  # drop its stale value_info
            editor.remove_node(merge.later)
        editor.commit()
        return bool(items)


def _key(index: ModelIndex, ref: NodeRef, functions: set[tuple[str, str]]) -> tuple | None:
    node = ref.node
    if not is_default_domain(node.domain):
        return None
    if (node.domain, node.op_type) in functions:
        return None
    if node.op_type in RANDOM_OPS or node.op_type == "Constant":
        return None
    if node.op_type == "Dropout" and len(node.input) >= 3 and node.input[2]:
        return None
    if not any(node.output) or has_subgraph(node):
        return None
    attrs = tuple(sorted((a.name, a.SerializeToString(deterministic=True)) for a in node.attribute))
    return (
        node.op_type,
        node.overload,
        tuple(node.input),
        attrs,
        tuple(bool(out) for out in node.output),
    )


def _pinned(index: ModelIndex, name: str) -> bool:
    return index.is_graph_output(name) or name in index.side_table_names


def _plan(index: ModelIndex) -> list[_Merge]:
    functions = {(f.domain, f.name) for f in index.model.functions}
    merges: list[_Merge] = []
    for scope in index.scopes:
        first: dict[tuple, NodeRef] = {}
        # The current output names of each kept node, after renames planned so far.
        current: dict[int, list[str]] = {}
        for ref in index.nodes():
            if ref.scope is not scope:
                continue
            key = _key(index, ref, functions)
            if key is None:
                continue
            keeper = first.get(key)
            if keeper is None:
                first[key] = ref
                current[id(ref)] = list(ref.node.output)
                continue
            names = current[id(keeper)]
            renames: list[tuple[str, str, bool]] = []
            ok = True
            for slot, old in enumerate(ref.node.output):
                if not old:
                    renames.append(("", "", False))
                    continue
                if not _pinned(index, old):
                    renames.append((old, names[slot], False))
                    continue
                new = names[slot]
                # Rename the kept output to the pinned name: only once per slot, and
                # only when the kept output is itself free to lose its name.
                if new != keeper.node.output[slot] or _pinned(index, new):
                    ok = False
                    break
                renames.append((old, old, True))
            if not ok:
                continue
            for slot, (old, _new, rename) in enumerate(renames):
                if rename:
                    names[slot] = old
            merges.append(_Merge(ref, keeper, tuple(renames)))
    return merges
