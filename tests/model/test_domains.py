"""model/domains: both spellings of the default domain, and the random ops."""

from __future__ import annotations

import pytest
from onnx import helper

from onnxslim_lint.model.domains import (
    RANDOM_OPS,
    canonical_domain,
    is_default_domain,
    is_random_op,
)


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


@pytest.mark.parametrize("op_type", sorted(RANDOM_OPS))
@pytest.mark.parametrize("domain", ["", "ai.onnx"])
def test_random_ops_of_the_default_domain(op_type: str, domain: str) -> None:
    assert is_random_op(helper.make_node(op_type, [], ["y"], domain=domain))


def test_same_names_elsewhere_and_deterministic_ops_are_not_random() -> None:
    assert not is_random_op(helper.make_node("RandomNormal", [], ["y"], domain="custom"))
    assert not is_random_op(helper.make_node("Dropout", ["x"], ["y"]))
    assert not is_random_op(helper.make_node("Relu", ["x"], ["y"]))
