"""How a model is laid out in files, planned from its parts without serializing it whole.

A plan is a *skeleton* of the model (every field copied except the payloads of the
main graph's weights, which are what makes a model big) plus, per weight, where its
bytes come from: the tensor's ``raw_data``, a view of the external-data file it
still points at (:class:`~onnxslim_lint.model.external_data.ExternalData`), or
raw bytes converted from typed fields. Sizes are then the skeleton's size (a few
MB at most, whatever the weights) plus the payload sizes; ``ByteSize()`` of the
whole model would encode every weight just to count it.

In the external layout every tensor with at least ``threshold`` data bytes moves to
one data file, at contiguous offsets in walk order; the skeleton is then exactly
the model file. In the single-file layout the payloads go back inline.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial

from google.protobuf.message import Message
from onnx import GraphProto, ModelProto, TensorProto, numpy_helper

from onnxslim_lint.errors import OnnxLintError
from onnxslim_lint.model.external_data import ExternalData
from onnxslim_lint.model.graphs import iter_tensors
from onnxslim_lint.model.tensors import data_nbytes, encode_varint, field_key, field_nbytes

__all__ = ["Layout", "Payload", "UnreadableTensor", "plan_layout"]

_GRAPH = ModelProto.DESCRIPTOR.fields_by_name["graph"].number
_INITIALIZER = GraphProto.DESCRIPTOR.fields_by_name["initializer"].number
_RAW_DATA = TensorProto.DESCRIPTOR.fields_by_name["raw_data"].number
_TYPED_FIELDS = (
    "float_data",
    "int32_data",
    "string_data",
    "int64_data",
    "double_data",
    "uint64_data",
)


class UnreadableTensor(OnnxLintError):
    """A tensor points at external data nobody checked: its bytes cannot be had."""

    def __init__(self, label: str) -> None:
        super().__init__(
            f"tensor '{label}' still refers to external data; "
            "a model must hold all its tensor bytes to be written"
        )


@dataclass
class Payload:
    """The data bytes of one tensor of the skeleton, kept out of it.

    ``source`` is the original tensor (its ``raw_data`` is read when written), a
    view of an external-data file, or bytes converted from typed fields.
    """

    tensor: TensorProto  # the tensor in the skeleton
    length: int
    source: TensorProto | memoryview | bytes
    # For a view: the pieces to copy it out with (ExternalData.stream).
    stream: Callable[[], Iterator[memoryview]] | None = None

    def data(self) -> bytes | memoryview:
        """The bytes themselves (for a source tensor, one copy of its raw_data)."""
        return self.source.raw_data if isinstance(self.source, TensorProto) else self.source

    def chunks(self) -> Iterator[bytes | memoryview]:
        """The bytes to write, in pieces when they come from a data file."""
        if self.stream is not None:
            yield from self.stream()
        else:
            yield self.data()


@dataclass
class Layout:
    skeleton: ModelProto
    # Payloads written to the data file, in offset order (external layout only).
    moved: list[Payload] = field(default_factory=list)
    # Payloads of the main graph's weights that stay inline, not in the skeleton yet.
    inline: list[Payload] = field(default_factory=list)

    @property
    def data_size(self) -> int:
        return sum(payload.length for payload in self.moved)

    def model_file_size(self) -> int:
        """Bytes of the model file: the skeleton with the inline payloads put back."""
        if not self.inline:
            return self.skeleton.ByteSize()
        graph_before = self.skeleton.graph.ByteSize()
        graph_after = graph_before
        for payload in self.inline:
            header = payload.tensor.ByteSize()
            full = header + field_nbytes(_RAW_DATA, payload.length)
            graph_after += field_nbytes(_INITIALIZER, full) - field_nbytes(_INITIALIZER, header)
        return (
            self.skeleton.ByteSize()
            - field_nbytes(_GRAPH, graph_before)
            + field_nbytes(_GRAPH, graph_after)
        )

    def inline_chunks(self) -> Iterator[bytes | memoryview]:
        """The model file's bytes, the inline payloads streamed from their sources.

        The skeleton without its graph, the graph's tag and length, the graph without
        its initializers, then each initializer (a payload's ``raw_data`` field after
        its header): protobuf parsers merge fields in any order, so this is the same
        model as :meth:`fill_inline` would serialize, of :meth:`model_file_size`
        bytes, without ever holding the weights.
        """
        rest = ModelProto()
        _copy_fields(rest, self.skeleton, skip="graph")
        yield rest.SerializeToString()
        if not self.skeleton.HasField("graph"):
            return
        graph = self.skeleton.graph
        others = GraphProto()
        _copy_fields(others, graph, skip="initializer")
        inline = {id(payload.tensor): payload for payload in self.inline}
        entries: list[tuple[bytes, Payload | None, int]] = []
        body = others.ByteSize()
        for tensor in graph.initializer:
            header = tensor.SerializeToString()
            payload = inline.get(id(tensor))
            full = len(header) + (field_nbytes(_RAW_DATA, payload.length) if payload else 0)
            entries.append((header, payload, full))
            body += field_nbytes(_INITIALIZER, full)
        yield field_key(_GRAPH) + encode_varint(body)
        yield others.SerializeToString()
        for header, payload, full in entries:
            yield field_key(_INITIALIZER) + encode_varint(full) + header
            if payload is not None:
                yield field_key(_RAW_DATA) + encode_varint(payload.length)
                yield from payload.chunks()

    def fill_inline(self) -> ModelProto:
        """The skeleton with every inline payload copied back: the model file's proto."""
        for payload in self.inline:
            payload.tensor.raw_data = bytes(payload.data())
        self.inline = []
        return self.skeleton

    def needs_skeleton_to_serialize(self) -> bool:
        """Does a single-file write need the skeleton (some payload is not in the model)?"""
        return any(not isinstance(payload.source, TensorProto) for payload in self.inline)


