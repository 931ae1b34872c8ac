"""A rewritten model keeps its data files' names and modes, and is complete on disk
after a crash at any step of the write (onnxslim_lint.model.write)."""

from __future__ import annotations

import errno
import os
import shutil
import signal
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from onnxslim_lint.model import write as write_module
from onnxslim_lint.model.load import load_model
from onnxslim_lint.model.write import WriteResult, serialized_size, write_model

ROOT = Path(__file__).resolve().parents[2]
X = np.random.default_rng(7).standard_normal((8, 128)).astype(np.float32)


def weights(seed: int) -> dict[str, np.ndarray]:
    """Trained-like weights: W (64 kB), B (4 kB), and U (128 kB) that nothing reads."""
    rng = np.random.default_rng(seed)
    return {
        "W": (rng.standard_normal((128, 128)) * 0.05).astype(np.float32),
        "B": (rng.standard_normal((8, 128)) * 0.01).astype(np.float32),
        "U": rng.standard_normal((256, 128)).astype(np.float32),
    }


def make_model(values: dict[str, np.ndarray]) -> onnx.ModelProto:
    graph = helper.make_graph(
        [
            helper.make_node("MatMul", ["x", "W"], ["h"]),
            helper.make_node("Add", ["h", "B"], ["y"]),
        ],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [8, 128])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [8, 128])],
        [numpy_helper.from_array(array, name) for name, array in values.items()],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)


def save_split(model: onnx.ModelProto, path: Path, files: dict[str, str]) -> None:
    """Save with each initializer in the data file ``files`` names for it."""
    offsets: dict[str, int] = {}
    for tensor in model.graph.initializer:
        location = files[tensor.name]
        data = tensor.raw_data
        with open(path.parent / location, "ab") as handle:
            handle.write(data)
        offset = offsets.get(location, 0)
        offsets[location] = offset + len(data)
        tensor.ClearField("raw_data")
        for key, value in (("location", location), ("offset", offset), ("length", len(data))):
            entry = tensor.external_data.add()
            entry.key, entry.value = key, str(value)
        tensor.data_location = TensorProto.EXTERNAL
    path.write_bytes(model.SerializeToString())


LAYOUTS = {
    # model name, {tensor: data file}
    "onnx_data": ("a.onnx", {"W": "a.onnx_data", "B": "a.onnx_data", "U": "a.onnx_data"}),
    "weights.bin": ("b.onnx", {"W": "weights.bin", "B": "weights.bin", "U": "weights.bin"}),
    "three files": ("c.onnx", {"W": "w.bin", "B": "b.bin", "U": "u.bin"}),
}


def make_files(folder: Path, layout: str, mode: int = 0o600) -> Path:
    name, files = LAYOUTS[layout]
    folder.mkdir(parents=True, exist_ok=True)
    model = make_model(weights(0))
    path = folder / name
    if len(set(files.values())) == 1:
        onnx.save_model(
            model, str(path), save_as_external_data=True, location=files["W"], size_threshold=0
        )
    else:
        save_split(model, path, files)
    for data in set(files.values()):
        (folder / data).chmod(mode)
    path.chmod(mode)
    return path


def rewrite(path: Path) -> WriteResult:
    """What a fix leaves: U removed, W changed (inline), B still in its old data file."""
    loaded = load_model(path, read_external_data=False)
    model = onnx.ModelProto()
    model.CopyFrom(loaded.model)
    kept = [t for t in model.graph.initializer if t.name != "U"]
    del model.graph.initializer[:]
    model.graph.initializer.extend(kept)
    new_w = numpy_helper.from_array(weights(1)["W"], "W")
    next(t for t in model.graph.initializer if t.name == "W").CopyFrom(new_w)
    return write_model(
        model,
        path,
        external=True,
        replaces=loaded.data_files,
        external_data=loaded.external,
    )


