"""The default operator domain, which ONNX spells two ways: ``""`` and ``"ai.onnx"``.

Every test of "is this a standard op" goes through :func:`is_default_domain`, so no
caller forgets the second spelling.
"""

from __future__ import annotations

__all__ = ["canonical_domain", "is_default_domain"]


def is_default_domain(domain: str) -> bool:
    """True for the default ONNX operator set, spelled ``""`` or ``"ai.onnx"``."""
    return domain in ("", "ai.onnx")


def canonical_domain(domain: str) -> str:
    """The domain with the default set spelled ``""``, so both spellings compare equal."""
    return "" if is_default_domain(domain) else domain
