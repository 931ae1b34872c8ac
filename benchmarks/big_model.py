"""A multi-GB external-data model through onnxslim-lint and the peers, against onnx.load.

    python benchmarks/big_model.py --make                 # write corpus/big/big.onnx (+ data)
    python benchmarks/big_model.py --repeat 3             # measure; writes results/big_model.md
    python benchmarks/big_model.py --tools lint,fix --repeat 1
    python benchmarks/big_model.py --peers-python /path/to/venv/bin/python

The model: a chain of ``--layers`` MatMuls of ``--width``² float32 weights (default 41 ×
4096² = 2.75 GB), all in one external-data file, plus what exporters leave: one unused
4096×1024 initializer and one byte-identical copy of a 4096² weight read by the last
MatMul (80.5 MB removable). Weights are seeded random normals scaled as a trained layer's
(no zeros), streamed to disk one tensor at a time.

Every measurement runs in a child process (peak RSS from ``os.wait4``); the tools are
interleaved round by round so that page-cache state is shared fairly, and the median of
``--repeat`` rounds is reported. The peers (onnxslim, onnxsim) run from
``--peers-python`` (default: this interpreter) so that their pins of onnx do not touch
the environment under test.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
from pathlib import Path
from typing import BinaryIO

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from check_speed import model_bytes, run_measured  # noqa: E402

BIG = HERE / "corpus" / "big"
RESULTS = HERE / "results"

LOAD_FULL = "import onnx, sys; onnx.load(sys.argv[1])"
LOAD_GRAPH = "import onnx, sys; onnx.load(sys.argv[1], load_external_data=False)"
ONNXSIM = (
    "import sys, onnx, onnxsim\n"
    "m, ok = onnxsim.simplify(sys.argv[1])\n"
    "onnx.save(m, sys.argv[2], save_as_external_data=True, location='out.onnx.data')\n"
)


def make(path: Path, layers: int, width: int, seed: int) -> None:
    """Write the model and its data file, holding one weight in memory at a time."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper

    path.parent.mkdir(parents=True, exist_ok=True)
    data_name = path.name + ".data"
    rng = np.random.default_rng(seed)
    initializers: list[onnx.TensorProto] = []
    nodes: list[onnx.NodeProto] = []
    offset = 0
    scale = 1.0 / np.sqrt(width)

    def external(name: str, array: np.ndarray, out: BinaryIO) -> onnx.TensorProto:
        nonlocal offset
        raw = np.ascontiguousarray(array, dtype=np.float32).tobytes()
        out.write(raw)
        tensor = TensorProto(name=name, data_type=TensorProto.FLOAT, dims=list(array.shape))
        tensor.data_location = TensorProto.EXTERNAL
        for key, value in (("location", data_name), ("offset", offset), ("length", len(raw))):
            entry = tensor.external_data.add()
            entry.key, entry.value = key, str(value)
        offset += len(raw)
        return tensor

    with open(path.parent / data_name, "wb") as out:
        previous = "x"
        last_weight = None
        for layer in range(layers):
            weight = (rng.standard_normal((width, width), dtype=np.float32) * scale).astype(
                np.float32
            )
            name = f"layers.{layer}.weight"
            if layer == layers - 1 and last_weight is not None:
                # the exporter stored the previous layer's weight again, byte for byte
                initializers.append(external(name, last_weight, out))
            else:
                initializers.append(external(name, weight, out))
            last_weight = weight
            output = "y" if layer == layers - 1 else f"h{layer}"
            nodes.append(helper.make_node("MatMul", [previous, name], [output], f"matmul_{layer}"))
            previous = output
        unused = rng.standard_normal((width, width // 4), dtype=np.float32) * scale
        initializers.append(external("unused.weight", unused, out))
    graph = helper.make_graph(
        nodes,
        "big",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", width])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", width])],
        initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    path.write_bytes(model.SerializeToString())


def tools(peers_python: str) -> dict[str, list[str]]:
    """name -> argv template; {model} and {out} are filled in per run."""
    py = sys.executable
    return {
        "onnx.load": [py, "-c", LOAD_FULL, "{model}"],
        "onnx.load (graph only)": [py, "-c", LOAD_GRAPH, "{model}"],
        "lint": [py, "-m", "onnxslim_lint", "check", "{model}"],
        "fix": [py, "-m", "onnxslim_lint", "check", "--fix", "-o", "{out}", "{model}"],
        "onnxslim": [
            peers_python,
            "-m",
            "onnxslim",
            "{model}",
            "{out}",
            "--save-as-external-data",
        ],
        "onnxsim": [peers_python, "-c", ONNXSIM, "{model}", "{out}"],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--make", action="store_true", help="(re)write the model")
    parser.add_argument("--layers", type=int, default=41)
    parser.add_argument("--width", type=int, default=4096)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=1800)
    parser.add_argument("--tools", default=None, help="comma-separated subset of the tools")
    parser.add_argument("--peers-python", default=sys.executable)
    parser.add_argument("--model", type=Path, default=BIG / "big.onnx")
    args = parser.parse_args()
    if args.make or not args.model.exists():
        make(args.model, args.layers, args.width, args.seed)
        print(f"wrote {args.model} ({model_bytes(args.model) / 1e9:.2f} GB)", flush=True)
    table = tools(args.peers_python)
    chosen = list(table) if args.tools is None else args.tools.split(",")
    runs: dict[str, list[tuple[float, int, int, str]]] = {name: [] for name in chosen}
    for round_number in range(args.repeat):
        for name in chosen:
            with tempfile.TemporaryDirectory(prefix="osl-big-") as scratch:
                out = Path(scratch) / "out.onnx"
                argv = [
                    part.replace("{model}", str(args.model)).replace("{out}", str(out))
                    for part in table[name]
                ]
                try:
                    wall, rss, output, code = run_measured(argv, args.timeout)
                except Exception as exc:  # a timeout is a result too
                    wall, rss, output, code = args.timeout, 0, repr(exc), -1
                size = model_bytes(out) if out.exists() else 0
                runs[name].append((wall, rss, code, f"{size}|{output.strip()[-400:]}"))
                print(
                    f"round {round_number + 1} {name}: {wall:.1f} s, {rss / 1e9:.2f} GB, "
                    f"exit {code}, output {size / 1e9:.2f} GB",
                    flush=True,
                )
                shutil.rmtree(scratch, ignore_errors=True)
    size = model_bytes(args.model)
    lines = [
        f"Model: {args.layers} × {args.width}² float32 MatMuls in one external-data file, "
        f"{size / 1e9:.2f} GB; median of {args.repeat} interleaved rounds.",
        "",
        "| | wall (s) | peak RSS (GB) | × model | exit | output |",
        "|---|---|---|---|---|---|",
    ]
    for name, results in runs.items():
        wall = statistics.median(r[0] for r in results)
        rss = statistics.median(r[1] for r in results)
        out_size, _, tail = results[-1][3].partition("|")
        last_line = (tail.splitlines() or ["—"])[-1].replace("|", "\\|")
        note = f"{int(out_size) / 1e9:.2f} GB written" if int(out_size) else last_line
        lines.append(
            f"| {name} | {wall:.1f} | {rss / 1e9:.2f} | {rss / size:.2f} | "
            f"{results[-1][2]} | {note} |"
        )
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "big_model.md").write_text("\n".join(lines) + "\n")
    (RESULTS / "big_model.json").write_text(json.dumps(runs, indent=1))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
