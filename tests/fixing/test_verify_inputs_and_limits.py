"""Verification on models random inputs cannot run, with custom ops, and with an
onnxruntime that crashes, hangs or runs out of memory: real files, the real CLI,
real onnxruntime (in the verifier's child process)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from onnxslim_lint.cli import main
from onnxslim_lint.config import VerifySettings
from onnxslim_lint.fixing.verify import verify_models
from onnxslim_lint.results import Verdict
from tests.fixing import verify_models as models


def _fix(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = main(["--fix", "--select", "OSL101", *args])
    out, err = capsys.readouterr()
    return code, out + err


def _save(model: onnx.ModelProto, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save_model(model, str(path))
    return path


def _initializers(path: Path) -> set[str]:
    return {t.name for t in onnx.load(str(path)).graph.initializer}


def _write_test_data(folder: Path, inputs: list[np.ndarray], outputs: list[np.ndarray]) -> None:
    folder.mkdir(parents=True)
    for kind, arrays in (("input", inputs), ("output", outputs)):
        for index, array in enumerate(arrays):
            tensor = numpy_helper.from_array(array)
            (folder / f"{kind}_{index}.pb").write_bytes(tensor.SerializeToString())


def _expected_y(model: onnx.ModelProto, x: np.ndarray) -> np.ndarray:
    w = next(numpy_helper.to_array(t) for t in model.graph.initializer if t.name == "w")
    return (x * w).astype(np.float32)


# ------------------------------------------------------------------ input values


def test_a_rate_the_graph_compares_with_is_found_without_configuration(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _save(models.sample_rate_model(), tmp_path / "vad.onnx")
    code, out = _fix(capsys, str(path))
    assert code == 0, out
    assert "legacy.bias" not in _initializers(path)
    assert "verified" in out


def test_the_search_names_what_it_used() -> None:
    model = models.sample_rate_model()
    report = verify_models(model, model)
    assert report.verdict is Verdict.PASSED, report.reason
    assert "sr=16000" in report.reason and "configured ones do not run" in report.reason


def test_a_rate_nothing_can_guess_needs_configuration(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _save(models.sample_rate_model(computed=True), tmp_path / "models" / "vad.onnx")
    before = path.read_bytes()
    code, out = _fix(capsys, str(path))
    assert code == 1 and path.read_bytes() == before
    assert "could not verify" in out
    assert "'sr'" in out and "[[tool.onnxslim-lint.verify.overrides]]" in out
    assert "test_data_set_0/" in out

    (tmp_path / "pyproject.toml").write_text(
        textwrap.dedent(
            """
            [tool.onnxslim-lint]
            [[tool.onnxslim-lint.verify.overrides]]
            files = ["models/vad.onnx"]
            values = { sr = 16000 }
            """
        )
    )
    code, out = _fix(capsys, str(path), "--config", str(tmp_path / "pyproject.toml"))
    assert code == 0, out
    assert "legacy.bias" not in _initializers(path)


def test_an_override_for_another_file_changes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _save(models.sample_rate_model(computed=True), tmp_path / "vad.onnx")
    config = tmp_path / "pyproject.toml"
    config.write_text(
        "[tool.onnxslim-lint]\n"
        "[[tool.onnxslim-lint.verify.overrides]]\n"
        'files = ["other/*.onnx"]\nvalues = { sr = 16000 }\n'
    )
    code, out = _fix(capsys, str(path), "--config", str(config))
    assert code == 1 and "could not verify" in out


def test_test_data_beside_the_model_is_used(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = models.sample_rate_model(computed=True)
    path = _save(model, tmp_path / "vad.onnx")
    x = np.random.default_rng(1).standard_normal((1, 4)).astype(np.float32)
    sr = np.array(16000, dtype=np.int64)
    _write_test_data(tmp_path / "test_data_set_0", [x, sr], [_expected_y(model, x)])
    code, out = _fix(capsys, str(path))
    assert code == 0, out
    assert "legacy.bias" not in _initializers(path)
    report = verify_models(model, model, model_path=path)
    assert report.passed and "inputs from test_data_set_0" in report.reason


def test_test_data_whose_outputs_the_original_does_not_match_proves_nothing(
    tmp_path: Path,
) -> None:
    model = models.sample_rate_model(computed=True)
    path = _save(model, tmp_path / "vad.onnx")
    x = np.ones((1, 4), dtype=np.float32)
    wrong = _expected_y(model, x) + 1.0
    _write_test_data(tmp_path / "test_data_set_0", [x, np.array(16000)], [wrong])
    report = verify_models(model, model, model_path=path)
    assert report.verdict is Verdict.COULD_NOT_VERIFY
    assert "does not match test_data_set_0/output_0.pb" in report.reason


def test_test_data_of_another_model_is_ignored(tmp_path: Path) -> None:
    model = models.sample_rate_model()
    path = _save(model, tmp_path / "vad.onnx")
    _write_test_data(tmp_path / "test_data_set_0", [np.ones((2, 2, 2), np.float32)], [])
    report = verify_models(model, model, model_path=path)
    assert report.passed and "test_data_set" not in report.reason


def test_configured_npz_inputs(tmp_path: Path) -> None:
    model = models.sample_rate_model(computed=True)
    x = np.full((1, 4), 0.5, dtype=np.float32)
    np.savez(tmp_path / "vad.npz", x=x, sr=np.array(16000, dtype=np.int64))
    report = verify_models(model, model, VerifySettings(inputs=str(tmp_path / "vad.npz")))
    assert report.passed and report.samples == 1 and "inputs from vad.npz" in report.reason

    np.savez(tmp_path / "bad.npz", x=x, rate=np.array(16000))
    report = verify_models(model, model, VerifySettings(inputs=str(tmp_path / "bad.npz")))
    assert report.verdict is Verdict.COULD_NOT_VERIFY
    assert "'rate' is not a fed input" in report.reason


def test_a_fixed_value_fills_the_input() -> None:
    model = models.sample_rate_model(computed=True)
    report = verify_models(model, model, VerifySettings(values={"sr": 16000}))
    assert report.passed and "do not run" not in report.reason
    report = verify_models(model, model, VerifySettings(values={"sr": 8000}))
    assert report.verdict is Verdict.COULD_NOT_VERIFY


# ------------------------------------------------------------------ dims


def test_a_detector_too_small_for_the_default_dims_is_verified_on_larger_ones(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = models.detector_model()
    report = verify_models(model, model)
    assert report.passed, report.reason
    assert "dynamic dims 8, batch 1" in report.reason
    path = _save(model, tmp_path / "yolo.onnx")
    code, out = _fix(capsys, str(path))
    assert code == 0, out
    assert "legacy.bias" not in _initializers(path)


def test_configured_dims_are_used_as_they_are() -> None:
    model = models.detector_model()
    report = verify_models(model, model, VerifySettings(dims={"h": 64, "w": 32}))
    assert report.passed and "do not run" not in report.reason


def test_generated_inputs_are_bounded() -> None:
    model = models.detector_model()
    settings = VerifySettings(dims={"h": 4096, "w": 4096}, max_input_size=1 << 20)
    report = verify_models(model, model, settings)
    assert report.verdict is Verdict.COULD_NOT_VERIFY
    assert "over verify.max-input-size" in report.reason


# ------------------------------------------------------------------ custom ops


def test_a_custom_op_runs_with_onnxruntime_extensions(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("onnxruntime_extensions")
    path = _save(models.custom_op_model(), tmp_path / "inverse.onnx")
    code, out = _fix(capsys, str(path))
    assert code == 0, out
    assert "legacy.bias" not in _initializers(path)


def test_the_extensions_library_is_found_without_importing_its_package(tmp_path: Path) -> None:
    """Its ``__init__`` imports converters that cost seconds; only its path is needed."""
    pytest.importorskip("onnxruntime_extensions")
    path = _save(models.custom_op_model(), tmp_path / "inverse.onnx")
    script = textwrap.dedent(
        f"""
        import sys
        from onnxslim_lint.cli import main
        code = main(["--fix", "--isolated", {str(path)!r}])
        print(code, "onnxruntime_extensions" in sys.modules)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    assert done.stdout.split()[-2:] == ["0", "False"], done.stdout + done.stderr
    assert "legacy.bias" not in _initializers(path)


