"""Every number the tool prints about a model agrees with every other and with the fix.

For each real exported model (tests/models/exported) and the example, a copy is run
through ``check --output-format json``, ``--statistics`` (with the summary),
``--diff``, ``--fix --show-fixes`` and the json check again, in process, as a user
runs them. What the numbers mean (docs/counts.md):

- a finding is one per file and rule; its message's tally of kinds sums to the
  number it tallies, and the count it reports is the one its message states;
- ``--statistics`` counts occurrences: a rule's row is the sum of its findings'
  counts, in as many files as it has findings;
- ``--fix`` reports as fixed the reported findings the fixed model no longer has,
  and as remaining what the check then finds: ``Found F + R errors (F fixed, R
  remaining)``; ``--diff`` would fix exactly those F, and its nodes and bytes are
  the fix report's;
- the check's summary sums no savings (the rules' savings overlap): it says how many
  findings there are and how many are fixable.
"""

from __future__ import annotations

import json
import re
import shutil
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest

from onnxslim_lint.cli import main
from onnxslim_lint.fixing.engine import count_nodes
from onnxslim_lint.model.load import load_model

ROOT = Path(__file__).resolve().parents[1]
EXPORTED = sorted((ROOT / "tests" / "models" / "exported").glob("*.onnx"))
MODELS = [*EXPORTED, ROOT / "examples" / "messy.onnx"]

# "1 And, 6 Cast" or "(3 Unsqueeze->Unsqueeze)": the tally after a colon or in
# brackets (a size in brackets, "(512 B)", is none).
_PART = r"\d+ (?![kMGT]?B\b)[A-Za-z][\w>-]*"
_TALLY = re.compile(rf"(?:: |\()({_PART}(?:, {_PART})*)(?:\)|$| \()")
# Where a message states its count when it does not lead with it (it leads with the
# pairs, chains or sequences the nodes belong to).
_COUNT_STATED = {
    "OSL206": re.compile(r", (\d+) nodes? fewer"),
    "OSL210": re.compile(r" read only by (\d+) SequenceAts?"),
}
_FOUND = re.compile(r"Found (\d+) errors?\.")
_FIXABLE = re.compile(r"\[\*\] (\d+) fixable with the --fix option")
_FIXED = re.compile(r"Found (\d+) errors? \((\d+) fixed, (\d+) remaining\)\.")
_WOULD_FIX = re.compile(
    r"Would fix (\d+) errors? in (\d+) files? \((.+) and (\d+) nodes? saved\)\."
)
_DIFF_TOTALS = re.compile(r"^ nodes (\d+) → (\d+) \((-?\d+)\), size (.+) → (.+) \(([^)]+)\)$")
_REPORT = re.compile(r": fixed: nodes (\d+) → (\d+) \([^)]*\), size (.+) → (.+) \([^)]*\), rules ")


@dataclass
class Run:
    code: int
    out: str
    err: str


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("ONNXSLIM_LINT_OUTPUT_FORMAT", raising=False)
    return tmp_path


def _check(capsys: pytest.CaptureFixture[str], *args: str) -> Run:
    code = main(["check", "--isolated", "--no-cache", *args])
    captured = capsys.readouterr()
    return Run(code, captured.out, captured.err)


def _findings(capsys: pytest.CaptureFixture[str], name: str) -> list[dict]:
    run = _check(capsys, "--output-format", "json", name)
    findings: list[dict] = json.loads(run.out)
    return findings


def _one(pattern: re.Pattern[str], text: str) -> re.Match[str]:
    found = [m for m in (pattern.search(line) for line in text.splitlines()) if m]
    assert len(found) == 1, (pattern.pattern, text)
    return found[0]


def _tally_parts_sum_to_their_number(finding: dict) -> int:
    """Check each tally in the message; return how many there are."""
    message = finding["message"]
    tallies = list(_TALLY.finditer(message))
    for tally in tallies:
        parts = sum(int(part.split(" ", 1)[0]) for part in tally.group(1).split(", "))
        before = message[: tally.start()]
        stated = re.findall(r"(\d+) [^\d]*$", before)
        assert stated and int(stated[-1]) == parts, message
    return len(tallies)


