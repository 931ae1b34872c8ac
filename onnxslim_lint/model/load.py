"""Read an ONNX model file safely.

The file is read once into memory and classified before anything else happens:
empty, Git LFS pointer, truncated, not ONNX, IR version too new. External data is
never resolved by onnx itself: :mod:`onnxslim_lint.model.external_data` checks
every reference before a single byte of data is read. By default the bytes are then
copied into the tensors so the returned proto is self-contained; with
``read_external_data=False`` the large weights of the main graph stay in their data
files, and rules read them through zero-copy views of a memory map (only the pages
a rule touches are ever read).

Every failure is a :class:`~onnxslim_lint.errors.ModelReadError` with an OSL0xx code
and a one-line reason.
"""

from __future__ import annotations

import mmap
import os
import stat
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import onnx
from google.protobuf.message import DecodeError
from onnx import ModelProto, TensorProto

from onnxslim_lint.errors import ModelReadError
from onnxslim_lint.model.external_data import (
    ExternalData,
    check_external_data,
    open_flags,
    oserror_reason,
    show,
)
from onnxslim_lint.model.graphs import iter_tensors
from onnxslim_lint.model.lfs import is_lfs_pointer, lfs_pointer_size
from onnxslim_lint.model.tensors import data_nbytes
from onnxslim_lint.model.validate import validate_model
from onnxslim_lint.model.wire import initializer_views, scan_top_level, strip_weights

__all__ = ["LoadedModel", "load_model", "load_model_bytes"]

_GRAPH_FIELD = ModelProto.DESCRIPTOR.fields_by_name["graph"].number
_OPSET_FIELD = ModelProto.DESCRIPTOR.fields_by_name["opset_import"].number
# External tensors smaller than this are read into the proto even when the weights
# stay on disk: shape inference propagates the values of small constants (the
# same limit as model/shapes.py), and reading a few KB costs nothing.
_VIEW_MIN_BYTES = 4096
# A single-file model at least this big, loaded with its weights on disk, is parsed
# without its large initializers' payloads: they stay in the file and are read
# through a memory map, as external data is (see _load_weights_in_place).
WEIGHTS_IN_PLACE_MIN_BYTES = 16 * 2**20


@dataclass
class LoadedModel:
    """A model read from disk.

    Its external data is inside its tensors, unless it was loaded with
    ``read_external_data=False``: then the main graph's large external initializers
    still point at their data files, ``external`` holds those files open, and
    ``raw_views`` has a view of each one's bytes.
    """

    path: Path
    model: onnx.ModelProto
    file_size: int
    data_files: tuple[Path, ...]
    total_size: int
    # Zero-copy views of main-graph initializer bytes in the file buffer (see
    # model/wire.py); valid for ``model`` as loaded, before any edit.
    raw_views: Mapping[str, memoryview] = field(default_factory=dict)
    # The file's bytes (the views above point into them). Without external data they
    # are the model's serialization: verification hands them to onnxruntime as they
    # are instead of serializing the model once more.
    file_bytes: bytes | None = None
    # The checked data files of tensors that are still external (None: none are).
    external: ExternalData | None = None

    @property
    def has_external_data(self) -> bool:
        return bool(self.data_files)

    def read_external_data(self) -> None:
        """Copy the bytes of every tensor still external into it, as the default load does."""
        if self.external is None:
            return
        external, self.external = self.external, None
        try:
            external.read_into(tensor for tensor, _ in iter_tensors(self.model))
        finally:
            external.close()
        self.raw_views = {name: view for name, view in self.raw_views.items() if not _in_map(view)}


def load_model(path: Path | str, *, read_external_data: bool = True) -> LoadedModel:
    """Read, classify and parse ``path``; resolve its external data safely.

    External-data locations are relative to the folder of ``path`` as given (for a
    symlinked model file, the link's folder), as onnx itself does. With
    ``read_external_data=False`` the locations are checked just the same, but only
    small external tensors and those outside the main graph's initializers are read.
    """
    path = Path(path)
    if not read_external_data:
        in_place = _load_weights_in_place(path)
        if in_place is not None:
            return in_place
    data = _read_model_file(path)
    model = _parse_model(data, path)
    views = initializer_views(data)
    validate_model(model, path, views)
    external = check_external_data(model, path)
    loaded = LoadedModel(
        path=path,
        model=model,
        file_size=len(data),
        data_files=external.files,
        total_size=len(data) + external.total_size,
        raw_views=views,
        file_bytes=data,
    )
    if not external:
        return loaded
    if read_external_data:
        loaded.external = external
        loaded.read_external_data()
        return loaded
    kept = _views_of_large_initializers(model, external)
    external.read_into(
        tensor
        for tensor, _ in iter_tensors(model)
        if tensor.data_location == TensorProto.EXTERNAL and tensor.name not in kept
    )
    if kept:
        views.update(kept)
        loaded.external = external
    else:
        external.close()
    return loaded


