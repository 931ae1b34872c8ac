"""Read an ONNX model file safely.

The file is read once into memory and classified before anything else happens:
empty, Git LFS pointer, truncated, not ONNX, IR version too new. External data is
never resolved by onnx itself; every external-data reference is checked (metadata,
path stays inside the model's folder, file exists and is long enough) before a
single byte of data is read, and then the bytes are copied into the tensors so the
returned proto is self-contained.

Every failure is a :class:`~onnxslim_lint.errors.ModelReadError` with an OSL0xx code
and a one-line reason.
"""

from __future__ import annotations

import math
import os
import re
import stat
from collections import deque
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath, PureWindowsPath

import onnx
from google.protobuf.message import DecodeError
from onnx import AttributeProto, GraphProto, ModelProto, TensorProto

from onnxslim_lint.errors import ModelReadError

__all__ = [
    "LoadedModel",
    "iter_tensors",
    "load_model",
    "load_model_bytes",
]

_LFS_PREFIX = b"version https://git-lfs.github.com/spec/v1"
_ORT_MEM_ADDR = "_ORT_MEM_ADDR_"
_EXTERNAL_KEYS = frozenset({"location", "offset", "length", "checksum"})
_DECIMAL = re.compile(r"[0-9]+")

# Bits per element of the fixed-size tensor types; sub-byte types are packed, so a
# tensor of n elements takes ceil(n * bits / 8) bytes. Looked up by name so that an
# older onnx without the newest types still works.
_DTYPE_BITS_BY_NAME = {
    "FLOAT": 32,
    "UINT8": 8,
    "INT8": 8,
    "UINT16": 16,
    "INT16": 16,
    "INT32": 32,
    "INT64": 64,
    "BOOL": 8,
    "FLOAT16": 16,
    "DOUBLE": 64,
    "UINT32": 32,
    "UINT64": 64,
    "COMPLEX64": 64,
    "COMPLEX128": 128,
    "BFLOAT16": 16,
    "FLOAT8E4M3FN": 8,
    "FLOAT8E4M3FNUZ": 8,
    "FLOAT8E5M2": 8,
    "FLOAT8E5M2FNUZ": 8,
    "FLOAT8E8M0": 8,
    "UINT4": 4,
    "INT4": 4,
    "FLOAT4E2M1": 4,
    "UINT2": 2,
    "INT2": 2,
    "FLOAT6E2M3": 6,
    "FLOAT6E3M2": 6,
}
_DTYPE_BITS: dict[int, int] = {
    TensorProto.DataType.DESCRIPTOR.values_by_name[name].number: bits
    for name, bits in _DTYPE_BITS_BY_NAME.items()
    if name in TensorProto.DataType.DESCRIPTOR.values_by_name
}

# Top-level ModelProto fields and the wire type each is written with.
_MODEL_FIELDS: dict[int, tuple[str, int]] = {
    field.number: (
        field.name,
        0
        if field.type
        in (
            field.TYPE_INT64,
            field.TYPE_INT32,
            field.TYPE_UINT64,
            field.TYPE_UINT32,
            field.TYPE_BOOL,
            field.TYPE_ENUM,
        )
        else 2,
    )
    for field in ModelProto.DESCRIPTOR.fields
}
_GRAPH_FIELD = ModelProto.DESCRIPTOR.fields_by_name["graph"].number
_OPSET_FIELD = ModelProto.DESCRIPTOR.fields_by_name["opset_import"].number


@dataclass
class LoadedModel:
    """A model read from disk, with all external data already inside its tensors."""

    path: Path
    model: onnx.ModelProto
    file_size: int
    data_files: tuple[Path, ...]
    total_size: int
    # Zero-copy views of main-graph initializer bytes in the file buffer (see
    # model/raw_views.py); valid for ``model`` as loaded, before any edit.
    raw_views: Mapping[str, memoryview] = field(default_factory=dict)
    # The file's bytes (the views above point into them). Without external data they
    # are the model's serialization: verification hands them to onnxruntime as they
    # are instead of serializing the model once more.
    file_bytes: bytes | None = None

    @property
    def has_external_data(self) -> bool:
        return bool(self.data_files)


