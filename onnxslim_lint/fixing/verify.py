"""Prove that a rewritten model still computes what the original computed.

Both models run in onnxruntime on the same seeded random inputs
(:mod:`~onnxslim_lint.fixing.inputs`, :mod:`~onnxslim_lint.fixing.runner`) and every
graph output is compared (:mod:`~onnxslim_lint.fixing.compare`). The result is a
:class:`VerifyReport` with one of three verdicts:

``passed``
    Same interface, and all outputs matched on every sample.
``failed``
    The fixed model changed the interface, does not run, or computed something
    different. Such a fix must not be written.
``could-not-verify``
    The original itself cannot be run here (custom op, unsupported type, model
    over 2 GB, ...), so nothing can be proven either way.

Model problems never raise; they become verdicts.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import onnx

from onnxslim_lint.config import VerifySettings
from onnxslim_lint.fixing.compare import Comparison, compare
from onnxslim_lint.fixing.gates import check_interface, first_line
from onnxslim_lint.fixing.inputs import CannotVerify, feeds, plan_inputs
from onnxslim_lint.fixing.runner import Runner, serialize
from onnxslim_lint.model.randomness import random_outputs
from onnxslim_lint.results import Verdict

__all__ = ["VerifyReport", "verify_models"]

_DEFAULT_SETTINGS = VerifySettings()


@dataclass(frozen=True)
class VerifyReport:
    """The outcome of :func:`verify_models`.

    ``max_diff`` is the largest absolute difference seen between compared
    numeric values (never NaN; ``inf`` when NaN/inf positions disagree). ``output``
    names the offending output of a ``failed`` verdict when there is one.
    """

    verdict: Verdict
    max_diff: float
    output: str | None
    reason: str
    samples: int

    @property
    def passed(self) -> bool:
        return self.verdict is Verdict.PASSED


def verify_models(
    original: onnx.ModelProto,
    fixed: onnx.ModelProto,
    settings: VerifySettings = _DEFAULT_SETTINGS,
    *,
    exact: bool = False,
    fixed_bytes: bytes | None = None,
    original_bytes: bytes | None = None,
    fixed_file: Path | None = None,
    original_file: Path | None = None,
) -> VerifyReport:
    """Run both models in onnxruntime on the same seeded inputs and compare outputs.

    The interface must be identical (see :func:`check_interface`), otherwise the
    verdict is ``failed``. Outputs that depend on a random op are compared by dtype
    and shape only. With ``exact`` finite floats must be bit-identical.
    ``fixed_bytes`` and ``original_bytes``, when given, are the models already
    serialized; ``fixed_file`` and ``original_file`` are files onnxruntime loads
    the models from instead (with their external data: a model whose weights are
    in data files is never serialized whole).
    """
    if not isinstance(settings, VerifySettings):
        raise TypeError(f"expected VerifySettings, got {type(settings).__name__}")
    n = settings.samples

    def report(
        verdict: Verdict, reason: str, max_diff: float = 0.0, output: str | None = None
    ) -> VerifyReport:
        return VerifyReport(verdict, max_diff, output, reason, n)

    interface = check_interface(original, fixed)
    if interface is not None:
        return report(Verdict.FAILED, f"the interface changed: {interface}")

    try:
        specs = plan_inputs(original, settings)
    except CannotVerify as exc:
        return report(Verdict.COULD_NOT_VERIFY, str(exc))

    original_data = _source(original, original_bytes, original_file)
    if isinstance(original_data, str):
        return report(Verdict.COULD_NOT_VERIFY, f"original: {original_data}")
    fixed_data = _source(fixed, fixed_bytes, fixed_file)
    if isinstance(fixed_data, str):
        return report(Verdict.COULD_NOT_VERIFY, f"fixed model: {fixed_data}")

    names = [o.name for o in original.graph.output]
    random = random_outputs(original) | random_outputs(fixed)
    # One session at a time: the original's outputs for every sample first, then the
    # fixed model's. Two sessions of a large model side by side would hold its
    # weights twice more; the outputs kept in between are far smaller.
    try:
        session = Runner(original_data)
    except Exception as exc:  # any onnxruntime failure is a verdict, not a crash
        reason = f"onnxruntime cannot load the original model: {first_line(exc)}"
        return report(Verdict.COULD_NOT_VERIFY, reason)
    del original_data
    expected_runs: list[list[Any]] = []
    for sample in range(n):
        try:
            expected_runs.append(session.run(names, feeds(specs, settings.seed + sample)))
        except CannotVerify as exc:
            return report(Verdict.COULD_NOT_VERIFY, str(exc))
        except Exception as exc:
            return report(
                Verdict.COULD_NOT_VERIFY,
                f"the original model does not run on generated inputs (sample {sample}): "
                f"{first_line(exc)}",
            )
    del session
    try:
        session = Runner(fixed_data)
    except Exception as exc:
        return report(Verdict.FAILED, f"the fixed model does not run: {first_line(exc)}")
    del fixed_data

    max_diff = 0.0
    for sample, expected in enumerate(expected_runs):
        try:
            actual = session.run(names, feeds(specs, settings.seed + sample))
        except CannotVerify as exc:
            return report(Verdict.COULD_NOT_VERIFY, str(exc))
        except Exception as exc:
            return report(
                Verdict.FAILED, f"the fixed model does not run (sample {sample}): {first_line(exc)}"
            )

        failures: list[tuple[str, Comparison]] = []
        for name, a, b in zip(names, expected, actual, strict=True):
            cmp = compare(a, b, settings, exact, shape_only=name in random)
            if cmp.unsupported:
                return report(Verdict.COULD_NOT_VERIFY, f"output {name!r}: {cmp.detail}", max_diff)
            max_diff = max(max_diff, cmp.max_diff)
            if not cmp.ok:
                failures.append((name, cmp))
        if failures:
            structural = [f for f in failures if f[1].structural]
            name, cmp = structural[0] if structural else max(failures, key=lambda f: f[1].max_diff)
            others = len(failures) - 1
            more = f" (and {others} other output{'s' if others > 1 else ''})" if others else ""
            return report(
                Verdict.FAILED,
                f"output {name!r} differs: {cmp.detail}, sample {sample}{more}",
                max_diff,
                name,
            )

    compared = len(names) - len(random & set(names))
    plural = "s" if compared != 1 else ""
    reason = f"{n} sample{'s' if n != 1 else ''}, {compared} output{plural} compared"
    shape_only = len(names) - compared
    if shape_only:
        reason += f", {shape_only} random-dependent checked by dtype and shape only"
    return report(Verdict.PASSED, reason, max_diff)


def _source(model: onnx.ModelProto, data: bytes | None, file: Path | None) -> bytes | Path | str:
    """What onnxruntime loads a model from: its file, its bytes, or the model
    serialized now (a str: why it cannot be)."""
    if file is not None:
        return file
    return serialize(model) if data is None else data
