"""--fix --unsafe-fixes on the eight real exports: every file written, verified, not grown."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import onnx

EXPORTED = Path(__file__).parent.parent / "models" / "exported"
ROOT = Path(__file__).parent.parent.parent


def test_cli_fix_unsafe_on_exported_models(tmp_path: Path) -> None:
    models = sorted(EXPORTED.glob("*.onnx"))
    assert len(models) == 10
    for model in models:
        shutil.copyfile(model, tmp_path / model.name)
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "onnxslim_lint",
            "check",
            "--isolated",
            "--fix",
            "--unsafe-fixes",
            "--extend-select",
            "OSL4",  # the fusions are not enforced by default
            "--exit-zero",
            "--config",
            "verify.dims = {batch = 2, sequence = 8}",
            str(tmp_path),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    reports = {
        Path(line.split(": fixed: ")[0]).name: line
        for line in proc.stdout.splitlines()
        if ": fixed: " in line
    }
    assert sorted(reports) == [m.name for m in models], proc.stdout
    for model in models:
        line = reports[model.name]
        assert "verified" in line and "refused" not in line, line
        fixed = tmp_path / model.name
        assert fixed.read_bytes() != model.read_bytes(), line
        assert fixed.stat().st_size <= model.stat().st_size, line
        before, after = map(int, re.search(r"nodes (\d+) → (\d+)", line).groups())
        assert after < before, line
    # The dynamo MobileNetV2 keeps its 52 Conv + BatchNormalization pairs: all folded.
    assert "OSL401" in reports["mobilenetv2_dynamo.onnx"]
    slim = onnx.load(tmp_path / "mobilenetv2_dynamo.onnx")
    assert not [n for n in slim.graph.node if n.op_type == "BatchNormalization"]
    assert "OSL403" in reports["mobilenetv2_legacy.onnx"]