def test_a_custom_op_without_its_library_names_the_setting(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    model = models.custom_op_model("acme.ops", "Scale")
    report = verify_models(model, model)
    assert report.verdict is Verdict.COULD_NOT_VERIFY
    assert "acme.ops::Scale" in report.reason and "verify.custom-op-libraries" in report.reason
    assert "[E:onnxruntime" not in capfd.readouterr().err


# ------------------------------------------------------------------ crash, hang, memory


def _crashing_library(folder: Path) -> Path:
    """A custom-op library that kills the process that loads it (SIGSEGV)."""
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        pytest.skip("no C compiler to build a crashing custom-op library")
    source = folder / "crash.c"
    source.write_text(
        "#include <signal.h>\n"
        "__attribute__((constructor)) static void crash(void) { raise(SIGSEGV); }\n"
        "int RegisterCustomOps(void *options, const void *api) { return 0; }\n"
    )
    library = folder / "libcrash.so"
    subprocess.run([compiler, "-shared", "-fPIC", "-o", str(library), str(source)], check=True)
    return library


def test_an_onnxruntime_crash_in_one_file_leaves_the_others_fixed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    library = _crashing_library(tmp_path)
    crash = _save(models.custom_op_model("acme.ops", "Scale"), tmp_path / "m" / "crash.onnx")
    fine = _save(models.sample_rate_model(), tmp_path / "m" / "fine.onnx")
    before = crash.read_bytes()
    config = tmp_path / "pyproject.toml"
    config.write_text(
        "[tool.onnxslim-lint]\n"
        "[[tool.onnxslim-lint.verify.overrides]]\n"
        f'files = ["m/crash.onnx"]\ncustom-op-libraries = ["{library}"]\n'
    )
    code, out = _fix(capsys, str(tmp_path / "m"), "--config", str(config))
    assert code == 1
    assert crash.read_bytes() == before
    assert "legacy.bias" not in _initializers(fine)
    assert "crashed (signal 11: SIGSEGV)" in out and "the original model" in out


def test_a_model_that_runs_forever_is_stopped_at_the_timeout() -> None:
    model = models.endless_loop_model()
    report = verify_models(model, model, VerifySettings(timeout=1.5))
    assert report.verdict is Verdict.COULD_NOT_VERIFY
    assert "timed out after 1.5 s (verify.timeout)" in report.reason


def test_a_model_over_the_memory_limit_is_stopped() -> None:
    model = models.huge_output_model()
    report = verify_models(model, model, VerifySettings(memory_limit=256 << 20))
    assert report.verdict is Verdict.COULD_NOT_VERIFY
    assert "memory limit of 0.2 GiB (verify.memory-limit)" in report.reason


# ------------------------------------------------------------------ checker level


def test_an_original_failing_the_full_checker_is_fixed_at_the_level_it_passes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _save(models.wrong_output_shape_model(), tmp_path / "m.onnx")
    before = path.read_bytes()
    code, out = _fix(capsys, str(path), "--no-verify")
    assert code == 1 and path.read_bytes() == before
    assert "kept only when verified" in out
    code, out = _fix(capsys, str(path))
    assert code == 0, out
    assert "the original already fails the onnx checker" in out
    assert "checked without shape inference" in out
    assert "legacy.bias" not in _initializers(path)


def _verify_in_worker(_: int) -> str:
    model = models.detector_model()
    return verify_models(model, model).verdict.value


def test_verification_runs_inside_a_daemonic_pool_worker() -> None:
    # A multiprocessing pool's workers are daemonic and may not start Process
    # children; the verifier's child is forked directly, so it works there too.
    import multiprocessing

    with multiprocessing.get_context("fork").Pool(1) as pool:
        assert pool.map(_verify_in_worker, [0]) == ["passed"]


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="Linux /proc")
def test_the_onnxruntime_child_dies_with_its_parent(tmp_path: Path) -> None:
    # A parent killed at its own deadline (a CI job's, a fuzzer's) must not leave
    # its verification child running an endless Loop.
    path = _save(models.endless_loop_model(), tmp_path / "endless.onnx")
    code = (
        "import sys, onnx\n"
        "from onnxslim_lint.config import VerifySettings\n"
        "from onnxslim_lint.fixing.verify import verify_models\n"
        "m = onnx.load(sys.argv[1])\n"
        "verify_models(m, m, VerifySettings(timeout=120))\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", code, str(path)])
    deadline = time.monotonic() + 60
    children: list[int] = []
    while not children and time.monotonic() < deadline:
        time.sleep(0.2)
        children = _children(parent.pid)
    assert children, "the verifier's child never started"
    parent.kill()
    parent.wait()
    time.sleep(1.0)
    assert not any(_running(child) for child in children)