def load_model(path: Path | str) -> LoadedModel:
    """Read, classify and parse ``path``; resolve its external data safely.

    External-data locations are relative to the folder of ``path`` as given (for a
    symlinked model file, the link's folder), as onnx itself does.
    """
    path = Path(path)
    data = _read_model_file(path)
    model = _parse_model(data, path)
    data_files, data_size = _load_external_data(model, path)
    from onnxslim_lint.model.raw_views import initializer_views

    return LoadedModel(
        path=path,
        model=model,
        file_size=len(data),
        data_files=data_files,
        total_size=len(data) + data_size,
        raw_views=initializer_views(data),
        file_bytes=data,
    )


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
                f"tensor {_show(label)} is stored in an external-data file, "
                "which an in-memory model cannot read",
            )
    return model


# --------------------------------------------------------------------------- tensors


def iter_tensors(model: ModelProto) -> Iterator[tuple[TensorProto, str]]:
    """Yield every TensorProto in ``model`` with a label naming it.

    Covers graph initializers, both parts of sparse initializers, tensors in node
    attributes (any of ``t``, ``tensors``, ``sparse_tensor(s)`` whatever the
    attribute's declared type), subgraphs (``g``, ``graphs``) to any depth,
    function nodes and attribute defaults, and training-info graphs. The order is
    deterministic. The walk uses a queue, not recursion, so deep nesting is fine.
    """
    graphs: deque[GraphProto] = deque()
    attributes: deque[tuple[AttributeProto, str]] = deque()
    if model.HasField("graph"):
        graphs.append(model.graph)
    for info in model.training_info:
        if info.HasField("initialization"):
            graphs.append(info.initialization)
        if info.HasField("algorithm"):
            graphs.append(info.algorithm)
    for function in model.functions:
        fname = f"{function.domain}.{function.name}" if function.domain else function.name
        for node in function.node:
            owner = f"node '{node.name or node.op_type}' of function '{fname}'"
            attributes.extend((attr, owner) for attr in node.attribute)
        attributes.extend(
            (attr, f"function '{fname}' default") for attr in function.attribute_proto
        )

    while graphs or attributes:
        while graphs:
            graph = graphs.popleft()
            for tensor in graph.initializer:
                yield tensor, tensor.name or f"<initializer of graph '{graph.name}'>"
            for sparse in graph.sparse_initializer:
                name = sparse.values.name or f"<sparse initializer of graph '{graph.name}'>"
                yield sparse.values, name
                yield sparse.indices, f"{name} (indices)"
            for node in graph.node:
                owner = f"node '{node.name or node.op_type}'"
                attributes.extend((attr, owner) for attr in node.attribute)
        while attributes:
            attr, owner = attributes.popleft()
            where = f"<attribute '{attr.name}' of {owner}>"
            if attr.HasField("t"):
                yield attr.t, attr.t.name or where
            for tensor in attr.tensors:
                yield tensor, tensor.name or where
            sparses = list(attr.sparse_tensors)
            if attr.HasField("sparse_tensor"):
                sparses.insert(0, attr.sparse_tensor)
            for sparse in sparses:
                name = sparse.values.name or where
                yield sparse.values, name
                yield sparse.indices, f"{name} (indices)"
            if attr.HasField("g"):
                graphs.append(attr.g)
            graphs.extend(attr.graphs)


def element_bits(data_type: int) -> int | None:
    """Bits per element of a fixed-size data type; None for strings and unknown types."""
    return _DTYPE_BITS.get(data_type)


def data_nbytes(tensor: TensorProto) -> int | None:
    """Bytes the tensor's raw data must have, or None when that is not knowable."""
    bits = _DTYPE_BITS.get(tensor.data_type)
    if bits is None or any(d < 0 for d in tensor.dims):
        return None
    return math.ceil(math.prod(tensor.dims) * bits / 8)


# --------------------------------------------------------------------------- reading


def _open_flags() -> int:
    # O_NONBLOCK: opening a FIFO must not hang; it changes nothing for regular files.
    return os.O_RDONLY | getattr(os, "O_BINARY", 0) | getattr(os, "O_NONBLOCK", 0)


def _oserror_reason(exc: OSError) -> str:
    if isinstance(exc, FileNotFoundError):
        return "does not exist"
    if isinstance(exc, IsADirectoryError):
        return "is a directory, not a model file"
    if isinstance(exc, PermissionError):
        return "cannot be read: permission denied"
    return f"cannot be read: {exc.strerror or type(exc).__name__}"


