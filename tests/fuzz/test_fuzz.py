"""A bounded fuzzing run in CI: mutants of every seed through check and fix, none
of which may end in an internal error, a hang, a memory blow-up, an access outside
its folder or a bad fix (:mod:`tests.fuzz.harness`). ``benchmarks/fuzz.py`` runs
many more; every case that ever failed is kept in ``tests/fuzz/regressions/``."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.fuzz.harness import run_case
from tests.fuzz.mutate import mutate
from tests.fuzz.seeds import seeds

CASES_PER_SEED = int(os.environ.get("ONNXSLIM_LINT_FUZZ_CASES", "12"))
REGRESSIONS = Path(__file__).parent / "regressions"
SEEDS = seeds()


@pytest.mark.parametrize("seed", sorted(SEEDS))
def test_mutants_of_a_seed(seed: str, tmp_path: Path) -> None:
    failures = []
    for number in range(CASES_PER_SEED):
        data, how = mutate(SEEDS[seed], number)
        outcome = run_case(data, tmp_path / "sandbox" / f"case{number}")
        if not outcome.ok:
            failures.append(f"{seed} #{number} ({how}): {outcome.kind}: {outcome.detail}")
    assert failures == []


@pytest.mark.parametrize("case", sorted(REGRESSIONS.glob("*.onnx")), ids=lambda path: path.stem)
def test_regression_case(case: Path, tmp_path: Path) -> None:
    outcome = run_case(case.read_bytes(), tmp_path / "sandbox" / "case")
    assert outcome.ok, f"{outcome.kind}: {outcome.detail}"
