#!/usr/bin/env python3
"""Regenerate the exporter-made test models in ``tests/models/exported/`` and ``dynamic/``.

The committed ``.onnx`` files and ``MANIFEST.json`` are what the tests use; torch and
transformers are needed only to regenerate them:

    pip install torch==2.13.0 transformers onnxscript
    python scripts/make_test_models.py                  # writes both sets
    python scripts/make_test_models.py --set dynamic    # only tests/models/dynamic/*

(On the project machines ``torch==2.13.0`` resolves to a CPU-only wheel on local disk;
elsewhere use ``--index-url https://download.pytorch.org/whl/cpu`` to avoid the CUDA build.)

Every model is a TINY config with random weights (fixed seeds), built locally: nothing is
downloaded from a model hub (``HF_HUB_OFFLINE=1``).  Every parameter gets seeded noise so
that no two weights are byte-identical by accident of initialisation (see ``_randomize``):
whatever duplicates the files hold were made by the exporter.  Each model is exported twice:

* ``*_legacy.onnx`` -- TorchScript exporter: ``torch.onnx.export(..., dynamo=False,
  opset_version=17)`` with ``dynamic_axes``.  Constant folding is on (the default), which is
  what makes it store GPT-2's tied embedding a second time, transposed, for the LM head.
* ``*_dynamo.onnx`` -- ``torch.export`` based exporter: ``torch.onnx.export(...,
  dynamo=True, optimize=False)`` with ``dynamic_shapes``, saved as one file (no external
  data), at the exporter's default opset.

``tests/models/dynamic/`` holds a second set, exported as users export for serving:
``torch.onnx.export(..., dynamo=True)`` with the exporter's default optimization on and
dynamic batch and sequence axes (``dynamic_shapes``) -- BERT, GPT-2 and a Whisper decoder
(whose encoder states have a dynamic length too).  The optimizer leaves symbolic
``value_info`` on almost every value and folds part of the shape arithmetic, so these
files exercise what static exports cannot: stale annotations after a fix, and shapes
that are only known symbolically.

Each export is run in onnxruntime (CPUExecutionProvider) on random inputs and compared with
the torch model (atol 1e-4), at the manifest's run dims and at a second set of dims to check
the dynamic axes.  ``MANIFEST.json`` records, per file, what it holds (node / Identity /
Constant / Transpose counts, initializers, unused initializers, byte-identical duplicates,
...) computed with plain ``onnx``; tests should read their expectations from it.
"""

from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import argparse
import collections
import dataclasses
import hashlib
import json
import logging
import sys
import warnings
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch
import transformers
from onnx import numpy_helper
from torch.export import Dim

ROOT = Path(__file__).resolve().parent.parent
OUT_DIR = ROOT / "tests" / "models" / "exported"
DYNAMIC_DIR = ROOT / "tests" / "models" / "dynamic"
SEED = 0
ATOL = 1e-4
LEGACY_OPSET = 17

# Dims the tests should use when running a model, and a second set used here to check that
# the dynamic axes really are dynamic.
RUN_DIMS = {"batch": 2, "sequence": 8, "encoder_sequence": 12}
ALT_DIMS = {"batch": 3, "sequence": 5, "encoder_sequence": 7}

VOCAB = 1000
HIDDEN = 64
LAYERS = 2
HEADS = 4
MAX_POS = 64


# --------------------------------------------------------------------------------------
# Models. Each wrapper takes plain tensors positionally and returns a tuple of tensors, so
# both exporters see the same signature and the output names are ours.
# --------------------------------------------------------------------------------------


