"""Size budgets: the ``[tool.onnxslim-lint.budget]`` table and the OSL3xx findings.

A model-only rule cannot see how big a file is on disk or was at another commit,
so the budget rules (:mod:`onnxslim_lint.rules.model_size`,
:mod:`onnxslim_lint.rules.size_growth`) have no graph check. The pipeline's last
stage measures the file and its external data (after ``--fix`` wrote it, so a
fixed model is measured as written), looks up the size at ``--base`` with git, and
adds findings for the budget rules selected for that file. Selection,
``per-file-ignores``, ``rule CODE`` and every output format treat them like any
other rule. The table is validated in :mod:`onnxslim_lint.config`.

Configuration::

    [tool.onnxslim-lint.budget]
    max-size = "50 MB"            # OSL301 model-size
    max-growth = "1 MB"           # OSL302 size-growth, bytes
    max-growth-percent = 5        # OSL302 size-growth, percent of the base size
    message = "ask #ml-infra before growing a model"  # shown when a budget is broken

    [tool.onnxslim-lint.budget.per-file]
    "models/asr/*.onnx" = { max-size = "400 MB", max-growth-percent = 10 }

A per-file entry's ``message`` replaces the table's for the files it matches.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path

from onnxslim_lint.config import BudgetSettings, Limits, Settings, budget_settings
from onnxslim_lint.datafiles import model_data_files
from onnxslim_lint.discover import matches_any
from onnxslim_lint.enforced import codes_for
from onnxslim_lint.findings import Finding, Location, format_bytes
from onnxslim_lint.gitbase import BaseRevision
from onnxslim_lint.model.lfs import lfs_pointer_size
from onnxslim_lint.results import FileResult, SizeInfo
from onnxslim_lint.rules.catalog import entry_named
from onnxslim_lint.run_options import RunOptions

__all__ = [
    "BUDGET_CODES",
    "Budget",
    "budget_findings",
    "budget_stage",
    "measure",
]

# The rules' identities from the catalog: measuring a file must not import the rules.
_MODEL_SIZE = entry_named("model-size")
_SIZE_GROWTH = entry_named("size-growth")
BUDGET_CODES = frozenset({_MODEL_SIZE.code, _SIZE_GROWTH.code})


# --------------------------------------------------------------------------- limits


@dataclass(frozen=True)
class Budget:
    """The budget table (validated by :func:`~onnxslim_lint.config.budget_settings`)
    and the folder its per-file globs are relative to."""

    table: BudgetSettings = field(default_factory=BudgetSettings)
    root: Path | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> Budget:
        return cls(budget_settings(settings), settings.root)

    @property
    def configured(self) -> bool:
        return self.table.configured

    def limits_for(self, path: Path) -> Limits:
        limits = self.table.default
        for glob, override in self.table.per_file:
            if matches_any(path, [glob], self.root):
                limits = replace(limits, **override)
        return limits


# --------------------------------------------------------------------------- sizes


def _file_size(path: Path) -> tuple[int | None, bool]:
    """(size, is an LFS pointer): a pointer's size is the one its ``size`` line names."""
    try:
        size = path.stat().st_size
    except OSError:
        return None, False
    if size <= 1024:
        try:
            pointed = lfs_pointer_size(path.read_bytes())
        except OSError:
            pointed = None
        if pointed is not None:
            return pointed, True
    return size, False


def measure(
    path: Path,
    display: str | None = None,
    base: BaseRevision | None = None,
    known_data_files: tuple[Path, ...] | None = None,
) -> SizeInfo:
    """The model's size on disk (file + external data) and, with ``base``, at the base.
    ``known_data_files``: the model's data files when the caller knows them (a cache
    hit), so the model is not parsed again."""
    path = Path(path)
    size, pointer = _file_size(path)
    data_files: tuple[Path, ...] = ()
    if size is not None and not pointer:
        if known_data_files is None:
            known_data_files = tuple(model_data_files(path))
        data_files = known_data_files
        seen: set[str] = set()
        for data in data_files:
            key = os.path.realpath(data)
            if key in seen:
                continue
            seen.add(key)
            size += _file_size(data)[0] or 0
    info = SizeInfo(path, display or str(path), size, data_files=data_files)
    if base is not None:
        info.base_ref = base.ref
        info.base_size = base.model_size(path, data_files)
    return info


