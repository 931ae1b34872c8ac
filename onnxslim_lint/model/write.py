"""Write a model atomically, as one file or with external-data files.

The caller's proto is never changed, nor copied whole: the file is written from a
:mod:`~onnxslim_lint.model.layout` plan, the model without its weights' payloads
(the skeleton) plus, per weight, where its bytes come from. The data files are
streamed from those sources one tensor at a time: the tensors' own ``raw_data``,
or views of the data file a tensor still points at (``external_data``), so a
model whose weights were never loaded is written without ever holding them.

A model that would be over protobuf's 2 GiB limit as one file is written with
external data instead (:attr:`WriteResult.external_because_too_big`).

Names and modes. The old data files in ``replaces`` (the pipeline passes those no
other model uses) keep their names: a weight still in one of them goes back to it,
and every other external tensor (new, changed, or from a data file shared with
another model) goes to the main one, the old file that keeps the most bytes (the
largest when none keeps any). An old file none of whose weights is left is
removed. Without such a file (a new model, ``-o``, a data file another model
reads), one new data file gets a name the tool chooses: the first of
``<name>.data``, ``<name>_data``, ``<name>.data.1``, ... that does not exist. A
data file keeps the old file's permission bits (the first old data file's for a
new one, else the model's), the model file its own.

Order of a write, each step durable (fsync of the file, then of the folder)
before the next, so a crash at any point leaves a model that loads with either
its old or its new weights:

1. each data file is written under a new name (through a temporary file,
   renamed), never over a file the model on disk still reads;
2. the model, pointing at those names, through a temporary file and
   ``os.replace`` over the target. A failure up to here removes everything
   written, so the original files are untouched;
3. when a name is kept: each new data file is copied (cloned where the file
   system can) to a temporary file, which is renamed over the old name; the
   model, pointing at the old names, is written again as in 2; the new names are
   removed. Not a hard link: onnx refuses a data file with two links. A failure
   in this step leaves the model of step 2, which is complete, and the write
   goes on as if no name were kept;
4. the old data files in ``replaces`` the model no longer uses are deleted.

The old data files are only ever replaced by a rename, never written into, so
views of them (``external_data``) stay valid throughout.
"""

from __future__ import annotations

import os
import shutil
import stat
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import BinaryIO

import onnx

from onnxslim_lint.errors import OnnxLintError
from onnxslim_lint.model.external_data import ExternalData
from onnxslim_lint.model.layout import Layout, Payload, UnreadableTensor, plan_layout
from onnxslim_lint.model.litter import remove_stale, temp_prefix

__all__ = ["ModelWriteError", "WriteResult", "serialized_size", "write_model"]

# protobuf cannot serialize or parse a message of 2 GiB or more.
_MAX_PROTO_BYTES = 2**31 - 1

#: For tests only: called with a step's name after each file-system operation of a
#: write (a temporary file created, written or copied, flushed, chmod-ed, renamed; an
#: unlink, a folder flushed), so a test can kill the process between any two.
_step_hook: Callable[[str], None] | None = None


def _step(name: str) -> None:
    if _step_hook is not None:
        _step_hook(name)


