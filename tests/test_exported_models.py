"""The core rules on real exporter output (tests/models/exported, made by
scripts/make_test_models.py with torch.onnx.export of transformers models).

MANIFEST.json holds what an independent count with plain onnx found in each file;
the rules must find the same, and ``--fix`` must verify bit-exactly.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from onnxslim_lint.config import Settings, VerifySettings
from onnxslim_lint.fixing.engine import count_nodes
from onnxslim_lint.fixing.gates import check_interface
from onnxslim_lint.fixing.verify import verify_models
from onnxslim_lint.model.load import load_model
from onnxslim_lint.pipeline import RunOptions, process_file

EXPORTED = Path(__file__).resolve().parent / "models" / "exported"
MANIFEST = json.loads((EXPORTED / "MANIFEST.json").read_text())["models"]
CORE = ("OSL101", "OSL102", "OSL103", "OSL201", "OSL202")


def _settings(entry: dict, select=CORE) -> Settings:
    return Settings(select=select, verify=VerifySettings(dims=entry["dims"]))


@pytest.mark.parametrize("name", sorted(MANIFEST))
def test_core_rules_find_what_an_independent_count_finds(name: str) -> None:
    entry = MANIFEST[name]
    result = process_file(EXPORTED / name, _settings(entry), RunOptions())
    assert result.error is None
    by_code = {f.code: f for f in result.findings}
    assert by_code["OSL103"].count == entry["duplicate_values"]
    if entry["identity_nodes"]:
        assert by_code["OSL201"].count == entry["identity_nodes"]
    else:
        assert "OSL201" not in by_code
    assert "OSL101" not in by_code  # the exports hold no unused initializer
    assert count_nodes(load_model(EXPORTED / name).model) == entry["nodes"]


@pytest.mark.parametrize("name", sorted(MANIFEST))
def test_fix_verifies_bit_exactly_and_slims(name: str, tmp_path: Path) -> None:
    entry = MANIFEST[name]
    target = tmp_path / name
    shutil.copyfile(EXPORTED / name, target)
    original = load_model(target).model
    result = process_file(target, _settings(entry), RunOptions(fix=True))
    report = result.fix_report
    assert report is not None and report.written, report
    assert report.verdict == "passed"
    assert report.max_diff == 0.0
    fixed = load_model(target)
    expected_nodes = entry["nodes"] - entry["duplicate_values"] - entry["identity_nodes"]
    assert report.nodes_before == entry["nodes"]
    assert report.nodes_after == count_nodes(fixed.model) <= expected_nodes
    assert fixed.total_size < entry["size_bytes"]
    assert report.size_after == fixed.total_size
    assert check_interface(original, fixed.model) is None
    assert result.findings == []  # nothing left for the core rules
    again = verify_models(original, fixed.model, exact=True)
    assert again.passed and again.max_diff == 0.0


@pytest.mark.parametrize("name", sorted(MANIFEST))
def test_default_rules_never_grow_and_always_verify(name: str, tmp_path: Path) -> None:
    """Every registered (non opt-in) rule with --fix: written, verified, not larger."""
    entry = MANIFEST[name]
    target = tmp_path / name
    shutil.copyfile(EXPORTED / name, target)
    result = process_file(target, _settings(entry, select=None), RunOptions(fix=True))
    report = result.fix_report
    assert report is not None and report.verdict == "passed", report
    assert report.written
    assert target.stat().st_size <= entry["size_bytes"]
    assert report.nodes_after < report.nodes_before


def test_static_vit_attention_slims_to_its_core(tmp_path: Path) -> None:
    """The dynamo export of a fixed-size ViT: the key transpose written as
    Reshape/Transpose/Reshape and the all-zero mask Add before each Softmax go, and
    the result still matches bit for bit."""
    name = "vit_dynamo.onnx"
    target = tmp_path / name
    shutil.copyfile(EXPORTED / name, target)
    original = load_model(target).model
    result = process_file(target, _settings(MANIFEST[name], select=None), RunOptions(fix=True))
    report = result.fix_report
    assert report is not None and report.written and report.verdict == "passed", report
    layers = 2  # scripts/make_test_models.py: LAYERS
    assert {"OSL205", "OSL212"} <= set(report.applied)
    fixed = load_model(target).model
    ops = [node.op_type for node in fixed.graph.node]
    assert ops.count("Softmax") == layers
    producers = {out: node for node in fixed.graph.node for out in node.output}

    def made_by(name: str) -> str:
        node = producers.get(name)
        return node.op_type if node is not None else ""

    for node in fixed.graph.node:  # no Reshape -> Transpose -> Reshape chain left
        if node.op_type == "Reshape" and made_by(node.input[0]) == "Transpose":
            assert made_by(producers[node.input[0]].input[0]) != "Reshape"
    for softmax in (node for node in fixed.graph.node if node.op_type == "Softmax"):
        assert producers[softmax.input[0]].op_type == "MatMul"  # no mask Add left
    again = verify_models(original, fixed, exact=True)
    assert again.passed and again.max_diff == 0.0


def test_fix_with_the_default_rules_ends_green(tmp_path: Path) -> None:
    """The default rule set holds only what --fix can fix or a user can act on, so
    --fix followed by a check of every shipped model passes (the pre-commit promise)."""
    import subprocess
    import sys

    root = EXPORTED.parents[2]
    models = [*sorted(EXPORTED.glob("*.onnx")), root / "examples" / "messy.onnx"]
    for model in models:
        shutil.copyfile(model, tmp_path / model.name)
    # The exports' dynamic dims as the verification needs them (MANIFEST.json).
    dims = {k: v for entry in MANIFEST.values() for k, v in entry["dims"].items()}
    config = "verify.dims = {" + ", ".join(f"{k} = {v}" for k, v in dims.items()) + "}"
    cli = [sys.executable, "-m", "onnxslim_lint", "--isolated", "--config", config]
    fixed = subprocess.run(
        [*cli, "--fix", str(tmp_path)], capture_output=True, text=True, check=False
    )
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    assert fixed.stdout.count(": fixed: ") == len(models), fixed.stdout
    assert "0 remaining" in fixed.stdout, fixed.stdout
    again = subprocess.run([*cli, str(tmp_path)], capture_output=True, text=True, check=False)
    assert (again.returncode, again.stdout.strip()) == (0, "All checks passed!"), again.stderr