def _read_model_file(path: Path) -> bytes:
    """Read the whole file; any OSError or non-regular file is OSL005."""
    try:
        fd = os.open(path, _open_flags())
    except OSError as exc:
        raise ModelReadError("OSL005", path, _oserror_reason(exc)) from None
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise ModelReadError("OSL005", path, "is a directory, not a model file")
        if not stat.S_ISREG(mode):
            raise ModelReadError("OSL005", path, "is not a regular file")
        with os.fdopen(fd, "rb", closefd=False) as handle:
            return handle.read()
    except OSError as exc:
        raise ModelReadError("OSL005", path, _oserror_reason(exc)) from None
    finally:
        os.close(fd)


# --------------------------------------------------------------------------- parsing


@dataclass(frozen=True)
class _Scan:
    """What a walk over the top-level protobuf fields found.

    ``status`` is "ok" (the fields tile the data exactly), "truncated" (a field or
    varint runs past the end) or "invalid" (bytes no protobuf writer produces).
    ``fields`` lists (field number, wire type, offset) of the fields seen, the cut
    one included.
    """

    status: str
    fields: tuple[tuple[int, int, int], ...]
    detail: str = ""

    def looks_like_model(self) -> bool:
        """The fields seen are what a protobuf writer emits for a ModelProto.

        That is: ModelProto fields only, each with its wire type, in field-number
        order (writers emit them so), starting with ir_version (always set). Text or
        random bytes almost never pass, so they are not mistaken for a cut model.
        """
        numbers = [num for num, _, _ in self.fields]
        return (
            bool(numbers)
            and numbers[0] == 1
            and numbers == sorted(numbers)
            and all(
                num in _MODEL_FIELDS and _MODEL_FIELDS[num][1] == wt for num, wt, _ in self.fields
            )
        )


def _read_varint(data: bytes, pos: int) -> tuple[int | None, int]:
    """Decode a varint at ``pos``: (value, next pos); value None if cut; -1 if too long."""
    result = 0
    for i in range(10):
        if pos + i >= len(data):
            return None, len(data)
        byte = data[pos + i]
        result |= (byte & 0x7F) << (7 * i)
        if not byte & 0x80:
            return result, pos + i + 1
    return -1, pos + 10


def _scan_top_level(data: bytes) -> _Scan:
    """Walk the top-level fields of a serialized message without decoding them.

    Needed because protobuf's DecodeError does not say whether the data was cut
    short or was never a protobuf message.
    """
    fields: list[tuple[int, int, int]] = []
    pos, end = 0, len(data)
    while pos < end:
        start = pos
        key, pos = _read_varint(data, pos)
        if key is None:
            return _Scan("truncated", tuple(fields), f"a field key at byte {start} is cut off")
        if key < 0 or key >> 3 == 0 or key >> 3 > 0x1FFFFFFF:
            return _Scan("invalid", tuple(fields), f"byte {start} is not a valid field key")
        number, wire = key >> 3, key & 7
        fields.append((number, wire, start))
        if wire == 0:
            value, pos = _read_varint(data, pos)
            if value is None:
                return _Scan("truncated", tuple(fields), _cut(number, start, "a varint"))
            if value < 0:
                return _Scan("invalid", tuple(fields), f"the varint at byte {start} is too long")
        elif wire in (1, 5):
            size = 8 if wire == 1 else 4
            if pos + size > end:
                return _Scan(
                    "truncated",
                    tuple(fields),
                    _cut(number, start, f"{size} bytes", end - pos),
                )
            pos += size
        elif wire == 2:
            length, pos = _read_varint(data, pos)
            if length is None:
                return _Scan("truncated", tuple(fields), _cut(number, start, "a length"))
            if length < 0:
                return _Scan("invalid", tuple(fields), f"the length at byte {start} is too long")
            if pos + length > end:
                return _Scan(
                    "truncated",
                    tuple(fields),
                    _cut(number, start, f"{length:,} bytes", end - pos),
                )
            pos += length
        else:
            return _Scan(
                "invalid",
                tuple(fields),
                f"byte {start} has wire type {wire}, which ONNX never uses",
            )
    return _Scan("ok", tuple(fields))


def _field_name(number: int) -> str:
    known = _MODEL_FIELDS.get(number)
    return known[0] if known else f"field {number}"


def _cut(number: int, start: int, needs: str, remaining: int | None = None) -> str:
    text = f"the {_field_name(number)} field at byte {start:,} needs {needs}"
    if remaining is not None:
        text += f" but only {remaining:,} remain"
    return text


