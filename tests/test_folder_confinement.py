"""A fix reads nothing outside the model's folder: the search for other readers of
its data file stays inside it (Python's audit hooks see every open and listing)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests import ci_models

_WATCH = """
import json, os, sys
seen = []
def hook(event, args):
    path = args[0] if args else None
    watched = event in ("open", "os.listdir", "os.scandir")
    if watched and isinstance(path, (str, bytes, os.PathLike)):
        seen.append(os.path.realpath(os.fsdecode(path)))
sys.addaudithook(hook)
from onnxslim_lint.cli import main
code = main(sys.argv[2:])
print("SEEN" + json.dumps(seen), file=open(sys.argv[1], "w"))
"""


def test_an_in_place_fix_of_an_external_data_model_stays_in_its_folder(tmp_path: Path) -> None:
    outside = tmp_path / "repo"
    model = ci_models.write(outside / "models" / "m" / "model.onnx", external=True, dead_floats=64)
    (outside / "other.onnx").write_bytes(b"not a model")  # above the model's folder
    (outside / "models" / "neighbour.onnx").write_bytes(b"not a model either")
    log = tmp_path / "seen.json"
    result = subprocess.run(
        [sys.executable, "-c", _WATCH, str(log), "--fix", "--no-verify", str(model)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    seen = json.loads(log.read_text().removeprefix("SEEN"))
    folder = str(model.parent.resolve())
    repo = str(outside.resolve())
    strays = [p for p in seen if p.startswith(repo) and not p.startswith(folder)]
    assert strays == []
    assert any(p.startswith(folder) for p in seen)  # the hook did see the model's reads