def plan_layout(
    model: ModelProto,
    *,
    external: bool,
    threshold: int,
    location: str,
    external_data: ExternalData | None = None,
) -> Layout:
    """Plan writing ``model`` (not changed) as one file or with data file ``location``.

    Raises :class:`UnreadableTensor` for a tensor that still points at external
    data ``external_data`` cannot give.
    """
    skeleton = ModelProto()
    _copy_fields(skeleton, model, skip="graph")
    layout = Layout(skeleton)
    weights: dict[int, Payload] = {}
    if model.HasField("graph"):
        graph = skeleton.graph
        _copy_fields(graph, model.graph, skip="initializer")
        for tensor in model.graph.initializer:
            header = graph.initializer.add()
            payload = _weight_payload(tensor, header, external_data)
            if payload is None:
                header.CopyFrom(tensor)
            else:
                weights[id(header)] = payload
    offset = 0
    # upb hands out one wrapper object per element, and the headers are kept alive
    # by their payloads, so the walk meets the very objects recorded above.
    for tensor, label in iter_tensors(skeleton):
        payload = weights.get(id(tensor))
        if payload is None:
            if tensor.data_location == TensorProto.EXTERNAL:
                raise UnreadableTensor(label)
            raw = _raw_bytes(tensor) if external else None
            if raw is None or len(raw) < threshold:
                continue
            payload = Payload(tensor, len(raw), raw)
        if external and payload.length >= threshold:
            _point_at(tensor, location, offset, payload.length)
            layout.moved.append(payload)
            offset += payload.length
        else:
            layout.inline.append(payload)
    return layout


def _weight_payload(
    tensor: TensorProto, header: TensorProto, external_data: ExternalData | None
) -> Payload | None:
    """Fill ``header`` with ``tensor`` minus its payload, or None to copy it whole."""
    if tensor.data_location == TensorProto.EXTERNAL:
        view = external_data.view(tensor) if external_data is not None else None
        if external_data is None or view is None:
            return None
        _copy_fields(header, tensor, skip="external_data", also="data_location")
        return Payload(header, len(view), view, partial(external_data.stream, tensor))
    if tensor.data_type in (TensorProto.UNDEFINED, TensorProto.STRING):
        return None
    length = data_nbytes(tensor)
    if length is None or not tensor.HasField("raw_data"):
        return None
    _copy_fields(header, tensor, skip="raw_data")
    return Payload(header, length, tensor)


def _copy_fields(target: Message, source: Message, *, skip: str, also: str = "") -> None:
    """Copy every set field of ``source`` into ``target`` except ``skip`` (and ``also``).

    Field by field, never ``ListFields()``: that hands out every value, and a
    tensor's ``raw_data`` value is a copy of its bytes.
    """
    for descriptor in source.DESCRIPTOR.fields:
        name = descriptor.name
        if name in (skip, also):
            continue
        if descriptor.is_repeated:
            values = getattr(source, name)
            if len(values):
                getattr(target, name).extend(values)
        elif source.HasField(name):  # ONNX is proto2: every singular field has presence
            if descriptor.message_type is not None:
                getattr(target, name).CopyFrom(getattr(source, name))
            else:
                setattr(target, name, getattr(source, name))


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


def _point_at(tensor: TensorProto, location: str, offset: int, length: int) -> None:
    """Make a skeleton tensor refer to ``length`` bytes at ``offset`` of ``location``."""
    tensor.ClearField("raw_data")
    for name in _TYPED_FIELDS:
        tensor.ClearField(name)
    del tensor.external_data[:]
    for key, value in (("location", location), ("offset", offset), ("length", length)):
        item = tensor.external_data.add()
        item.key = key
        item.value = str(value)
    tensor.data_location = TensorProto.EXTERNAL
