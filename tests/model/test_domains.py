"""model/domains: both spellings of the default domain."""

from __future__ import annotations

import pytest

from onnxslim_lint.model.domains import canonical_domain, is_default_domain


@pytest.mark.parametrize(
    ("domain", "default"),
    [
        ("", True),
        ("ai.onnx", True),
        ("ai.onnx.ml", False),
        ("com.microsoft", False),
        ("AI.ONNX", False),
    ],
)
def test_default_domain_has_two_spellings(domain: str, default: bool) -> None:
    assert is_default_domain(domain) is default


def test_canonical_domain_spells_the_default_as_empty() -> None:
    assert canonical_domain("ai.onnx") == ""
    assert canonical_domain("") == ""
    assert canonical_domain("com.microsoft") == "com.microsoft"
