"""Size budgets: the ``[tool.onnxslim-lint.budget]`` table and the OSL3xx findings.

A model-only rule cannot see how big a file is on disk or was at another commit,
so the budget rules (:mod:`onnxslim_lint.rules.model_size`,
:mod:`onnxslim_lint.rules.size_growth`) have no graph check. This stage runs after
a file has been through the pipeline (after ``--fix`` wrote it, so a fixed model is
measured as written): it measures the file and its external data, looks up the
size at ``--base`` with git, and returns findings for the budget rules selected
for that file. Selection, ``per-file-ignores``, ``rule CODE`` and every output
format treat them like any other rule.

Configuration::

    [tool.onnxslim-lint.budget]
    max-size = "50 MB"            # OSL301 model-size
    max-growth = "1 MB"           # OSL302 size-growth, bytes
    max-growth-percent = 5        # OSL302 size-growth, percent of the base size

    [tool.onnxslim-lint.budget.per-file]
    "models/asr/*.onnx" = { max-size = "400 MB", max-growth-percent = 10 }
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from onnxslim_lint.datafiles import model_data_files
from onnxslim_lint.discover import matches_any
from onnxslim_lint.errors import ConfigError
from onnxslim_lint.findings import Finding, Location, format_bytes
from onnxslim_lint.gitbase import BaseRevision
from onnxslim_lint.model.lfs import lfs_pointer_size
from onnxslim_lint.rules.model_size import ModelSize
from onnxslim_lint.rules.size_growth import SizeGrowth
from onnxslim_lint.sizes import SIZE_HELP, parse_size

__all__ = [
    "BUDGET_CODES",
    "Budget",
    "Limits",
    "SizeInfo",
    "budget_findings",
    "measure",
]

BUDGET_CODES = frozenset({ModelSize.code, SizeGrowth.code})

_KEYS = ("max-size", "max-growth", "max-growth-percent")


# --------------------------------------------------------------------------- config


@dataclass(frozen=True)
class Limits:
    """The budget for one model; None = no limit."""

    max_size: int | None = None
    max_growth: int | None = None
    max_growth_percent: float | None = None

    @property
    def any(self) -> bool:
        return any(v is not None for v in (self.max_size, self.max_growth, self.max_growth_percent))


def _where(settings_path: Path | None) -> str:
    if settings_path is None:
        return "configuration"
    try:
        return os.path.relpath(settings_path)
    except ValueError:
        return str(settings_path)


def _type_name(value: object) -> str:
    if isinstance(value, bool):
        return f"a boolean ({str(value).lower()})"
    if isinstance(value, (int, float)):
        return f"a number ({value})"
    if isinstance(value, str):
        return f"a string ({value!r})"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "a table"
    return type(value).__name__


def _parse_limits(table: Mapping[str, Any], where: str, section: str) -> dict[str, Any]:
    parsed: dict[str, Any] = {}
    for key, value in table.items():
        if key == "max-size" or key == "max-growth":
            size = parse_size(value)
            if size is None:
                raise ConfigError(
                    f"{where}: '{key}' in [{section}] must be {SIZE_HELP}, got {_type_name(value)}"
                )
            parsed[key.replace("-", "_")] = size
        elif key == "max-growth-percent":
            ok = isinstance(value, (int, float)) and not isinstance(value, bool)
            if not ok or math.isnan(value) or value < 0:
                raise ConfigError(
                    f"{where}: 'max-growth-percent' in [{section}] must be a number >= 0, "
                    f"got {_type_name(value)}"
                )
            parsed["max_growth_percent"] = float(value)
        else:
            raise ConfigError(
                f"{where}: unknown key '{key}' in [{section}] (expected one of: {', '.join(_KEYS)})"
            )
    return parsed


@dataclass(frozen=True)
class Budget:
    """The validated budget table: defaults plus per-file overrides by glob."""

    default: Limits = field(default_factory=Limits)
    per_file: tuple[tuple[str, dict[str, Any]], ...] = ()
    root: Path | None = None

    @classmethod
    def from_settings(cls, settings: Any) -> Budget:
        """Validate ``settings.extra["budget"]``; errors name the file and the key.

        The table may merge a config file and ``--config`` overrides; a mistake that
        the file alone does not have is reported as coming from ``--config``.
        """
        raw = settings.extra.get("budget") if settings.extra else None
        if not raw:
            return cls(root=settings.root)
        path = settings.config_path
        try:
            return cls._parse(raw, _where(path), path, settings.root)
        except ConfigError:
            if path is not None:
                from onnxslim_lint.config import load_settings

                own = load_settings(path).extra.get("budget")
                if own:
                    cls._parse(own, _where(path), path, settings.root)  # the file's own
            return cls._parse(raw, "--config", None, settings.root)

    @classmethod
    def _parse(
        cls, raw: Mapping[str, Any], where: str, path: Path | None, root: Path | None
    ) -> Budget:
        pyproject = path is not None and path.name == "pyproject.toml"
        section = f"{'tool.onnxslim-lint.' if pyproject else ''}budget"
        top = {key: value for key, value in raw.items() if key != "per-file"}
        default = Limits(**_parse_limits(top, where, section))
        per_file: list[tuple[str, dict[str, Any]]] = []
        table = raw.get("per-file", {})
        if not isinstance(table, Mapping):
            raise ConfigError(
                f"{where}: 'per-file' in [{section}] must be a table of glob = "
                f"{{ max-size = ... }}, got {_type_name(table)}"
            )
        for glob, limits in table.items():
            if not isinstance(limits, Mapping):
                raise ConfigError(
                    f"{where}: 'per-file.\"{glob}\"' in [{section}] must be a table like "
                    f'{{ max-size = "50 MB" }}, got {_type_name(limits)}'
                )
            per_file.append((glob, _parse_limits(limits, where, f'{section}.per-file."{glob}"')))
        return cls(default=default, per_file=tuple(per_file), root=root)

    @property
    def configured(self) -> bool:
        return self.default.any or any(limits for _, limits in self.per_file)

    def limits_for(self, path: Path) -> Limits:
        limits = self.default
        for glob, override in self.per_file:
            if matches_any(path, [glob], self.root):
                limits = replace(limits, **override)
        return limits


# --------------------------------------------------------------------------- sizes


@dataclass
class SizeInfo:
    """One model's size now and at the base (None: unknown, or absent at the base)."""

    path: Path
    display: str
    size: int | None
    base_size: int | None = None
    base_ref: str | None = None  # None: no --base given
    data_files: tuple[Path, ...] = ()

    @property
    def compared(self) -> bool:
        return self.base_ref is not None

    @property
    def is_new(self) -> bool:
        return self.compared and self.base_size is None and self.size is not None

    @property
    def change(self) -> int | None:
        if not self.compared or self.size is None:
            return None
        return self.size - (self.base_size or 0)

    @property
    def change_percent(self) -> float | None:
        if self.change is None or not self.base_size:
            return None
        return self.change / self.base_size * 100.0


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