def run(path: Path) -> np.ndarray:
    """The model's output from onnxruntime, after onnx itself loads it whole."""
    import onnxruntime as ort  # here: the killed children need not import it

    onnx.checker.check_model(onnx.load(str(path)))  # external data read by onnx
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {"x": X})[0]


def data_names(path: Path) -> set[str]:
    model = onnx.load(str(path), load_external_data=False)
    return {
        entry.value
        for tensor in model.graph.initializer
        for entry in tensor.external_data
        if entry.key == "location"
    }


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize("layout", ["onnx_data", "weights.bin"])
def test_the_data_file_keeps_its_name_and_mode(tmp_path: Path, layout: str) -> None:
    path = make_files(tmp_path, layout)
    data = tmp_path / LAYOUTS[layout][1]["W"]
    old_output = run(path)
    inode = data.stat().st_ino
    result = rewrite(path)

    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([path.name, data.name])
    assert result.data_path == data
    assert result.data_paths == (data,)
    assert data.stat().st_ino != inode  # replaced by a rename, never written into
    assert data_names(path) == {data.name}
    assert mode_of(path) == mode_of(data) == 0o600
    new_output = run(path)
    assert not np.array_equal(new_output, old_output)
    want = X @ weights(1)["W"] + weights(0)["B"]
    np.testing.assert_allclose(new_output, want, rtol=1e-4, atol=1e-5)
    assert result.total_size == path.stat().st_size + data.stat().st_size
    assert data.stat().st_size == (128 * 128 + 8 * 128) * 4  # U is gone


def test_data_file_mode_is_its_own_not_the_models(tmp_path: Path) -> None:
    path = make_files(tmp_path, "onnx_data", mode=0o600)
    path.chmod(0o644)
    rewrite(path)
    assert mode_of(path) == 0o644
    assert mode_of(tmp_path / "a.onnx_data") == 0o600


