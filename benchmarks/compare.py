"""Compare onnxslim-lint --fix with peer optimizers on every corpus model.

Tools (each in its own child process, in a fresh temporary working directory):

    osl-fix         python -m onnxslim_lint check --fix          (default: verified)
    osl-unsafe      python -m onnxslim_lint check --fix --unsafe-fixes --extend-select OSL4
    osl-meta        python -m onnxslim_lint check --select OSL107 --fix (metadata strip only)
    osl-unsafe-meta python -m onnxslim_lint check --fix --unsafe-fixes --extend-select OSL4,OSL107
    onnxslim        onnxslim IN OUT                               (pip install onnxslim)
    onnxsim         onnxsim IN OUT                                (pip install onnxsim)
    onnxoptimizer   onnxoptimizer.optimize(model)  default passes (pip install onnxoptimizer)
    torch-optimizer for dynamo-noopt models: the matching `dynamo` (optimize=True) export

Per tool: nodes after (main graph + subgraphs; function bodies counted separately),
bytes after (model + external data), wall seconds, peak RSS (os.wait4 of the child),
op-type counts, and ``onnxslim_lint.verify(original, result, n_samples=3)`` run in a
child process (passed / failed / could-not-verify, max_diff).

    python benchmarks/compare.py                        # every corpus model, priority order
    python benchmarks/compare.py --models bert --exporters legacy --tools osl-fix,onnxslim
    python benchmarks/compare.py --tools osl-noverify   # extra: --fix --no-verify (diagnostic)
    python benchmarks/compare.py --report               # only rewrite results/compare.md

Results: results/compare.json (incremental; re-runs skip done pairs unless --force)
and results/compare.md.
"""

from __future__ import annotations

import argparse
import collections
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from check_speed import model_bytes, run_measured  # noqa: E402
from make_corpus import PRIORITY  # noqa: E402

REPO = HERE.parent
CORPUS = HERE / "corpus"
RESULTS = HERE / "results"
TOOLS = ["osl-fix", "osl-unsafe", "onnxslim", "onnxsim", "onnxoptimizer", "torch-optimizer"]
PY = sys.executable

ONNXOPT = r"""
import sys, onnx, onnxoptimizer
m = onnx.load(sys.argv[1])
m = onnxoptimizer.optimize(m)
onnx.save(m, sys.argv[2])
"""

VERIFY = r"""
import json, sys, onnxslim_lint
r = onnxslim_lint.verify(sys.argv[1], sys.argv[2], n_samples=3)
print("RESULT " + json.dumps({"verdict": r.verdict, "max_diff": r.max_diff,
                              "output": r.output, "reason": r.reason}))
"""


def stats(path: Path) -> dict:
    """Node/op/byte counts of a model, computed in a child process.

    Loading a model here would raise this process's RSS high-water mark, and a
    vfork/exec'd child inherits it in ``ru_maxrss``: every later peak-RSS reading
    would be at least that.
    """
    r = subprocess.run(
        [PY, __file__, "--stats", str(path)], capture_output=True, text=True, check=True
    )
    return json.loads(r.stdout)


def _stats(path: Path) -> dict:
    import onnx

    m = onnx.load(str(path), load_external_data=False)
    ops: collections.Counter = collections.Counter()

    def walk(g):
        n = 0
        for node in g.node:
            n += 1
            ops[
                (node.domain + "::" if node.domain not in ("", "ai.onnx") else "") + node.op_type
            ] += 1
            for a in node.attribute:
                if a.type == onnx.AttributeProto.GRAPH:
                    n += walk(a.g)
                elif a.type == onnx.AttributeProto.GRAPHS:
                    n += sum(walk(s) for s in a.graphs)
        return n

    nodes = walk(m.graph)
    fn_nodes = sum(len(f.node) for f in m.functions)
    return {
        "nodes": nodes,
        "function_nodes": fn_nodes,
        "functions": len(m.functions),
        "initializers": len(m.graph.initializer),
        "bytes": model_bytes(path),
        "ops": dict(sorted(ops.items())),
    }