def _load_weights_in_place(path: Path) -> LoadedModel | None:
    """A big single-file model with its large weights left in the file, or None.

    The file is mapped, not read; the model is parsed from a copy of its bytes
    without the large initializers' ``raw_data`` (:func:`~onnxslim_lint.model.wire.
    strip_weights`), and each of those initializers becomes an external tensor
    whose location is the model file itself, at the payload's offset. From then on
    the weights are what they are for a model with external data: views of a memory
    map, checked by :mod:`~onnxslim_lint.model.external_data`, streamed when the
    model is written (back inline: the model has no data files), read by
    onnxruntime from the file. ``None`` (the file is read whole, as usual) for a
    small file, a symbolic link, a model with external data of its own, or bytes
    that are not exactly a protobuf writer's.
    """
    try:
        info = os.lstat(path)
    except OSError:
        return None
    if not stat.S_ISREG(info.st_mode) or info.st_size < WEIGHTS_IN_PLACE_MIN_BYTES:
        return None
    try:
        fd = os.open(path, open_flags())
    except OSError:
        return None
    try:
        with mmap.mmap(fd, 0, access=mmap.ACCESS_READ) as mapped:
            stripped = strip_weights(mapped, _VIEW_MIN_BYTES)  # type: ignore[arg-type]
    except (OSError, ValueError):
        return None
    finally:
        os.close(fd)
    if stripped is None:
        return None
    try:
        model = _parse_model(stripped.data, path)
    except ModelReadError:
        return None  # read whole, for the reason the whole file gives
    if any(t.data_location == TensorProto.EXTERNAL for t, _ in iter_tensors(model)):
        return None  # its own external data: the usual path checks it
    for tensor in model.graph.initializer:
        span = stripped.payloads.get(tensor.name)
        if span is None:
            continue
        tensor.data_location = TensorProto.EXTERNAL
        for key, value in (("location", path.name), ("offset", span[0]), ("length", span[1])):
            entry = tensor.external_data.add()
            entry.key, entry.value = key, str(value)
    external = check_external_data(model, path)
    views = _views_of_large_initializers(model, external)
    validate_model(model, path, views)
    return LoadedModel(
        path=path,
        model=model,
        file_size=info.st_size,
        data_files=(),
        total_size=info.st_size,
        raw_views=views,
        external=external,
    )


def _views_of_large_initializers(
    model: ModelProto, external: ExternalData
) -> dict[str, memoryview]:
    """Main-graph initializer name -> view, for large external ones with a unique name."""
    counts = Counter(tensor.name for tensor in model.graph.initializer)
    kept: dict[str, memoryview] = {}
    for tensor in model.graph.initializer:
        if counts[tensor.name] != 1 or tensor.data_location != TensorProto.EXTERNAL:
            continue
        needs = data_nbytes(tensor)
        if needs is None or needs < _VIEW_MIN_BYTES:
            continue
        view = external.view(tensor)
        if view is not None:
            kept[tensor.name] = view
    return kept


def _in_map(view: memoryview) -> bool:
    """Is ``view`` a slice of a data file's memory map (not of the model file's bytes)?"""
    return isinstance(view.obj, mmap.mmap)


def load_model_bytes(data: bytes, name: str = "<bytes>") -> onnx.ModelProto:
    """Parse an in-memory model with the same checks as :func:`load_model`.

    There is no folder to read external data from, so a model that references
    external data is reported as OSL006 (its data is missing).
    """
    model = _parse_model(bytes(data), name)
    for tensor, label in iter_tensors(model):
        if tensor.data_location == TensorProto.EXTERNAL:
            raise ModelReadError(
                "OSL006",
                name,
                f"tensor {show(label)} is stored in an external-data file, "
                "which an in-memory model cannot read",
            )
    validate_model(model, name)
    return model


