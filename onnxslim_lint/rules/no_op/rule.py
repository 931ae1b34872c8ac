"""OSL205 no-op: the rule, which runs the matchers and plans the rewiring."""

from __future__ import annotations

from collections.abc import Sequence

from onnxslim_lint.findings import FixAvailability, FixSafety, Location
from onnxslim_lint.model.domains import is_default_domain
from onnxslim_lint.model.edit import Editor, can_bypass
from onnxslim_lint.model.evaluate import ConeEvaluator
from onnxslim_lint.model.index import ModelIndex, NodeRef
from onnxslim_lint.model.symbolic import SymbolicShapes
from onnxslim_lint.rules.base import CheckContext, GraphRule, Saving, plural, size_note, tally
from onnxslim_lint.rules.no_op.arithmetic import (
    ARITHMETIC_OPS,
    LOGIC_OPS,
    match_arithmetic,
    match_logic,
)
from onnxslim_lint.rules.no_op.common import (
    Unchanged,
)
from onnxslim_lint.rules.no_op.shape_ops import SHAPE_OP_MATCHERS, SYMBOLIC_OPS, match_symbolic

_CANDIDATES = frozenset(
    {
        "Cast",
        "CastLike",
        "Reshape",
        "Expand",
        "Transpose",
        "Pad",
        "Slice",
        "Concat",
        "Squeeze",
        "Unsqueeze",
        "Mul",
        "Div",
        "Sub",
        "Add",
        "And",
        "Or",
        "Xor",
    }
)


