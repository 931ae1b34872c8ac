"""Reading the protobuf wire format of a model file without decoding it.

Three readers, over the ``bytes`` the model file was read into (or a memory map
of it):

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
  doubt, or nothing: a missing view only means the slower copy is used;
- :func:`strip_weights` copies a model's bytes without the ``raw_data`` payloads
  of its large main-graph initializers and says where each payload is, so that a
  big single-file model is parsed without its weights (they stay in the file, read
  through a memory map like external data). Anything it cannot be sure of makes it
  return None, and the model is read whole.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from onnx import GraphProto, ModelProto, TensorProto

from onnxslim_lint.model.tensors import encode_varint, field_key

__all__ = [
    "StrippedModel",
    "TopLevelScan",
    "initializer_views",
    "read_varint",
    "scan_top_level",
    "strip_weights",
]

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


@dataclass(frozen=True)
class StrippedModel:
    """A model's bytes without some initializers' payloads, and where those are."""

    data: bytes
    payloads: dict[str, tuple[int, int]]  # initializer name -> (offset, length) in the file


def _every_field(data: bytes, pos: int, end: int) -> list[tuple[int, int, int, int]] | None:
    """(number, start of the field, start of its value, end) of every field in
    data[pos:end] (the value's start is -1 unless the field is length-delimited);
    None unless the fields tile the range exactly."""
    fields: list[tuple[int, int, int, int]] = []
    while pos < end:
        start = pos
        key, pos = read_varint(data, pos)
        if key is None or key < 0 or key >> 3 == 0:
            return None
        number, wire = key >> 3, key & 7
        value = -1
        if wire == 0:
            varint, pos = read_varint(data, pos)
            if varint is None or varint < 0:
                return None
        elif wire in (1, 5):
            pos += 8 if wire == 1 else 4
        elif wire == 2:
            length, value = read_varint(data, pos)
            if length is None or length < 0:
                return None
            pos = value + length
        else:
            return None
        if pos > end:
            return None
        fields.append((number, start, value, pos))
    return fields


def _delimited(number: int, body: bytes) -> bytes:
    return field_key(number) + encode_varint(len(body)) + body


def strip_weights(data: bytes, min_bytes: int) -> StrippedModel | None:
    """``data`` without the ``raw_data`` of each main-graph initializer of at least
    ``min_bytes`` whose name is unique; None when nothing is stripped or the bytes are
    not exactly what a protobuf writer makes (the caller then parses them whole)."""
    top = _every_field(data, 0, len(data))
    if top is None or sum(1 for f in top if f[0] == _GRAPH_FIELD) != 1:
        return None
    graph = next(f for f in top if f[0] == _GRAPH_FIELD)
    graph_fields = _every_field(data, graph[2], graph[3]) if graph[2] >= 0 else None
    if graph_fields is None:
        return None
    # Each initializer: its fields, its name and its one raw_data field, if any.
    tensors: dict[int, tuple[list[tuple[int, int, int, int]], str, int]] = {}
    names: dict[str, int] = {}
    for index, (number, _, value, end) in enumerate(graph_fields):
        if number != _INITIALIZER:
            continue
        fields = _every_field(data, value, end) if value >= 0 else None
        if fields is None:
            return None
        name_fields = [f for f in fields if f[0] == _NAME]
        raw = [i for i, f in enumerate(fields) if f[0] == _RAW_DATA]
        if any(f[2] < 0 for f in name_fields):
            return None
        encoded = bytes(data[name_fields[0][2] : name_fields[0][3]]) if name_fields else b""
        try:
            text = encoded.decode("utf-8")
        except UnicodeDecodeError:
            return None
        names[text] = names.get(text, 0) + 1
        if len(name_fields) == 1 and len(raw) == 1:
            _, _, start, stop = fields[raw[0]]
            if start >= 0 and stop - start >= min_bytes:
                tensors[index] = (fields, text, raw[0])
    graph_body = bytearray()
    payloads: dict[str, tuple[int, int]] = {}
    for index, (_, start, _, end) in enumerate(graph_fields):
        stripped = tensors.get(index)
        if stripped is None or names[stripped[1]] != 1:
            graph_body += data[start:end]
            continue
        fields, name, raw_index = stripped
        body = b"".join(
            bytes(data[f_start:f_end])
            for i, (_, f_start, _, f_end) in enumerate(fields)
            if i != raw_index
        )
        graph_body += _delimited(_INITIALIZER, body)
        _, _, raw_start, raw_end = fields[raw_index]
        payloads[name] = (raw_start, raw_end - raw_start)
    if not payloads:
        return None
    model = bytearray()
    for number, start, _, end in top:
        if number == _GRAPH_FIELD:
            model += _delimited(number, bytes(graph_body))
        else:
            model += data[start:end]
    return StrippedModel(bytes(model), payloads)
