"""The Python API: what the CLI does, callable from a script.

Each function takes a path or an ``onnx.ModelProto``. Paths go through the same
pipeline as the CLI (safe loading, verification, atomic writes); models in memory
are never written anywhere.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import onnx

from onnxslim_lint.config import Settings, VerifySettings, apply_overrides, settings_for
from onnxslim_lint.findings import Finding
from onnxslim_lint.fixing.engine import fix_model
from onnxslim_lint.fixing.verify import VerifyReport, verify_models
from onnxslim_lint.model.load import load_model
from onnxslim_lint.pipeline import (
    RunOptions,
    check_model,
    fix_policy,
    process_file,
    rule_options,
    rules_for,
)
from onnxslim_lint.results import FileResult, FixReport, Verdict

__all__ = ["ModelFix", "check", "fix", "verify"]

ModelOrPath = onnx.ModelProto | str | Path


@dataclass
class ModelFix:
    """The result of fixing an in-memory model.

    ``model`` is the fixed copy, or an unchanged copy when nothing was fixed or the
    fix was refused; ``report`` says which (None: nothing to fix), as the CLI's
    fix report does for a file.
    """

    model: onnx.ModelProto
    fixed: list[Finding] = field(default_factory=list)
    remaining: list[Finding] = field(default_factory=list)
    verification: VerifyReport | None = None
    report: FixReport | None = None

    @property
    def verdict(self) -> Verdict | None:
        return None if self.report is None else self.report.verdict

    @property
    def passed(self) -> bool:
        """True unless the fix was refused (by a gate or by the verification)."""
        return self.report is None or not self.report.verdict.refuses


def _settings(
    where: Path | None,
    select: Sequence[str] | None,
    ignore: Sequence[str] | None,
    settings: Settings | None,
) -> Settings:
    base = settings or (settings_for(where) if where is not None else Settings())
    return apply_overrides(
        base,
        select=tuple(select) if select is not None else None,
        ignore=tuple(ignore) if ignore is not None else None,
    )


def check(
    model: ModelOrPath,
    *,
    select: Sequence[str] | None = None,
    ignore: Sequence[str] | None = None,
    settings: Settings | None = None,
) -> list[Finding]:
    """Findings for a model file or an in-memory model (nothing is changed).

    A file goes through the CLI's pipeline, size budgets (OSL301/302) included.
    """
    if isinstance(model, onnx.ModelProto):
        resolved = _settings(None, select, ignore, settings)
        rules = rules_for(Path("<model>"), resolved)
        return check_model(model, rules, "<model>", options=rule_options(resolved))
    path = Path(model)
    resolved = _settings(path.resolve().parent, select, ignore, settings)
    result = process_file(path, resolved, RunOptions())
    return ([result.error] if result.error else []) + result.findings


def fix(
    model: ModelOrPath,
    *,
    output: str | Path | None = None,
    select: Sequence[str] | None = None,
    ignore: Sequence[str] | None = None,
    verify: bool = True,
    unsafe_fixes: bool = False,
    settings: Settings | None = None,
) -> FileResult | ModelFix:
    """Fix a model file in place (or into ``output``), or return a fixed copy of a model.

    Both go through the fix engine the CLI uses: the fixed model keeps the
    interface, passes the full onnx checker, is not larger, and is verified in
    onnxruntime unless ``verify=False``; a failing rule is left out and the rest
    kept. For a path, returns the pipeline's ``FileResult`` (``fix_report.verdict``
    says whether it was written). For a ``ModelProto``, returns a :class:`ModelFix`;
    the input model is not changed.
    """
    if not isinstance(model, onnx.ModelProto):
        path = Path(model)
        resolved = _settings(path.resolve().parent, select, ignore, settings)
        options = RunOptions(
            fix=True,
            verify=verify,
            unsafe_fixes=unsafe_fixes,
            output=Path(output) if output is not None else None,
        )
        return process_file(path, resolved, options)
    resolved = _settings(None, select, ignore, settings)
    rules = rules_for(Path("<model>"), resolved)
    rule_settings = rule_options(resolved)
    verify_settings = resolved.verify if verify else replace(resolved.verify, enabled=False)
    outcome = fix_model(
        model,
        rules,
        fix_policy(resolved, unsafe_fixes or resolved.unsafe_fixes),
        verify_settings,
        options=rule_settings,
    )
    if outcome.model is None:  # nothing to fix, or refused: an unchanged copy
        fixed = onnx.ModelProto()
        fixed.CopyFrom(model)
    else:
        fixed = outcome.model
    remaining = check_model(fixed, rules, "<model>", options=rule_settings)
    return ModelFix(fixed, outcome.fixed, remaining, outcome.verification, outcome.report)


def verify(
    original: ModelOrPath,
    fixed: ModelOrPath,
    n_samples: int = 10,
    *,
    seed: int = 0,
    rtol: float = 1e-4,
    atol: float = 1e-5,
    exact: bool = False,
) -> VerifyReport:
    """Compare two models' outputs in onnxruntime on the same seeded inputs."""

    def as_model(value: ModelOrPath) -> onnx.ModelProto:
        return value if isinstance(value, onnx.ModelProto) else load_model(Path(value)).model

    settings = VerifySettings(samples=n_samples, seed=seed, rtol=rtol, atol=atol)
    return verify_models(as_model(original), as_model(fixed), settings, exact=exact)
