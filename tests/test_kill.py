"""``--fix`` killed with SIGKILL at random moments: the model on disk always loads and
is either the old or the new version, and the next run leaves no temporary file.

A few kills per layout run in CI; ``ONNXSLIM_LINT_KILLS=500`` runs that many per
layout (the issue's figure).
"""

from __future__ import annotations

import hashlib
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from onnxslim_lint.model.litter import MARK
from onnxslim_lint.model.load import WEIGHTS_IN_PLACE_MIN_BYTES
from tests.ci_models import matmul_chain

KILLS = int(os.environ.get("ONNXSLIM_LINT_KILLS", "6"))

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")


def _model(side: int = 256) -> onnx.ModelProto:
    rng = np.random.default_rng(11)
    weights = [rng.standard_normal((side, side)).astype(np.float32) * 0.05 for _ in range(6)]
    return matmul_chain(weights, (512, 256))  # 0.5 MB unused: OSL101 fires


def _save(folder: Path, layout: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "model.onnx"
    if layout == "weights-in-place":
        # 24 MiB in one file: above the threshold at which the weights stay in the
        # file (model/load.py), so the write streams them from the old file's map.
        onnx.save_model(_model(side=1024), path)
        assert path.stat().st_size >= WEIGHTS_IN_PLACE_MIN_BYTES
    elif layout == "external-data":
        onnx.save_model(
            _model(), path, save_as_external_data=True, location="model.onnx_data",
            size_threshold=1024,
        )  # fmt: skip
    else:
        onnx.save_model(_model(), path)
    return path


def _fingerprint(path: Path) -> str:
    """What the model computes with: nodes, interface and every weight's values,
    whatever file the weights are stored in."""
    model = onnx.load_model(str(path))  # with external data, checked by onnx
    digest = hashlib.sha256()
    for node in model.graph.node:
        digest.update(node.SerializeToString())
    for value in (*model.graph.input, *model.graph.output):
        digest.update(value.SerializeToString())
    for tensor in sorted(model.graph.initializer, key=lambda t: t.name):
        digest.update(tensor.name.encode())
        digest.update(numpy_helper.to_array(tensor).tobytes())
    return digest.hexdigest()


def _fix(path: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "onnxslim_lint", "--fix", "--no-verify", str(path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _litter(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if MARK in p.name)


@pytest.mark.parametrize("layout", ["single-file", "weights-in-place", "external-data"])
def test_a_killed_fix_leaves_the_old_or_the_new_model(tmp_path: Path, layout: str) -> None:
    reference = _save(tmp_path / "reference", layout)
    old = _fingerprint(reference)
    started = time.monotonic()
    assert _fix(reference).wait() == 0
    duration = time.monotonic() - started
    new = _fingerprint(reference)
    assert new != old  # the fix removes the unused weight

    rng = random.Random(5)
    outcomes = {"old": 0, "new": 0}
    for kill in range(KILLS):
        folder = tmp_path / f"kill{kill}"
        path = _save(folder, layout)
        process = _fix(path)
        time.sleep(rng.uniform(0.0, duration))
        process.send_signal(signal.SIGKILL)
        process.wait()
        state = _fingerprint(path)  # loads, with its data files: never broken
        assert state in (old, new), f"kill {kill}: neither the old nor the new model"
        outcomes["old" if state == old else "new"] += 1

        assert _fix(path).wait() in (0, 1)  # the next run finishes the job
        assert _fingerprint(path) == new
        assert _litter(folder) == [], f"kill {kill}: temporary files left"
        shutil.rmtree(folder)
    assert sum(outcomes.values()) == KILLS
