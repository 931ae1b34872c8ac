"""The Python API: what the CLI does, callable from a script.

Each function takes a path or an ``onnx.ModelProto``. Paths go through the same
pipeline as the CLI (safe loading, verification, atomic writes); models in memory
are never written anywhere.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import onnx

from onnxslim_lint.config import Settings, apply_overrides, settings_for
from onnxslim_lint.findings import Finding

if TYPE_CHECKING:
    from onnxslim_lint.fixing.verify import VerifyReport
    from onnxslim_lint.pipeline import FileResult

__all__ = ["ModelFix", "check", "fix", "verify"]

ModelOrPath = onnx.ModelProto | str | Path


@dataclass
class ModelFix:
    """The result of fixing an in-memory model."""

    model: onnx.ModelProto
    fixed: list[Finding] = field(default_factory=list)
    remaining: list[Finding] = field(default_factory=list)
    verification: VerifyReport | None = None

    @property
    def passed(self) -> bool:
        return self.verification is None or self.verification.passed


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
    """Findings for a model file or an in-memory model (nothing is changed)."""
    from onnxslim_lint.pipeline import (
        RunOptions,
        check_model,
        process_file,
        rule_options,
        rules_for,
    )

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

    For a path, returns the pipeline's ``FileResult`` (``fix_report.verdict`` says
    whether it was written). For a ``ModelProto``, returns a :class:`ModelFix`; the
    input model is not changed.
    """
    from onnxslim_lint.fixing.apply import apply_fixes
    from onnxslim_lint.pipeline import (
        RunOptions,
        check_model,
        fix_policy,
        process_file,
        rule_options,
        rules_for,
        verify_settings,
    )

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
    options = rule_options(resolved)
    loop = apply_fixes(
        model,
        rules,
        may_fix=fix_policy(resolved, unsafe_fixes or resolved.unsafe_fixes),
        options=options,
    )
    remaining = check_model(loop.model, rules, "<model>", options=options)
    result = ModelFix(loop.model, loop.fixed, remaining)
    if verify and loop.changed:
        from onnxslim_lint.fixing.verify import verify_models

        result.verification = verify_models(
            model, loop.model, verify_settings(resolved), exact=loop.exact
        )
    return result


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
    from onnxslim_lint.fixing.verify import VerifySettings, verify_models
    from onnxslim_lint.model.load import load_model

    def as_model(value: ModelOrPath) -> onnx.ModelProto:
        return value if isinstance(value, onnx.ModelProto) else load_model(Path(value)).model

    settings = VerifySettings(samples=n_samples, seed=seed, rtol=rtol, atol=atol)
    return verify_models(as_model(original), as_model(fixed), settings, exact=exact)
