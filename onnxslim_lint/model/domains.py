"""Facts about operator domains: which one is the default, and which of its ops are random.

ONNX spells the default operator set two ways, ``""`` and ``"ai.onnx"``; every test
of "is this a standard op" goes through :func:`is_default_domain` so no caller forgets
the second spelling.
"""

from __future__ import annotations

import onnx

__all__ = ["RANDOM_OPS", "canonical_domain", "is_default_domain", "is_random_op"]

#: Default-domain ops whose outputs differ from run to run (or seed to seed).
RANDOM_OPS = frozenset(
    {
        "RandomNormal",
        "RandomUniform",
        "RandomNormalLike",
        "RandomUniformLike",
        "Bernoulli",
        "Multinomial",
    }
)


def is_default_domain(domain: str) -> bool:
    """True for the default ONNX operator set, spelled ``""`` or ``"ai.onnx"``."""
    return domain in ("", "ai.onnx")


def canonical_domain(domain: str) -> str:
    """The domain with the default set spelled ``""``, so both spellings compare equal."""
    return "" if is_default_domain(domain) else domain


def is_random_op(node: onnx.NodeProto) -> bool:
    """True when the node itself is a non-deterministic op of the default domain."""
    return is_default_domain(node.domain) and node.op_type in RANDOM_OPS
