"""A tree of many big models checked twice: the second run reads the result cache.

    python benchmarks/cache_tree.py                     # 50 models of 100 MB
    python benchmarks/cache_tree.py --models 300 --mb 0.01 --jobs 1

Writes the models (single-file, a MatMul chain with an unused weight: one finding
each) into ``corpus/tree/`` unless they are there, removes the cache, then times
``onnxslim-lint corpus/tree`` twice in child processes (wall and peak RSS), and a
third time with ``--no-cache``. Prints a Markdown table. A ``pyproject.toml`` in
the tree makes it the project root, so the cache is written there.
"""

from __future__ import annotations

import argparse
import multiprocessing
import shutil
import sys
from pathlib import Path

import numpy as np
from onnx import TensorProto, helper, numpy_helper

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from check_speed import run_measured  # noqa: E402


def make_model(path: Path, megabytes: float, seed: int) -> None:
    rng = np.random.default_rng(seed)
    side = max(4, int((megabytes * 1e6 / 4 / 2) ** 0.5))
    w = numpy_helper.from_array(rng.standard_normal((side, side)).astype(np.float32), "w")
    unused = numpy_helper.from_array(rng.standard_normal((side, side)).astype(np.float32), "old")
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"])],
        "tree",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, side])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, side])],
        [w, unused],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    path.write_bytes(model.SerializeToString())


def make_tree(tree: Path, args: argparse.Namespace) -> None:
    for number in range(args.models):
        path = tree / f"m{number:03d}.onnx"
        if not path.exists():
            make_model(path, args.mb, number)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=50)
    parser.add_argument("--mb", type=float, default=100.0, help="size of each model")
    parser.add_argument("--jobs", type=int, default=None)
    parser.add_argument("--timeout", type=float, default=3600)
    args = parser.parse_args()
    tree = HERE / "corpus" / "tree"
    tree.mkdir(parents=True, exist_ok=True)
    # Written in a child process: Linux carries a process's peak RSS over fork and
    # exec, so models made here would inflate every measured run's peak.
    maker = multiprocessing.get_context("fork").Process(target=make_tree, args=(tree, args))
    maker.start()
    maker.join()
    # A config file makes the tree the project root: the cache goes beside it.
    (tree / "pyproject.toml").write_text("[tool.onnxslim-lint]\n")
    shutil.rmtree(tree / ".onnxslim_lint_cache", ignore_errors=True)
    command = [sys.executable, "-m", "onnxslim_lint", "check", str(tree)]
    if args.jobs:
        command += ["-j", str(args.jobs)]
    total = sum(p.stat().st_size for p in tree.glob("*.onnx"))
    rows = []
    runs = (("first run", []), ("second run (cache)", []), ("--no-cache", ["--no-cache"]))
    for label, extra in runs:
        wall, rss, log, code = run_measured([*command, *extra], args.timeout)
        rows.append((label, wall, rss, log.strip().splitlines()[-1] if log.strip() else ""))
        print(f"{label}: {wall:.2f} s, {rss / 1e9:.2f} GB, exit {code}", flush=True)
    print(f"\n{args.models} models, {total / 1e9:.2f} GB in all\n")
    print("| run | wall (s) | peak RSS (GB) | vs first | last line |")
    print("|---|---|---|---|---|")
    first = rows[0][1]
    for label, wall, rss, last in rows:
        print(f"| {label} | {wall:.2f} | {rss / 1e9:.2f} | {wall / first:.1%} | {last} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