def _lfs_reason(data: bytes) -> str:
    size = None
    for line in data[:1024].decode("utf-8", "replace").splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] == "size" and _DECIMAL.fullmatch(parts[1]):
            size = int(parts[1])
    what = f"a {size:,}-byte object" if size is not None else "an object of unknown size"
    return f"is a Git LFS pointer to {what}, not the model; `git lfs pull` fetches the real file"


def _parse_model(data: bytes, path: Path | str) -> ModelProto:
    """Classify the bytes (OSL001/2/3/4/8) and parse them without external data."""
    if not data:
        raise ModelReadError("OSL001", path, "is empty (0 bytes)")
    if data.startswith(_LFS_PREFIX):
        raise ModelReadError("OSL004", path, _lfs_reason(data))
    try:
        model = ModelProto.FromString(data)
    except DecodeError as exc:
        scan = _scan_top_level(data)
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
    look like a ModelProto's (:meth:`_Scan.looks_like_model`) and all of them come
    before the missing one: protobuf writers emit fields in number order, so that
    is exactly what a valid model cut at a field boundary looks like. Otherwise it
    is OSL002. A cut after opset_import (between metadata_props, functions, ...)
    leaves bytes that are themselves a whole valid model; nothing can tell that
    apart from a smaller model, so it loads.
    """
    scan = _scan_top_level(data)
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


# --------------------------------------------------------------------------- external data


@dataclass
class _ExternalRef:
    tensor: TensorProto
    label: str
    location: str
    offset: int
    length: int | None
    file: Path | None = None  # resolved data file, set once the location is checked


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _show(text: str) -> str:
    """Quote a string from the model for a one-line message, escaping control chars."""
    shown = "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text)
    return f"'{shown}'"


def _parse_external(tensor: TensorProto, label: str, path: Path) -> _ExternalRef:
    """Parse a tensor's external_data entries (OSL009 on anything not honourable)."""
    values: dict[str, str] = {}
    for entry in tensor.external_data:
        if entry.key not in _EXTERNAL_KEYS:
            raise ModelReadError(
                "OSL009",
                path,
                f"tensor {_show(label)} has unknown external-data key {_show(entry.key)}",
            )
        if entry.key in values:
            raise ModelReadError(
                "OSL009",
                path,
                f"tensor {_show(label)} has external-data key {_show(entry.key)} twice",
            )
        values[entry.key] = entry.value
    if "location" not in values:
        raise ModelReadError(
            "OSL009", path, f"tensor {_show(label)} is external but has no location"
        )
    numbers: dict[str, int | None] = {}
    for key in ("offset", "length"):
        text = values.get(key)
        if text is not None and not _DECIMAL.fullmatch(text):
            raise ModelReadError(
                "OSL009",
                path,
                f"tensor {_show(label)} has external-data {key} {_show(text)}, "
                "not a non-negative integer",
            )
        numbers[key] = int(text) if text is not None else None
    inline = [
        field.name
        for field, _ in tensor.ListFields()
        if field.name.endswith("_data") and field.name != "external_data"
    ]
    if inline:
        raise ModelReadError(
            "OSL009",
            path,
            f"tensor {_show(label)} is external but also holds inline data ({inline[0]})",
        )
    return _ExternalRef(
        tensor=tensor,
        label=label,
        location=values["location"],
        offset=numbers["offset"] or 0,
        length=numbers["length"],
    )


def _location_escapes(location: str) -> bool:
    """True for any location that is not a plain relative path below the folder."""
    if not location or "\0" in location or "\\" in location or _ORT_MEM_ADDR in location:
        return True
    if location.startswith("/") or os.path.isabs(location):
        return True
    windows = PureWindowsPath(location)
    if windows.drive or windows.root or re.match(r"[A-Za-z]:", location):
        return True
    return ".." in PurePosixPath(location).parts


def _resolve_location(ref: _ExternalRef, path: Path, folder_real: str) -> Path:
    """Map a checked location to a real path inside the model folder, or OSL007."""
    leaves = ModelReadError(
        "OSL007", path, f"external-data path {_show(ref.location)} leaves the model's folder"
    )
    if _location_escapes(ref.location):
        raise leaves
    real = os.path.realpath(os.path.join(folder_real, ref.location))
    try:
        inside = os.path.commonpath([folder_real, real]) == folder_real
    except ValueError:  # different drives on Windows
        inside = False
    if not inside:
        raise leaves
    return Path(real)


