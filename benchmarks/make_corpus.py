"""Build the benchmark corpus: real-size transformers models, random weights, exported to ONNX.

Nothing is downloaded: every model is built from a ``transformers`` config with
random weights (``torch.manual_seed(0)``). Each (model, exporter) pair is exported in
its own subprocess (with a timeout) so one failure or a memory spike does not take
the rest down; failures are recorded in ``corpus/manifest.json`` and skipped.

    python benchmarks/make_corpus.py                       # everything, priority order
    python benchmarks/make_corpus.py --models bert,gpt2 --exporters legacy
    python benchmarks/make_corpus.py --list

Exporters:
    legacy        torch.onnx.export(..., dynamo=False, opset_version=17)
    dynamo        torch.onnx.export(..., dynamo=True)            (optimize=True, the default)
    dynamo-noopt  torch.onnx.export(..., dynamo=True, optimize=False)
    dynamo-dynamic torch.onnx.export(..., dynamo=True, dynamic_shapes=...)  (as users export
                  for serving: dynamic batch and sequence axes, no static fallback)
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
CORPUS = HERE / "corpus"
MANIFEST = CORPUS / "manifest.json"

MODELS = [
    "bert",
    "gpt2",
    "mobilenetv2",
    "resnet50",
    "vit-small",
    "whisper-tiny-encoder",
    "whisper-tiny-decoder",
]
EXPORTERS = ["legacy", "dynamo", "dynamo-noopt", "dynamo-dynamic"]

# The order a full run takes: the pairs that matter most first.
PRIORITY = [
    ("bert", "legacy"),
    ("gpt2", "legacy"),
    ("mobilenetv2", "dynamo-noopt"),
    ("resnet50", "dynamo-noopt"),
    ("mobilenetv2", "dynamo"),
    ("resnet50", "dynamo"),
    ("bert", "dynamo-noopt"),
    ("bert", "dynamo"),
    ("gpt2", "dynamo-noopt"),
    ("gpt2", "dynamo"),
    ("mobilenetv2", "legacy"),
    ("resnet50", "legacy"),
    ("vit-small", "legacy"),
    ("vit-small", "dynamo-noopt"),
    ("vit-small", "dynamo"),
    ("whisper-tiny-encoder", "legacy"),
    ("whisper-tiny-decoder", "legacy"),
    ("whisper-tiny-encoder", "dynamo-noopt"),
    ("whisper-tiny-decoder", "dynamo-noopt"),
    ("whisper-tiny-encoder", "dynamo"),
    ("whisper-tiny-decoder", "dynamo"),
    ("bert", "dynamo-dynamic"),
    ("gpt2", "dynamo-dynamic"),
    ("whisper-tiny-decoder", "dynamo-dynamic"),
]


def corpus_path(model: str, exporter: str) -> Path:
    return CORPUS / f"{model}-{exporter}.onnx"


# --------------------------------------------------------------------------- models


def build(name: str):
    """(module, example args, input names, output names, dynamic axes) for a model name."""
    import torch
    import transformers as tf

    torch.manual_seed(0)
    seq = 128
    if name == "bert":
        # bert-base-uncased: hidden 768, 12 layers, 12 heads, vocab 30522 (the BertConfig defaults)
        cfg = tf.BertConfig(
            vocab_size=30522,
            hidden_size=768,
            num_hidden_layers=12,
            num_attention_heads=12,
            intermediate_size=3072,
        )
        model = tf.BertModel(cfg)
        ids = torch.randint(0, cfg.vocab_size, (1, seq))
        args = (ids, torch.ones(1, seq, dtype=torch.long), torch.zeros(1, seq, dtype=torch.long))
        names = ["input_ids", "attention_mask", "token_type_ids"]
        outs = ["last_hidden_state", "pooler_output"]
        dyn = {n: {0: "batch", 1: "sequence"} for n in names}
    elif name == "gpt2":
        cfg = tf.GPT2Config(
            use_cache=False
        )  # gpt2 (124M): 768, 12 layers, vocab 50257, tied lm_head
        model = tf.GPT2LMHeadModel(cfg)
        ids = torch.randint(0, cfg.vocab_size, (1, seq))
        args = (ids, torch.ones(1, seq, dtype=torch.long))
        names = ["input_ids", "attention_mask"]
        outs = ["logits"]
        dyn = {n: {0: "batch", 1: "sequence"} for n in names}
    elif name == "mobilenetv2":
        cfg = tf.MobileNetV2Config(depth_multiplier=1.0, image_size=224)
        model = tf.MobileNetV2ForImageClassification(cfg)
        args = (torch.randn(1, 3, 224, 224),)
        names, outs = ["pixel_values"], ["logits"]
        dyn = {"pixel_values": {0: "batch"}}
    elif name == "resnet50":
        cfg = tf.ResNetConfig(
            layer_type="bottleneck",
            depths=[3, 4, 6, 3],
            hidden_sizes=[256, 512, 1024, 2048],
            embedding_size=64,
        )
        model = tf.ResNetForImageClassification(cfg)
        args = (torch.randn(1, 3, 224, 224),)
        names, outs = ["pixel_values"], ["logits"]
        dyn = {"pixel_values": {0: "batch"}}
    elif name == "vit-small":
        cfg = tf.ViTConfig(
            hidden_size=384,
            num_hidden_layers=12,
            num_attention_heads=6,
            intermediate_size=1536,
            image_size=224,
            patch_size=16,
        )
        model = tf.ViTModel(cfg)
        args = (torch.randn(1, 3, 224, 224),)
        names, outs = ["pixel_values"], ["last_hidden_state", "pooler_output"]
        dyn = {"pixel_values": {0: "batch"}}
    elif name.startswith("whisper-tiny"):
        # openai/whisper-tiny: d_model 384, 4+4 layers, 6 heads, ffn 1536, 80 mel bins, vocab 51865
        cfg = tf.WhisperConfig(
            vocab_size=51865,
            d_model=384,
            encoder_layers=4,
            decoder_layers=4,
            encoder_attention_heads=6,
            decoder_attention_heads=6,
            encoder_ffn_dim=1536,
            decoder_ffn_dim=1536,
            num_mel_bins=80,
            max_source_positions=1500,
            max_target_positions=448,
            use_cache=False,
        )
        full = tf.WhisperForConditionalGeneration(cfg).eval()
        if name.endswith("encoder"):
            model = full.get_encoder()
            args = (torch.randn(1, 80, 3000),)
            names, outs = ["input_features"], ["last_hidden_state"]
            dyn = {"input_features": {0: "batch"}}
        else:

            class Decoder(torch.nn.Module):
                def __init__(self, m):
                    super().__init__()
                    self.decoder = m.get_decoder()
                    self.proj_out = m.proj_out  # tied to the token embedding

                def forward(self, decoder_input_ids, encoder_hidden_states):
                    h = self.decoder(
                        input_ids=decoder_input_ids,
                        encoder_hidden_states=encoder_hidden_states,
                        use_cache=False,
                    ).last_hidden_state
                    return self.proj_out(h)

            model = Decoder(full)
            args = (torch.randint(0, cfg.vocab_size, (1, 16)), torch.randn(1, 1500, 384))
            names, outs = ["decoder_input_ids", "encoder_hidden_states"], ["logits"]
            dyn = {
                "decoder_input_ids": {0: "batch", 1: "sequence"},
                "encoder_hidden_states": {0: "batch"},
            }
    else:
        raise SystemExit(f"unknown model {name}")

    class ReturnTuple(torch.nn.Module):
        """Unwrap transformers' ModelOutput into a plain tuple of tensors."""

        def __init__(self, inner, names, n):
            super().__init__()
            self.inner, self.names, self.n = inner, names, n

        def forward(self, *a):
            out = self.inner(
                **dict(zip(self.names, a, strict=False))
            )  # by keyword: GPT-2's 2nd arg is the cache
            if isinstance(out, torch.Tensor):
                return out
            out = out.to_tuple() if hasattr(out, "to_tuple") else tuple(out)
            return out[0] if self.n == 1 else tuple(out[: self.n])

    perturb(model)
    return ReturnTuple(model.eval(), names, len(outs)).eval(), args, names, outs, dyn


