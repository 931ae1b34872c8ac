"""Which files make up a model on disk: the ``.onnx`` file and its external data.

Two questions, both answered without reading any tensor data:

* :func:`model_data_files` -- the external-data files a model references, so that a
  model's size counts them (size budgets, the job summary);
* :func:`models_using` -- the models that reference a given data file, so that a
  change to ``model.onnx.data`` alone (a pre-commit run, a pull request) still
  checks ``model.onnx``.

A Git LFS pointer is recognised by its first line and measured by its ``size``
line, so nothing is downloaded.
"""

from __future__ import annotations

import mmap
import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import onnx

# onnx is imported by the functions that parse a model: knowing that a model has no
# external data (the common case, and every cached run) must not cost importing it.

__all__ = [
    "DATA_NAME",
    "external_locations",
    "is_data_file_name",
    "model_data_files",
    "models_using",
]

#: Names exporters give external-data files (torch.onnx, onnx.save, optimum, and
#: onnxslim-lint's own ``model.onnx.data.1``); the pre-commit hook matches the same.
DATA_NAME = re.compile(r"\.(onnx_data|data|data\.[0-9]+|bin)$", re.IGNORECASE)
# An external_data entry with key "location": field 1, wire type 2, length 8.
_LOCATION_KEY = b"\x0a\x08location"
#: How many folders above a data file are searched for the models that use it.
MAX_LEVELS_UP = 4


def is_data_file_name(name: str) -> bool:
    return DATA_NAME.search(name) is not None


def _may_have_external_data(path: Path) -> bool:
    """Cheap test: the bytes of a "location" key appear in the file."""
    try:
        with open(path, "rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            if size == 0:
                return False
            with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as view:
                return view.find(_LOCATION_KEY) != -1
    except (OSError, ValueError):
        return False


def external_locations(model_bytes: bytes) -> list[str]:
    """The ``location`` of every external tensor in a serialized model (sorted, unique)."""
    if _LOCATION_KEY not in model_bytes:
        return []
    import onnx

    model = onnx.ModelProto()
    try:
        model.ParseFromString(model_bytes)
    except Exception:  # not a model: the loader reports it
        return []
    return _locations(model)


def _locations(model: onnx.ModelProto) -> list[str]:
    from onnx import TensorProto

    from onnxslim_lint.model.graphs import iter_tensors

    found: set[str] = set()
    for tensor, _ in iter_tensors(model):
        if tensor.data_location != TensorProto.EXTERNAL:
            continue
        for entry in tensor.external_data:
            if entry.key == "location" and entry.value:
                found.add(entry.value)
    return sorted(found)


def _inside(child: str, folder: str) -> bool:
    try:
        return os.path.commonpath([child, folder]) == folder
    except ValueError:
        return False


def model_data_files(path: Path) -> list[Path]:
    """The existing external-data files of the model at ``path`` (inside its folder)."""
    path = Path(path)
    if not _may_have_external_data(path):
        return []
    import onnx

    try:
        model = onnx.load_model(str(path), load_external_data=False)
    except Exception:
        return []
    folder = os.path.realpath(path.parent)
    files: list[Path] = []
    for location in _locations(model):
        real = os.path.realpath(os.path.join(folder, location))
        if _inside(real, folder) and os.path.isfile(real):
            files.append(path.parent / location)
    return files


def _candidate_models(data_file: Path, stop: Path | None) -> Iterable[Path]:
    folder = data_file.absolute().parent
    stop_real = os.path.realpath(stop) if stop is not None else None
    for level, directory in enumerate((folder, *folder.parents)):
        if level > MAX_LEVELS_UP:
            break
        try:
            entries = sorted(os.scandir(directory), key=lambda entry: entry.name)
        except OSError:
            entries = []
        for entry in entries:
            if entry.name.lower().endswith(".onnx") and entry.is_file():
                yield Path(directory) / entry.name
        if stop_real is not None and os.path.realpath(directory) == stop_real:
            break


def models_using(data_file: Path, *, stop: Path | None = None) -> list[Path]:
    """Models in the data file's folder or the folders above it (up to ``stop``, at most
    :data:`MAX_LEVELS_UP` levels) whose external data includes ``data_file``.

    A model's data files are inside its own folder, so the search for the other
    readers of a model's data file stops at that folder (``stop``): nothing above it
    is listed or parsed."""
    data_file = Path(data_file)
    target = os.path.realpath(data_file)
    users: list[Path] = []
    for model in _candidate_models(data_file, stop):
        for data in model_data_files(model):
            if os.path.realpath(data) == target:
                users.append(_relative_like(model, data_file))
                break
    return users


def _relative_like(model: Path, given: Path) -> Path:
    """``model`` spelled relative to the working directory when ``given`` was relative."""
    if given.is_absolute():
        return model
    try:
        return Path(os.path.relpath(model))
    except ValueError:
        return model


def expand_data_files(files: Iterable[Path]) -> tuple[list[Path], list[Path]]:
    """Replace each external-data file among ``files`` by the models that use it.

    Returns (files to check, data files skipped because no model uses them). A
    ``.onnx`` file, a folder or anything that is not a regular file is kept as it
    is; so is a file with another name that no model uses (the loader reports it),
    unless its name is a usual data-file name (:data:`DATA_NAME`).
    """
    kept: list[Path] = []
    skipped: list[Path] = []
    seen: set[str] = set()

    def add(path: Path) -> None:
        key = os.path.normpath(os.path.abspath(path))
        if key not in seen:
            seen.add(key)
            kept.append(path)

    for path in files:
        path = Path(path)
        if path.name.lower().endswith(".onnx") or not path.is_file():
            add(path)
            continue
        users = models_using(path)
        if users:
            for model in users:
                add(model)
        elif is_data_file_name(path.name):
            skipped.append(path)
        else:
            add(path)
    return kept, skipped