class ModelWriteError(OnnxLintError):
    """A model that cannot be written (too big for one file, disk error, ...)."""

    def __init__(self, path: Path | str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = Path(path)
        self.reason = reason


@dataclass(frozen=True)
class WriteResult:
    model_path: Path
    data_path: Path | None  # the main data file (the first of ``data_paths``)
    total_size: int
    # Files from ``replaces`` that should have been deleted but could not be.
    not_removed: tuple[Path, ...] = field(default=())
    # A single file was asked for, but the model is over protobuf's 2 GiB limit.
    external_because_too_big: bool = False
    # Every data file the written model refers to, the main one first.
    data_paths: tuple[Path, ...] = field(default=())


def serialized_size(
    model: onnx.ModelProto,
    *,
    external: bool,
    size_threshold: int = 1024,
    target: Path | str | None = None,
    external_data: ExternalData | None = None,
    replaces: Sequence[Path] | None = None,
) -> int:
    """Total bytes (model file + data files) :func:`write_model` would write.

    Computed from the model's parts (the skeleton's size plus the payload sizes),
    never by serializing the whole model. With external data the model file stores
    a data file's name once per external tensor, so the count is exact only when
    ``target`` and ``replaces`` are those of the write; without ``target`` the name
    ``model.onnx.data`` is assumed, and without ``replaces`` the data files of
    ``external_data`` keep their names when ``target`` is the model they belong to.
    """
    if target is None:
        layout, _ = _plan(model, external, size_threshold, "model.onnx.data", external_data, None)
        return layout.model_file_size() + layout.data_size
    target = Path(target)
    if replaces is None:  # as the pipeline does: the old files, when written in place
        in_place = external_data is not None and _same_file(external_data.path, target)
        replaces = external_data.files if external_data is not None and in_place else ()
    layout, _, _ = _plan_write(model, target, external, size_threshold, external_data, replaces)
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
    bytes goes to a data file next to the target. ``replaces`` are the model's
    previous data files that no other model uses: their names are kept where
    tensors still belong (module docstring), and those left unused are deleted
    after success, never anything outside the target's folder.
    ``durable=False`` skips the fsyncs, for a scratch copy that is thrown away.
    """
    target = Path(target)
    folder = target.parent
    remove_stale(folder)  # what a killed run left here
    layout, too_big, files = _plan_write(
        model, target, external, size_threshold, external_data, replaces
    )
    mode = _new_file_mode(target)
    temps: list[str] = []
    created: list[Path] = []
    try:
        for data_file in files:
            data_file.written = _written_name(data_file, target, files)
            _point_all(data_file, data_file.written)
            path = folder / data_file.written
            _write_file(path, _data_chunks(data_file.payloads), data_file.mode, temps, durable)
            created.append(path)
        if files:
            _sync_dir(folder, durable)
        if not layout.moved and layout.needs_skeleton_to_serialize():
            # One file whose weights come from views: streamed, never held whole.
            model_size = _write_file(target, layout.inline_chunks(), mode, temps, durable)
        else:
            payload = _model_bytes(model, layout, serialized, target)
            model_size = _write_file(target, [payload], mode, temps, durable)
        created.clear()
        _sync_dir(folder, durable)
    except OSError as exc:
        _cleanup(temps, created)
        reason = exc.strerror or type(exc).__name__
        where = f" ({exc.filename})" if exc.filename else ""
        raise ModelWriteError(target, f"cannot write the model: {reason}{where}") from exc
    except BaseException:
        _cleanup(temps, created)
        raise
    leftovers: list[Path] = []
    if any(data_file.kept for data_file in files):
        payload, leftovers = _restore_names(files, layout, target, mode, durable)
        model_size = len(payload)
    data_paths = tuple(folder / data_file.written for data_file in files)
    not_removed = _remove_replaced(replaces, folder, target, data_paths)
    return WriteResult(
        model_path=target,
        data_path=data_paths[0] if data_paths else None,
        total_size=model_size + layout.data_size,
        not_removed=(*leftovers, *not_removed),
        external_because_too_big=too_big,
        data_paths=data_paths,
    )


# --------------------------------------------------------------------------- names


@dataclass
class _DataFile:
    """One data file of a write: its tensors in offset order, and its names."""

    final: str  # the location the written model names (relative to its folder)
    payloads: list[Payload]
    mode: int
    kept: bool  # ``final`` is an old data file of the model, rewritten under its name
    written: str = ""  # the location written first (``final``, or a new name if kept)


def _plan_write(
    model: onnx.ModelProto,
    target: Path,
    external: bool,
    threshold: int,
    external_data: ExternalData | None,
    replaces: Sequence[Path],
) -> tuple[Layout, bool, list[_DataFile]]:
    """The layout, whether it is external only for its size, and its data files,
    the skeleton's tensors pointing at their final names and offsets."""
    fresh = _data_file_name(target)
    layout, too_big = _plan(model, external, threshold, fresh, external_data, target)
    if not layout.moved:
        return layout, too_big, []
    folder = target.parent
    reusable = _reusable(replaces, folder)
    still_in = _locations_by_tensor(model, folder, reusable)
    groups: dict[str, list[Payload]] = {}
    rest: list[Payload] = []
    for payload in layout.moved:
        location = still_in.get(payload.tensor.name)
        if location is None:
            rest.append(payload)
        else:
            groups.setdefault(location, []).append(payload)
    main = _main_location(groups, reusable, folder)
    if main is None:
        groups = {fresh: rest}  # rest holds every payload: nothing is kept
    elif rest:
        groups[main] = [*groups.get(main, []), *rest]
    old_mode = _first_mode([*reusable.values(), *_data_files_of(external_data)])
    new_mode = old_mode if old_mode is not None else _new_file_mode(target)
    files: list[_DataFile] = []
    for location in sorted(groups, key=lambda name: (name != main, name)):
        kept = main is not None
        mode = _first_mode([folder / location]) if kept else None
        mode = mode if mode is not None else new_mode
        files.append(_DataFile(location, groups[location], mode, kept))
        _point_all(files[-1], location)
    layout.moved = [payload for data_file in files for payload in data_file.payloads]
    return layout, too_big, files


def _reusable(replaces: Sequence[Path], folder: Path) -> dict[str, Path]:
    """The old data files whose names may be kept, by real path: regular files
    inside the target's folder."""
    folder_real = os.path.realpath(folder)
    found: dict[str, Path] = {}
    for old in replaces:
        real = os.path.realpath(old)
        if _inside(real, folder_real) and os.path.isfile(real):
            found[real] = Path(old)
    return found


def _locations_by_tensor(
    model: onnx.ModelProto, folder: Path, reusable: dict[str, Path]
) -> dict[str, str]:
    """Main-graph weight name -> the location of the reusable data file it is still in."""
    found: dict[str, str] = {}
    for tensor in model.graph.initializer:
        if tensor.data_location != onnx.TensorProto.EXTERNAL:
            continue
        location = next((e.value for e in tensor.external_data if e.key == "location"), "")
        parts = PurePosixPath(location).parts
        if not location or "\\" in location or os.path.isabs(location) or ".." in parts:
            continue
        if os.path.realpath(folder / location) in reusable:
            found[tensor.name] = location
    return found


def _main_location(
    groups: dict[str, list[Payload]], reusable: dict[str, Path], folder: Path
) -> str | None:
    """The kept data file the other tensors go to, or None to name a new one."""
    if groups:
        return max(groups, key=lambda name: (sum(p.length for p in groups[name]), name))
    if not reusable:
        return None
    folder_real = os.path.realpath(folder)
    _, real = max((_size(real), real) for real in reusable)
    return PurePosixPath(Path(os.path.relpath(real, folder_real))).as_posix()


def _same_file(one: Path, other: Path) -> bool:
    return os.path.realpath(one) == os.path.realpath(other)


def _size(path: str) -> int:
    try:
        return os.stat(path).st_size
    except OSError:
        return -1


def _data_files_of(external_data: ExternalData | None) -> list[Path]:
    return list(external_data.files) if external_data is not None else []


def _first_mode(paths: Sequence[Path]) -> int | None:
    """The permission bits of the first of ``paths`` that exists (None: none does)."""
    for path in paths:
        with suppress(OSError):
            return stat.S_IMODE(os.stat(path).st_mode)
    return None


def _written_name(data_file: _DataFile, target: Path, files: Sequence[_DataFile]) -> str:
    """Where a data file is written first: its final name, unless that is an old
    data file the model on disk still reads; then a new name."""
    if not data_file.kept:
        return data_file.final
    taken = {other.final for other in files} | {other.written for other in files}
    return next(name for name in _fresh_names(target) if name not in taken)


def _point_all(data_file: _DataFile, location: str) -> None:
    """Point the data file's tensors at ``location``, at contiguous offsets."""
    offset = 0
    for payload in data_file.payloads:
        values = {"location": location, "offset": str(offset), "length": str(payload.length)}
        for entry in payload.tensor.external_data:
            if entry.key in values:
                entry.value = values[entry.key]
        offset += payload.length


def _restore_names(
    files: Sequence[_DataFile], layout: Layout, target: Path, mode: int, durable: bool
) -> tuple[bytes, list[Path]]:
    """Step 3 of the module docstring: the kept data files back under their old
    names, then the model pointing at them. Returns the model file's bytes and the
    new names that could not be removed.

    The model on disk is complete whatever fails here: the one pointing at the new
    names until the second model write, then the final one. A failure before that
    write keeps the new names (``written``); the old files are then deleted with
    the other replaced files.
    """
    folder = target.parent
    kept = [data_file for data_file in files if data_file.kept]
    temps: list[str] = []
    try:
        for data_file in kept:
            source, final = folder / data_file.written, folder / data_file.final
            _put_in_place(source, final, data_file.mode, temps, durable)
            _sync_dir(folder, durable)  # the data itself was flushed when first written
        for data_file in kept:
            _point_all(data_file, data_file.final)
        payload = layout.skeleton.SerializeToString()
        _write_file(target, [payload], mode, temps, durable)
        _sync_dir(folder, durable)
    except OSError:
        for data_file in kept:
            _point_all(data_file, data_file.written)
        _cleanup(temps, [])
        return layout.skeleton.SerializeToString(), []
    left: list[Path] = []
    for data_file in kept:
        try:
            os.unlink(folder / data_file.written)
            _step("unlink")
        except OSError:
            left.append(folder / data_file.written)
        data_file.written = data_file.final
    _sync_dir(folder, durable)
    return payload, left


def _put_in_place(source: Path, final: Path, mode: int, temps: list[str], durable: bool) -> None:
    """Make ``final`` hold the bytes of ``source`` atomically: a copy (a clone where
    the file system can) under a temporary name, flushed, renamed over ``final``.

    Not a hard link: while both names exist the file has two links, and onnx
    refuses to load a data file with more than one (a "hardlink attack").
    """

    def copy(handle: BinaryIO) -> int:
        with open(source, "rb") as original:
            if not _clone(original.fileno(), handle.fileno()):
                shutil.copyfileobj(original, handle, 1 << 24)
        return 0

    _atomic_write(final, copy, mode, temps, durable)


# Linux's FICLONE ioctl: the copy shares the source's blocks (btrfs, XFS, bcachefs).
_FICLONE = 0x40049409


def _clone(source_fd: int, target_fd: int) -> bool:
    if not sys.platform.startswith("linux"):
        return False
    try:
        import fcntl

        fcntl.ioctl(target_fd, _FICLONE, source_fd)
    except (OSError, ImportError):
        return False
    return True


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
    return next(_fresh_names(target))


def _fresh_names(target: Path) -> Iterator[str]:
    """<name>.data, <name>_data, <name>.data.1, ..., skipping those that exist."""
    folder, name = target.parent, target.name
    candidates = [f"{name}.data", f"{name}_data"]
    index = 1
    while True:
        for candidate in candidates:
            if not os.path.lexists(folder / candidate):
                yield candidate
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

    def write(handle: BinaryIO) -> int:
        written = 0
        for chunk in chunks:
            handle.write(chunk)
            written += len(chunk)
        return written

    return _atomic_write(final, write, mode, temps, durable)


def _atomic_write(
    final: Path, fill: Callable[[BinaryIO], int], mode: int, temps: list[str], durable: bool
) -> int:
    """``fill`` a temp file next to ``final`` (it returns the bytes it wrote), flush,
    fsync, chmod and rename it over ``final``; each step is a ``_step`` point."""
    fd, temp = tempfile.mkstemp(
        dir=final.parent, prefix=f".{final.name}.{temp_prefix()}", suffix=".tmp"
    )
    temps.append(temp)
    _step("create")
    with os.fdopen(fd, "wb") as handle:
        written = fill(handle)
        handle.flush()
        _step("write")
        if durable:
            os.fsync(handle.fileno())
            _step("fsync")
    os.chmod(temp, mode)
    _step("chmod")
    os.replace(temp, final)
    temps.remove(temp)
    _step("replace")
    return written


def _sync_dir(folder: Path, durable: bool) -> None:
    if durable:
        _fsync_dir(folder)
        _step("fsync folder")


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
    replaces: Sequence[Path], folder: Path, target: Path, data_paths: Sequence[Path]
) -> tuple[Path, ...]:
    """Delete old data files, never the new ones nor anything outside ``folder``."""
    folder_real = os.path.realpath(folder)
    keep = {os.path.realpath(target), *(os.path.realpath(path) for path in data_paths)}
    failed: list[Path] = []
    for old in replaces:
        old_path = Path(old)
        real = os.path.realpath(old_path)
        if real in keep or not _inside(real, folder_real):
            continue
        try:
            os.unlink(real)
            _step("unlink")
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
