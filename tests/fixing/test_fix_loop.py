"""The fix loop's bookkeeping: what it counts, and when verification compares bits."""

from __future__ import annotations

from pathlib import Path

import onnx

from onnxslim_lint.fixing.apply import apply_fixes
from onnxslim_lint.fixing.verify import verify_models
from onnxslim_lint.rules.tied_weight import TiedWeight

GPT2_LEGACY = Path(__file__).resolve().parents[1] / "models" / "exported" / "gpt2_legacy.onnx"


def test_tied_weight_verifies_bit_for_bit() -> None:
    """The weight becomes a computed Transpose: bit-identical once onnxruntime does not
    prepack constant weights (with prepacking, GPT-2 differed by 1.7e-6)."""
    model = onnx.load(GPT2_LEGACY)
    result = apply_fixes(model, [TiedWeight()])
    assert result.changed and result.exact
    assert len(result.model.graph.initializer) == len(model.graph.initializer) - 1
    report = verify_models(model, result.model, exact=True)
    assert report.passed and report.max_diff == 0.0, report
