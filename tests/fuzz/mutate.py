"""Mutants of seed models: byte-level damage and structure-aware edits of the proto.

Every mutant is a function of (seed bytes, an integer), so a failing case is
reproduced from its number alone. The structure-aware edits are the ones an
attacker or a broken exporter makes: dims (huge, negative, zero), data types,
inline data lengths, names (cycles, absent inputs, dangling ones), attribute
types, external-data locations that leave the folder, deep If nesting, Loop trip
counts and shape-growing ops fed with huge sizes.
"""

from __future__ import annotations

import random
from collections.abc import Callable

import numpy as np
import onnx
from onnx import AttributeProto, TensorProto, helper, numpy_helper

__all__ = ["MUTATORS", "mutate"]

_HUGE = (2**31, 2**40, 10**8, 2**62, -1, -7, 0)


def _bytes_flip(data: bytes, rng: random.Random) -> bytes:
    out = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        if out:
            out[rng.randrange(len(out))] ^= 1 << rng.randrange(8)
    return bytes(out)


def _bytes_truncate(data: bytes, rng: random.Random) -> bytes:
    return data[: rng.randrange(len(data) + 1)]


def _bytes_splice(data: bytes, rng: random.Random) -> bytes:
    if len(data) < 4:
        return data + bytes(rng.randrange(256) for _ in range(8))
    a, b = sorted(rng.randrange(len(data)) for _ in range(2))
    at = rng.randrange(len(data))
    return data[:at] + data[a:b] + data[at:]


def _tensors(model: onnx.ModelProto) -> list[TensorProto]:
    found = list(model.graph.initializer)
    for node in model.graph.node:
        found.extend(a.t for a in node.attribute if a.type == AttributeProto.TENSOR)
    return found


def _edit_dims(model: onnx.ModelProto, rng: random.Random) -> None:
    tensors = _tensors(model)
    values = [*model.graph.input, *model.graph.output, *model.graph.value_info]
    if tensors and rng.random() < 0.5:
        tensor = rng.choice(tensors)
        dims = list(tensor.dims) or [1]
        dims[rng.randrange(len(dims))] = rng.choice(_HUGE)
        del tensor.dims[:]
        tensor.dims.extend(dims)
    elif values:
        value = rng.choice(values)
        shape = value.type.tensor_type.shape
        if shape.dim:
            shape.dim[rng.randrange(len(shape.dim))].dim_value = rng.choice(_HUGE)


def _edit_data_type(model: onnx.ModelProto, rng: random.Random) -> None:
    tensors = _tensors(model)
    if tensors:
        rng.choice(tensors).data_type = rng.choice([0, 8, 13, 17, 23, 30, 100, 2**20])


def _edit_data_length(model: onnx.ModelProto, rng: random.Random) -> None:
    tensors = [t for t in _tensors(model) if t.raw_data or t.float_data or t.int64_data]
    if not tensors:
        return
    tensor = rng.choice(tensors)
    if tensor.raw_data:
        raw = tensor.raw_data
        tensor.raw_data = raw[: rng.randrange(len(raw) + 1)] + b"\x01" * rng.randrange(3)
    elif tensor.float_data:
        del tensor.float_data[rng.randrange(len(tensor.float_data)) :]
    else:
        tensor.int64_data.append(7)


def _edit_names(model: onnx.ModelProto, rng: random.Random) -> None:
    nodes = list(model.graph.node)
    if not nodes:
        return
    names = [o for n in nodes for o in n.output] + [i.name for i in model.graph.input] + [""]
    node = rng.choice(nodes)
    if node.input:
        node.input[rng.randrange(len(node.input))] = rng.choice([*names, "dangling"])
    elif node.output:
        node.output[0] = rng.choice(names) or "dup"


def _edit_attribute(model: onnx.ModelProto, rng: random.Random) -> None:
    nodes = [n for n in model.graph.node if n.attribute]
    if not nodes:
        return
    attr = rng.choice(rng.choice(nodes).attribute)
    choice = rng.randrange(4)
    if choice == 0:
        attr.type = AttributeProto.FLOAT
        attr.f = 2.5
    elif choice == 1:
        attr.type = rng.choice([0, 3, 99])
    elif choice == 2:
        del attr.ints[:]
        attr.ints.extend([2**40, -(2**40)])
        attr.type = AttributeProto.INTS
    else:
        attr.i = rng.choice(_HUGE)


def _edit_location(model: onnx.ModelProto, rng: random.Random) -> None:
    tensors = [t for t in model.graph.initializer if t.raw_data]
    if not tensors:
        return
    tensor = rng.choice(tensors)
    tensor.ClearField("raw_data")
    tensor.data_location = TensorProto.EXTERNAL
    location = rng.choice(["../outside.bin", "/etc/passwd", "a/../../b.bin", "missing.bin", ""])
    entries = [("location", location), ("offset", str(rng.choice([0, 2**40, -5])))]
    entries.append(("length", str(rng.choice([4, 2**40, -1]))))
    for key, value in entries:
        entry = tensor.external_data.add()
        entry.key, entry.value = key, value


