"""OSL202 redundant-transpose."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial

import onnx
from onnx import helper

from onnxslim_lint.findings import FixAvailability, FixSafety, Location
from onnxslim_lint.model.domains import is_default_domain
from onnxslim_lint.model.edit import Editor, can_bypass
from onnxslim_lint.model.index import ModelIndex, NodeRef
from onnxslim_lint.rules._fusion import Claims, linked_pairs, merge_pair
from onnxslim_lint.rules.base import CheckContext, GraphRule, Saving, plural, size_note


@dataclass(eq=False)
class _Pair:
    first: NodeRef
    second: NodeRef
    perm: tuple[int, ...]  # the composed permutation
    drop_first: bool  # the first Transpose feeds nothing else

    @property
    def cancels(self) -> bool:
        return self.perm == tuple(range(len(self.perm)))

    @property
    def saved_nodes(self) -> int:
        return (1 if self.cancels else 0) + (1 if self.drop_first else 0)


class RedundantTranspose(GraphRule[_Pair]):
    """
    ## What it does
    Finds a ``Transpose`` whose input is another ``Transpose``. When the two
    permutations cancel, both go and readers get the original tensor; otherwise they
    are merged into one ``Transpose`` with the composed permutation.

    ## Why is this bad?
    Layout conversions between frameworks (NCHW and NHWC) and attention reshapes
    leave Transpose pairs that undo each other. Each one copies the whole tensor at
    run time.

    ## What it leaves alone
    - A first Transpose that also feeds other nodes keeps feeding them; it is removed
      only when the pair was its only reader. A merge that would remove no node is not
      reported.
    - A second Transpose whose output is a graph output keeps that name; where it
      cannot (the input is a graph input or an output itself), the pair stays.
    - A Transpose without a ``perm`` attribute (reverse the dims) is handled only when
      the input's rank is known.

    ## Example
    ``t = Transpose(x, perm=[0, 2, 1]); y = Transpose(t, perm=[0, 2, 1])`` becomes
    ``y = x``; ``perm=[1, 0, 2]`` then ``perm=[0, 2, 1]`` becomes one
    ``Transpose(x, perm=[1, 2, 0])``.

    ## Fix safety
    Exact: a permutation of elements moves bits without computing anything.
    """

    code = "OSL202"
    name = "redundant-transpose"
    summary = "Consecutive Transposes that cancel or compose"
    fix_title = "Remove or merge the consecutive Transposes"
    availability = FixAvailability.ALWAYS
    safety = FixSafety.EXACT

    def match(self, ctx: CheckContext) -> list[_Pair]:
        return _pairs(ctx.index)

    def saving(self, item: _Pair) -> Saving:
        detail = "cancel" if item.cancels else f"perm={list(item.perm)}"
        label = f"{item.first.label} -> {item.second.label}"
        nbytes = (item.second.node.ByteSize() if item.cancels else 0) + (
            item.first.node.ByteSize() if item.drop_first else 0
        )
        location = Location("node", label, item.second.scope.path, detail, 0)
        return Saving((location,), count=item.saved_nodes, nbytes=nbytes, nodes=item.saved_nodes)

    def message(self, items: Sequence[_Pair], total: Saving) -> str:
        cancel = sum(1 for pair in items if pair.cancels)
        parts = []
        if cancel:
            verb = "cancels" if cancel == 1 else "cancel"
            parts.append(f"{plural(cancel, 'Transpose pair')} that {verb}")
        if len(items) - cancel:
            compose = len(items) - cancel
            verb = "composes" if compose == 1 else "compose"
            parts.append(f"{plural(compose, 'Transpose pair')} that {verb}")
        return " and ".join(parts) + size_note(total.nbytes)

    def apply(self, index: ModelIndex, items: Sequence[_Pair]) -> bool:
        editor = Editor(index)
        changed = False
        for pair in items:
            changed |= merge_pair(
                editor,
                pair.first,
                pair.second,
                cancels=pair.cancels,
                drop_first=pair.drop_first,
                rewrite=partial(_set_perm, pair.second.node, pair.perm),
            )
        editor.commit()
        return changed


def _pairs(index: ModelIndex) -> list[_Pair]:
    pairs: list[_Pair] = []
    claims = Claims()
    for first, second in linked_pairs(index, claims, _is_transpose, _is_transpose):
        middle = second.node.input[0]
        perm1 = _perm(index, first)
        perm2 = _perm(index, second)
        if perm1 is None or perm2 is None or len(perm1) != len(perm2):
            continue
        composed = tuple(perm1[axis] for axis in perm2)
        drop_first = all(use.node is second for use in index.uses_of(middle))
        pair = _Pair(first, second, composed, drop_first)
        if pair.saved_nodes == 0:
            continue
        if pair.cancels and not can_bypass(
            index, second, second.node.output[0], first.node.input[0]
        ):
            continue
        claims.take((first, second))
        pairs.append(pair)
    return pairs


def _is_transpose(ref: NodeRef) -> bool:
    node = ref.node
    return (
        node.op_type == "Transpose"
        and is_default_domain(node.domain)
        and len(node.input) == 1
        and bool(node.input[0])
        and len(node.output) == 1
        and bool(node.output[0])
    )


def _perm(index: ModelIndex, ref: NodeRef) -> tuple[int, ...] | None:
    for attr in ref.node.attribute:
        if attr.name == "perm":
            perm = tuple(int(axis) for axis in attr.ints)
            return perm if sorted(perm) == list(range(len(perm))) else None
    shape = index.value_shape(ref.node.input[0])
    if shape is None:
        return None
    return tuple(reversed(range(len(shape))))


def _set_perm(node: onnx.NodeProto, perm: tuple[int, ...]) -> None:
    for attr in node.attribute:
        if attr.name == "perm":
            del attr.ints[:]
            attr.ints.extend(perm)
            return
    node.attribute.append(helper.make_attribute("perm", list(perm)))
