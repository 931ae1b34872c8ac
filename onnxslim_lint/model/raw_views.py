"""Zero-copy views of initializer bytes inside the model file's own buffer.

Reading ``TensorProto.raw_data`` from a parsed model copies the bytes every time,
and rules that compare weights (duplicate and tied constants) would copy a large
model's weights again on every check. The file was read into one ``bytes`` buffer
anyway: this walks its protobuf wire format (ModelProto.graph -> GraphProto.initializer
-> TensorProto.name / raw_data) and returns, per main-graph initializer name, a
``memoryview`` of its raw bytes in that buffer. Views are valid only for the model
parsed from that buffer, before any edit: the check path uses them, the fix loop not.

Anything unexpected (a field repeated, a name seen twice, a malformed length) makes
the walk give up and return what it cannot doubt, or nothing: a missing view only
means the slower copy is used.
"""

from __future__ import annotations

from onnx import GraphProto, ModelProto, TensorProto

from onnxslim_lint.model.load import _read_varint

__all__ = ["initializer_views"]

_GRAPH = ModelProto.DESCRIPTOR.fields_by_name["graph"].number
_INITIALIZER = GraphProto.DESCRIPTOR.fields_by_name["initializer"].number
_NAME = TensorProto.DESCRIPTOR.fields_by_name["name"].number
_RAW_DATA = TensorProto.DESCRIPTOR.fields_by_name["raw_data"].number


def initializer_views(data: bytes) -> dict[str, memoryview]:
    buffer = memoryview(data)
    graphs = [span for number, span in _fields(data, 0, len(data)) if number == _GRAPH]
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


def _fields(data: bytes, pos: int, end: int):  # type: ignore[no-untyped-def]
    """(field number, (start, end)) of each length-delimited field in data[pos:end].

    Other wire types are skipped; a malformed field ends the walk.
    """
    while pos < end:
        key, pos = _read_varint(data, pos)
        if key is None or key < 0:
            return
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _read_varint(data, pos)
            if value is None or value < 0:
                return
        elif wire == 1:
            pos += 8
        elif wire == 5:
            pos += 4
        elif wire == 2:
            length, pos = _read_varint(data, pos)
            if length is None or length < 0 or pos + length > end:
                return
            yield number, (pos, pos + length)
            pos += length
        else:
            return