def perturb(model) -> None:
    """Make the random weights look trained.

    transformers' ``_init_weights`` sets every bias to 0, every LayerNorm/BatchNorm
    scale to 1 and BatchNorm statistics to (0, 1). Exported as is, peers can delete
    ``x + 0`` / ``x * 1`` and trivial BatchNorms, which never happens with trained
    weights; so add noise to every parameter and give BatchNorm real statistics.
    Tied parameters stay tied (``named_parameters`` yields a shared tensor once).
    """
    import torch

    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn(p.shape, generator=g) * 0.02)
        for m in model.modules():
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm) and m.running_mean is not None:
                m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=g) * 0.1)
                m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) + 0.5)


def export_one(model_name: str, exporter: str, out: Path) -> dict:
    import torch

    module, args, names, outs, dyn = build(model_name)
    info: dict = {"dynamic": True}
    out.parent.mkdir(parents=True, exist_ok=True)
    for p in (out, out.with_name(out.name + ".data")):
        if p.exists():
            p.unlink()
    with torch.no_grad():
        if exporter == "legacy":
            torch.onnx.export(
                module,
                args,
                str(out),
                dynamo=False,
                opset_version=17,
                input_names=names,
                output_names=outs,
                dynamic_axes=dyn,
                do_constant_folding=True,
            )
        elif exporter == "dynamo-dynamic":
            from torch.export import Dim

            dims = {
                "batch": Dim("batch", min=1, max=1024),
                "sequence": Dim("sequence", min=2, max=448),
                "encoder_sequence": Dim("encoder_sequence", min=2, max=1500),
            }
            # forward(*a): the dims of each positional input, in order
            shapes = tuple(
                {axis: dims[dim] for axis, dim in dyn.get(name, {}).items() if dim in dims}
                for name in names
            )
            # Batch 2 in the example: torch.export specializes a dim whose example size is 1.
            batched = tuple(a.repeat(2, *[1] * (a.dim() - 1)) for a in args)
            prog = torch.onnx.export(
                module,
                batched,
                dynamo=True,
                input_names=names,
                output_names=outs,
                dynamic_shapes={"a": shapes},  # ReturnTuple.forward(*a)
            )
            prog.save(str(out), external_data=None)
        else:
            optimize = exporter == "dynamo"
            try:
                prog = torch.onnx.export(
                    module,
                    args,
                    dynamo=True,
                    optimize=optimize,
                    input_names=names,
                    output_names=outs,
                    dynamic_axes=dyn,
                )
            except Exception as exc:  # dynamic shapes are the usual failure: retry static
                info["dynamic"] = False
                info["dynamic_error"] = f"{type(exc).__name__}: {str(exc)[:300]}"
                prog = torch.onnx.export(
                    module,
                    args,
                    dynamo=True,
                    optimize=optimize,
                    input_names=names,
                    output_names=outs,
                )
            # external data only when the model would not fit in a 2 GB protobuf
            prog.save(str(out), external_data=None)
    return info