def measure(path: Path, display: str | None = None, base: BaseRevision | None = None) -> SizeInfo:
    """The model's size on disk (file + external data) and, with ``base``, at the base."""
    path = Path(path)
    size, pointer = _file_size(path)
    data_files: tuple[Path, ...] = ()
    if size is not None and not pointer:
        data_files = tuple(model_data_files(path))
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


def budget_findings(info: SizeInfo, limits: Limits, codes: Iterable[str]) -> list[Finding]:
    """The OSL3xx findings for one measured model; ``codes`` are the rules selected for it."""
    codes = set(codes)
    findings: list[Finding] = []
    if ModelSize.code in codes:
        finding = _size_finding(info, limits)
        if finding is not None:
            findings.append(finding)
    growth_limited = limits.max_growth is not None or limits.max_growth_percent is not None
    if SizeGrowth.code in codes and growth_limited and info.change is not None:
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
        code=ModelSize.code,
        name=ModelSize.name,
        message=(
            f"model is {format_bytes(size)}, {format_bytes(over)} above the "
            f"{format_bytes(limit)} budget"
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
        code=SizeGrowth.code,
        name=SizeGrowth.name,
        message=message,
        fixable=False,
        count=1,
        nbytes=change,
        locations=(Location("model", info.path.name, detail=detail, nbytes=change),),
    )
