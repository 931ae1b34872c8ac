"""Write a model atomically, as one file or with one external-data file.

The caller's proto is never changed, nor copied whole: the file is written from a
:mod:`~onnxslim_lint.model.layout` plan, the model without its weights' payloads
(the skeleton) plus, per weight, where its bytes come from. The data file is
streamed from those sources one tensor at a time: the tensors' own ``raw_data``,
or views of the data file a tensor still points at (``external_data``), so a
model whose weights were never loaded is written without ever holding them.

A model that would be over protobuf's 2 GiB limit as one file is written with
external data instead (:attr:`WriteResult.external_because_too_big`).

Order of a write: new data file (temp name, fsync, rename), model (temp name,
fsync, rename over the target), directory fsync, then the old data files listed in
``replaces`` are deleted. A failure before the model rename removes everything
written, so the original files are untouched.
"""

from __future__ import annotations

import os
import stat
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path

import onnx

from onnxslim_lint.errors import OnnxLintError
from onnxslim_lint.model.external_data import ExternalData
from onnxslim_lint.model.layout import Layout, Payload, UnreadableTensor, plan_layout

__all__ = ["ModelWriteError", "WriteResult", "serialized_size", "write_model"]

# protobuf cannot serialize or parse a message of 2 GiB or more.
_MAX_PROTO_BYTES = 2**31 - 1


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
    # A single file was asked for, but the model is over protobuf's 2 GiB limit.
    external_because_too_big: bool = False


def serialized_size(
    model: onnx.ModelProto,
    *,
    external: bool,
    size_threshold: int = 1024,
    target: Path | str | None = None,
    external_data: ExternalData | None = None,
) -> int:
    """Total bytes (model file + data file) :func:`write_model` would write.

    Computed from the model's parts (the skeleton's size plus the payload sizes),
    never by serializing the whole model. With external data the model file stores
    the data file's name once per external tensor, so the count is exact only when
    ``target`` is the path that will be written; without it, the name
    ``model.onnx.data`` is assumed.
    """
    location = _data_file_name(Path(target)) if target is not None else "model.onnx.data"
    layout, _ = _plan(model, external, size_threshold, location, external_data, target)
    return layout.model_file_size() + layout.data_size


def write_model(
    model: onnx.ModelProto,
    target: Path,
    *,
    external: bool,
    replaces: Sequence[Path] = (),
    size_threshold: int = 1024,
    serialized: bytes | None = None,
    external_data: ExternalData | None = None,
    durable: bool = True,
) -> WriteResult:
    """Write ``model`` to ``target`` atomically; see the module docstring.

    ``serialized`` may carry ``model.SerializeToString()`` when the caller has it
    (single-file models only), so the model is not serialized twice.
    ``external_data`` gives the bytes of tensors that still point at the data files
    the model was loaded from.

    With external data every tensor whose data is at least ``size_threshold``
    bytes goes to one new data file next to the target, named by the tool
    (``<name>.data``, ``<name>_data``, ``<name>.data.1``, ... whichever does not
    exist yet). ``replaces`` are the previous data files: deleted after success,
    except the new data file and anything outside the target's folder.
    ``durable=False`` skips the fsyncs, for a scratch copy that is thrown away.
    """
    target = Path(target)
    folder = target.parent
    location = _data_file_name(target)
    layout, too_big = _plan(model, external, size_threshold, location, external_data, target)
    mode = _new_file_mode(target)
    temps: list[str] = []
    created: list[Path] = []
    data_path: Path | None = None
    data_size = 0
    try:
        if layout.moved:
            data_path = folder / location
            chunks = _data_chunks(layout.moved)
            data_size = _write_file(data_path, chunks, mode, temps, durable)
            created.append(data_path)
            if durable:
                _fsync_dir(folder)
        payload = _model_bytes(model, layout, serialized, target)
        _write_file(target, [payload], mode, temps, durable)
        created.clear()
        if durable:
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
        external_because_too_big=too_big,
    )


# --------------------------------------------------------------------------- layout


def _plan(
    model: onnx.ModelProto,
    external: bool,
    threshold: int,
    location: str,
    external_data: ExternalData | None,
    where: Path | str | None,
) -> tuple[Layout, bool]:
    """The layout to write, and whether it is external only because of the size limit."""
    where = where or "<model>"
    try:
        layout = plan_layout(
            model,
            external=external,
            threshold=threshold,
            location=location,
            external_data=external_data,
        )
        too_big = not external and layout.model_file_size() > _MAX_PROTO_BYTES
        if too_big:
            layout = plan_layout(
                model,
                external=True,
                threshold=threshold,
                location=location,
                external_data=external_data,
            )
    except UnreadableTensor as exc:
        raise ModelWriteError(where, str(exc)) from None
    size = layout.model_file_size()
    if size > _MAX_PROTO_BYTES:
        raise ModelWriteError(where, _too_big(f"{size:,} bytes", layout))
    return layout, too_big


def _too_big(size: str, layout: Layout) -> str:
    if layout.moved:
        return (
            f"the model would be {size} even with its weights as external data, "
            "over protobuf's 2 GiB limit for one file"
        )
    return (
        f"the model would be {size}, over protobuf's 2 GiB limit for one file; "
        "write it with external data"
    )


def _model_bytes(
    model: onnx.ModelProto, layout: Layout, serialized: bytes | None, target: Path
) -> bytes:
    """The model file's bytes: the caller's, the model's own, or the skeleton's."""
    if not layout.moved and serialized is not None:
        return serialized
    whole = not layout.moved and not layout.needs_skeleton_to_serialize()
    proto = model if whole else layout.fill_inline()
    try:
        payload = proto.SerializeToString()
    except (ValueError, OverflowError):  # protobuf's own size limit
        raise ModelWriteError(target, _too_big("over 2 GiB", layout)) from None
    if len(payload) > _MAX_PROTO_BYTES:
        raise ModelWriteError(target, _too_big(f"{len(payload):,} bytes", layout))
    return payload


def _data_chunks(moved: list[Payload]) -> Iterator[bytes | memoryview]:
    """The data file's bytes, one tensor (or one piece of a data file) at a time."""
    for payload in moved:
        yield from payload.chunks()


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


def _write_file(
    final: Path,
    chunks: Iterable[bytes | memoryview],
    mode: int,
    temps: list[str],
    durable: bool = True,
) -> int:
    """Write chunks to a temp file next to ``final``, fsync, chmod, rename over it."""
    fd, temp = tempfile.mkstemp(dir=final.parent, prefix=f".{final.name}.", suffix=".tmp")
    temps.append(temp)
    written = 0
    with os.fdopen(fd, "wb") as handle:
        for chunk in chunks:
            handle.write(chunk)
            written += len(chunk)
        handle.flush()
        if durable:
            os.fsync(handle.fileno())
    os.chmod(temp, mode)
    os.replace(temp, final)
    temps.remove(temp)
    return written


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