def _wrap_in_ifs(model: onnx.ModelProto, rng: random.Random) -> None:
    """The graph's nodes moved into ``depth`` nested If branches."""
    graph = model.graph
    depth = rng.choice([2, 8, 24])  # protobuf parses about 100 levels of nesting
    outputs = [o.name for o in graph.output]
    body_nodes = list(graph.node)
    cond = numpy_helper.from_array(np.array(True), "fuzz_cond")
    for level in range(depth):
        branch = helper.make_graph(
            body_nodes,
            f"then{level}",
            [],
            [helper.make_value_info(o, onnx.TypeProto()) for o in outputs],
        )
        # The else branch makes the outputs from constants: embedding the then
        # branch twice per level would double the model at every level.
        constants = [
            helper.make_node(
                "Constant", [], [o], value=numpy_helper.from_array(np.zeros(1, np.float32))
            )
            for o in outputs
        ]
        other = helper.make_graph(
            constants,
            f"else{level}",
            [],
            [helper.make_value_info(o, onnx.TypeProto()) for o in outputs],
        )
        body_nodes = [
            helper.make_node("If", ["fuzz_cond"], outputs, then_branch=branch, else_branch=other)
        ]
    del graph.node[:]
    graph.node.extend(body_nodes)
    graph.initializer.append(cond)


def _add_growth(model: onnx.ModelProto, rng: random.Random) -> None:
    """An op that would make a huge tensor from a few bytes, feeding a graph output."""
    graph = model.graph
    size = rng.choice([10**5, 10**8, 2**40])
    kind = rng.randrange(4)
    name = f"fuzz_growth{kind}"
    if kind == 0:
        shape = numpy_helper.from_array(np.array([size, size], np.int64), "fuzz_shape")
        graph.initializer.append(shape)
        graph.node.append(helper.make_node("ConstantOfShape", ["fuzz_shape"], [name]))
    elif kind == 1:
        a = numpy_helper.from_array(np.ones((min(size, 40000), 1), np.float32), "fuzz_a")
        b = numpy_helper.from_array(np.ones((1, min(size, 40000)), np.float32), "fuzz_b")
        graph.initializer.extend([a, b])
        graph.node.append(helper.make_node("Add", ["fuzz_a", "fuzz_b"], [name]))
    elif kind == 2:
        trips = numpy_helper.from_array(np.array(size, np.int64), "fuzz_trips")
        keep = numpy_helper.from_array(np.array(True), "fuzz_keep")
        start = numpy_helper.from_array(np.array([0.0], np.float32), "fuzz_start")
        body = helper.make_graph(
            [
                helper.make_node("Identity", ["c"], ["c_out"]),
                helper.make_node("Add", ["v", "v"], ["v_out"]),
            ],
            "body",
            [
                helper.make_tensor_value_info("i", TensorProto.INT64, []),
                helper.make_tensor_value_info("c", TensorProto.BOOL, []),
                helper.make_tensor_value_info("v", TensorProto.FLOAT, [1]),
            ],
            [
                helper.make_tensor_value_info("c_out", TensorProto.BOOL, []),
                helper.make_tensor_value_info("v_out", TensorProto.FLOAT, [1]),
            ],
        )
        graph.initializer.extend([trips, keep, start])
        graph.node.append(
            helper.make_node("Loop", ["fuzz_trips", "fuzz_keep", "fuzz_start"], [name], body=body)
        )
    else:
        axes = numpy_helper.from_array(np.array([size], np.int64), "fuzz_axes")
        one = numpy_helper.from_array(np.array([1.0], np.float32), "fuzz_one")
        graph.initializer.extend([axes, one])
        graph.node.append(helper.make_node("Unsqueeze", ["fuzz_one", "fuzz_axes"], [name]))
    graph.output.append(helper.make_value_info(name, onnx.TypeProto()))


def _edit_opset(model: onnx.ModelProto, rng: random.Random) -> None:
    if model.opset_import:
        model.opset_import[0].version = rng.choice([0, 1, 7, 99, 2**40])
    model.ir_version = rng.choice([model.ir_version, 0, 3, 99])


_STRUCTURED: list[Callable[[onnx.ModelProto, random.Random], None]] = [
    _edit_dims,
    _edit_data_type,
    _edit_data_length,
    _edit_names,
    _edit_attribute,
    _edit_location,
    _wrap_in_ifs,
    _add_growth,
    _edit_opset,
]
_BYTES: list[Callable[[bytes, random.Random], bytes]] = [
    _bytes_flip,
    _bytes_truncate,
    _bytes_splice,
]
MUTATORS = [f.__name__ for f in (*_STRUCTURED, *_BYTES)]


def mutate(seed: bytes, number: int) -> tuple[bytes, str]:
    """Mutant ``number`` of ``seed`` and the mutators applied, by name."""
    rng = random.Random(number)
    applied: list[str] = []
    data = seed
    if rng.random() < 0.7:
        model = onnx.ModelProto()
        model.ParseFromString(seed)
        for _ in range(rng.choice([1, 1, 2, 3])):
            mutator = rng.choice(_STRUCTURED)
            try:
                mutator(model, rng)
            except Exception:  # protobuf refused the value or the depth: next edit
                continue
            applied.append(mutator.__name__)
        try:
            data = model.SerializeToString()
        except Exception:  # a value protobuf cannot write (invalid UTF-8, ...)
            data = seed
    if not applied or rng.random() < 0.3:
        byte_mutator = rng.choice(_BYTES)
        data = byte_mutator(data, rng)
        applied.append(byte_mutator.__name__)
    return data, "+".join(applied)