def tool_cmd(tool: str, src: Path, out: Path) -> list[str] | None:
    if tool == "osl-fix":
        return [PY, "-m", "onnxslim_lint", "check", "--fix", "--exit-zero", "--isolated", str(out)]
    if tool == "osl-unsafe":
        return [
            PY,
            "-m",
            "onnxslim_lint",
            "check",
            "--fix",
            "--unsafe-fixes",
            "--extend-select",
            "OSL4",
            "--exit-zero",
            "--isolated",
            str(out),
        ]
    if tool == "osl-noverify":  # diagnostic: what the fixes do when our own verification refuses
        return [
            PY,
            "-m",
            "onnxslim_lint",
            "check",
            "--fix",
            "--no-verify",
            "--exit-zero",
            "--isolated",
            str(out),
        ]
    if tool == "osl-meta":  # only the opt-in OSL107 exporter-metadata fix: its bytes alone
        return [
            PY,
            "-m",
            "onnxslim_lint",
            "check",
            "--select",
            "OSL107",
            "--fix",
            "--exit-zero",
            "--isolated",
            str(out),
        ]
    if tool == "osl-unsafe-meta":  # --fix --unsafe-fixes plus the opt-in OSL107
        return [
            PY,
            "-m",
            "onnxslim_lint",
            "check",
            "--fix",
            "--unsafe-fixes",
            "--extend-select",
            "OSL4,OSL107",
            "--exit-zero",
            "--isolated",
            str(out),
        ]
    if tool == "onnxslim":
        return [PY, "-m", "onnxslim", str(src), str(out)]
    if tool == "onnxsim":
        return [PY, "-m", "onnxsim", str(src), str(out)]
    if tool == "onnxoptimizer":
        return [PY, "-c", ONNXOPT, str(src), str(out)]
    return None


def verify(original: Path, result: Path, timeout: float) -> dict:
    try:
        _, _rss, out, rc = run_measured([PY, "-c", VERIFY, str(original), str(result)], timeout)
    except subprocess.TimeoutExpired:
        return {"verdict": "timeout"}
    res = [ln for ln in out.splitlines() if ln.startswith("RESULT ")]
    if rc != 0 or not res:
        return {"verdict": "error", "reason": out[-400:]}
    return json.loads(res[-1][7:])


def run_tool(tool: str, info: dict, timeout: float) -> dict | None:
    src = HERE / info["path"]
    if tool == "torch-optimizer":
        if info["exporter"] != "dynamo-noopt":
            return None
        twin = CORPUS / f"{info['model']}-dynamo.onnx"
        if not twin.exists():
            return {"status": "missing", "error": "no dynamo (optimize=True) export in the corpus"}
        row = {"status": "ok", "seconds": None, "peak_rss": None}
        row.update(stats(twin))
        row["verify"] = verify(src, twin, timeout)
        return row
    with tempfile.TemporaryDirectory(prefix=f"osl-bench-{tool}-") as tmp:
        tmp = Path(tmp)
        work = tmp / "in"
        outdir = tmp / "out"
        work.mkdir()
        outdir.mkdir()
        local = work / src.name
        for p in [src, *src.parent.glob(src.name + "*.data")]:
            shutil.copy2(p, work / p.name)
        out = outdir / "model.onnx"
        if tool.startswith("osl"):
            for p in work.iterdir():  # the linter fixes in place: give it its own copy
                shutil.copy2(p, outdir / (p.name.replace(src.name, "model.onnx")))
        argv = tool_cmd(tool, local, out)
        try:
            wall, rss, text, rc = run_measured(argv, timeout)
        except subprocess.TimeoutExpired:
            return {"status": "timeout", "error": f"> {timeout:.0f} s"}
        row = {
            "status": "ok" if rc == 0 and out.exists() else "failed",
            "seconds": wall,
            "peak_rss": rss,
            "exit": rc,
            "log": text[-1500:],
        }
        if row["status"] != "ok":
            return row
        row.update(stats(out))
        row["bytes"] = sum(p.stat().st_size for p in outdir.iterdir())
        row["verify"] = verify(src, out, timeout)
        return row


