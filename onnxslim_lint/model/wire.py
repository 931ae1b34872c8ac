"""Reading the protobuf wire format of a model file without decoding it.

Two readers, both over the ``bytes`` the model file was read into:

- :func:`scan_top_level` walks the top-level ModelProto fields and tells a file cut
  short from one that was never a protobuf message (protobuf's ``DecodeError``
  does not say which);
- :func:`initializer_views` returns zero-copy views of main-graph initializer bytes.
  Reading ``TensorProto.raw_data`` from a parsed model copies the bytes every time,
  and rules that compare weights (duplicate and tied constants) would copy a large
  model's weights again on every check. This walks ModelProto.graph ->
  GraphProto.initializer -> TensorProto.name / raw_data and returns, per main-graph
  initializer name, a ``memoryview`` of its raw bytes in that buffer. Views are
  valid only for the model parsed from that buffer, before any edit: the check path
  uses them, the fix loop not. Anything unexpected (a field repeated, a name seen
  twice, a malformed length) makes the walk give up and return what it cannot
  doubt, or nothing: a missing view only means the slower copy is used.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from onnx import GraphProto, ModelProto, TensorProto

__all__ = ["TopLevelScan", "initializer_views", "read_varint", "scan_top_level"]

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
_INITIALIZER = GraphProto.DESCRIPTOR.fields_by_name["initializer"].number
_NAME = TensorProto.DESCRIPTOR.fields_by_name["name"].number
_RAW_DATA = TensorProto.DESCRIPTOR.fields_by_name["raw_data"].number


def initializer_views(data: bytes) -> dict[str, memoryview]:
    """Main-graph initializer name -> view of its raw_data bytes inside ``data``."""
    buffer = memoryview(data)
    graphs = [span for number, span in _fields(data, 0, len(data)) if number == _GRAPH_FIELD]
    if len(graphs) != 1:
        return {}  # no graph, or several that protobuf would merge: do not guess
    start, end = graphs[0]
    views: dict[str, memoryview] = {}
    seen: set[str] = set()
    for number, (t_start, t_end) in _fields(data, start, end):
        if number != _INITIALIZER:
            continue
        name: str | None = None
        raw: tuple[int, int] | None = None
        repeated = False
        for field, span in _fields(data, t_start, t_end):
            if field == _NAME:
                repeated |= name is not None
                name = bytes(buffer[span[0] : span[1]]).decode("utf-8", "replace")
            elif field == _RAW_DATA:
                repeated |= raw is not None
                raw = span
        if name is None:
            continue
        if name in seen or repeated:
            views.pop(name, None)
            seen.add(name)
            continue
        seen.add(name)
        if raw is not None:
            views[name] = buffer[raw[0] : raw[1]]
    return views


@dataclass(frozen=True)
class TopLevelScan:
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


def read_varint(data: bytes, pos: int) -> tuple[int | None, int]:
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


def scan_top_level(data: bytes) -> TopLevelScan:
    """Walk the top-level fields of a serialized message without decoding them.

    Needed because protobuf's DecodeError does not say whether the data was cut
    short or was never a protobuf message.
    """
    fields: list[tuple[int, int, int]] = []
    pos, end = 0, len(data)
    while pos < end:
        start = pos
        key, pos = read_varint(data, pos)
        if key is None:
            return TopLevelScan(
                "truncated", tuple(fields), f"a field key at byte {start} is cut off"
            )
        if key < 0 or key >> 3 == 0 or key >> 3 > 0x1FFFFFFF:
            return TopLevelScan("invalid", tuple(fields), f"byte {start} is not a valid field key")
        number, wire = key >> 3, key & 7
        fields.append((number, wire, start))
        if wire == 0:
            value, pos = read_varint(data, pos)
            if value is None:
                return TopLevelScan("truncated", tuple(fields), _cut(number, start, "a varint"))
            if value < 0:
                return TopLevelScan(
                    "invalid", tuple(fields), f"the varint at byte {start} is too long"
                )
        elif wire in (1, 5):
            size = 8 if wire == 1 else 4
            if pos + size > end:
                return TopLevelScan(
                    "truncated",
                    tuple(fields),
                    _cut(number, start, f"{size} bytes", end - pos),
                )
            pos += size
        elif wire == 2:
            length, pos = read_varint(data, pos)
            if length is None:
                return TopLevelScan("truncated", tuple(fields), _cut(number, start, "a length"))
            if length < 0:
                return TopLevelScan(
                    "invalid", tuple(fields), f"the length at byte {start} is too long"
                )
            if pos + length > end:
                return TopLevelScan(
                    "truncated",
                    tuple(fields),
                    _cut(number, start, f"{length:,} bytes", end - pos),
                )
            pos += length
        else:
            return TopLevelScan(
                "invalid",
                tuple(fields),
                f"byte {start} has wire type {wire}, which ONNX never uses",
            )
    return TopLevelScan("ok", tuple(fields))


def _field_name(number: int) -> str:
    known = _MODEL_FIELDS.get(number)
    return known[0] if known else f"field {number}"


def _cut(number: int, start: int, needs: str, remaining: int | None = None) -> str:
    text = f"the {_field_name(number)} field at byte {start:,} needs {needs}"
    if remaining is not None:
        text += f" but only {remaining:,} remain"
    return text


def _fields(data: bytes, pos: int, end: int) -> Iterator[tuple[int, tuple[int, int]]]:
    """(field number, (start, end)) of each length-delimited field in data[pos:end].

    Other wire types are skipped; a malformed field ends the walk.
    """
    while pos < end:
        key, pos = read_varint(data, pos)
        if key is None or key < 0:
            return
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = read_varint(data, pos)
            if value is None or value < 0:
                return
        elif wire == 1:
            pos += 8
        elif wire == 5:
            pos += 4
        elif wire == 2:
            length, pos = read_varint(data, pos)
            if length is None or length < 0 or pos + length > end:
                return
            yield number, (pos, pos + length)
            pos += length
        else:
            return
