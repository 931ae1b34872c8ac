"""Check speed: ``onnx.load`` vs ``onnxslim-lint`` check on every corpus model.

For each model, each measurement runs in a fresh child process (so peak RSS is that
of the measurement alone, read with ``os.wait4``):

    load        in-process ``onnx.load(path)``, median of N runs
    check       in-process ``onnxslim_lint.check(path)``, median of N runs
    load_cli    wall time of ``python -c "import onnx; onnx.load(path)"`` (start-up included)
    check_cli   wall time of ``python -m onnxslim_lint check path`` (start-up included)

The file is read once first so every measurement sees a warm page cache.

    python benchmarks/check_speed.py                  # every model in corpus/manifest.json
    python benchmarks/check_speed.py --models bert --exporters legacy --repeat 3
"""

from __future__ import annotations

import argparse
import json
import os
import selectors
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
CORPUS = HERE / "corpus"
RESULTS = HERE / "results"
RUN_DIR = tempfile.gettempdir()

CHILD = r"""
import gc, json, statistics, sys, time
what, path, n, warmup = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
if what == "load":
    import onnx
    fn = lambda: onnx.load(path)
else:
    import onnxslim_lint
    fn = lambda: onnxslim_lint.check(path)
times, extra = [], None
for _ in range(warmup):  # not timed: the first call in a process pays imports and caches
    r = fn()
    del r
    gc.collect()
for _ in range(n):
    t = time.perf_counter()
    r = fn()
    times.append(time.perf_counter() - t)
    if what == "check":
        extra = sorted({f.code for f in r})
    del r
    gc.collect()
print("RESULT " + json.dumps({"median": statistics.median(times), "times": times, "codes": extra}))
"""


def run_measured(argv: list[str], timeout: float) -> tuple[float, int, str, int]:
    """(wall seconds, the child's own peak RSS in bytes via os.wait4, output, exit code)."""
    t = time.perf_counter()
    if True:
        # Not cwd=REPO: `python -m`/`-c` put the cwd first on sys.path, which would shadow
        # a PYTHONPATH snapshot of the package with the live working tree.
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=RUN_DIR)
        chunks = []
        deadline = t + timeout
        sel = selectors.DefaultSelector()
        sel.register(proc.stdout, selectors.EVENT_READ)
        while True:
            left = deadline - time.perf_counter()
            if left <= 0:
                proc.kill()
                os.wait4(proc.pid, 0)
                raise subprocess.TimeoutExpired(argv, timeout)
            if sel.select(timeout=min(left, 1.0)):
                data = proc.stdout.read1(65536)
                if not data:
                    break
                chunks.append(data)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - t
    return wall, usage.ru_maxrss * 1024, b"".join(chunks).decode(errors="replace"), proc.returncode


def model_bytes(path: Path) -> int:
    total = path.stat().st_size
    for p in path.parent.glob(path.name + "*.data"):
        total += p.stat().st_size
    return total


def corpus_models(models: str | None, exporters: str | None) -> list[dict]:
    manifest = json.loads((CORPUS / "manifest.json").read_text())
    out = []
    for key, info in sorted(manifest.items()):
        if info.get("status") != "ok":
            continue
        if models and info["model"] not in models.split(","):
            continue
        if exporters and info["exporter"] not in exporters.split(","):
            continue
        if (HERE / info["path"]).exists():
            out.append(dict(info, key=key))
    return out


