"""Write a model atomically, as one file or with one external-data file.

The caller's proto is never changed: for the external layout the tensors that move
out are modified in place only for the time it takes to serialize, and restored in
a ``finally`` block (cheaper than copying a large proto).

Order of a write: new data file (temp name, fsync, rename), model (temp name,
fsync, rename over the target), directory fsync, then the old data files listed in
``replaces`` are deleted. A failure before the model rename removes everything
written, so the original files are untouched.
"""

from __future__ import annotations

import os
import stat
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

import onnx
from onnx import TensorProto, numpy_helper

from onnxslim_lint.errors import OnnxLintError
from onnxslim_lint.model.graphs import iter_tensors

__all__ = ["ModelWriteError", "WriteResult", "serialized_size", "write_model"]

# protobuf cannot serialize or parse a message of 2 GiB or more.
_MAX_PROTO_BYTES = 2**31 - 1
_TYPED_FIELDS = (
    "float_data",
    "int32_data",
    "string_data",
    "int64_data",
    "double_data",
    "uint64_data",
)


class ModelWriteError(OnnxLintError):
    """A model that cannot be written (too big for one file, disk error, ...)."""

    def __init__(self, path: Path | str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = Path(path)
        self.reason = reason


@dataclass(frozen=True)
class WriteResult:
    model_path: Path
    data_path: Path | None
    total_size: int
    # Files from ``replaces`` that should have been deleted but could not be.
    not_removed: tuple[Path, ...] = field(default=())


def serialized_size(
    model: onnx.ModelProto,
    *,
    external: bool,
    size_threshold: int = 1024,
    target: Path | str | None = None,
) -> int:
    """Total bytes (model file + data file) :func:`write_model` would write.

    With ``external=True`` the model file stores the data file's name once per
    external tensor, so the count is exact only when ``target`` is the path that
    will be written; without it, the name ``model.onnx.data`` is assumed.
    """
    _check_self_contained(model, target or "<model>")
    if not external:
        return model.ByteSize()
    moved = _tensors_to_move(model, size_threshold)
    if not moved:
        return model.ByteSize()
    location = _data_file_name(Path(target)) if target is not None else "model.onnx.data"
    with _externalized(moved, location):
        return model.ByteSize() + sum(len(raw) for _, raw in moved)


def write_model(
    model: onnx.ModelProto,
    target: Path,
    *,
    external: bool,
    replaces: Sequence[Path] = (),
    size_threshold: int = 1024,
    serialized: bytes | None = None,
) -> WriteResult:
    """Write ``model`` to ``target`` atomically; see the module docstring.

    ``serialized`` may carry ``model.SerializeToString()`` when the caller has it
    (single-file models only), so the model is not serialized twice.

    With ``external=True`` every tensor whose data is at least ``size_threshold``
    bytes goes to one new data file next to the target, named by the tool
    (``<name>.data``, ``<name>_data``, ``<name>.data.1``, ... whichever does not
    exist yet). ``replaces`` are the previous data files: deleted after success,
    except the new data file and anything outside the target's folder.
    """
    target = Path(target)
    folder = target.parent
    _check_self_contained(model, target)
    moved = _tensors_to_move(model, size_threshold) if external else []
    mode = _new_file_mode(target)
    temps: list[str] = []
    created: list[Path] = []
    data_path: Path | None = None
    data_size = 0
    try:
        if moved:
            data_path = folder / _data_file_name(target)
            data_size = _write_data_file(moved, data_path, mode, temps)
            created.append(data_path)
            _fsync_dir(folder)
        with _externalized(moved, data_path.name if data_path else ""):
            payload = serialized if serialized is not None and not moved else None
            if payload is None:
                try:
                    payload = model.SerializeToString()  # measuring first would serialize twice
                except (ValueError, OverflowError):  # protobuf's own size limit
                    payload = None
            if payload is None or len(payload) > _MAX_PROTO_BYTES:
                size = f"{len(payload):,} bytes" if payload is not None else "over 2 GiB"
                raise ModelWriteError(
                    target,
                    f"the model would be {size}, over protobuf's 2 GiB limit for one "
                    "file; write it with external data",
                )
        _write_file(target, [payload], mode, temps)
        created.clear()
        _fsync_dir(folder)
    except OSError as exc:
        _cleanup(temps, created)
        reason = exc.strerror or type(exc).__name__
        where = f" ({exc.filename})" if exc.filename else ""
        raise ModelWriteError(target, f"cannot write the model: {reason}{where}") from exc
    except BaseException:
        _cleanup(temps, created)
        raise
    not_removed = _remove_replaced(replaces, folder, target, data_path)
    return WriteResult(
        model_path=target,
        data_path=data_path,
        total_size=len(payload) + data_size,
        not_removed=not_removed,
    )


# --------------------------------------------------------------------------- tensors


def _check_self_contained(model: onnx.ModelProto, where: Path | str) -> None:
    for tensor, label in iter_tensors(model):
        if tensor.data_location == TensorProto.EXTERNAL:
            raise ModelWriteError(
                where,
                f"tensor '{label}' still refers to external data; "
                "a model must hold all its tensor bytes to be written",
            )


def _raw_bytes(tensor: TensorProto) -> bytes | None:
    """The tensor's data as raw bytes, or None if it must stay inline.

    Typed fields (float_data, ...) are converted with a numpy_helper round trip,
    which keeps the bits; a conversion that would change the type or shape, string
    tensors, and tensors without data stay as they are.
    """
    if tensor.data_type in (TensorProto.UNDEFINED, TensorProto.STRING):
        return None
    if tensor.HasField("raw_data"):
        return tensor.raw_data
    if not any(len(getattr(tensor, name)) for name in _TYPED_FIELDS):
        return None
    try:
        converted = numpy_helper.from_array(numpy_helper.to_array(tensor))
    except Exception:  # an unusual dtype numpy_helper cannot handle: keep it inline
        return None
    if converted.data_type != tensor.data_type or list(converted.dims) != list(tensor.dims):
        return None
    return converted.raw_data


def _tensors_to_move(model: onnx.ModelProto, threshold: int) -> list[tuple[TensorProto, bytes]]:
    moved = []
    for tensor, _ in iter_tensors(model):
        raw = _raw_bytes(tensor)
        if raw is not None and len(raw) >= threshold:
            moved.append((tensor, raw))
    return moved


@dataclass
class _Saved:
    tensor: TensorProto
    raw: bytes | None  # the raw_data field, held outside the proto meanwhile
    rest: TensorProto | None = None  # everything else, set once copied


@contextmanager
def _externalized(moved: list[tuple[TensorProto, bytes]], location: str) -> Iterator[None]:
    """Point the moved tensors at ``location`` (contiguous offsets); restore on exit."""
    saved: list[_Saved] = []
    try:
        offset = 0
        for tensor, raw in moved:
            entry = _Saved(tensor, tensor.raw_data if tensor.HasField("raw_data") else None)
            saved.append(entry)
            if entry.raw is not None:
                tensor.ClearField("raw_data")
            rest = TensorProto()
            rest.CopyFrom(tensor)
            entry.rest = rest
            for name in _TYPED_FIELDS:
                tensor.ClearField(name)
            del tensor.external_data[:]
            for key, value in (("location", location), ("offset", offset), ("length", len(raw))):
                item = tensor.external_data.add()
                item.key = key
                item.value = str(value)
            tensor.data_location = TensorProto.EXTERNAL
            offset += len(raw)
        yield
    finally:
        for entry in saved:
            if entry.rest is not None:
                entry.tensor.CopyFrom(entry.rest)
            if entry.raw is not None:
                entry.tensor.raw_data = entry.raw


# --------------------------------------------------------------------------- files


def _data_file_name(target: Path) -> str:
    """First of <name>.data, <name>_data, <name>.data.1, ... that does not exist."""
    folder, name = target.parent, target.name
    candidates = [f"{name}.data", f"{name}_data"]
    index = 1
    while True:
        for candidate in candidates:
            if not os.path.lexists(folder / candidate):
                return candidate
        candidates = [f"{name}.data.{index}"]
        index += 1


def _new_file_mode(target: Path) -> int:
    """The target's current permission bits, or 0o644 minus the umask for a new file."""
    try:
        return stat.S_IMODE(os.stat(target).st_mode)
    except OSError:
        pass
    umask = os.umask(0o022)
    os.umask(umask)
    return 0o644 & ~umask


def _write_file(final: Path, chunks: Sequence[bytes], mode: int, temps: list[str]) -> int:
    """Write chunks to a temp file next to ``final``, fsync, chmod, rename over it."""
    fd, temp = tempfile.mkstemp(dir=final.parent, prefix=f".{final.name}.", suffix=".tmp")
    temps.append(temp)
    written = 0
    with os.fdopen(fd, "wb") as handle:
        for chunk in chunks:
            handle.write(chunk)
            written += len(chunk)
        handle.flush()
        os.fsync(handle.fileno())
    os.chmod(temp, mode)
    os.replace(temp, final)
    temps.remove(temp)
    return written


def _write_data_file(
    moved: list[tuple[TensorProto, bytes]], final: Path, mode: int, temps: list[str]
) -> int:
    return _write_file(final, [raw for _, raw in moved], mode, temps)


def _fsync_dir(folder: Path) -> None:
    """Make the renames durable; not possible (nor needed) on every platform."""
    if os.name == "nt":
        return
    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        with suppress(OSError):
            os.fsync(fd)
    finally:
        os.close(fd)


def _cleanup(temps: list[str], created: list[Path]) -> None:
    for name in [*temps, *map(str, created)]:
        with suppress(OSError):
            os.unlink(name)


def _remove_replaced(
    replaces: Sequence[Path], folder: Path, target: Path, data_path: Path | None
) -> tuple[Path, ...]:
    """Delete old data files, never the new ones nor anything outside ``folder``."""
    folder_real = os.path.realpath(folder)
    keep = {os.path.realpath(target)}
    if data_path is not None:
        keep.add(os.path.realpath(data_path))
    failed: list[Path] = []
    for old in replaces:
        old_path = Path(old)
        real = os.path.realpath(old_path)
        if real in keep or not _inside(real, folder_real):
            continue
        try:
            os.unlink(real)
        except FileNotFoundError:
            pass
        except OSError:
            failed.append(old_path)
    return tuple(failed)


def _inside(path: str, folder: str) -> bool:
    try:
        return path != folder and os.path.commonpath([path, folder]) == folder
    except ValueError:  # different drives on Windows
        return False