# --------------------------------------------------------------------------- driver


def load_manifest() -> dict:
    if MANIFEST.exists():
        return json.loads(MANIFEST.read_text())
    return {}


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--models", default=",".join(MODELS), help="comma list of " + ",".join(MODELS))
    ap.add_argument(
        "--exporters", default=",".join(EXPORTERS), help="comma list of " + ",".join(EXPORTERS)
    )
    ap.add_argument("--timeout", type=float, default=900, help="seconds per export")
    ap.add_argument("--force", action="store_true", help="re-export files that exist")
    ap.add_argument("--list", action="store_true", help="show the manifest and exit")
    ap.add_argument("--one", nargs=2, metavar=("MODEL", "EXPORTER"), help=argparse.SUPPRESS)
    a = ap.parse_args()

    if a.one:  # child process: export a single pair, print a JSON line
        model, exporter = a.one
        t = time.perf_counter()
        try:
            info = export_one(model, exporter, corpus_path(model, exporter))
            info.update(status="ok", seconds=round(time.perf_counter() - t, 1))
        except Exception as exc:
            traceback.print_exc()
            info = {
                "status": "failed",
                "error": f"{type(exc).__name__}: {str(exc)[:500]}",
                "seconds": round(time.perf_counter() - t, 1),
            }
        print("RESULT " + json.dumps(info), flush=True)
        return 0

    manifest = load_manifest()
    if a.list:
        print(json.dumps(manifest, indent=1))
        return 0
    models = [m.strip() for m in a.models.split(",") if m.strip()]
    exporters = [e.strip() for e in a.exporters.split(",") if e.strip()]
    for m in models:
        if m not in MODELS:
            ap.error(f"unknown model {m!r}")
    for e in exporters:
        if e not in EXPORTERS:
            ap.error(f"unknown exporter {e!r}")
    jobs = [p for p in PRIORITY if p[0] in models and p[1] in exporters]
    jobs += [(m, e) for m in models for e in exporters if (m, e) not in jobs]

    CORPUS.mkdir(parents=True, exist_ok=True)
    for model, exporter in jobs:
        key = f"{model}-{exporter}"
        path = corpus_path(model, exporter)
        if path.exists() and not a.force and manifest.get(key, {}).get("status") == "ok":
            print(f"{key}: exists, skipped", flush=True)
            continue
        print(f"{key}: exporting ...", flush=True)
        t = time.perf_counter()
        env = dict(os.environ, PYTHONWARNINGS="ignore")
        try:
            proc = subprocess.run(
                [sys.executable, __file__, "--one", model, exporter],
                capture_output=True,
                text=True,
                timeout=a.timeout,
                env=env,
            )
            lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
            if lines:
                info = json.loads(lines[-1][7:])
            else:
                info = {
                    "status": "failed",
                    "error": f"exit {proc.returncode}: {proc.stderr[-500:]}",
                }
            if info["status"] != "ok":
                (CORPUS / f"{key}.log").write_text(proc.stdout + "\n" + proc.stderr)
        except subprocess.TimeoutExpired:
            info = {"status": "timeout", "error": f"> {a.timeout:.0f} s"}
        info.setdefault("seconds", round(time.perf_counter() - t, 1))
        info.update(model=model, exporter=exporter, path=str(path.relative_to(HERE)))
        if info["status"] == "ok":
            data = path.with_name(path.name + ".data")
            info["bytes"] = path.stat().st_size + (data.stat().st_size if data.exists() else 0)
        manifest = load_manifest()  # re-read: another run may have written meanwhile
        manifest[key] = info
        MANIFEST.write_text(json.dumps(manifest, indent=1, sort_keys=True))
        size = (
            f"{info.get('bytes', 0) / 1e6:.0f} MB"
            if info["status"] == "ok"
            else info.get("error", "")[:200]
        )
        print(f"{key}: {info['status']} in {info['seconds']} s  {size}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
