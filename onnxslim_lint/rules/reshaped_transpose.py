"""OSL212 reshaped-transpose."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from math import prod
from typing import TypeGuard

import numpy as np
from onnx import numpy_helper

from onnxslim_lint.findings import FixAvailability, FixSafety, Location
from onnxslim_lint.model.edit import Editor
from onnxslim_lint.model.index import ModelIndex, NodeRef
from onnxslim_lint.model.shapes import is_static
from onnxslim_lint.model.tensors import node_nbytes
from onnxslim_lint.rules._fusion import (
    Claims,
    attr,
    chain_next,
    drop_if_only,
    forget,
    is_op,
    rewrite_as,
)
from onnxslim_lint.rules.base import CheckContext, GraphRule, Saving, plural, size_note

# The chain is proven equal to a Transpose by moving an index tensor of the same
# size through it; above this many elements the proof costs more than it is worth.
_MAX_ELEMENTS = 1 << 23


@dataclass(eq=False)
class _Chain:
    first: NodeRef  # Reshape x -> y
    middle: NodeRef  # Transpose y -> z
    last: NodeRef  # Reshape z -> w
    perm: tuple[int, ...]  # w == Reshape(Transpose(x, perm), shape of w)
    out_dims: tuple[int, ...]  # the static shape of w
    in_dims: tuple[int, ...]  # the static shape of x

    @property
    def transposes(self) -> bool:
        return self.perm != tuple(range(len(self.perm)))

    @property
    def reshapes(self) -> bool:
        return self.out_dims != self.permuted_dims

    @property
    def permuted_dims(self) -> tuple[int, ...]:
        return tuple(self.in_dims[axis] for axis in self.perm)

    @property
    def removed(self) -> tuple[NodeRef, ...]:
        """The nodes the fix deletes; the others are rewritten in place."""
        if self.transposes and self.reshapes:
            return (self.first,)
        return (self.first, self.middle)

    @property
    def kept(self) -> int:
        """Nodes left of the three: a Transpose, a Reshape, or both."""
        return max(1, int(self.transposes) + int(self.reshapes))


class ReshapedTranspose(GraphRule[_Chain]):
    """
    ## What it does
    Finds a ``Reshape``, a ``Transpose`` and a ``Reshape`` in a row that, taken
    together, only move whole axes of the first Reshape's input, and replaces the
    three with one ``Transpose`` of that input (or a Transpose and a Reshape, when
    the result also merges or splits axes).

    ## Why is this bad?
    Attention code computes ``k.transpose(-1, -2)`` on a 4-D tensor by flattening
    batch and heads, swapping the last two axes and splitting the heads back out;
    torch's dynamo exporter writes that as Reshape, Transpose, Reshape in every
    attention layer (BERT, GPT-2, ViT, Whisper). One ``Transpose`` with the 4-D
    permutation does the same, and often merges with the Transpose before it.

    ## What it leaves alone
    - Chains whose shapes are not all static by shape inference (with
      ``value_info`` cleared, so a stale annotation is never trusted), or larger
      than 8,388,608 elements.
    - Chains whose result is not a permutation of the input's axes, possibly
      followed by a reshape: splitting an axis and moving its parts apart cannot be
      written with fewer nodes.
    - Values between the nodes that are read by anything else, are graph outputs or
      are named by a side table; nodes in subgraphs.

    ## Example
    ``a = Reshape(x, [12, 128, 64]); b = Transpose(a, perm=[0, 2, 1]);
    y = Reshape(b, [1, 12, 64, 128])`` with ``x: float[1, 12, 128, 64]`` becomes
    ``y = Transpose(x, perm=[0, 1, 3, 2])``.

    ## Fix safety
    Exact: the replacement moves every element to the same place, which the check
    proves by passing an index tensor through both; nothing is computed.
    """

    code = "OSL212"
    name = "reshaped-transpose"
    summary = "Reshape, Transpose and Reshape that only move whole axes"
    fix_title = "Replace the chain with one Transpose"
    availability = FixAvailability.ALWAYS
    safety = FixSafety.EXACT

    def match(self, ctx: CheckContext) -> list[_Chain]:
        index = ctx.index
        chains: list[_Chain] = []
        claims = Claims()
        for ref in index.nodes():
            if ref.scope is not index.main or not _is_reshape(ref):
                continue
            chain = _match(index, ref)
            if chain is None:
                continue
            if claims.take((chain.first, chain.middle, chain.last)):
                chains.append(chain)
        return chains

    def saving(self, item: _Chain) -> Saving:
        label = f"{item.first.label} -> {item.last.label}"
        detail = f"Transpose perm={list(item.perm)}" + (" and Reshape" if item.reshapes else "")
        nbytes = sum(node_nbytes(node.node) for node in item.removed)
        location = Location("node", label, "main", detail, 0)
        return Saving((location,), nbytes=nbytes, nodes=3 - item.kept)

    def message(self, items: Sequence[_Chain], total: Saving) -> str:
        return (
            f"{plural(len(items), 'Reshape-Transpose-Reshape chain')} that only move "
            f"axes{size_note(total.nbytes)}"
        )

    def apply(self, index: ModelIndex, items: Sequence[_Chain]) -> bool:
        editor = Editor(index)
        changed = False
        for chain in items:
            x = chain.first.node.input[0]
            y, z = chain.first.node.output[0], chain.middle.node.output[0]
            w = chain.last.node.output[0]
            if {x, y, z, w} & editor.touched:
                continue
            editor.remove_node(chain.first)
            drop_if_only(editor, index, chain.first.node.input[1], chain.first)
            if chain.transposes and chain.reshapes:
                rewrite_as(chain.middle.node, "Transpose", [x], {"perm": list(chain.perm)})
                _reshape_to(index, editor, chain, z)
                forget(index, z)
            elif chain.transposes:
                editor.remove_node(chain.middle)
                drop_if_only(editor, index, chain.last.node.input[1], chain.last)
                rewrite_as(chain.last.node, "Transpose", [x], {"perm": list(chain.perm)})
            else:
                editor.remove_node(chain.middle)
                _reshape_to(index, editor, chain, x)
            editor.touched.update((x, y, z, w))
            changed = True
        editor.commit()
        return changed


def _match(index: ModelIndex, last: NodeRef) -> _Chain | None:
    """The chain ending in Reshape ``last``, when it only moves whole axes."""
    middle = index.producer.get(last.node.input[0])
    if not is_op(middle, "Transpose") or chain_next(index, middle) is not last:
        return None
    first = index.producer.get(middle.node.input[0])
    if first is None or not _is_reshape(first) or chain_next(index, first) is not middle:
        return None
    shapes = index.inferred_shapes()
    names = (first.node.input[0], *_outputs(first, middle, last))
    dims = [shapes.get(name, (0, None))[1] for name in names]
    static = [d for d in dims if is_static(d)]
    if len(static) != len(dims):
        return None
    x_dims, y_dims, _, w_dims = static
    perm = attr(middle.node, "perm")
    if perm is None or sorted(perm) != list(range(len(y_dims))):
        return None
    found = _as_transpose(x_dims, y_dims, tuple(perm), w_dims)
    if found is None:
        return None
    chain = _Chain(first, middle, last, found, w_dims, x_dims)
    return chain if chain.kept < 3 else None


def _as_transpose(
    x_dims: tuple[int, ...], y_dims: tuple[int, ...], perm: tuple[int, ...], w_dims: tuple[int, ...]
) -> tuple[int, ...] | None:
    """A permutation ``q`` of x's axes with Reshape(Transpose(x, q), w) equal to the chain.

    Numbers the elements of x, moves the numbers through the chain and reads off the
    order of x's axes from the steps between them (the axes of size > 1 have distinct
    strides); then proves the candidate on the whole index tensor. Axes of size 1 go
    where ``w`` has its 1s when the permuted shape can equal ``w``.
    """
    total = prod(x_dims)
    if total == 0 or total > _MAX_ELEMENTS:
        return None
    numbers = np.arange(total, dtype=np.int32 if total < 2**31 else np.int64)
    moved = numbers.reshape(y_dims).transpose(perm).reshape(-1)
    strides = [prod(x_dims[axis + 1 :]) for axis in range(len(x_dims))]
    axis_by_stride = {strides[a]: a for a in range(len(x_dims)) if x_dims[a] > 1}
    inner_first: list[int] = []
    block = 1
    while block < total:
        axis = axis_by_stride.get(int(moved[block]) - int(moved[0]))
        if axis is None or axis in inner_first:
            return None
        inner_first.append(axis)
        block *= x_dims[axis]
    big = inner_first[::-1]
    ones = [a for a in range(len(x_dims)) if x_dims[a] == 1]
    if len(w_dims) == len(x_dims) and [d for d in w_dims if d != 1] == [x_dims[a] for a in big]:
        big_iter, ones_iter = iter(big), iter(ones)
        order = [next(ones_iter) if d == 1 else next(big_iter) for d in w_dims]
    else:
        order = ones + big
    if not np.array_equal(numbers.reshape(x_dims).transpose(order).reshape(-1), moved):
        return None
    return tuple(order)


def _is_reshape(ref: NodeRef | None) -> TypeGuard[NodeRef]:
    return (
        is_op(ref, "Reshape")
        and len(ref.node.input) >= 2
        and len(ref.node.output) == 1
        and bool(ref.node.output[0])
    )


def _outputs(*refs: NodeRef) -> list[str]:
    return [ref.node.output[0] for ref in refs]


def _reshape_to(index: ModelIndex, editor: Editor, chain: _Chain, source: str) -> None:
    """Make the last Reshape read ``source``, keeping its shape input when that is a
    constant that does not depend on its input (no ``0`` copying an input dim)."""
    node = chain.last.node
    shape = node.input[1]
    value = index.constant_array(shape) if not index.is_overridable(shape) else None
    allowzero = attr(node, "allowzero", 0)
    if value is None or (not allowzero and bool(np.any(value == 0))):
        drop_if_only(editor, index, shape, chain.last)
        shape = _shape_initializer(index, chain.out_dims, node.output[0])
        allowzero = 0
    rewrite_as(node, "Reshape", [source, shape], {"allowzero": allowzero} if allowzero else {})


def _shape_initializer(index: ModelIndex, dims: tuple[int, ...], base: str) -> str:
    """A new int64 initializer holding ``dims``; ``base`` (an output name) keeps the
    names of one fix's initializers apart (``fresh_name`` sees only the index)."""
    name = index.fresh_name(f"{base}_shape")
    tensor = numpy_helper.from_array(np.array(dims, dtype=np.int64), name)
    index.main.graph.initializer.append(tensor)
    return name