def tool_available(tool: str) -> str | None:
    mod = {"onnxslim": "onnxslim", "onnxsim": "onnxsim", "onnxoptimizer": "onnxoptimizer"}.get(tool)
    if not mod:
        return None
    r = subprocess.run([PY, "-c", f"import {mod}"], capture_output=True, text=True)
    return None if r.returncode == 0 else (r.stderr.strip().splitlines() or ["?"])[-1]


def versions() -> dict:
    code = r"""
import json, platform, importlib.metadata as md
out = {"python": platform.python_version()}
for d in ["onnxslim-lint", "onnx", "onnxruntime", "onnxscript", "onnx-ir", "torch",
          "transformers", "onnxslim", "onnxsim", "onnxoptimizer", "numpy"]:
    try:
        out[d] = md.version(d)
    except md.PackageNotFoundError:
        out[d] = None
print(json.dumps(out))
"""
    r = subprocess.run([PY, "-c", code], capture_output=True, text=True, cwd=REPO)
    v = json.loads(r.stdout)
    g = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=REPO
    )
    v["onnxslim-lint git"] = g.stdout.strip()
    # Benchmarking a snapshot (PYTHONPATH=/tmp/snap with `git archive HEAD onnxslim_lint`
    # and a COMMIT file) keeps a tree others are committing to from changing mid-run.
    r = subprocess.run(
        [PY, "-c", "import onnxslim_lint; print(onnxslim_lint.__file__)"],
        capture_output=True,
        text=True,
        cwd=tempfile.gettempdir(),
    )
    pkg = Path(r.stdout.strip()).parent
    v["onnxslim-lint path"] = str(pkg)
    commit = pkg.parent / "COMMIT"
    if commit.exists():
        v["onnxslim-lint git"] = commit.read_text().strip() + " (snapshot)"
    return v


# --------------------------------------------------------------------------- report


def fmt_tool(r: dict | None) -> str:
    if r is None:
        return "n/a"
    if r.get("status") != "ok":
        log = r.get("log", "")
        if "fix refused" in log:  # onnxslim-lint's own verification refused to write
            m = re.search(r"max abs diff ([0-9.e+-]+)", log)
            return f"refused (own verify: diff {m.group(1) if m else '?'}); file unchanged"
        return r.get("status", "?")
    v = r.get("verify", {})
    verdict = {"passed": "✓", "failed": "✗ FAIL", "could-not-verify": "?"}.get(
        v.get("verdict"), v.get("verdict", "?")
    )
    if v.get("verdict") in ("passed", "failed") and v.get("max_diff") is not None:
        verdict += f" {v['max_diff']:.0e}"
    secs = "—" if r.get("seconds") is None else f"{r['seconds']:.1f}"
    rss = "—" if r.get("peak_rss") is None else f"{r['peak_rss'] / 1e6:.0f}"
    return f"{r['nodes']} / {r['bytes'] / 1e6:.1f} / {secs} / {rss} / {verdict}"


def op_diff(ours: dict, peer: dict) -> str:
    keys = sorted(set(ours) | set(peer))
    parts = [
        f"{k} {ours.get(k, 0)}→{peer.get(k, 0)}" for k in keys if ours.get(k, 0) != peer.get(k, 0)
    ]
    return ", ".join(parts) or "same op counts"


PEERS = ["onnxslim", "onnxsim", "onnxoptimizer", "torch-optimizer"]


