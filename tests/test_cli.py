"""The command line as a user runs it: output lines, summary, exit codes, --fix, -o."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from onnxslim_lint.cli import main
from onnxslim_lint.fixing.verify import verify_models
from onnxslim_lint.model.load import load_model

ROOT = Path(__file__).resolve().parents[1]
MESSY = ROOT / "examples" / "messy.onnx"
# The five core rules: counts below are theirs, whatever other rules are registered.
CORE = "OSL101,OSL102,OSL103,OSL201,OSL202"


def _clean_model() -> onnx.ModelProto:
    graph = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["y"])],
        "clean",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3])],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)


def _unused_init_model(size: int = 1000) -> onnx.ModelProto:
    model = _clean_model()
    weight = np.arange(size, dtype=np.float32)
    model.graph.initializer.append(numpy_helper.from_array(weight, "unused_w"))
    return model


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def messy(tmp_path: Path) -> Path:
    target = tmp_path / "messy.onnx"
    shutil.copyfile(MESSY, target)
    return target


def test_check_reports_a_line_per_rule_and_exits_1(messy: Path, capsys) -> None:
    code, out, _ = _run(capsys, str(messy), "--select", CORE)
    assert code == 1
    lines = out.splitlines()
    assert f"{os.path.relpath(messy)}: OSL101 [*] 3 unused initializers (66.7 kB)" in lines
    assert any(": OSL102 [*] 4 dead nodes" in line for line in lines)
    assert any(": OSL103 [*] 2 duplicate constants" in line for line in lines)
    assert any(": OSL201 [*] 3 no-op nodes" in line for line in lines)
    assert any(": OSL202 [*] " in line for line in lines)
    assert "Found 5 errors." in lines  # no sum of the findings' savings: they overlap
    assert "[*] 5 fixable with the --fix option." in lines


def test_clean_model_passes(tmp_path: Path, capsys) -> None:
    onnx.save(_clean_model(), tmp_path / "clean.onnx")
    code, out, _ = _run(capsys, str(tmp_path))
    assert code == 0
    assert out.strip() == "All checks passed!"


def test_select_and_ignore(messy: Path, capsys) -> None:
    code, out, _ = _run(capsys, str(messy), "--select", "OSL101,OSL2", "--ignore", "OSL202,OSL209")
    codes = {line.split()[1] for line in out.splitlines() if ": OSL" in line}
    assert codes == {"OSL101", "OSL201"}
    assert code == 1
    code, out, _ = _run(capsys, str(messy), "--select", "unused-initializer")
    assert {line.split()[1] for line in out.splitlines() if ": OSL" in line} == {"OSL101"}


def test_unknown_selector_is_usage_error(messy: Path, capsys) -> None:
    code, _, err = _run(capsys, str(messy), "--select", "XYZ1")
    assert code == 2
    assert "unknown rule selector 'XYZ1'" in err


def test_json_output_keys(messy: Path, capsys) -> None:
    code, out, _ = _run(capsys, str(messy), "--output-format", "json", "--select", CORE)
    assert code == 1
    data = json.loads(out)
    assert len(data) == 5
    first = next(item for item in data if item["code"] == "OSL101")
    for key in ("filename", "code", "name", "message", "fixable", "count", "bytes", "nodes"):
        assert key in first
    assert first["name"] == "unused-initializer"
    assert first["count"] == 3
    assert first["fixable"] is True
    assert first["bytes"] > 65536
    names = {loc["name"] for loc in first["location"]}
    assert names == {"legacy_proj.weight", "legacy_proj.bias", "num_batches_tracked"}


def test_statistics(messy: Path, capsys) -> None:
    code, out, _ = _run(capsys, str(messy), "--statistics", "--select", CORE)
    assert code == 1
    rows = [line.split("\t") for line in out.splitlines() if "\t" in line]
    # Occurrences, as in ruff: each finding's own count (3 unused initializers).
    counts = {row[1]: int(row[0]) for row in rows}
    assert counts == {"OSL101": 3, "OSL102": 4, "OSL103": 2, "OSL201": 3, "OSL202": 3}
    assert all(row[2].startswith("[*] ") and row[3] == "1 file" for row in rows)


def test_exit_zero(messy: Path, capsys) -> None:
    code, _, _ = _run(capsys, str(messy), "--exit-zero")
    assert code == 0


def test_fix_rewrites_verifies_and_reports(messy: Path, capsys) -> None:
    original = load_model(messy).model
    code, out, _ = _run(capsys, "--fix", str(messy), "--select", CORE)
    assert code == 0, out
    report = next(line for line in out.splitlines() if ": fixed: " in line)
    assert "nodes 24 → 13" in report
    assert "verified (0 max diff)" in report
    assert "Found 5 errors (5 fixed, 0 remaining)." in out
    fixed = load_model(messy).model
    assert len(fixed.graph.node) == 13
    result = verify_models(original, fixed, exact=True)
    assert result.passed and result.max_diff == 0.0
    # A second run has nothing left and leaves the file byte-identical.
    before = messy.read_bytes()
    mtime = messy.stat().st_mtime_ns
    code, out, _ = _run(capsys, "--fix", str(messy), "--select", CORE)
    assert code == 0
    assert out.strip() == "All checks passed!"
    assert messy.read_bytes() == before
    assert messy.stat().st_mtime_ns == mtime


def test_exit_non_zero_on_fix(messy: Path, capsys) -> None:
    code, _, _ = _run(capsys, "--fix", "--exit-non-zero-on-fix", str(messy))
    assert code == 1


def test_fix_keeps_file_mode(messy: Path, capsys) -> None:
    messy.chmod(0o600)
    _run(capsys, "--fix", str(messy))
    assert (messy.stat().st_mode & 0o777) == 0o600


def test_output_writes_elsewhere_and_leaves_input(messy: Path, tmp_path: Path, capsys) -> None:
    before = messy.read_bytes()
    out_path = tmp_path / "out" / "slim.onnx"
    code, _, _ = _run(capsys, "--fix", str(messy), "-o", str(out_path), "--select", CORE)
    assert code == 0
    assert messy.read_bytes() == before
    assert len(load_model(out_path).model.graph.node) == 13


def test_output_copies_byte_identical_when_nothing_to_fix(tmp_path: Path, capsys) -> None:
    source = tmp_path / "clean.onnx"
    onnx.save(_clean_model(), source)
    out_path = tmp_path / "copy.onnx"
    code, _, _ = _run(capsys, "--fix", str(source), "-o", str(out_path))
    assert code == 0
    assert out_path.read_bytes() == source.read_bytes()


@pytest.mark.parametrize(
    ("flag", "why"), [(None, "without --fix"), ("--diff", "with --diff, which writes nothing")]
)
def test_output_without_a_fix_says_it_has_no_effect(
    messy: Path, tmp_path: Path, capsys, flag: str | None, why: str
) -> None:
    out_path = tmp_path / "never.onnx"
    args = [str(messy), "-o", str(out_path), "--select", CORE, *([flag] if flag else [])]
    code, _, err = _run(capsys, *args)
    assert code == 1
    assert f"warning: -o/--output has no effect {why}" in err.splitlines()
    assert not out_path.exists()
    _, _, err = _run(capsys, "--fix", str(messy), "-o", str(out_path), "--select", CORE)
    assert "no effect" not in err and out_path.exists()


def test_refused_fix_writes_nothing(tmp_path: Path, capsys) -> None:
    """A model onnxruntime cannot run: could-not-verify, file untouched, exit 1."""
    model = _unused_init_model()
    model.graph.node[0].domain = "com.example"
    model.opset_import.append(helper.make_opsetid("com.example", 1))
    source = tmp_path / "custom.onnx"
    onnx.save(model, source)
    before = source.read_bytes()
    out_path = tmp_path / "never.onnx"
    code, out, _ = _run(capsys, "--fix", str(source), "-o", str(out_path))
    assert code == 1
    assert "fix refused, file left unchanged: could not verify" in out
    assert ": OSL101 [*] 1 unused initializer" in out
    assert not out_path.exists()
    code, out, _ = _run(capsys, "--fix", str(source))
    assert code == 1
    assert source.read_bytes() == before


def test_no_verify_writes_without_onnxruntime(tmp_path: Path, capsys) -> None:
    model = _unused_init_model()
    model.graph.node[0].domain = "com.example"
    model.opset_import.append(helper.make_opsetid("com.example", 1))
    source = tmp_path / "custom.onnx"
    onnx.save(model, source)
    code, out, _ = _run(capsys, "--fix", "--no-verify", str(source))
    assert code == 0
    assert "not verified (--no-verify)" in out
    assert len(load_model(source).model.graph.initializer) == 0


def test_unreadable_files_are_reported_and_others_still_checked(tmp_path: Path, capsys) -> None:
    (tmp_path / "empty.onnx").write_bytes(b"")
    (tmp_path / "garbage.onnx").write_bytes(b"\x08\x07\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff")
    (tmp_path / "lfs.onnx").write_text(
        "version https://git-lfs.github.com/spec/v1\noid sha256:" + "a" * 64 + "\nsize 12345\n"
    )
    (tmp_path / "dir.onnx").mkdir()
    onnx.save(_unused_init_model(), tmp_path / "z_good.onnx")
    code, out, err = _run(capsys, str(tmp_path))
    assert code == 2
    assert "Traceback" not in out + err
    lines = out.splitlines()

    def line_for(name: str) -> str:
        return next(line for line in lines if line.startswith(os.path.relpath(tmp_path / name)))

    assert " OSL001 " in line_for("empty.onnx")
    assert " OSL004 " in line_for("lfs.onnx") and "git lfs pull" in line_for("lfs.onnx")
    assert " OSL005 " in line_for("dir.onnx")
    assert " OSL00" in line_for("garbage.onnx")
    assert " OSL101 " in line_for("z_good.onnx")


def test_external_data_stays_external(tmp_path: Path, capsys) -> None:
    """Used weights stay in the data file, under its name; the unused one is gone."""
    graph = helper.make_graph(
        [helper.make_node("Add", ["x", "b"], ["y"])],
        "ext",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 300])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 300])],
        initializer=[
            numpy_helper.from_array(np.arange(600, dtype=np.float32).reshape(2, 300), "b"),
            numpy_helper.from_array(np.ones(5000, dtype=np.float32), "unused_w"),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    source = tmp_path / "ext.onnx"
    onnx.save(model, source, save_as_external_data=True, location="weights.bin", size_threshold=0)
    code, out, _ = _run(capsys, "--fix", str(source))
    assert code == 0, out
    loaded = load_model(source)
    assert loaded.has_external_data
    assert loaded.data_files == ((tmp_path / "weights.bin").resolve(),)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ext.onnx", "weights.bin"]
    assert {t.name for t in loaded.model.graph.initializer} == {"b"}


def test_pyproject_config_and_per_file_ignores(tmp_path: Path, capsys) -> None:
    (tmp_path / "pyproject.toml").write_text(
        f"[tool.onnxslim-lint]\nselect = {list(CORE.split(','))}\n".replace("'", '"')
        + 'ignore = ["OSL202"]\n'
        "[tool.onnxslim-lint.per-file-ignores]\n"
        '"legacy/*.onnx" = ["OSL1"]\n'
    )
    (tmp_path / "legacy").mkdir()
    shutil.copyfile(MESSY, tmp_path / "legacy" / "old.onnx")
    shutil.copyfile(MESSY, tmp_path / "new.onnx")
    code, out, _ = _run(capsys, str(tmp_path))
    assert code == 1
    old = [line.split()[1] for line in out.splitlines() if "old.onnx:" in line]
    new = [line.split()[1] for line in out.splitlines() if "new.onnx:" in line]
    assert old == ["OSL201"]
    assert new == ["OSL101", "OSL102", "OSL103", "OSL201"]
    # The command line beats the file: as in ruff, its --select also beats the
    # file's ignore = ["OSL202"].
    code, out, _ = _run(capsys, str(tmp_path / "new.onnx"), "--select", "OSL202")
    assert [line.split()[1] for line in out.splitlines() if ": OSL" in line] == ["OSL202"]


def test_bad_config_exits_2_naming_key(tmp_path: Path, capsys) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.onnxslim-lint]\nselekt = ["OSL1"]\n')
    shutil.copyfile(MESSY, tmp_path / "m.onnx")
    code, _, err = _run(capsys, str(tmp_path))
    assert code == 2
    assert "selekt" in err and "pyproject.toml" in err


def test_rule_command(capsys) -> None:
    code, out, _ = _run(capsys, "rule", "OSL101")
    assert code == 0
    assert out.startswith("# unused-initializer (OSL101)")
    assert "## What it does" in out and "## Fix safety" in out
    code, out, _ = _run(capsys, "rule", "--all")
    assert code == 0
    for code_name in ("OSL101", "OSL102", "OSL103", "OSL201", "OSL202"):
        assert f"({code_name})" in out
    code, _, err = _run(capsys, "rule", "OSL999")
    assert code == 2 and "unknown rule" in err


def test_verify_command(messy: Path, tmp_path: Path, capsys) -> None:
    fixed = tmp_path / "fixed.onnx"
    _run(capsys, "--fix", str(messy), "-o", str(fixed))
    code, out, _ = _run(capsys, "verify", str(messy), str(fixed), "--samples", "4")
    assert code == 0
    assert out.startswith("passed: 4 samples")


def test_no_files_found(tmp_path: Path, capsys) -> None:
    code, _, err = _run(capsys, str(tmp_path))
    assert code == 0
    assert "No ONNX files found" in err


def test_console_entry_point_runs_without_importing_onnxruntime(messy: Path) -> None:
    code = (
        "import sys, runpy; sys.argv=['onnxslim-lint', sys.argv[1]];\n"
        "try:\n    runpy.run_module('onnxslim_lint', run_name='__main__')\n"
        "except SystemExit as e:\n    code = e.code\n"
        "print('ORT' if 'onnxruntime' in sys.modules else 'NO-ORT', code)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, str(messy)], capture_output=True, text=True, check=False
    )
    assert result.stdout.strip().endswith("NO-ORT 1"), result.stdout + result.stderr


def test_numeric_fixes_are_hidden_without_unsafe_fixes(messy: Path, capsys) -> None:
    code, out, _ = _run(capsys, str(messy), "--select", "OSL404")
    assert code == 1
    [line] = [line for line in out.splitlines() if ": OSL404" in line]
    assert "[*]" not in line
    assert "No fixes available (1 hidden fix can be enabled with the --unsafe-fixes option)." in out
    before = messy.read_bytes()
    code, out, _ = _run(capsys, "--fix", str(messy), "--select", "OSL404")
    assert code == 1 and messy.read_bytes() == before
    assert out.endswith(
        "(0 fixed, 1 remaining).\n"
        "No fixes available (1 hidden fix can be enabled with the --unsafe-fixes option).\n"
    )
    code, out, _ = _run(capsys, str(messy), "--select", "OSL404", "--unsafe-fixes")
    assert ": OSL404 [*] " in out
    code, out, _ = _run(capsys, "--fix", "--unsafe-fixes", str(messy), "--select", "OSL404")
    assert code == 0, out
    assert "verified" in out


def test_numeric_fix_named_in_fixable_applies_without_unsafe_fixes(messy: Path, capsys) -> None:
    (messy.parent / "pyproject.toml").write_text(
        '[tool.onnxslim-lint]\nselect = ["OSL404"]\nfixable = ["matmul-add-gemm"]\n'
    )
    code, out, _ = _run(capsys, str(messy))
    assert ": OSL404 [*] " in out
    code, out, _ = _run(capsys, "--fix", str(messy))
    assert code == 0, out
    assert "OSL404×" in out and "verified" in out


def test_fix_keeps_a_data_file_another_model_still_uses(tmp_path: Path, capsys) -> None:
    graph = helper.make_graph(
        [helper.make_node("Add", ["x", "b"], ["y"])],
        "ext",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 300])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 300])],
        initializer=[
            numpy_helper.from_array(np.arange(600, dtype=np.float32).reshape(2, 300), "b"),
            numpy_helper.from_array(np.ones(5000, dtype=np.float32), "unused_w"),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    onnx.save(model, tmp_path / "a.onnx", save_as_external_data=True, location="shared.bin")
    # b.onnx reads its weights from the same shared.bin (same offsets, as written for a)
    shutil.copyfile(tmp_path / "a.onnx", tmp_path / "b.onnx")
    code, out, _ = _run(capsys, "--fix", str(tmp_path / "a.onnx"))
    assert code == 0, out
    assert (tmp_path / "shared.bin").exists()
    assert load_model(tmp_path / "b.onnx").model.graph.initializer[0].name == "b"
    code, out, _ = _run(capsys, str(tmp_path / "b.onnx"), "--select", "OSL101")
    assert ": OSL101 [*] 1 unused initializer" in out


def test_a_rule_bug_is_one_line_and_the_other_files_are_still_checked(
    tmp_path: Path, capsys, monkeypatch
) -> None:
    from onnxslim_lint.rules.dead_node import DeadNode

    calls = []

    def broken_check(self, ctx):  # type: ignore[no-untyped-def]
        calls.append(ctx.path)
        if len(calls) == 1:
            raise IndexError("list index out of range")
        return []

    monkeypatch.setattr(DeadNode, "check", broken_check)
    shutil.copyfile(MESSY, tmp_path / "a.onnx")
    shutil.copyfile(MESSY, tmp_path / "b.onnx")
    # -j 1: the broken rule counts its calls in this process
    code, out, err = _run(capsys, str(tmp_path), "--select", "OSL101,OSL102", "-j", "1")
    assert code == 2
    assert "Traceback" not in out + err
    lines = out.splitlines()
    assert any("a.onnx: OSL010 internal error IndexError" in line for line in lines)
    assert any("b.onnx: OSL101 [*]" in line for line in lines)


def test_max_folded_constant_from_pyproject(tmp_path: Path, capsys) -> None:
    weight = numpy_helper.from_array(np.arange(64 * 64, dtype=np.float32).reshape(64, 64), "w")
    graph = helper.make_graph(
        [
            helper.make_node("Transpose", ["w"], ["wt"], perm=[1, 0]),
            helper.make_node("MatMul", ["x", "wt"], ["y"]),
        ],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 64])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 64])],
        [weight],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    onnx.save(model, tmp_path / "m.onnx")
    code, out, _ = _run(capsys, str(tmp_path / "m.onnx"), "--select", "OSL203")
    assert ": OSL203 [*] 1 node computed from constants" in out
    (tmp_path / "pyproject.toml").write_text('[tool.onnxslim-lint]\nmax-folded-constant = "1 kB"\n')
    code, out, _ = _run(capsys, str(tmp_path / "m.onnx"), "--select", "OSL203")
    assert code == 0 and "All checks passed!" in out
    (tmp_path / "pyproject.toml").write_text('[tool.onnxslim-lint]\nmax-folded-constant = "lots"\n')
    code, _, err = _run(capsys, str(tmp_path / "m.onnx"))
    assert code == 2 and "max-folded-constant" in err


def test_opt_in_rule_fixes_when_selected(tmp_path: Path, capsys) -> None:
    """OSL107 is opt-in: never run by ALL, but fixed when selected by code."""
    model = _clean_model()
    model.graph.node[0].doc_string = "exported from x.py:12 " * 20
    entry = model.graph.node[0].metadata_props.add()
    entry.key, entry.value = "pkg.torch.onnx.stack_trace", "frame " * 40
    source = tmp_path / "meta.onnx"
    onnx.save(model, source)
    size = source.stat().st_size
    code, out, _ = _run(capsys, str(source))
    assert code == 0 and "All checks passed!" in out
    code, out, _ = _run(capsys, "--fix", "--select", "OSL107", str(source))
    assert code == 0, out
    assert "OSL107×1" in out and "verified" in out
    assert source.stat().st_size < size
    node = load_model(source).model.graph.node[0]
    assert node.doc_string == "" and len(node.metadata_props) == 0


def test_a_fix_that_does_not_verify_is_left_out_and_the_rest_written(
    tmp_path: Path, capsys
) -> None:
    """Folding a BatchNormalization into a Conv rounds differently; with a zero
    tolerance its verification fails. The file still gets the exact fixes (the
    Identity goes), and the report says which rule was left out and why."""
    rng = np.random.default_rng(0)
    channels = 16
    inits = [
        numpy_helper.from_array(rng.standard_normal((channels, 3, 3, 3)).astype(np.float32), "w"),
        numpy_helper.from_array(rng.uniform(0.5, 1.5, channels).astype(np.float32), "scale"),
        numpy_helper.from_array(rng.standard_normal(channels).astype(np.float32), "bias"),
        numpy_helper.from_array(rng.standard_normal(channels).astype(np.float32), "mean"),
        numpy_helper.from_array(rng.uniform(0.5, 1.5, channels).astype(np.float32), "var"),
    ]
    nodes = [
        helper.make_node("Identity", ["x"], ["xi"], name="id"),
        helper.make_node("Conv", ["xi", "w"], ["c"], name="conv", pads=[1, 1, 1, 1]),
        helper.make_node(
            "BatchNormalization", ["c", "scale", "bias", "mean", "var"], ["y"], name="bn"
        ),
    ]
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 32, 32])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, channels, 32, 32])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    path = tmp_path / "cnn.onnx"
    onnx.save(model, path)
    tight = ("--config", "verify.rtol = 0", "--config", "verify.atol = 0")
    fusions = ("--extend-select", "OSL4")  # not enforced by default
    code, out, _ = _run(capsys, "--fix", "--unsafe-fixes", *fusions, *tight, str(path))
    assert "OSL401 left out, its fix did not verify: " in out, out
    assert "rules OSL201×1," in out and "verified (0 max diff)" in out
    fixed = onnx.load(path)
    assert [n.op_type for n in fixed.graph.node] == ["Conv", "BatchNormalization"]
    assert ": OSL401 " in out  # still reported, not fixed
    assert code == 1
