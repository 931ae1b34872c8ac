"""PyTorch's default exporter as users export for serving: dynamo=True with dynamic
batch and sequence axes and the exporter's symbolic value_info (tests/models/dynamic,
made by scripts/make_test_models.py --set dynamic).

Fixes used to leave annotations the full checker rejects there (chain-merge gave an
Unsqueeze a longer axes tensor whose value_info still said the old length), so every
--fix was refused. The fix loop now repairs annotations after each fix.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import onnx
import pytest

from onnxslim_lint.config import Settings, VerifySettings
from onnxslim_lint.fixing.gates import check_interface
from onnxslim_lint.pipeline import RunOptions, process_file
from onnxslim_lint.results import Verdict

DYNAMIC = Path(__file__).resolve().parents[1] / "models" / "dynamic"
MANIFEST = json.loads((DYNAMIC / "MANIFEST.json").read_text())["models"]
# The fewest nodes a peer leaves on these files (measured with onnxslim 0.1.98,
# onnxsim 0.8.1 and onnxoptimizer 0.4.2): the exact default fix does as well. onnxsim's
# 128 on GPT-2 folds the tied lm_head Transpose into a second copy of the weight.
BEST_PEER = {
    "bert_dynamo.onnx": 115,  # onnxoptimizer
    "gpt2_dynamo.onnx": 128,  # onnxsim
    "whisper_decoder_dynamo.onnx": 193,  # onnxslim
}


@pytest.mark.parametrize("unsafe", [False, True], ids=["fix", "unsafe-fixes"])
@pytest.mark.parametrize("name", sorted(MANIFEST))
def test_a_dynamic_axes_export_is_fixed_and_verified(
    name: str, unsafe: bool, tmp_path: Path
) -> None:
    source = DYNAMIC / name
    path = tmp_path / name
    shutil.copyfile(source, path)
    settings = Settings(
        extend_select=("OSL4",) if unsafe else (),
        verify=VerifySettings(dims=MANIFEST[name]["dims"]),
    )
    result = process_file(path, settings, RunOptions(fix=True, unsafe_fixes=unsafe))
    report = result.fix_report
    assert report is not None and report.written, report
    assert report.verdict is Verdict.PASSED, report.reason
    assert report.nodes_after < report.nodes_before
    assert report.nodes_after <= BEST_PEER[name]
    fixed = onnx.load(path)
    onnx.checker.check_model(fixed, full_check=True)
    original = onnx.load(source)
    assert check_interface(original, fixed) is None
    # the interface keeps its symbolic dims exactly (not only names, types and ranks)
    for before, after in (
        (original.graph.input, fixed.graph.input),
        (original.graph.output, fixed.graph.output),
    ):
        assert [v.SerializeToString() for v in before] == [v.SerializeToString() for v in after]
