"""The fix loop's bookkeeping: what it counts, and when verification compares bits."""

from __future__ import annotations

from pathlib import Path

import onnx

from onnxslim_lint.fixing.apply import apply_fixes
from onnxslim_lint.fixing.verify import verify_models
from onnxslim_lint.rules.identity_op import IdentityOp
from onnxslim_lint.rules.tied_weight import TiedWeight

GPT2_LEGACY = Path(__file__).resolve().parent / "models" / "exported" / "gpt2_legacy.onnx"


def test_tied_weight_is_verified_within_tolerance_not_bit_for_bit() -> None:
    model = onnx.load(GPT2_LEGACY)
    result = apply_fixes(model, [TiedWeight()])
    assert result.changed
    assert result.not_bit_exact == {"OSL208"}
    assert not result.exact
    assert len(result.model.graph.initializer) == len(model.graph.initializer) - 1
    report = verify_models(model, result.model, exact=result.exact)
    assert report.passed, report


def test_exact_rules_stay_bit_exact() -> None:
    model = onnx.load(GPT2_LEGACY)
    result = apply_fixes(model, [IdentityOp(), TiedWeight()], may_fix=lambda f: False)
    assert not result.changed and result.exact