class NoOp(GraphRule[Unchanged]):
    """
    ## What it does
    Finds nodes that return their input unchanged and removes them, rewiring their
    readers to the input:

    - ``Cast``/``CastLike`` to the type the input already has;
    - ``Reshape`` to the input's own shape, ``Expand`` to a shape that broadcasts to
      the input's own shape, static or proven equal with dims as symbols
      (:mod:`onnxslim_lint.model.symbolic`): ``Reshape(x, Concat(Shape(ids)[0:1],
      [-1], Shape(ids)[1:2], [16]))`` of ``x: [batch, 4, sequence, 16]``;
    - ``Transpose`` with the identity permutation; ``Pad`` (mode ``constant``) with
      all-zero pads; ``Slice`` over the whole range with step 1 (of a dim not
      known statically, ``0`` to ``INT64_MAX``, the exporters' ``x[:, a:b]``);
      ``Concat`` of one input;
    - ``Squeeze`` of the axes the ``Unsqueeze`` right before it added, and
      ``Unsqueeze`` of the axes the ``Squeeze`` right before it removed;
    - ``x * 1``, ``x / 1``, ``x - 0`` and ``x + (-0.0)`` (for integers ``x + 0``),
      when the constant's broadcast leaves the shape of ``x`` unchanged;
    - ``x + 0.0`` and ``x - (-0.0)`` too when every reader of the result is a
      ``Softmax``, ``Exp``, ``Cos`` or ``Cosh``: these cannot tell ``-0.0`` from
      ``+0.0``, the only value the node changes;
    - ``x and True``, ``x or False`` and ``x xor False`` on booleans, when the
      constant's broadcast leaves the shape of ``x`` unchanged.

    The neutral operand may be a stored constant or a value computed from
    constants alone by exact ops (``Where``, ``Expand``, comparisons, ``Range``...:
    the ones constant folding evaluates), such as the all-zero attention mask
    ``Where(all_true, 0.0, -inf)`` the dynamo exporter adds before each
    ``Softmax``. That value is computed in memory only to look at it, never
    written to the model: the node reading it is bypassed, and the nodes that made
    it, once nothing else reads them, are dead code that OSL102 removes.

    ## Why is this bad?
    Exporters trace framework code that is generic over shapes and types, so a
    model carries casts to the type a tensor already has, reshapes to its own shape
    and arithmetic with neutral elements. Each one is a node (often a copy of the
    tensor) that every runtime runs for nothing.

    ## What it leaves alone
    - Anything whose types or shapes are not statically known. Shapes come from
      onnx shape inference on a copy of the model with ``value_info`` cleared, so a
      stale annotation is never trusted. A symbolic dim equals only what it is
      proven equal to (the same ``dim_param``, or the same expression of them).
    - ``x + 0.0`` with a positive zero: it turns ``-0.0`` into ``+0.0``, so it is not
      an identity (``x + (-0.0)`` and ``x - 0.0`` are). ``x - (-0.0)`` likewise.
      Unless every reader is one of the sign-blind ops above, in the same graph:
      not when the result is a graph output, is read inside a subgraph or by
      anything else (``Relu``, ``LogSoftmax``, ``Abs``, ``MatMul``... keep or may
      keep the sign of a zero).
    - A computed operand whose cone reads a graph input or an overridable
      initializer, or holds an op outside the exact set (``MatMul``, random ops,
      subgraphs, another domain) or a subgraph node; and one that would take more
      than 64 nodes or 16 MB to compute.
    - A neutral constant whose broadcast grows ``x`` (``x[3] * ones[2,3]``), or
      whose values or shape come from an overridable initializer (a graph input).
    - Reshape or Expand whose shape input is neither a constant nor a shape tensor
      with every element proven equal to the input's dim (a ``-1`` may stand for one
      of them); Pad in a mode other than ``constant``; a Slice, Pad or Squeeze with
      non-constant parameters.
    - A node whose output is a graph output keeps that name; where it cannot be
      kept (the input is a graph input, an initializer or an output itself), the
      node stays.

    ## Example
    ``y = Cast(x, to=FLOAT)`` with ``x`` float becomes ``y = x``;
    ``u = Unsqueeze(x, [1]); y = Squeeze(u, [1])`` becomes ``y = x``.

    ## Fix safety
    Exact: each removed node returns its input bit for bit, ``-0.0`` and NaN
    included (a Reshape with a ``-1`` fails in onnxruntime on an empty tensor; the
    fixed model returns it), except ``x + 0.0`` (or ``x - (-0.0)``) before sign-blind readers,
    which differs only where ``x`` is ``-0.0``, a difference those readers cannot
    see: the model's outputs stay bit for bit the same.
    """

    code = "OSL205"
    name = "no-op"
    summary = "Casts, reshapes, pads, slices and arithmetic that change nothing"
    fix_title = "Remove the no-op nodes and rewire their readers"
    availability = FixAvailability.ALWAYS
    safety = FixSafety.EXACT

    def match(self, ctx: CheckContext) -> list[Unchanged]:
        index = ctx.index
        candidates = [
            ref
            for ref in index.nodes()
            if ref.node.op_type in _CANDIDATES
            and is_default_domain(ref.node.domain)
            and len(ref.node.output) == 1
            and ref.node.output[0]
            and ref.node.input
            and ref.node.input[0]
        ]
        if not candidates:
            return []
        found: list[Unchanged] = []
        claimed: set[int] = set()
        computed = ConeEvaluator(index)
        symbolic: SymbolicShapes | None = None
        for ref in candidates:
            item = _no_op(index, ref, computed)
            if item is None and ref.node.op_type in SYMBOLIC_OPS:
                symbolic = symbolic or SymbolicShapes.analyze(index)
                item = match_symbolic(symbolic, ref)
            if item is None or id(ref) in claimed:
                continue
            if item.also is not None and id(item.also) in claimed:
                continue
            if not can_bypass(index, ref, ref.node.output[0], item.source):
                continue
            claimed.add(id(ref))
            if item.also is not None:
                claimed.add(id(item.also))
            found.append(item)
        if not found:
            return []
        _resolve_chains(index, found)
        _keep_read_pair_firsts(found)
        found = [
            item
            for item in found
            if can_bypass(index, item.ref, item.ref.node.output[0], item.source)
        ]
        return _applicable(index, found)

    def saving(self, item: Unchanged) -> Saving:
        removed = _removed(item)
        nbytes = sum(ref.node.ByteSize() for ref in removed)
        locations = tuple(
            Location("node", ref.label, ref.scope.path, _why(item, ref), 0) for ref in removed
        )
        return Saving(locations, count=len(removed), nbytes=nbytes, nodes=len(removed))

    def message(self, items: Sequence[Unchanged], total: Saving) -> str:
        # Every removed node, the first of a Squeeze/Unsqueeze pair too: the tally
        # sums to the count.
        kinds = tally(ref.node.op_type for item in items for ref in _removed(item))
        return (
            f"{plural(total.count, 'node')} that change nothing: {kinds}{size_note(total.nbytes)}"
        )

    def apply(self, index: ModelIndex, items: Sequence[Unchanged]) -> bool:
        editor = Editor(index)
        changed = False
        # Values that are no graph output are rewired directly (a chain of no-ops
        # was resolved to its first input by match); graph outputs keep their names
        # through ``bypass``, which refuses when an earlier rewiring touched them
        # (they go in the next round).
        for item in items:
            old = item.ref.node.output[0]
            if index.is_graph_output(old):
                continue
            editor.replace_uses(old, item.source)
            editor.remove_node(item.ref)
            if item.also is not None:
                editor.remove_node(item.also)
            changed = True
        for item in items:
            old = item.ref.node.output[0]
            if not index.is_graph_output(old):
                continue
            if not editor.bypass(item.ref, old, item.source):
                continue
            changed = True
            if item.also is not None:
                editor.remove_node(item.also)
        editor.commit()
        return changed


