"""The external-data security boundary: the one place external tensor data is opened.

A model names the files its tensors' data live in, and a model is untrusted input:
a location could point anywhere (``/etc/passwd``, ``../../secret``, a symlink out
of the folder, a FIFO, a range past the end of a file). This module is the only
code that turns such a location into an open file, and it refuses before a single
byte is read:

- the external_data entries must be well formed: known keys only, each once, a
  location, decimal offset and length, no inline data besides (OSL009);
- the location must be a plain relative path: not empty, no NUL, no backslash, not
  absolute (POSIX or Windows, drive letters included), no ``..`` part, not the
  onnxruntime in-memory marker (OSL007);
- the real path, symlinks resolved, must stay inside the model's real folder
  (OSL007);
- the file is opened read-only with ``O_NOFOLLOW`` (a symlink swapped in after the
  check is not followed) and ``O_NONBLOCK`` (a FIFO cannot hang the run), and must
  be a regular file (OSL006);
- offset and length must lie inside the file, and the length must be what the
  tensor's type and shape need (OSL006, OSL009).

Every location of the model is checked and every data file opened and measured
before any tensor data is read (:func:`check_external_data`). What happens then is
the caller's choice, on the :class:`ExternalData` it gets: :meth:`ExternalData.view`
gives a read-only, zero-copy view of a tensor's bytes in a memory map of its data
file (nothing is read until a page is touched), and :meth:`ExternalData.read_into`
copies the bytes of the tensors it is given into them, which become ordinary inline
tensors. Each refusal is a :class:`~onnxslim_lint.errors.ModelReadError` naming the
tensor and the location.
"""

from __future__ import annotations

import mmap
import os
import re
import stat
import weakref
from collections.abc import Iterable, Iterator
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path, PurePosixPath, PureWindowsPath

from onnx import ModelProto, TensorProto

from onnxslim_lint.errors import ModelReadError
from onnxslim_lint.model.graphs import iter_tensors
from onnxslim_lint.model.tensors import data_nbytes

__all__ = [
    "ExternalData",
    "check_external_data",
    "load_external_data",
    "open_flags",
    "oserror_reason",
    "show",
]

_ORT_MEM_ADDR = "_ORT_MEM_ADDR_"
# Dropping mapped pages of a read-only file mapping is always safe: they are read
# again from the file (the page cache) if touched. Not every platform has it.
_DONTNEED: int | None = getattr(mmap, "MADV_DONTNEED", None)
_EXTERNAL_KEYS = frozenset({"location", "offset", "length", "checksum"})
_DECIMAL = re.compile(r"[0-9]+")


def open_flags() -> int:
    """Flags to open a file read-only, binary, without blocking on a FIFO."""
    # O_NONBLOCK: opening a FIFO must not hang; it changes nothing for regular files.
    return os.O_RDONLY | getattr(os, "O_BINARY", 0) | getattr(os, "O_NONBLOCK", 0)


def oserror_reason(exc: OSError) -> str:
    """Why a file cannot be read, as the end of a one-line message."""
    if isinstance(exc, FileNotFoundError):
        return "does not exist"
    if isinstance(exc, IsADirectoryError):
        return "is a directory, not a model file"
    if isinstance(exc, PermissionError):
        return "cannot be read: permission denied"
    return f"cannot be read: {exc.strerror or type(exc).__name__}"


@dataclass
class _ExternalRef:
    tensor: TensorProto
    label: str
    location: str
    offset: int
    length: int | None
    file: Path | None = None  # resolved data file, set once the location is checked