def test_several_data_files_keep_the_names_their_weights_are_in(tmp_path: Path) -> None:
    """B stays in b.bin; the changed W joins it (the main, and only, file still used);
    w.bin and u.bin, none of whose weights is left, are removed."""
    path = make_files(tmp_path, "three files")
    result = rewrite(path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b.bin", "c.onnx"]
    assert result.data_paths == (tmp_path / "b.bin",)
    assert data_names(path) == {"b.bin"}
    assert mode_of(tmp_path / "b.bin") == 0o600
    np.testing.assert_allclose(
        run(path), X @ weights(1)["W"] + weights(0)["B"], rtol=1e-4, atol=1e-5
    )


def test_weights_left_in_several_files_stay_in_each(tmp_path: Path) -> None:
    path = make_files(tmp_path, "three files")
    loaded = load_model(path, read_external_data=False)
    model = onnx.ModelProto()
    model.CopyFrom(loaded.model)
    model.graph.initializer.append(numpy_helper.from_array(np.ones(512, np.float32), "N"))
    before = {p.name: p.read_bytes() for p in tmp_path.glob("*.bin")}
    predicted = serialized_size(model, external=True, target=path, external_data=loaded.external)
    result = write_model(
        model, path, external=True, replaces=loaded.data_files, external_data=loaded.external
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b.bin", "c.onnx", "u.bin", "w.bin"]
    # The main file is the one keeping the most bytes: u.bin; the new tensor N joins it.
    assert result.data_paths[0] == tmp_path / "u.bin"
    assert {p.name: p.read_bytes() for p in tmp_path.glob("*.bin")} == {
        **before,
        "u.bin": before["u.bin"] + np.ones(512, np.float32).tobytes(),
    }
    assert predicted == result.total_size
    assert np.array_equal(run(path), run_original(tmp_path / "orig", "three files"))


def run_original(folder: Path, layout: str) -> np.ndarray:
    return run(make_files(folder, layout))


def test_a_shared_data_file_keeps_its_contents(tmp_path: Path) -> None:
    """A data file another model reads is not in ``replaces``: the rewritten model
    gets a new data file and the shared one is left exactly as it was."""
    first = make_files(tmp_path, "weights.bin")
    other = tmp_path / "other.onnx"
    shutil.copyfile(first, other)
    shared = tmp_path / "weights.bin"
    before = shared.read_bytes()
    other_output = run(other)

    loaded = load_model(first, read_external_data=False)
    model = onnx.ModelProto()
    model.CopyFrom(loaded.model)
    model.graph.initializer[0].CopyFrom(numpy_helper.from_array(weights(1)["W"], "W"))
    result = write_model(model, first, external=True, external_data=loaded.external)

    assert shared.read_bytes() == before
    assert result.data_path == tmp_path / "b.onnx.data"
    assert data_names(first) == {"b.onnx.data"}
    assert mode_of(result.data_path) == 0o600  # the old data file's mode
    assert np.array_equal(run(other), other_output)


def test_a_shared_data_file_is_untouched_by_the_cli(tmp_path: Path) -> None:
    first = make_files(tmp_path, "weights.bin")
    other = tmp_path / "other.onnx"
    shutil.copyfile(first, other)
    before = (tmp_path / "weights.bin").read_bytes()
    other_output = run(other)
    done = subprocess.run(
        [sys.executable, "-m", "onnxslim_lint", "--fix", str(first)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "fixed" in done.stdout
    assert (tmp_path / "weights.bin").read_bytes() == before
    assert np.array_equal(run(other), other_output)
    assert data_names(first) == {"b.onnx.data"}


def test_without_a_clone_the_new_data_is_copied_onto_the_old_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(write_module, "_clone", lambda source, target: False)
    path = make_files(tmp_path, "onnx_data")
    rewrite(path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.onnx", "a.onnx_data"]
    assert (tmp_path / "a.onnx_data").stat().st_nlink == 1
    assert mode_of(tmp_path / "a.onnx_data") == 0o600
    np.testing.assert_allclose(
        run(path), X @ weights(1)["W"] + weights(0)["B"], rtol=1e-4, atol=1e-5
    )


def test_a_failure_putting_the_old_name_back_keeps_the_new_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_replace = os.replace

    def failing_replace(src: str, dst: str | Path) -> None:
        if Path(dst).name == "a.onnx_data":
            raise OSError(errno.EIO, "Input/output error")
        real_replace(src, dst)

    monkeypatch.setattr(write_module.os, "replace", failing_replace)
    path = make_files(tmp_path, "onnx_data")
    result = rewrite(path)
    # The write still succeeds, as before names were kept: a new data file.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.onnx", "a.onnx.data"]
    assert result.data_path == tmp_path / "a.onnx.data"
    assert result.total_size == path.stat().st_size + result.data_path.stat().st_size
    np.testing.assert_allclose(
        run(path), X @ weights(1)["W"] + weights(0)["B"], rtol=1e-4, atol=1e-5
    )


# --------------------------------------------------------------------------- kill


# One Python process imports the tool once, then forks a child per write; the child
# counts the write's steps (write._step_hook) and SIGKILLs itself after step ``stop``
# (0: never). Each child's line: its folder, the signal that ended it (0: none), and
# the number of steps it made.
CHILD = """
import os, signal, sys
from pathlib import Path
sys.path.insert(0, {tests!r})
import test_write_names
from onnxslim_lint.model import write

name = sys.argv[1]
for arg in sys.argv[2:]:
    folder, stop = arg.rsplit(":", 1)
    read, send = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read)
        count = 0

        def hook(step):
            global count
            count += 1
            if count == int(stop):
                os.kill(os.getpid(), signal.SIGKILL)

        write._step_hook = hook
        test_write_names.rewrite(Path(folder) / name)
        os.write(send, str(count).encode())
        os._exit(0)
    os.close(send)
    _, status = os.waitpid(pid, 0)
    steps = os.read(read, 100).decode() or "-"
    os.close(read)
    killed = os.WTERMSIG(status) if os.WIFSIGNALED(status) else 0
    assert killed or os.WEXITSTATUS(status) == 0, (folder, status)
    print(folder, killed, steps)
"""


def run_writes(name: str, runs: list[tuple[Path, int]]) -> list[tuple[int, str]]:
    """Rewrite ``name`` in each folder, killed after step ``stop``: (signal, steps) each."""
    script = CHILD.format(tests=str(Path(__file__).parent))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", script, name, *(f"{folder}:{stop}" for folder, stop in runs)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    lines = [line.rsplit(" ", 2) for line in done.stdout.splitlines()]
    assert [Path(folder) for folder, _, _ in lines] == [folder for folder, _ in runs]
    return [(int(killed), steps) for _, killed, steps in lines]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="the children are forked")
@pytest.mark.parametrize("layout", ["onnx_data", "three files"])
def test_killed_after_any_step_the_model_loads_with_old_or_new_weights(
    tmp_path: Path, layout: str
) -> None:
    pristine = tmp_path / "pristine"
    make_files(pristine, layout)
    name = LAYOUTS[layout][0]
    old_output = run(pristine / name)

    complete = tmp_path / "complete"
    shutil.copytree(pristine, complete)
    [(killed, counted)] = run_writes(name, [(complete, 0)])
    assert killed == 0
    steps = int(counted)
    assert steps >= 15  # data, model, copies, model again, unlinks: each a few steps
    new_output = run(complete / name)
    assert not np.array_equal(new_output, old_output)
    final_files = sorted(p.name for p in complete.iterdir())

    folders = [tmp_path / f"kill{stop}" for stop in range(1, steps + 1)]
    for folder in folders:
        shutil.copytree(pristine, folder)
    ends = run_writes(name, [(folder, stop) for stop, folder in enumerate(folders, 1)])
    assert ends == [(signal.SIGKILL, "-")] * steps  # each killed, after its step

    seen = []
    for stop, folder in enumerate(folders, 1):
        output = run(folder / name)  # loads with onnx and runs in onnxruntime
        load_model(folder / name)  # and passes the tool's own checks
        if np.array_equal(output, old_output):
            seen.append("old")
        else:
            assert np.array_equal(output, new_output), f"killed after step {stop}"
            seen.append("new")
    # Old weights until the model is replaced once, new ones from then on.
    first_new = seen.index("new")
    assert seen == ["old"] * first_new + ["new"] * (steps - first_new)
    assert 0 < first_new < steps
    # Killed after the last step, the folder is already the finished one.
    assert sorted(p.name for p in folders[-1].iterdir()) == final_files


# --------------------------------------------------------------------------- git


def git(folder: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=folder, capture_output=True, text=True, check=True
    ).stdout


def test_fix_in_a_git_repository_shows_only_modified_files(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    models = repo / "models"
    a = make_files(models, "onnx_data")
    b = make_files(models, "weights.bin")
    b.chmod(0o644)
    outputs = {a: run(a), b: run(b)}
    git(repo, "init", "-q")
    git(repo, "add", ".")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q", "-m", "models")

    done = subprocess.run(
        [sys.executable, "-m", "onnxslim_lint", "--fix", str(models)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "OSL101" in done.stdout

    status = git(repo, "status", "--porcelain", "--untracked-files=all").splitlines()
    assert sorted(status) == sorted(
        [
            " M models/a.onnx",
            " M models/a.onnx_data",
            " M models/b.onnx",
            " M models/weights.bin",
        ]
    )
    assert mode_of(a) == mode_of(models / "a.onnx_data") == mode_of(models / "weights.bin")
    assert mode_of(a) == 0o600
    assert mode_of(b) == 0o644
    for path, output in outputs.items():
        assert np.array_equal(run(path), output)  # an exact fix: same outputs
        assert len(onnx.load(str(path)).graph.initializer) == 2  # U is gone
