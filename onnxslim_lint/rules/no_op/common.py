"""What the no-op matchers share: the item a matcher returns, and the few index
lookups (constants, attributes, inferred types and shapes) they all make."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from onnxslim_lint.model.index import ModelIndex, NodeRef
from onnxslim_lint.model.shapes import Dims


@dataclass(eq=False)
class Unchanged:
    ref: NodeRef
    source: str  # the value the node's output equals
    also: NodeRef | None = None  # the first of a Squeeze/Unsqueeze pair, removed with it
    why: str = ""


def constant(index: ModelIndex, name: str) -> np.ndarray | None:
    if not name:
        return None
    tensor = index.constant_tensor(name)
    if tensor is None:
        return None
    try:
        return index.tensor_array(tensor)
    except Exception:
        return None


def attribute(ref: NodeRef, name: str, default: Any = None) -> Any:
    """An int, ints, string or float attribute's value; None for a reference to a
    function attribute or another type, ``default`` when absent."""
    for attr in ref.node.attribute:
        if attr.name == name:
            if attr.ref_attr_name:
                return None
            if attr.type == attr.INT:
                return attr.i
            if attr.type == attr.INTS:
                return list(attr.ints)
            if attr.type == attr.STRING:
                return attr.s.decode()
            if attr.type == attr.FLOAT:
                return attr.f
            return None
    return default


def shape_info(index: ModelIndex, name: str) -> tuple[int, Dims | None]:
    return index.inferred_shapes().get(name, (0, None))


def elem_type(index: ModelIndex, name: str) -> int:
    return shape_info(index, name)[0]


def dims_of(index: ModelIndex, name: str) -> Dims | None:
    return shape_info(index, name)[1]


def broadcast_keeps(dims: Sequence[int | None], other: Sequence[int | None]) -> bool:
    """Does broadcasting ``dims`` with ``other`` give exactly ``dims``?"""
    if len(other) > len(dims):
        return False
    for a, b in zip(reversed(dims), reversed(other), strict=False):
        if b == 1:
            continue
        if a is None or a != b:
            return False
    return True
