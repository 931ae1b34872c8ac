"""The default rule set: what plain ``--fix`` can fix, and reports a user can act on.

So ``--fix`` with the defaults, then a check, ends with ``All checks passed!`` on
every model the project ships (examples/, tests/models/exported/ and the dynamic-axes
exports in tests/models/dynamic/), run as a user runs it: the installed command, no
configuration but the exports' dynamic dims.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from onnxslim_lint.findings import FixAvailability, FixSafety
from onnxslim_lint.rules.registry import ALL_RULES, default_enabled

ROOT = Path(__file__).resolve().parents[1]
MODEL_DIRS = (ROOT / "tests" / "models" / "exported", ROOT / "tests" / "models" / "dynamic")


def test_every_default_rule_has_an_exact_fix_or_only_reports() -> None:
    """A numeric fix needs --unsafe-fixes, so a rule with one cannot be a default."""
    for rule in ALL_RULES:
        if not default_enabled(rule.code) or rule.opt_in:
            continue
        report_only = rule.availability is FixAvailability.NONE or rule.safety is None
        assert report_only or rule.safety is FixSafety.EXACT, rule.code
    fusions = [rule.code for rule in ALL_RULES if rule.code.startswith("OSL4")]
    assert fusions and not any(default_enabled(code) for code in fusions)


def _dims() -> dict[str, int]:
    dims: dict[str, int] = {}
    for folder in MODEL_DIRS:
        manifest = folder / "MANIFEST.json"
        if manifest.is_file():
            for entry in json.loads(manifest.read_text())["models"].values():
                dims.update(entry.get("dims", {}))
    return dims


def test_fix_then_check_passes_on_every_shipped_model(tmp_path: Path) -> None:
    models = [ROOT / "examples" / "messy.onnx"]
    for folder in MODEL_DIRS:
        models += sorted(folder.glob("*.onnx"))
    for model in models:
        target = tmp_path / model.parent.name / model.name  # two folders share names
        target.parent.mkdir(exist_ok=True)
        shutil.copyfile(model, target)
    config = "verify.dims = {" + ", ".join(f"{k} = {v}" for k, v in _dims().items()) + "}"
    cli = [sys.executable, "-m", "onnxslim_lint", "--isolated", "--config", config]
    before = subprocess.run([*cli, str(tmp_path)], capture_output=True, text=True, check=False)
    assert before.returncode == 1, before.stdout + before.stderr
    fixed = subprocess.run(
        [*cli, "--fix", str(tmp_path)], capture_output=True, text=True, check=False
    )
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    assert fixed.stdout.count(": fixed: ") == len(models) == 14, fixed.stdout
    assert fixed.stdout.count("verified (0 max diff)") == len(models), fixed.stdout
    summary = fixed.stdout.strip().splitlines()[-1]
    assert summary.startswith("Found ") and summary.endswith(" fixed, 0 remaining)."), summary
    again = subprocess.run([*cli, str(tmp_path)], capture_output=True, text=True, check=False)
    assert (again.returncode, again.stdout.strip()) == (0, "All checks passed!"), (
        fixed.stdout + again.stdout + again.stderr
    )