def _removed(item: Unchanged) -> list[NodeRef]:
    """The nodes fixing ``item`` removes: the first of a pair (``also``) first."""
    return [ref for ref in (item.also, item.ref) if ref is not None]


def _why(item: Unchanged, ref: NodeRef) -> str:
    if ref is item.ref:
        return item.why
    return f"{ref.node.op_type.lower()} undone by the {item.ref.node.op_type} after it"


def _applicable(index: ModelIndex, found: list[Unchanged]) -> list[Unchanged]:
    """The items the fix will apply, in its order (so the finding counts exactly those).

    Rewired values come first; a graph output then keeps its name only when neither
    it nor its source was touched and the source's producer stays (as ``bypass``
    requires); the others wait for the next round.
    """
    touched: set[str] = set()
    removed: set[int] = set()
    plain = [item for item in found if not index.is_graph_output(item.ref.node.output[0])]
    outputs = [item for item in found if index.is_graph_output(item.ref.node.output[0])]
    for item in plain:
        touched.update((item.ref.node.output[0], item.source))
        removed.update(id(r) for r in (item.ref, item.also) if r is not None)
    kept: list[Unchanged] = []
    for item in outputs:
        old, source = item.ref.node.output[0], item.source
        producer = index.producer.get(source)
        if old in touched or source in touched or producer is None or id(producer) in removed:
            continue
        touched.update((old, source))
        removed.update(id(r) for r in (item.ref, item.also) if r is not None)
        kept.append(item)
    return plain + kept


def _keep_read_pair_firsts(found: list[Unchanged]) -> None:
    """A pair's first node stays when another no-op now reads through to its output.

    ``u = Unsqueeze(x); s = Squeeze(u); t = Unsqueeze(s)``: removing the Squeeze
    pair would also drop ``u``, but ``t`` is itself the Unsqueeze of the squeezed
    axes and is rewired to read ``u``, so ``u`` must stay.
    """
    owners = {item.also.node.output[0]: item for item in found if item.also is not None}
    for item in found:
        owner = owners.get(item.source)
        if owner is not None and owner is not item:
            owner.also = None


def _resolve_chains(index: ModelIndex, found: list[Unchanged]) -> None:
    """Point each no-op at the first input of a chain of no-ops feeding it.

    Only through no-ops whose output is no graph output (those are removed by
    rewiring, so their input stays defined).
    """
    by_output = {
        item.ref.node.output[0]: item
        for item in found
        if not index.is_graph_output(item.ref.node.output[0])
    }
    for item in found:
        seen: set[str] = set()
        source = item.source
        while source in by_output and source not in seen:
            seen.add(source)
            source = by_output[source].source
        item.source = source


def _no_op(index: ModelIndex, ref: NodeRef, computed: ConeEvaluator) -> Unchanged | None:
    op = ref.node.op_type
    if op in ARITHMETIC_OPS:
        return match_arithmetic(index, ref, computed)
    if op in LOGIC_OPS:
        return match_logic(index, ref, computed)
    handler = SHAPE_OP_MATCHERS.get(op)
    if handler is None:
        return None
    return handler(index, ref)