def measure(path: Path, repeat: int, timeout: float, warmup: int = 1) -> dict:
    # Warm the page cache in a child (`cat`): reading the file here would raise this
    # process's RSS high-water mark, which a vfork/exec'd child inherits in ru_maxrss.
    for p in [path, *path.parent.glob(path.name + "*.data")]:
        subprocess.run(["cat", str(p)], stdout=subprocess.DEVNULL, check=False)
    row: dict = {"bytes": model_bytes(path)}
    py = sys.executable
    for what in ("load", "check"):
        wall, rss, out, rc = run_measured(
            [py, "-c", CHILD, what, str(path), str(repeat), str(warmup)], timeout
        )
        res = [ln for ln in out.splitlines() if ln.startswith("RESULT ")]
        if rc != 0 or not res:
            row[what] = None
            row[what + "_error"] = out[-500:]
            continue
        r = json.loads(res[-1][7:])
        row[what] = r["median"]
        row[what + "_times"] = r["times"]
        row[what + "_peak_rss"] = rss
        if what == "check":
            row["codes"] = r["codes"]
    for what, argv in (
        ("load_cli", [py, "-c", f"import onnx; onnx.load({str(path)!r})"]),
        ("check_cli", [py, "-m", "onnxslim_lint", "check", "--exit-zero", "-q", str(path)]),
    ):
        walls, rsss = [], []
        for _ in range(repeat):
            wall, rss, out, rc = run_measured(argv, timeout)
            if rc != 0:
                row[what + "_error"] = out[-500:]
            walls.append(wall)
            rsss.append(rss)
        row[what] = statistics.median(walls)
        row[what + "_peak_rss"] = max(rsss)
    if row.get("load") and row.get("check"):
        row["ratio"] = row["check"] / row["load"]
        row["ratio_cli"] = row["check_cli"] / row["load_cli"]
    return row


def markdown(rows: list[dict]) -> str:
    lines = [
        "| model | exporter | MB | onnx.load s | check s | ratio | load peak MB | check peak MB "
        "| `python -c onnx.load` s | CLI s | CLI ratio | CLI peak MB | findings |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]

    def f(v, fmt="{:.2f}"):
        return "—" if v is None else fmt.format(v)

    for r in rows:
        mb = lambda k, r=r: None if r.get(k) is None else r[k] / 1e6  # noqa: E731
        lines.append(
            f"| {r['model']} | {r['exporter']} | {r['bytes'] / 1e6:.0f} | {f(r.get('load'))} "
            f"| {f(r.get('check'))} | {f(r.get('ratio'))}× | {f(mb('load_peak_rss'), '{:.0f}')} "
            f"| {f(mb('check_peak_rss'), '{:.0f}')} | {f(r.get('load_cli'))} "
            f"| {f(r.get('check_cli'))} "
            f"| {f(r.get('ratio_cli'))}× | {f(mb('check_cli_peak_rss'), '{:.0f}')} "
            f"| {', '.join(r.get('codes') or []) or '—'} |"
        )
    return "\n".join(lines) + "\n"


def code_under_test() -> str:
    """Path of the onnxslim_lint the children import, plus the snapshot's COMMIT file."""
    r = subprocess.run(
        [sys.executable, "-c", "import onnxslim_lint; print(onnxslim_lint.__file__)"],
        capture_output=True,
        text=True,
        cwd=RUN_DIR,
    )
    pkg = Path(r.stdout.strip()).parent
    commit = pkg.parent / "COMMIT"
    return f"{pkg} @ {commit.read_text().strip()}" if commit.exists() else str(pkg)


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--models")
    ap.add_argument("--exporters")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument(
        "--warmup",
        type=int,
        default=1,
        help="untimed calls before the timed ones, in the same process (load and check alike)",
    )
    ap.add_argument("--timeout", type=float, default=600)
    ap.add_argument("--out", default=str(RESULTS / "check_speed.json"))
    a = ap.parse_args()
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = Path(a.out)
    rows = json.loads(out.read_text()) if out.exists() else []
    code = code_under_test()
    for info in corpus_models(a.models, a.exporters):
        print(f"{info['key']}: measuring ...", flush=True)
        try:
            row = measure(HERE / info["path"], a.repeat, a.timeout, a.warmup)
        except subprocess.TimeoutExpired:
            row = {"bytes": model_bytes(HERE / info["path"]), "error": "timeout"}
        row.update(
            model=info["model"],
            exporter=info["exporter"],
            time=time.strftime("%Y-%m-%d %H:%M:%S"),
            repeat=a.repeat,
            warmup=a.warmup,
            code=code,
        )
        rows = [r for r in rows if (r["model"], r["exporter"]) != (info["model"], info["exporter"])]
        rows.append(row)
        rows.sort(key=lambda r: (r["model"], r["exporter"]))
        out.write_text(json.dumps(rows, indent=1))
        print(
            f"  load {row.get('load')}  check {row.get('check')}  ratio {row.get('ratio')}  "
            f"cli {row.get('check_cli')}",
            flush=True,
        )
    out.with_suffix(".md").write_text(markdown(rows))
    print(markdown(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