# --------------------------------------------------------------------------- findings


def _percent(value: float) -> str:
    return f"{value:g}%"


def _with_message(text: str, limits: Limits) -> str:
    """A broken budget's finding message, with the budget's own ``message`` after it."""
    return f"{text}: {limits.message}" if limits.message else text


def budget_findings(info: SizeInfo, limits: Limits, codes: Iterable[str]) -> list[Finding]:
    """The OSL3xx findings for one measured model; ``codes`` are the rules selected for it."""
    codes = set(codes)
    findings: list[Finding] = []
    if _MODEL_SIZE.code in codes:
        finding = _size_finding(info, limits)
        if finding is not None:
            findings.append(finding)
    growth_limited = limits.max_growth is not None or limits.max_growth_percent is not None
    if _SIZE_GROWTH.code in codes and growth_limited and info.change is not None:
        finding = _growth_finding(info, limits)
        if finding is not None:
            findings.append(finding)
    return findings


def _size_finding(info: SizeInfo, limits: Limits) -> Finding | None:
    limit, size = limits.max_size, info.size
    if limit is None or size is None or size <= limit:
        return None
    over = size - limit
    return Finding(
        path=info.display,
        code=_MODEL_SIZE.code,
        name=_MODEL_SIZE.name,
        message=_with_message(
            f"model is {format_bytes(size)}, {format_bytes(over)} above the "
            f"{format_bytes(limit)} budget",
            limits,
        ),
        fixable=False,
        count=1,
        nbytes=over,
        locations=(
            Location(
                "model", info.path.name, detail=f"{size} bytes > max-size {limit}", nbytes=size
            ),
        ),
    )


def _growth_finding(info: SizeInfo, limits: Limits) -> Finding | None:
    change = info.change
    assert change is not None and info.size is not None
    broken: list[str] = []
    if limits.max_growth is not None and change > limits.max_growth:
        broken.append(format_bytes(limits.max_growth))
    percent = info.change_percent
    limit = limits.max_growth_percent
    if limit is not None and percent is not None and percent > limit:
        broken.append(_percent(limit))
    if not broken:
        return None
    budget = " and ".join(broken)
    if info.is_new:
        message = (
            f"new model ({format_bytes(info.size)}) against {info.base_ref}, above the "
            f"{budget} growth budget"
        )
        detail = f"new, {info.size} bytes"
    else:
        assert info.base_size is not None and percent is not None
        message = (
            f"model grew by {format_bytes(change)} ({percent:+.1f}%) against {info.base_ref} "
            f"({format_bytes(info.base_size)} → {format_bytes(info.size)}), above the "
            f"{budget} budget"
        )
        detail = f"{info.base_size} → {info.size} bytes"
    return Finding(
        path=info.display,
        code=_SIZE_GROWTH.code,
        name=_SIZE_GROWTH.name,
        message=_with_message(message, limits),
        fixable=False,
        count=1,
        nbytes=change,
        locations=(Location("model", info.path.name, detail=detail, nbytes=change),),
    )


# --------------------------------------------------------------------------- the stage


def budget_stage(result: FileResult, settings: Settings, options: RunOptions) -> None:
    """The pipeline's last stage: measure the file when a budget or ``--base`` asks for
    it, and add the budget findings (OSL301/302) of the codes enforced for it. A file
    that could not be checked is measured only."""
    budget = Budget.from_settings(settings)
    if not (budget.configured or options.base is not None or options.measure):
        return
    result.size = measure(result.path, result.display, options.base, result.data_files)
    if result.error is None:
        limits = budget.limits_for(result.path)
        codes = codes_for(result.path, settings)
        result.findings.extend(budget_findings(result.size, limits, codes))