def _count_is_stated(finding: dict) -> None:
    message, count = finding["message"], finding["count"]
    if finding["code"] == "OSL202":
        # Transposes: a pair that cancels removes both nodes, one that composes one.
        cancels = re.search(r"(\d+) Transpose pairs? that cancels?", message)
        composes = re.search(r"(\d+) Transpose pairs? that composes?", message)
        removed = (2 * int(cancels.group(1)) if cancels else 0) + (
            int(composes.group(1)) if composes else 0
        )
        assert removed == count, message
        return
    pattern = _COUNT_STATED.get(finding["code"])
    if pattern is not None:
        match = pattern.search(message)
        assert match is not None and int(match.group(1)) == count, message
        return
    assert int(message.split(" ", 1)[0]) == count, message


@pytest.mark.parametrize("model", MODELS, ids=[model.name for model in MODELS])
def test_every_count_agrees_with_what_the_fix_does(
    model: Path, folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    name = model.name
    shutil.copyfile(model, folder / name)
    nodes_before = count_nodes(load_model(folder / name).model)

    findings = _findings(capsys, name)
    assert findings, "every model here has something to fix"
    tallies = 0
    for finding in findings:
        tallies += _tally_parts_sum_to_their_number(finding)
        _count_is_stated(finding)
    assert tallies, "each of these models has a finding that tallies kinds of node"

    # --statistics closes with the check's summary.
    statistics = _check(capsys, "--statistics", name)
    assert statistics.code == 1
    assert int(_one(_FOUND, statistics.out).group(1)) == len(findings)
    fixable = sum(1 for finding in findings if finding["fixable"])
    assert int(_one(_FIXABLE, statistics.out).group(1)) == fixable
    assert "removable" not in statistics.out  # the rules' savings overlap: no sum
    rows = [line.split("\t") for line in statistics.out.splitlines() if "\t" in line]
    occurrences = Counter[str]()
    for finding in findings:
        occurrences[finding["code"]] += max(finding["count"], 1)
    assert {row[1]: int(row[0]) for row in rows} == occurrences
    assert {row[1]: row[3] for row in rows} == dict.fromkeys(occurrences, "1 file")

    diff = _check(capsys, "--diff", name)
    assert diff.code == 1
    would_fix = _one(_WOULD_FIX, diff.out)
    totals = _one(_DIFF_TOTALS, diff.out)

    fix = _check(capsys, "--fix", "--show-fixes", name)
    report = _one(_REPORT, fix.out)
    found, fixed, remaining = (int(n) for n in _one(_FIXED, fix.out).groups())
    after = _findings(capsys, name)
    codes_after = {finding["code"] for finding in after}
    gone = [finding for finding in findings if finding["code"] not in codes_after]

    # --fix: fixed are the reported findings now gone, remaining what the check finds.
    assert fixed == len(gone)
    assert remaining == len(after)
    assert found == fixed + remaining
    assert f"Fixed {fixed} errors:" in fix.out or f"Fixed {fixed} error:" in fix.out
    # The fix report's nodes are the file's, before and after.
    assert int(report.group(1)) == nodes_before
    assert int(report.group(2)) == count_nodes(load_model(folder / name).model)

    # --diff predicts exactly that: the same errors fixed, the same nodes and bytes.
    assert int(would_fix.group(1)) == fixed
    assert int(would_fix.group(2)) == 1
    assert totals.group(1, 2) == report.group(1, 2)
    assert int(totals.group(3)) == int(report.group(2)) - int(report.group(1))
    assert int(would_fix.group(4)) == int(report.group(1)) - int(report.group(2))
    assert totals.group(4, 5) == report.group(3, 4)
    assert would_fix.group(3) == totals.group(6).lstrip("-")