def _read_model_file(path: Path) -> bytes:
    """Read the whole file; any OSError or non-regular file is OSL005."""
    try:
        fd = os.open(path, open_flags())
    except OSError as exc:
        raise ModelReadError("OSL005", path, oserror_reason(exc)) from None
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise ModelReadError("OSL005", path, "is a directory, not a model file")
        if not stat.S_ISREG(mode):
            raise ModelReadError("OSL005", path, "is not a regular file")
        with os.fdopen(fd, "rb", closefd=False) as handle:
            return handle.read()
    except OSError as exc:
        raise ModelReadError("OSL005", path, oserror_reason(exc)) from None
    finally:
        os.close(fd)


def _lfs_reason(data: bytes) -> str:
    size = lfs_pointer_size(data)
    what = f"a {size:,}-byte object" if size is not None else "an object of unknown size"
    return f"is a Git LFS pointer to {what}, not the model; `git lfs pull` fetches the real file"


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _parse_model(data: bytes, path: Path | str) -> ModelProto:
    """Classify the bytes (OSL001/2/3/4/8) and parse them without external data."""
    if not data:
        raise ModelReadError("OSL001", path, "is empty (0 bytes)")
    if is_lfs_pointer(data):
        raise ModelReadError("OSL004", path, _lfs_reason(data))
    try:
        model = ModelProto.FromString(data)
    except DecodeError as exc:
        scan = scan_top_level(data)
        if scan.status == "truncated" and scan.looks_like_model():
            raise ModelReadError(
                "OSL003", path, f"ends early: {scan.detail} (the file was cut off)"
            ) from None
        if scan.status == "ok":
            message = _one_line(str(exc)) or "decode error"
            reason = f"is not an ONNX model: protobuf cannot decode it ({message})"
        else:
            reason = f"is not an ONNX model: {scan.detail}"
        raise ModelReadError("OSL002", path, reason) from None
    except Exception as exc:  # protobuf raises other types on some inputs (e.g. > 2 GiB)
        raise ModelReadError(
            "OSL002", path, f"is not an ONNX model: {_one_line(str(exc)) or type(exc).__name__}"
        ) from None
    _check_parsed(model, data, path)
    return model


def _check_parsed(model: ModelProto, data: bytes, path: Path | str) -> None:
    """Reject protos that parsed but are not (whole) ONNX models.

    Random bytes can parse as a message of unknown fields, so a model needs a
    positive IR version and a graph. A missing graph (or missing opset_import, which
    IR version >= 3 requires) is reported as truncation (OSL003) when the fields
    look like a ModelProto's (:meth:`TopLevelScan.looks_like_model`) and all of them come
    before the missing one: protobuf writers emit fields in number order, so that
    is exactly what a valid model cut at a field boundary looks like. Otherwise it
    is OSL002. A cut after opset_import (between metadata_props, functions, ...)
    leaves bytes that are themselves a whole valid model; nothing can tell that
    apart from a smaller model, so it loads.
    """
    scan = scan_top_level(data)
    known = scan.status == "ok" and scan.looks_like_model()
    last = max((num for num, _, _ in scan.fields), default=0)
    if model.ir_version <= 0:
        raise ModelReadError(
            "OSL002", path, "is not an ONNX model: it parses as protobuf but has no IR version"
        )
    if not model.HasField("graph"):
        if known and last < _GRAPH_FIELD:
            raise ModelReadError("OSL003", path, "ends early: the file stops before its graph")
        raise ModelReadError("OSL002", path, "is not an ONNX model: it has no graph")
    if model.ir_version > onnx.IR_VERSION:
        raise ModelReadError(
            "OSL008",
            path,
            f"has IR version {model.ir_version}, newer than the {onnx.IR_VERSION} that the "
            f"installed onnx {onnx.__version__} supports",
        )
    if model.ir_version >= 3 and not model.opset_import:
        if known and last < _OPSET_FIELD:
            raise ModelReadError(
                "OSL003", path, "ends early: the file stops after the graph, before opset_import"
            )
        raise ModelReadError(
            "OSL002",
            path,
            f"is not a valid ONNX model: IR version {model.ir_version} requires opset_import",
        )