class BertWrapper(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        cfg = transformers.BertConfig(
            vocab_size=VOCAB,
            hidden_size=HIDDEN,
            num_hidden_layers=LAYERS,
            num_attention_heads=HEADS,
            intermediate_size=4 * HIDDEN,
            max_position_embeddings=MAX_POS,
            type_vocab_size=2,
        )
        self.model = transformers.BertModel(cfg)

    def forward(self, input_ids, attention_mask, token_type_ids):
        out = self.model(
            input_ids=input_ids,
            attention_mask=attention_mask,
            token_type_ids=token_type_ids,
            return_dict=True,
        )
        return out.last_hidden_state, out.pooler_output


class GPT2Wrapper(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        cfg = transformers.GPT2Config(
            vocab_size=VOCAB,
            n_positions=MAX_POS,
            n_embd=HIDDEN,
            n_layer=LAYERS,
            n_head=HEADS,
            tie_word_embeddings=True,
            use_cache=False,
            bos_token_id=VOCAB - 1,
            eos_token_id=VOCAB - 1,
        )
        self.model = transformers.GPT2LMHeadModel(cfg)

    def forward(self, input_ids, attention_mask):
        out = self.model(
            input_ids=input_ids, attention_mask=attention_mask, use_cache=False, return_dict=True
        )
        return (out.logits,)


WHISPER_MELS = 16
WHISPER_SOURCE_POS = 32  # the encoder insists on 2 * max_source_positions input frames


def _whisper_config(**extra: object) -> transformers.WhisperConfig:
    """The tiny Whisper both wrappers build (the decoder adds ``use_cache=False``)."""
    return transformers.WhisperConfig(
        vocab_size=VOCAB,
        num_mel_bins=WHISPER_MELS,
        d_model=HIDDEN,
        encoder_layers=LAYERS,
        encoder_attention_heads=HEADS,
        encoder_ffn_dim=2 * HIDDEN,
        decoder_layers=LAYERS,
        decoder_attention_heads=HEADS,
        decoder_ffn_dim=2 * HIDDEN,
        max_source_positions=WHISPER_SOURCE_POS,
        max_target_positions=MAX_POS,
        pad_token_id=VOCAB - 1,
        bos_token_id=VOCAB - 1,
        eos_token_id=VOCAB - 1,
        decoder_start_token_id=VOCAB - 2,
        begin_suppress_tokens=None,
        **extra,
    )


class WhisperEncoderWrapper(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        cfg = _whisper_config()
        self.encoder = transformers.WhisperModel(cfg).get_encoder()

    def forward(self, input_features):
        return (self.encoder(input_features=input_features, return_dict=True).last_hidden_state,)


class WhisperDecoderWrapper(torch.nn.Module):
    """The decoder alone, fed encoder states of any length (no cache), as exported for a
    serving loop that runs the encoder once and the decoder per step."""

    def __init__(self) -> None:
        super().__init__()
        cfg = _whisper_config(use_cache=False)
        self.decoder = transformers.WhisperModel(cfg).get_decoder()

    def forward(self, input_ids, encoder_hidden_states):
        out = self.decoder(
            input_ids=input_ids,
            encoder_hidden_states=encoder_hidden_states,
            use_cache=False,
            return_dict=True,
        )
        return (out.last_hidden_state,)


MOBILENET_IMAGE = 64
MOBILENET_LABELS = 10


class MobileNetV2Wrapper(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        cfg = transformers.MobileNetV2Config(
            image_size=MOBILENET_IMAGE,
            depth_multiplier=0.25,
            finegrained_output=False,
            num_labels=MOBILENET_LABELS,
        )
        self.model = transformers.MobileNetV2ForImageClassification(cfg)

    def forward(self, pixel_values):
        return (self.model(pixel_values=pixel_values, return_dict=True).logits,)


VIT_IMAGE = 32
VIT_PATCH = 8


class ViTWrapper(torch.nn.Module):
    """A tiny ViT, exported with static shapes (batch 1): the attention's reshapes and
    masks then have the constant shapes of a real fixed-size export."""

    def __init__(self) -> None:
        super().__init__()
        cfg = transformers.ViTConfig(
            image_size=VIT_IMAGE,
            patch_size=VIT_PATCH,
            hidden_size=HIDDEN,
            num_hidden_layers=LAYERS,
            num_attention_heads=HEADS,
            intermediate_size=2 * HIDDEN,
        )
        self.model = transformers.ViTModel(cfg, add_pooling_layer=False)

    def forward(self, pixel_values):
        return (self.model(pixel_values=pixel_values, return_dict=True).last_hidden_state,)


# Input specs: name -> (dtype, [dim names or ints]).  A str dim is dynamic (named).
SPECS = {
    "bert": {
        "make": BertWrapper,
        "inputs": {
            "input_ids": ("int64", ["batch", "sequence"]),
            "attention_mask": ("int64", ["batch", "sequence"]),
            "token_type_ids": ("int64", ["batch", "sequence"]),
        },
        "outputs": ["last_hidden_state", "pooler_output"],
    },
    "gpt2": {
        "make": GPT2Wrapper,
        "inputs": {
            "input_ids": ("int64", ["batch", "sequence"]),
            "attention_mask": ("int64", ["batch", "sequence"]),
        },
        "outputs": ["logits"],
    },
    "whisper_encoder": {
        "make": WhisperEncoderWrapper,
        # The time axis is fixed: WhisperEncoder raises unless it is 2 * max_source_positions.
        "inputs": {"input_features": ("float32", ["batch", WHISPER_MELS, 2 * WHISPER_SOURCE_POS])},
        "outputs": ["last_hidden_state"],
    },
    "mobilenetv2": {
        "make": MobileNetV2Wrapper,
        # Only the batch axis is dynamic; the classifier expects the configured image size.
        "inputs": {"pixel_values": ("float32", ["batch", 3, MOBILENET_IMAGE, MOBILENET_IMAGE])},
        "outputs": ["logits"],
    },
    "vit": {
        "make": ViTWrapper,
        # No dynamic axis: a static export, as fixed-size deployments make them.
        "inputs": {"pixel_values": ("float32", [1, 3, VIT_IMAGE, VIT_IMAGE])},
        "outputs": ["last_hidden_state"],
    },
    "whisper_decoder": {
        "make": WhisperDecoderWrapper,
        "inputs": {
            "input_ids": ("int64", ["batch", "sequence"]),
            "encoder_hidden_states": ("float32", ["batch", "encoder_sequence", HIDDEN]),
        },
        "outputs": ["last_hidden_state"],
    },
}


def _randomize(model: torch.nn.Module) -> None:
    """Make every weight distinct, as in a trained model.

    Fresh transformers init leaves every LayerNorm weight at 1 and most biases at 0, so the
    files would be full of byte-identical initializers that no real model has (and the
    legacy exporter would turn them into Identity nodes).  Small seeded noise on every
    parameter removes that artefact; tied parameters (GPT-2's wte / lm_head) stay tied, as
    named_parameters() yields a shared parameter once.  Convolutions get a He init and
    BatchNorms random statistics, so MobileNetV2's activations do not vanish and the
    Conv+BN folding of the legacy exporter is not a no-op.
    """
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.Conv2d):
                torch.nn.init.kaiming_normal_(module.weight, mode="fan_in", nonlinearity="relu")
            elif isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.normal_(0.0, 0.1)
                module.running_var.uniform_(0.5, 1.5)
                module.weight.uniform_(0.5, 1.5)
                module.bias.normal_(0.0, 0.1)
        for _, param in model.named_parameters():
            param.add_(torch.randn_like(param) * 0.02)


def make_model(name: str) -> torch.nn.Module:
    torch.manual_seed(SEED)
    model = SPECS[name]["make"]()
    _randomize(model)
    model.eval()
    return model


def make_inputs(name: str, dims: dict[str, int], seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    feeds: dict[str, np.ndarray] = {}
    for inp, (dtype, shape) in SPECS[name]["inputs"].items():
        concrete = [dims[d] if isinstance(d, str) else d for d in shape]
        if inp == "input_ids":
            arr = rng.integers(0, VOCAB, size=concrete, dtype=np.int64)
        elif inp == "token_type_ids":
            arr = rng.integers(0, 2, size=concrete, dtype=np.int64)
        elif inp == "attention_mask":
            # Right padding: every row keeps at least one token, the last row is padded.
            arr = np.ones(concrete, dtype=np.int64)
            if concrete[0] > 1 and concrete[1] > 2:
                arr[-1, concrete[1] - 2 :] = 0
        else:
            arr = rng.standard_normal(size=concrete).astype(dtype)
        feeds[inp] = arr
    return feeds


def torch_outputs(model: torch.nn.Module, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
    with torch.no_grad():
        outs = model(*(torch.from_numpy(v) for v in feeds.values()))
    return [o.detach().numpy() for o in outs]


# --------------------------------------------------------------------------------------
# Exporters
# --------------------------------------------------------------------------------------


def export_legacy(name: str, model: torch.nn.Module, path: Path) -> str:
    spec = SPECS[name]
    args = tuple(torch.from_numpy(v) for v in make_inputs(name, RUN_DIMS, seed=1).values())
    dynamic_axes = {
        inp: {i: d for i, d in enumerate(shape) if isinstance(d, str)}
        for inp, (_, shape) in spec["inputs"].items()
    }
    static = not any(dynamic_axes.values())
    # Outputs: batch is axis 0 everywhere; sequence is axis 1 for the text models.
    for out in spec["outputs"] if not static else ():
        axes = {0: "batch"}
        if name in ("bert", "gpt2") and out != "pooler_output":
            axes[1] = "sequence"
        dynamic_axes[out] = axes
    with torch.no_grad():
        torch.onnx.export(
            model,
            args,
            str(path),
            dynamo=False,
            opset_version=LEGACY_OPSET,
            input_names=list(spec["inputs"]),
            output_names=spec["outputs"],
            dynamic_axes=dynamic_axes,
            do_constant_folding=True,
        )
    if static:
        return "static"
    return "dynamic: " + ", ".join(sorted({d for a in dynamic_axes.values() for d in a.values()}))


def _dynamic_shapes(name: str) -> dict[str, dict[int, Dim]]:
    dims = {
        "batch": Dim("batch", min=1, max=1024),
        "sequence": Dim("sequence", min=2, max=MAX_POS),
        "encoder_sequence": Dim("encoder_sequence", min=2, max=1024),
    }
    return {
        inp: {i: dims[d] for i, d in enumerate(shape) if isinstance(d, str)}
        for inp, (_, shape) in SPECS[name]["inputs"].items()
    }


def export_dynamo(name: str, model: torch.nn.Module, path: Path) -> str:
    spec = SPECS[name]
    args = tuple(torch.from_numpy(v) for v in make_inputs(name, RUN_DIMS, seed=1).values())
    dynamic_shapes = _dynamic_shapes(name)
    named = sorted({d for _, shape in spec["inputs"].values() for d in shape if isinstance(d, str)})
    note = "dynamic: " + ", ".join(named) if named else "static"
    try:
        with torch.no_grad():
            program = torch.onnx.export(
                model,
                args,
                dynamo=True,
                optimize=False,
                input_names=list(spec["inputs"]),
                output_names=spec["outputs"],
                dynamic_shapes=dynamic_shapes,
            )
    except Exception as exc:  # pragma: no cover - only if dynamic shapes break an export
        # Fall back to a static export, and say so in the manifest.
        print(f"  dynamo export of {name} with dynamic shapes failed ({exc!r}); static", flush=True)
        with torch.no_grad():
            program = torch.onnx.export(
                model,
                args,
                dynamo=True,
                optimize=False,
                input_names=list(spec["inputs"]),
                output_names=spec["outputs"],
            )
        note = f"static (dynamic shapes failed: {type(exc).__name__})"
    _save_without_stack_traces(program, path)
    return note


def export_dynamo_serving(name: str, model: torch.nn.Module, path: Path) -> str:
    """``torch.onnx.export(dynamo=True)`` with its defaults (optimize on) and dynamic axes.

    No static fallback: these files exist to be dynamic, so a failure is an error.
    """
    spec = SPECS[name]
    args = tuple(torch.from_numpy(v) for v in make_inputs(name, RUN_DIMS, seed=1).values())
    with torch.no_grad():
        program = torch.onnx.export(
            model,
            args,
            dynamo=True,
            input_names=list(spec["inputs"]),
            output_names=spec["outputs"],
            dynamic_shapes=_dynamic_shapes(name),
        )
    _save_without_stack_traces(program, path)
    return "dynamic: " + ", ".join(sorted(_dims_used(name)))


def _save_without_stack_traces(program, path: Path) -> None:
    """Save as one file (weights inline, no external data), without stack traces.

    The exporter stamps every node with its Python stack trace, full of this machine's
    paths (and half the file's bytes).  Drop that one key so the file does not depend on
    where it was made; the other metadata (namespace, class_hierarchy, fx_node,
    name_scopes) is kept as the exporter wrote it.
    """
    program.save(str(path), external_data=False)
    proto = onnx.load(str(path))
    for node in _all_nodes(proto.graph):
        keep = [p for p in node.metadata_props if p.key not in STRIPPED_METADATA]
        if len(keep) != len(node.metadata_props):
            del node.metadata_props[:]
            node.metadata_props.extend(keep)
    onnx.save(proto, str(path))


STRIPPED_METADATA = ("pkg.torch.onnx.stack_trace",)

EXPORT_CALLS = {
    "legacy": f"torch.onnx.export(dynamo=False, opset_version={LEGACY_OPSET}, dynamic_axes)",
    "dynamo": "torch.onnx.export(dynamo=True, optimize=False, dynamic_shapes)"
    ".save(external_data=False)",
    "dynamo-serving": "torch.onnx.export(dynamo=True, dynamic_shapes).save(external_data=False)",
}


@dataclasses.dataclass(frozen=True)
class ModelSet:
    """One folder of test models: which models, exported how, and what the folder is for."""

    out_dir: Path
    models: tuple[str, ...]
    exporters: dict[str, str]  # file suffix -> EXPORT_CALLS key
    notes: str


_COMMON_NOTES = (
    "Tiny random-weight models (seed 0) built from configs; nothing from a model hub. "
    "'dims' are the values to use for the named dims when running a model; the "
    "'duplicate_*' counts are byte-identical values (same dtype, dims, bytes), counted "
    "as the number of extra copies; 'unused_initializers' are read by no node and no "
    "graph output."
)

MODEL_SETS = {
    "exported": ModelSet(
        OUT_DIR,
        ("bert", "gpt2", "whisper_encoder", "mobilenetv2", "vit"),
        {"legacy": "legacy", "dynamo": "dynamo"},
        _COMMON_NOTES,
    ),
    "dynamic": ModelSet(
        DYNAMIC_DIR,
        ("bert", "gpt2", "whisper_decoder"),
        {"dynamo": "dynamo-serving"},
        _COMMON_NOTES
        + " Exported as for serving: dynamo=True with the exporter's optimizer on and dynamic"
        " batch and sequence axes; 'value_info' counts the exporter's shape annotations.",
    ),
}
EXPORT_FUNCTIONS = {
    "legacy": export_legacy,
    "dynamo": export_dynamo,
    "dynamo-serving": export_dynamo_serving,
}


# --------------------------------------------------------------------------------------
# Model statistics, with plain onnx
# --------------------------------------------------------------------------------------


def _all_nodes(graph: onnx.GraphProto):
    for node in graph.node:
        yield node
        for attr in node.attribute:
            if attr.type == onnx.AttributeProto.GRAPH:
                yield from _all_nodes(attr.g)
            elif attr.type == onnx.AttributeProto.GRAPHS:
                for g in attr.graphs:
                    yield from _all_nodes(g)


def _constant_value(node: onnx.NodeProto) -> np.ndarray | None:
    """The value of a Constant node as an array (None for sparse values)."""
    for attr in node.attribute:
        if attr.name == "value":
            return numpy_helper.to_array(attr.t)
        if attr.name == "value_float":
            return np.array(attr.f, dtype=np.float32)
        if attr.name == "value_floats":
            return np.array(list(attr.floats), dtype=np.float32)
        if attr.name == "value_int":
            return np.array(attr.i, dtype=np.int64)
        if attr.name == "value_ints":
            return np.array(list(attr.ints), dtype=np.int64)
    return None


def _value_key(arr: np.ndarray) -> tuple:
    return (str(arr.dtype), tuple(arr.shape), arr.tobytes())


def model_stats(model: onnx.ModelProto) -> dict:
    graph = model.graph
    nodes = list(_all_nodes(graph))
    op_counts = collections.Counter(n.op_type for n in nodes)

    read = {i for n in nodes for i in n.input if i}
    read |= {o.name for o in graph.output}
    unused = sorted(init.name for init in graph.initializer if init.name not in read)

    # Byte-identical values: same dtype, dims and bytes.
    groups: dict[tuple, list[str]] = collections.defaultdict(list)
    init_arrays = {}
    for init in graph.initializer:
        arr = numpy_helper.to_array(init)
        init_arrays[init.name] = arr
        groups[_value_key(arr)].append(f"initializer:{init.name}")
    for node in nodes:
        if node.op_type == "Constant" and node.domain in ("", "ai.onnx"):
            arr = _constant_value(node)
            if arr is not None:
                groups[_value_key(arr)].append(f"Constant:{node.output[0]}")
    dup_groups = [g for g in groups.values() if len(g) > 1]
    init_only = collections.Counter(
        k for k, g in groups.items() for m in g if m.startswith("initializer:")
    )
    init_dup_groups = [c for c in init_only.values() if c > 1]

    # Initializers stored a second time transposed (tied weights, e.g. GPT-2's LM head).
    transposed_pairs = []
    by_shape = collections.defaultdict(list)
    for n, a in init_arrays.items():
        if a.ndim == 2 and a.size > 1:
            by_shape[(str(a.dtype), a.shape)].append(n)
    for n, a in init_arrays.items():
        if a.ndim == 2 and a.size > 1 and a.shape[0] != a.shape[1]:
            for m in by_shape.get((str(a.dtype), a.shape[::-1]), []):
                if n < m and np.array_equal(a.T, init_arrays[m]):
                    transposed_pairs.append([n, m])

    return {
        "nodes": len(nodes),
        "op_types": dict(sorted(op_counts.items())),
        "identity_nodes": op_counts.get("Identity", 0),
        "constant_nodes": op_counts.get("Constant", 0),
        "transpose_nodes": op_counts.get("Transpose", 0),
        "dropout_nodes": op_counts.get("Dropout", 0),
        "initializers": len(graph.initializer),
        "initializer_bytes": int(sum(a.nbytes for a in init_arrays.values())),
        "unused_initializers": len(unused),
        "unused_initializer_names": unused,
        # duplicates = how many values could be dropped (group size - 1, summed), over
        # initializers and Constant nodes together; also the initializer-only number.
        "duplicate_values": sum(len(g) - 1 for g in dup_groups),
        "duplicate_groups": len(dup_groups),
        "duplicate_initializers": sum(c - 1 for c in init_dup_groups),
        "duplicate_initializer_groups": len(init_dup_groups),
        "duplicate_examples": [sorted(g)[:4] for g in sorted(dup_groups, key=sorted)[:5]],
        "transposed_initializer_pairs": transposed_pairs,
        "functions": len(model.functions),
        "value_info": sum(len(g.value_info) for g in _all_graphs(graph)),
    }


def _all_graphs(graph: onnx.GraphProto):
    yield graph
    for node in graph.node:
        for attr in node.attribute:
            if attr.type == onnx.AttributeProto.GRAPH:
                yield from _all_graphs(attr.g)
            elif attr.type == onnx.AttributeProto.GRAPHS:
                for g in attr.graphs:
                    yield from _all_graphs(g)


def _dim(d) -> str | int | None:
    if d.HasField("dim_param"):
        return d.dim_param
    return d.dim_value if d.HasField("dim_value") else None


def io_desc(values) -> list[dict]:
    out = []
    for v in values:
        tt = v.type.tensor_type
        shape = [_dim(d) for d in tt.shape.dim]
        out.append(
            {
                "name": v.name,
                "dtype": onnx.helper.tensor_dtype_to_np_dtype(tt.elem_type).name,
                "shape": shape,
            }
        )
    return out


# --------------------------------------------------------------------------------------
# Checks
# --------------------------------------------------------------------------------------


def ort_check(name: str, model: torch.nn.Module, path: Path, dims: dict[str, int]) -> float:
    """Max abs difference between onnxruntime and torch over all outputs."""
    feeds = make_inputs(name, dims, seed=2)
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.log_severity_level = 3
    sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    got = sess.run(None, feeds)
    want = torch_outputs(model, feeds)
    if len(got) != len(want):
        raise AssertionError(f"{path.name}: {len(got)} outputs, torch gives {len(want)}")
    diff = 0.0
    for g, w in zip(got, want, strict=True):
        if g.shape != w.shape:
            raise AssertionError(f"{path.name}: output shape {g.shape} != torch {w.shape}")
        diff = max(diff, float(np.max(np.abs(g.astype(np.float64) - w.astype(np.float64)))))
    return diff


def _dims_used(name: str) -> dict[str, int]:
    used = {d for _, shape in SPECS[name]["inputs"].values() for d in shape if isinstance(d, str)}
    return {k: v for k, v in RUN_DIMS.items() if k in used}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--set", choices=list(MODEL_SETS), action="append", help="model sets (default: all)"
    )
    parser.add_argument("--only", nargs="*", choices=list(SPECS), help="models to export")
    opts = parser.parse_args(argv)

    warnings.filterwarnings("ignore")
    logging.getLogger("torch").setLevel(logging.ERROR)
    logging.getLogger("onnxscript").setLevel(logging.ERROR)
    transformers.logging.set_verbosity_error()
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)

    versions = {
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "onnx": onnx.__version__,
        "onnxruntime": ort.__version__,
        "numpy": np.__version__,
    }
    try:
        import onnxscript

        versions["onnxscript"] = onnxscript.__version__
    except ImportError:  # pragma: no cover
        pass

    failed: list[str] = []
    for set_name in opts.set or list(MODEL_SETS):
        failed += write_set(MODEL_SETS[set_name], opts.only, versions)
    if failed:
        print("onnxruntime/torch mismatch: " + ", ".join(failed), file=sys.stderr)
        return 1
    return 0


def write_set(model_set: ModelSet, only: list[str] | None, versions: dict[str, str]) -> list[str]:
    """Export one set's models into its folder and write its MANIFEST.json; return the
    files whose onnxruntime outputs do not match torch."""
    out_dir = model_set.out_dir
    out_dir.mkdir(parents=True, exist_ok=True)
    manifest_path = out_dir / "MANIFEST.json"
    manifest = {"models": {}}
    if manifest_path.exists() and only:
        manifest = json.loads(manifest_path.read_text())
    manifest["generator"] = "scripts/make_test_models.py"
    manifest["versions"] = versions
    manifest["atol"] = ATOL
    manifest["notes"] = model_set.notes

    rows = []
    for name in [m for m in model_set.models if not only or m in only]:
        model = make_model(name)
        for exporter, call in model_set.exporters.items():
            path = out_dir / f"{name}_{exporter}.onnx"
            print(f"exporting {path.relative_to(ROOT)} ...", flush=True)
            dyn_note = EXPORT_FUNCTIONS[call](name, model, path)
            proto = onnx.load(str(path))
            onnx.checker.check_model(proto, full_check=True)
            diff = ort_check(name, model, path, RUN_DIMS)
            alt_diff = None
            if not dyn_note.startswith("static"):
                alt_diff = ort_check(name, model, path, ALT_DIMS)
            ok = diff <= ATOL and (alt_diff is None or alt_diff <= ATOL)
            data = path.read_bytes()
            stats = model_stats(proto)
            entry = {
                "file": path.name,
                "model": name,
                "exporter": exporter,
                "export_call": EXPORT_CALLS[call],
                "shapes": dyn_note,
                "stripped_node_metadata": list(STRIPPED_METADATA) if exporter == "dynamo" else [],
                "versions": {k: versions[k] for k in ("torch", "transformers", "onnx")},
                "ir_version": proto.ir_version,
                "opset_imports": {op.domain or "ai.onnx": op.version for op in proto.opset_import},
                "producer": f"{proto.producer_name} {proto.producer_version}".strip(),
                "inputs": io_desc(proto.graph.input),
                "outputs": io_desc(proto.graph.output),
                "dims": _dims_used(name),
                "size_bytes": len(data),
                "sha256": hashlib.sha256(data).hexdigest(),
                "ort_check": {
                    "atol": ATOL,
                    "max_abs_diff": float(f"{diff:.3g}"),
                    "alt_dims": {k: ALT_DIMS[k] for k in _dims_used(name)}
                    if alt_diff is not None
                    else None,
                    "alt_max_abs_diff": None if alt_diff is None else float(f"{alt_diff:.3g}"),
                    "passed": ok,
                },
                **stats,
            }
            manifest["models"][path.name] = entry
            rows.append(entry)

    manifest["models"] = dict(sorted(manifest["models"].items()))
    manifest_path.write_text(json.dumps(manifest, indent=2) + "\n")

    hdr = (
        "file",
        "nodes",
        "KiB",
        "Ident",
        "Const",
        "inits",
        "unused",
        "dups",
        "dupI",
        "Transp",
        "maxdiff",
        "ok",
    )
    print()
    print("{:<26} {:>6} {:>7} {:>6} {:>6} {:>6} {:>6} {:>5} {:>5} {:>6} {:>9} {:>4}".format(*hdr))
    for e in rows:
        diffs = max(e["ort_check"]["max_abs_diff"], e["ort_check"]["alt_max_abs_diff"] or 0.0)
        print(
            "{:<26} {:>6} {:>7.1f} {:>6} {:>6} {:>6} {:>6} {:>5} {:>5} {:>6} {:>9.2e} {:>4}".format(
                e["file"],
                e["nodes"],
                e["size_bytes"] / 1024,
                e["identity_nodes"],
                e["constant_nodes"],
                e["initializers"],
                e["unused_initializers"],
                e["duplicate_values"],
                e["duplicate_initializers"],
                e["transpose_nodes"],
                diffs,
                "yes" if e["ort_check"]["passed"] else "NO",
            )
        )
    total = sum(e["size_bytes"] for e in manifest["models"].values())
    where = out_dir.relative_to(ROOT)
    print(f"\n{where}: {total / 1024 / 1024:.2f} MiB; versions: {json.dumps(versions)}")
    return [e["file"] for e in rows if not e["ort_check"]["passed"]]


if __name__ == "__main__":
    sys.exit(main())
