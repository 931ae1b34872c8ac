"""The gates every fix passes before it is verified or written.

Same interface (:func:`check_interface`), the full onnx checker
(:func:`check_model_valid`) and not larger (:func:`check_not_larger`);
:func:`refusal` runs all three in that order. Each answers None when the model
passes, else the reason in one line.

A model whose weights are still in their data files is checked without them
(:func:`without_external_weights`): the checker would otherwise look for the data
files relative to the working folder, and reading them in would hold every weight
in memory once more. Their bytes were checked when the model was loaded
(:mod:`onnxslim_lint.model.validate`).
"""

from __future__ import annotations

from collections.abc import Sequence

import onnx
from onnx import TensorProto

from onnxslim_lint.model.tensors import data_nbytes

__all__ = [
    "check_interface",
    "check_model_valid",
    "check_not_larger",
    "checker_level",
    "checker_note",
    "elem_name",
    "first_line",
    "refusal",
    "type_text",
    "without_external_weights",
]


def refusal(
    original: onnx.ModelProto,
    fixed: onnx.ModelProto,
    *,
    serialized: bytes | None,
    size_before: int,
    size_after: int,
    notes: list[str] | None = None,
) -> str | None:
    """Why ``fixed`` must not replace ``original`` (None: it may go on to verification).

    ``serialized`` is ``fixed`` already serialized, when it is (the checker reads it
    instead of serializing the model again). When the original itself fails the
    full checker, ``fixed`` is held to the level the original passes
    (:func:`checker_level`) and what that means is appended to ``notes``.
    """
    problem = check_interface(original, fixed)
    if problem is not None:
        return f"the fix would change the model's interface: {problem}"
    problem = check_model_valid(serialized if serialized is not None else fixed)
    if problem is not None and checker_level(original)[0] == "full":
        return f"the fixed model fails the onnx checker: {problem}"
    if problem is not None:
        level, _ = checker_level(original)
        if level == "structural":
            structural = check_model_valid(
                serialized if serialized is not None else fixed, full=False
            )
            if structural is not None:
                return f"the fixed model fails the onnx checker: {structural}"
        if notes is not None:
            notes.append(checker_note(original))
    return check_not_larger(size_before, size_after)


def checker_note(original: onnx.ModelProto) -> str:
    """What a verdict says when the original itself fails the full checker (empty
    when it passes): the fixed model was held to the level the original passes."""
    level, problem = checker_level(original)
    if level == "full":
        return ""
    held = (
        "the fixed model was checked without shape inference"
        if level == "structural"
        else "only onnxruntime checked the fixed model"
    )
    return f"the original already fails the onnx checker ({problem}), so {held}"


def checker_level(original: onnx.ModelProto) -> tuple[str, str | None]:
    """The strictest checker level the original passes: ``full`` (structure and
    strict shape inference), ``structural`` (structure only) or ``none``, and the
    first failure below it."""
    cached = _LEVELS.get(id(original))
    if cached is not None and cached[0] is original:
        return cached[1], cached[2]
    problem = check_model_valid(original)
    if problem is None:
        level = "full"
    else:
        level = "structural" if check_model_valid(original, full=False) is None else "none"
    _LEVELS.clear()  # one original at a time: the retries of one fix ask again
    _LEVELS[id(original)] = (original, level, problem)
    return level, problem


_LEVELS: dict[int, tuple[onnx.ModelProto, str, str | None]] = {}


def check_not_larger(size_before: int, size_after: int) -> str | None:
    """None unless the fixed model would be larger than the original, in bytes."""
    if size_after > size_before:
        return f"the fixed model would be larger ({size_after} > {size_before} bytes)"
    return None


def check_model_valid(model: onnx.ModelProto | bytes, *, full: bool = True) -> str | None:
    """Run the full ONNX checker; None if it passes, else the first line of its message.

    ``model`` may be the serialized model, so a caller that has its bytes already
    does not pay for serializing it again. ``full=False`` checks the structure
    only, without shape inference.
    """
    if not isinstance(model, (onnx.ModelProto, bytes)):
        raise TypeError(f"expected onnx.ModelProto or bytes, got {type(model).__name__}")
    if isinstance(model, onnx.ModelProto):
        problem = _external_length_problem(model)
        if problem is not None:
            return problem
        model = without_external_weights(model)
    try:
        onnx.checker.check_model(model, full_check=full)
    except Exception as exc:  # checker, shape inference and size errors alike
        return first_line(exc)
    return None


def without_external_weights(model: onnx.ModelProto) -> onnx.ModelProto:
    """``model`` itself when no main-graph initializer is external, else a copy in which
    each external one is a typed graph input instead (an overridable one keeps the input
    it has).

    The structural checks and shape inference need a weight's type and dims, never
    its values (small constants, whose values shape inference reads, are never left
    external by the loader). The copy holds only the graph and the inline tensors.
    """
    graph = model.graph
    if not any(t.data_location == TensorProto.EXTERNAL for t in graph.initializer):
        return model
    copy = onnx.ModelProto()
    copy.CopyFrom(model)  # headers only for the external weights
    inputs = {value.name for value in graph.input}
    kept = []
    for tensor in copy.graph.initializer:
        if tensor.data_location != TensorProto.EXTERNAL:
            kept.append(tensor)
        elif tensor.name not in inputs:
            copy.graph.input.append(
                onnx.helper.make_tensor_value_info(tensor.name, tensor.data_type, tensor.dims)
            )
    del copy.graph.initializer[:]
    copy.graph.initializer.extend(kept)
    return copy