def _load_external_data(model: ModelProto, path: Path) -> tuple[tuple[Path, ...], int]:
    """Check every external reference, then read the bytes into the tensors.

    All metadata and paths are checked, and every data file opened and measured,
    before any tensor data is read. Returns (data files, their total size).
    """
    refs = [
        _parse_external(tensor, label, path)
        for tensor, label in iter_tensors(model)
        if tensor.data_location == TensorProto.EXTERNAL
    ]
    if not refs:
        return (), 0
    folder_real = os.path.realpath(path.parent)
    for ref in refs:
        ref.file = _resolve_location(ref, path, folder_real)

    nofollow = getattr(os, "O_NOFOLLOW", 0)
    handles: dict[Path, tuple[int, int]] = {}  # file -> (fd, size)
    try:
        for ref in refs:
            assert ref.file is not None
            if ref.file not in handles:
                handles[ref.file] = _open_data_file(ref, path, nofollow)
            _check_range(ref, handles[ref.file][1], path)
        for ref in refs:
            assert ref.file is not None
            fd, size = handles[ref.file]
            length = ref.length if ref.length is not None else size - ref.offset
            tensor = ref.tensor
            tensor.raw_data = _read_range(fd, ref, length, path)
            del tensor.external_data[:]
            tensor.data_location = TensorProto.DEFAULT
    finally:
        for fd, _ in handles.values():
            os.close(fd)
    files = tuple(sorted(handles))
    return files, sum(size for _, size in handles.values())


def _open_data_file(ref: _ExternalRef, path: Path, nofollow: int) -> tuple[int, int]:
    assert ref.file is not None
    name = _show(ref.location)
    try:
        fd = os.open(ref.file, _open_flags() | nofollow)
    except FileNotFoundError:
        raise ModelReadError(
            "OSL006",
            path,
            f"external-data file {name} for tensor {_show(ref.label)} does not exist",
        ) from None
    except OSError as exc:
        raise ModelReadError(
            "OSL006",
            path,
            f"external-data file {name} for tensor {_show(ref.label)} {_oserror_reason(exc)}",
        ) from None
    try:
        info = os.fstat(fd)
    except OSError as exc:
        os.close(fd)
        raise ModelReadError(
            "OSL006", path, f"external-data file {name} {_oserror_reason(exc)}"
        ) from None
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        raise ModelReadError(
            "OSL006",
            path,
            f"external-data file {name} for tensor {_show(ref.label)} is not a regular file",
        )
    return fd, info.st_size


def _check_range(ref: _ExternalRef, size: int, path: Path) -> None:
    name, label = _show(ref.location), _show(ref.label)
    expected = data_nbytes(ref.tensor)
    if ref.length is None:
        if ref.offset > size:
            raise ModelReadError(
                "OSL006",
                path,
                f"external-data file {name} is {size:,} bytes, "
                f"tensor {label} starts at byte {ref.offset:,}",
            )
        available = size - ref.offset
        if expected is not None and available != expected:
            raise ModelReadError(
                "OSL006",
                path,
                f"external-data file {name} has {available:,} bytes from offset "
                f"{ref.offset:,}, tensor {label} needs exactly {expected:,}",
            )
        return
    if ref.offset + ref.length > size:
        raise ModelReadError(
            "OSL006",
            path,
            f"external-data file {name} is {size:,} bytes, tensor {label} needs bytes "
            f"{ref.offset:,}..{ref.offset + ref.length:,}",
        )
    if expected is not None and ref.length != expected:
        raise ModelReadError(
            "OSL009",
            path,
            f"tensor {label} has external-data length {ref.length:,} "
            f"but its type and shape need {expected:,} bytes",
        )


def _read_range(fd: int, ref: _ExternalRef, length: int, path: Path) -> bytes:
    chunks: list[bytes] = []
    done = 0
    try:
        os.lseek(fd, ref.offset, os.SEEK_SET)
        while done < length:
            chunk = os.read(fd, min(length - done, 1 << 24))
            if not chunk:
                break
            chunks.append(chunk)
            done += len(chunk)
    except OSError as exc:
        raise ModelReadError(
            "OSL006", path, f"external-data file {_show(ref.location)} {_oserror_reason(exc)}"
        ) from None
    if done != length:
        raise ModelReadError(
            "OSL006",
            path,
            f"external-data file {_show(ref.location)} ended while reading tensor "
            f"{_show(ref.label)} (got {done:,} of {length:,} bytes)",
        )
    return b"".join(chunks)