def show(text: str) -> str:
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
                f"tensor {show(label)} has unknown external-data key {show(entry.key)}",
            )
        if entry.key in values:
            raise ModelReadError(
                "OSL009",
                path,
                f"tensor {show(label)} has external-data key {show(entry.key)} twice",
            )
        values[entry.key] = entry.value
    if "location" not in values:
        raise ModelReadError(
            "OSL009", path, f"tensor {show(label)} is external but has no location"
        )
    numbers: dict[str, int | None] = {}
    for key in ("offset", "length"):
        text = values.get(key)
        if text is not None and not _DECIMAL.fullmatch(text):
            raise ModelReadError(
                "OSL009",
                path,
                f"tensor {show(label)} has external-data {key} {show(text)}, "
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
            f"tensor {show(label)} is external but also holds inline data ({inline[0]})",
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
        "OSL007", path, f"external-data path {show(ref.location)} leaves the model's folder"
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


def check_external_data(model: ModelProto, path: Path) -> ExternalData:
    """Check every external reference of ``model`` and open its data files.

    All metadata and paths are checked, and every data file opened and measured,
    before the returned :class:`ExternalData` may read any tensor data. The tensors
    themselves are not changed.
    """
    refs = [
        _parse_external(tensor, label, path)
        for tensor, label in iter_tensors(model)
        if tensor.data_location == TensorProto.EXTERNAL
    ]
    if not refs:
        return ExternalData(path, [], {})
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
    except BaseException:
        for fd, _ in handles.values():
            os.close(fd)
        raise
    return ExternalData(path, refs, handles)


def load_external_data(model: ModelProto, path: Path) -> tuple[tuple[Path, ...], int]:
    """Check every external reference, then read the bytes into the tensors.

    Returns (data files, their total size).
    """
    external = check_external_data(model, path)
    try:
        external.read_into(tensor for tensor, _ in iter_tensors(model))
    finally:
        external.close()
    return external.files, external.total_size


class ExternalData:
    """The checked external references of one model and its open data files.

    A reference is known by what its tensor's entries say (location, offset,
    length), so a view is found for a tensor copied from the model as loaded too,
    and a tensor whose entries were never checked gets none. Views are slices of a
    read-only memory map of the file, made on first use; they stay valid as long as
    they are referenced, even after :meth:`close` or the file being replaced.
    """

    def __init__(
        self, path: Path, refs: list[_ExternalRef], handles: dict[Path, tuple[int, int]]
    ) -> None:
        self.path = path
        self._refs = {_key(ref.tensor): ref for ref in refs}
        self._handles = handles
        self._sizes = {file: size for file, (_, size) in handles.items()}
        self._maps: dict[Path, mmap.mmap | None] = {}
        fds = [fd for fd, _ in handles.values()]
        self._closer = weakref.finalize(self, _close_all, fds)

    @property
    def files(self) -> tuple[Path, ...]:
        return tuple(sorted(self._sizes))

    @property
    def total_size(self) -> int:
        return sum(self._sizes.values())

    def __bool__(self) -> bool:
        return bool(self._refs)

    def view(self, tensor: TensorProto) -> memoryview | None:
        """Read-only view of an external tensor's bytes, or None if not a checked one."""
        if tensor.data_location != TensorProto.EXTERNAL:
            return None
        ref = self._refs.get(_key(tensor))
        if ref is None or ref.file is None or ref.file not in self._handles:
            return None
        offset, length = self._span(ref)
        if length == 0:
            return memoryview(b"")
        mapped = self._map(ref.file)
        if mapped is None:
            return None
        return memoryview(mapped)[offset : offset + length]

    def stream(self, tensor: TensorProto, chunk: int = 1 << 26) -> Iterator[memoryview]:
        """An external tensor's bytes in pieces, for copying them to another file.

        Each piece's pages are dropped from this process once the consumer asks for
        the next (they stay in the page cache), so streaming a large tensor out
        does not grow the process by its size. Nothing for a tensor without a view.
        """
        view = self.view(tensor)
        if view is None or not len(view):
            return
        mapped = view.obj
        ref = self._refs[_key(tensor)]
        start = ref.offset
        for pos in range(0, len(view), chunk):
            yield view[pos : pos + chunk]
            if isinstance(mapped, mmap.mmap) and _DONTNEED is not None:
                low = start + pos - (start + pos) % mmap.PAGESIZE
                high = start + min(pos + chunk, len(view))
                with suppress(OSError, ValueError):
                    mapped.madvise(_DONTNEED, low, high - low)

    def read_into(self, tensors: Iterable[TensorProto]) -> None:
        """Copy the bytes of each checked external tensor into it (inline from then on)."""
        for tensor in tensors:
            if tensor.data_location != TensorProto.EXTERNAL:
                continue
            ref = self._refs.get(_key(tensor))
            if ref is None or ref.file is None or ref.file not in self._handles:
                continue
            fd, _ = self._handles[ref.file]
            _, length = self._span(ref)
            tensor.raw_data = _read_range(fd, ref, length, self.path)
            del tensor.external_data[:]
            tensor.data_location = TensorProto.DEFAULT

    def close(self) -> None:
        """Close the data files (views already given out stay valid)."""
        self._closer()
        self._handles = {}
        self._maps.clear()

    def _span(self, ref: _ExternalRef) -> tuple[int, int]:
        assert ref.file is not None
        size = self._sizes[ref.file]
        return ref.offset, ref.length if ref.length is not None else size - ref.offset

    def _map(self, file: Path) -> mmap.mmap | None:
        if file not in self._maps:
            fd, size = self._handles[file]
            try:
                self._maps[file] = mmap.mmap(fd, size, access=mmap.ACCESS_READ) if size else None
            except (OSError, ValueError):  # a closed file, a file system without mmap
                self._maps[file] = None
        return self._maps[file]


def _key(tensor: TensorProto) -> tuple[tuple[str, str], ...]:
    return tuple((entry.key, entry.value) for entry in tensor.external_data)


def _close_all(fds: list[int]) -> None:
    while fds:
        os.close(fds.pop())


def _open_data_file(ref: _ExternalRef, path: Path, nofollow: int) -> tuple[int, int]:
    assert ref.file is not None
    name = show(ref.location)
    try:
        fd = os.open(ref.file, open_flags() | nofollow)
    except FileNotFoundError:
        raise ModelReadError(
            "OSL006",
            path,
            f"external-data file {name} for tensor {show(ref.label)} does not exist",
        ) from None
    except OSError as exc:
        raise ModelReadError(
            "OSL006",
            path,
            f"external-data file {name} for tensor {show(ref.label)} {oserror_reason(exc)}",
        ) from None
    try:
        info = os.fstat(fd)
    except OSError as exc:
        os.close(fd)
        raise ModelReadError(
            "OSL006", path, f"external-data file {name} {oserror_reason(exc)}"
        ) from None
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        raise ModelReadError(
            "OSL006",
            path,
            f"external-data file {name} for tensor {show(ref.label)} is not a regular file",
        )
    return fd, info.st_size


def _check_range(ref: _ExternalRef, size: int, path: Path) -> None:
    name, label = show(ref.location), show(ref.label)
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
            "OSL006", path, f"external-data file {show(ref.location)} {oserror_reason(exc)}"
        ) from None
    if done != length:
        raise ModelReadError(
            "OSL006",
            path,
            f"external-data file {show(ref.location)} ended while reading tensor "
            f"{show(ref.label)} (got {done:,} of {length:,} bytes)",
        )
    return b"".join(chunks)