def _external_length_problem(model: onnx.ModelProto) -> str | None:
    """A main-graph external weight whose stored length its type and dims do not
    match (a fix changed its dims, say), as the checker's reason; else None."""
    for tensor in model.graph.initializer:
        if tensor.data_location != TensorProto.EXTERNAL:
            continue
        length = next((e.value for e in tensor.external_data if e.key == "length"), None)
        needs = data_nbytes(tensor)
        if length is not None and needs is not None and int(length) != needs:
            return (
                f"tensor {tensor.name!r} has {int(length):,} bytes of external data, "
                f"its type and dims need {needs:,}"
            )
    return None


def check_interface(original: onnx.ModelProto, fixed: onnx.ModelProto) -> str | None:
    """None if both graphs have the same inputs and outputs, else the first difference.

    Names, order, element types, ranks and every dim (value or ``dim_param``) must be
    identical. An initializer listed in ``graph.input`` is an input with a default,
    so it is part of the interface, and so is whether an input has such a default.
    """
    for model in (original, fixed):
        if not isinstance(model, onnx.ModelProto):
            raise TypeError(f"expected onnx.ModelProto, got {type(model).__name__}")
    og, fg = original.graph, fixed.graph
    problem = _compare_value_infos("input", og.input, fg.input)
    if problem:
        return problem
    o_init = {t.name for t in og.initializer}
    f_init = {t.name for t in fg.initializer}
    for vi in og.input:
        had, has = vi.name in o_init, vi.name in f_init
        if had != has:
            before = "has an initializer default" if had else "is required"
            after = "has an initializer default" if has else "is required"
            return f"input {vi.name!r} {before} in the original but {after} in the fixed model"
    return _compare_value_infos("output", og.output, fg.output)


def _compare_value_infos(
    kind: str, orig: Sequence[onnx.ValueInfoProto], fixed: Sequence[onnx.ValueInfoProto]
) -> str | None:
    o_names = [v.name for v in orig]
    f_names = [v.name for v in fixed]
    if o_names != f_names:
        missing = [n for n in o_names if n not in f_names]
        extra = [n for n in f_names if n not in o_names]
        if missing:
            return f"{kind} {missing[0]!r} is missing from the fixed model"
        if extra:
            return f"the fixed model has an extra {kind} {extra[0]!r}"
        if len(o_names) != len(f_names):
            return f"{kind} count differs: {len(o_names)} in the original, {len(f_names)} fixed"
        i = next(i for i, (a, b) in enumerate(zip(o_names, f_names, strict=False)) if a != b)
        return (
            f"{kind}s are reordered: {kind} {i} is {o_names[i]!r} in the original "
            f"but {f_names[i]!r} in the fixed model"
        )
    for a, b in zip(orig, fixed, strict=True):
        problem = _compare_types(a.type, b.type)
        if problem:
            return f"{kind} {a.name!r}: {problem}"
    return None


def _compare_types(a: onnx.TypeProto, b: onnx.TypeProto) -> str | None:
    if a.WhichOneof("value") == "tensor_type" and b.WhichOneof("value") == "tensor_type":
        ta, tb = a.tensor_type, b.tensor_type
        if ta.elem_type != tb.elem_type:
            return (
                f"element type {elem_name(ta.elem_type)} in the original but "
                f"{elem_name(tb.elem_type)} in the fixed model"
            )
        ra = len(ta.shape.dim) if ta.HasField("shape") else None
        rb = len(tb.shape.dim) if tb.HasField("shape") else None
        if ra != rb:
            return (
                f"rank {'unknown' if ra is None else ra} in the original but "
                f"{'unknown' if rb is None else rb} in the fixed model"
            )
        for i, (da, db) in enumerate(zip(ta.shape.dim, tb.shape.dim, strict=True)):
            if _dim_text(da) != _dim_text(db):
                return (
                    f"dim {i} is {_dim_text(da)} in the original but {_dim_text(db)} "
                    "in the fixed model"
                )
        return None
    text_a, text_b = type_text(a), type_text(b)
    if text_a != text_b:
        return f"type {text_a} in the original but {text_b} in the fixed model"
    return None


def elem_name(elem_type: int) -> str:
    try:
        return TensorProto.DataType.Name(elem_type).lower()
    except ValueError:
        return f"type#{elem_type}"


def _dim_text(dim: onnx.TensorShapeProto.Dimension) -> str:
    which = dim.WhichOneof("value")
    if which == "dim_value":
        return str(dim.dim_value)
    if which == "dim_param":
        return repr(dim.dim_param)
    return "?"


def type_text(tp: onnx.TypeProto) -> str:
    which = tp.WhichOneof("value")
    if which in ("tensor_type", "sparse_tensor_type"):
        t = getattr(tp, which)
        shape = (
            "[" + ",".join(_dim_text(d) for d in t.shape.dim) + "]" if t.HasField("shape") else ""
        )
        kind = "tensor" if which == "tensor_type" else "sparse_tensor"
        return f"{kind}({elem_name(t.elem_type)}){shape}"
    if which == "sequence_type":
        return f"seq({type_text(tp.sequence_type.elem_type)})"
    if which == "optional_type":
        return f"optional({type_text(tp.optional_type.elem_type)})"
    if which == "map_type":
        key = elem_name(tp.map_type.key_type)
        return f"map({key},{type_text(tp.map_type.value_type)})"
    return str(which)


def first_line(exc: BaseException) -> str:
    """The first line of an error message, as one line.

    Some onnx checker messages break mid-sentence ("... of node:\\nname: ...\\n is not
    ..."); when the first line ends in a colon the rest is joined on (capped).
    """
    lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
    if not lines:
        return type(exc).__name__
    text = " ".join(lines) if lines[0].endswith(":") else lines[0]
    text = " ".join(text.split())
    return text if len(text) <= 400 else text[:399] + "…"
