"""Run the fuzzer of ``tests/fuzz`` on many more cases than CI does.

    python benchmarks/fuzz.py --cases 100000 --jobs 2          # from every seed in turn
    python benchmarks/fuzz.py --cases 2000 --start 50000       # another range of numbers
    python benchmarks/fuzz.py --cases 5000 --keep              # failing mutants -> regressions

Case ``i`` is mutant number ``start + i // len(seeds)`` of seed ``i % len(seeds)``, so a
failure is reproduced from its seed name and number (``tests.fuzz.mutate.mutate``).
Each case runs in a child process with the harness's deadline and memory bound
(``tests/fuzz/harness.py``). Prints a summary by outcome and mutator and writes every
failure to ``results/fuzz.json``; with ``--keep`` the failing mutants are copied into
``tests/fuzz/regressions/`` (named by seed and number) to become regression tests.
"""

from __future__ import annotations

import argparse
import collections
import json
import multiprocessing
import shutil
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))

from tests.fuzz.harness import run_case  # noqa: E402
from tests.fuzz.mutate import mutate  # noqa: E402
from tests.fuzz.seeds import seeds  # noqa: E402

SEEDS = seeds()
NAMES = sorted(SEEDS)


def _one(task: tuple[int, str]) -> dict:
    number, root = task
    seed = NAMES[number % len(NAMES)]
    mutant = number // len(NAMES)
    data, how = mutate(SEEDS[seed], mutant)
    folder = Path(root) / f"sandbox{number}" / "case"
    started = time.monotonic()
    outcome = run_case(data, folder)
    seconds = time.monotonic() - started
    shutil.rmtree(folder.parent, ignore_errors=True)
    row = {"seed": seed, "number": mutant, "how": how, "kind": outcome.kind, "seconds": seconds}
    if not outcome.ok:
        row["detail"] = outcome.detail
        row["bytes"] = len(data)
    return row


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=1000)
    parser.add_argument("--start", type=int, default=0, help="first mutant number")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--keep", action="store_true", help="copy failures to regressions/")
    args = parser.parse_args()
    first = args.start * len(NAMES)
    outcomes: collections.Counter[str] = collections.Counter()
    failures: list[dict] = []
    slowest = 0.0
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="osl-fuzz-") as root:
        tasks = [(first + i, root) for i in range(args.cases)]
        with multiprocessing.get_context("fork").Pool(args.jobs) as pool:
            for done, row in enumerate(pool.imap_unordered(_one, tasks, chunksize=8), 1):
                outcomes[row["kind"]] += 1
                slowest = max(slowest, row["seconds"])
                if row["kind"] != "ok":
                    failures.append(row)
                    print(f"{row['seed']} #{row['number']} ({row['how']}): {row['kind']}: "
                          f"{row['detail'][:200]}", flush=True)  # fmt: skip
                if done % 1000 == 0:
                    rate = done / (time.monotonic() - started)
                    print(f"{done} cases, {rate:.1f}/s, {dict(outcomes)}", flush=True)
    elapsed = time.monotonic() - started
    print(
        f"{args.cases} cases in {elapsed:.0f} s; outcomes {dict(outcomes)}; slowest {slowest:.1f} s"
    )
    results = HERE / "results"
    results.mkdir(exist_ok=True)
    summary = {
        "cases": args.cases,
        "start": args.start,
        "seconds": elapsed,
        "slowest_case_seconds": slowest,
        "outcomes": dict(outcomes),
        "failures": failures,
    }
    (results / "fuzz.json").write_text(json.dumps(summary, indent=1))
    if args.keep:
        regressions = REPO / "tests" / "fuzz" / "regressions"
        for row in failures:
            data, _ = mutate(SEEDS[row["seed"]], row["number"])
            (regressions / f"{row['seed']}-{row['number']}.onnx").write_bytes(data)
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