def _ok(r: dict | None, verified: bool = True) -> bool:
    if not r or r.get("status") != "ok":
        return False
    return not verified or r.get("verify", {}).get("verdict") == "passed"


def best_peer(row: dict, key: str = "nodes") -> tuple[str, dict] | None:
    """The peer with the fewest nodes (ties: fewest bytes), or bytes (ties: nodes).

    Only results that passed verification count.
    """
    cands = [(t, row["tools"][t]) for t in PEERS if _ok(row["tools"].get(t))]
    if not cands:
        return None
    other = "bytes" if key == "nodes" else "nodes"
    return min(cands, key=lambda tr: (tr[1][key], tr[1][other]))


def summary(data: dict) -> str:
    """Per model: ours (default, unsafe, unsafe+OSL107) vs the best verified peer."""
    out = [
        "| model | exporter | osl-fix nodes / MB | osl-unsafe nodes / MB "
        "| osl-unsafe + OSL107 nodes / MB | best peer by nodes | best peer by bytes "
        "| default ≤ best peer (nodes, bytes) | unsafe+OSL107 ≤ best peer (nodes, bytes) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]

    def nb(r):
        return f"{r['nodes']} / {r['bytes'] / 1e6:.2f}" if _ok(r, False) else "—"

    def le(r, bn, bb):
        if not _ok(r, False):
            return "—"
        a = "yes" if r["nodes"] <= bn[1]["nodes"] else "no"
        b = "yes" if r["bytes"] <= bb[1]["bytes"] else "no"
        return f"{a}, {b}"

    for row in data["rows"]:
        t = row["tools"]
        bn, bb = best_peer(row, "nodes"), best_peer(row, "bytes")
        if bn is None:
            continue
        fix, uns = t.get("osl-fix"), t.get("osl-unsafe")
        um = t.get("osl-unsafe-meta") or uns
        out.append(
            f"| {row['model']} | {row['exporter']} | {nb(fix)} | {nb(uns)} | {nb(um)} "
            f"| {bn[0]} {bn[1]['nodes']} / {bn[1]['bytes'] / 1e6:.2f} "
            f"| {bb[0]} {bb[1]['nodes']} / {bb[1]['bytes'] / 1e6:.2f} "
            f"| {le(fix, bn, bb)} | {le(um, bn, bb)} |"
        )
    return "\n".join(out) + "\n"


def gaps(data: dict) -> str:
    """Op-type count differences, ours → the best verified peer by nodes."""
    out = []
    for row in data["rows"]:
        bn = best_peer(row, "nodes")
        if bn is None:
            continue
        for tool in ("osl-fix", "osl-unsafe"):
            ours = row["tools"].get(tool)
            if not _ok(ours, False):
                continue
            d = op_diff(ours["ops"], bn[1]["ops"])
            out.append(
                f"- {row['model']} {row['exporter']}, {tool} {ours['nodes']} vs {bn[0]} "
                f"{bn[1]['nodes']}: {d}"
            )
    return "\n".join(out) + "\n"


def markdown(data: dict) -> str:
    rows = data["rows"]
    extra = ("osl-meta", "osl-unsafe-meta", "osl-noverify")
    tools = TOOLS + [t for t in extra if any(t in r["tools"] for r in rows)]
    out = [
        "Each cell: nodes after / MB after / seconds / peak RSS MB / verified "
        "(✓ passed, ✗ failed, ? could not verify; max abs diff).",
        "",
        "| model | exporter | nodes before | MB before | " + " | ".join(tools) + " |",
        "|---|---|---:|---:|" + "---|" * len(tools),
    ]
    for r in rows:
        cells = [fmt_tool(r["tools"].get(t)) for t in tools]
        out.append(
            f"| {r['model']} | {r['exporter']} | {r['before']['nodes']} "
            f"| {r['before']['bytes'] / 1e6:.1f} | " + " | ".join(cells) + " |"
        )
    out += [
        "",
        "### Where a peer ends with fewer nodes than `osl-unsafe` "
        "(op-type count changes, ours → peer)",
        "",
    ]
    for r in rows:
        ours = r["tools"].get("osl-unsafe") or r["tools"].get("osl-fix")
        if not ours or ours.get("status") != "ok":
            continue
        for t in tools[2:]:
            p = r["tools"].get(t)
            if t.startswith("osl"):
                continue
            if p and p.get("status") == "ok" and p["nodes"] < ours["nodes"]:
                out.append(
                    f"- **{r['model']} {r['exporter']}**, {t}: {ours['nodes']} → {p['nodes']} "
                    f"nodes: {op_diff(ours['ops'], p['ops'])}"
                )
    out += [
        "",
        "### Summary: ours vs the best verified peer",
        "",
        summary(data),
        "### Op-type counts, ours → the best verified peer by nodes",
        "",
        gaps(data),
    ]
    return "\n".join(out) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--models")
    ap.add_argument("--exporters")
    ap.add_argument("--tools", default=",".join(TOOLS))
    ap.add_argument("--timeout", type=float, default=600, help="seconds per tool run")
    ap.add_argument("--force", action="store_true", help="re-run pairs already in the results")
    ap.add_argument(
        "--retry-failed",
        action="store_true",
        help="re-run (model, tool) pairs whose last run failed or timed out",
    )
    ap.add_argument("--report", action="store_true", help="only rewrite the Markdown")
    ap.add_argument("--stats", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.stats:
        print(json.dumps(_stats(Path(a.stats))))
        return 0
    RESULTS.mkdir(parents=True, exist_ok=True)
    jpath = RESULTS / "compare.json"
    data = json.loads(jpath.read_text()) if jpath.exists() else {"rows": []}
    if a.report:
        (RESULTS / "compare.md").write_text(markdown(data))
        print(markdown(data))
        return 0
    data["versions"] = versions()
    tools = [t for t in a.tools.split(",") if t]
    unavailable = {t: why for t in tools if (why := tool_available(t))}
    data.setdefault("unavailable", {}).update(unavailable)

    manifest = json.loads((CORPUS / "manifest.json").read_text())
    order = {f"{m}-{e}": i for i, (m, e) in enumerate(PRIORITY)}
    todo = sorted(
        (
            k
            for k, v in manifest.items()
            if v.get("status") == "ok"
            and (not a.models or v["model"] in a.models.split(","))
            and (not a.exporters or v["exporter"] in a.exporters.split(","))
        ),
        key=lambda k: order.get(k, 999),
    )
    for key in todo:
        info = manifest[key]
        src = HERE / info["path"]
        if not src.exists():
            continue
        row = next((r for r in data["rows"] if r["key"] == key), None)
        if row is None:
            row = {"key": key, "model": info["model"], "exporter": info["exporter"], "tools": {}}
            data["rows"].append(row)
        row["before"] = stats(src)
        for tool in tools:
            prev = row["tools"].get(tool)
            if (
                prev is not None
                and not a.force
                and not (a.retry_failed and prev.get("status") in ("failed", "timeout"))
            ):
                continue
            if tool in unavailable:
                row["tools"][tool] = {"status": "not installable", "error": unavailable[tool]}
                continue
            print(f"{key} {tool} ...", flush=True)
            r = run_tool(tool, info, a.timeout)
            if r is None:
                continue
            r["time"] = time.strftime("%Y-%m-%d %H:%M:%S")
            row["tools"][tool] = r
            print(f"  {fmt_tool(r)}", flush=True)
            data["rows"].sort(key=lambda r: order.get(r["key"], 999))
            jpath.write_text(json.dumps(data, indent=1))
        jpath.write_text(json.dumps(data, indent=1))
        (RESULTS / "compare.md").write_text(markdown(data))
    (RESULTS / "compare.md").write_text(markdown(data))
    print(markdown(data))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
