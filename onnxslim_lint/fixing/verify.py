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
    The original itself cannot be run here (custom op without its library,
    unsupported type, inputs nothing could guess, ...), so nothing can be proven
    either way.

Inputs come from the user when given (:mod:`~onnxslim_lint.fixing.samples`), else
they are generated; when the original does not run on the generated ones, other
dims and values are tried (:func:`~onnxslim_lint.fixing.inputs.alternative_plans`)
before giving up. Every onnxruntime session runs in a child process with a time
and memory limit (:mod:`~onnxslim_lint.fixing.isolation`): a crash, a hang or an
allocation without end there is a verdict here. Model problems never raise.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx

from onnxslim_lint.config import VerifySettings
from onnxslim_lint.fixing.compare import Comparison, compare
from onnxslim_lint.fixing.gates import check_interface, first_line
from onnxslim_lint.fixing.inputs import (
    CannotVerify,
    InputPlan,
    InputSpec,
    alternative_plans,
    feeds,
    plan_inputs,
)
from onnxslim_lint.fixing.isolation import ChildFailure, default_limits, run_isolated
from onnxslim_lint.fixing.runner import Runner, custom_op_libraries, custom_ops, serialize
from onnxslim_lint.fixing.samples import Sample, user_samples
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
    model_path: Path | None = None,
    model_size: int | None = None,
) -> VerifyReport:
    """Run both models in onnxruntime on the same inputs and compare outputs.

    The interface must be identical (see :func:`check_interface`), otherwise the
    verdict is ``failed``. Outputs that depend on a random op are compared by dtype
    and shape only. With ``exact`` finite floats must be bit-identical.
    ``fixed_bytes`` and ``original_bytes``, when given, are the models already
    serialized; ``fixed_file`` and ``original_file`` are files onnxruntime loads
    the models from instead (with their external data: a model whose weights are
    in data files is never serialized whole). ``model_path`` is the user's file
    (``test_data_set_*`` beside it are used as samples); ``model_size`` its bytes,
    which size the default time and memory limits.
    """
    if not isinstance(settings, VerifySettings):
        raise TypeError(f"expected VerifySettings, got {type(settings).__name__}")

    def report(verdict: Verdict, reason: str, samples: int = settings.samples) -> VerifyReport:
        return VerifyReport(verdict, 0.0, None, reason, samples)

    interface = check_interface(original, fixed)
    if interface is not None:
        return report(Verdict.FAILED, f"the interface changed: {interface}")

    try:
        given = user_samples(original, settings, model_path)
        specs = plan_inputs(original, settings)
        plans = [InputPlan(tuple(specs))]
        if not given:
            plans += alternative_plans(original, settings, specs)
    except CannotVerify as exc:
        return report(Verdict.COULD_NOT_VERIFY, str(exc))

    original_data = _source(original, original_bytes, original_file)
    if isinstance(original_data, str):
        return report(Verdict.COULD_NOT_VERIFY, f"original: {original_data}")
    fixed_data = _source(fixed, fixed_bytes, fixed_file)
    if isinstance(fixed_data, str):
        return report(Verdict.COULD_NOT_VERIFY, f"fixed model: {fixed_data}")

    job = _Job(
        original=original_data,
        fixed=fixed_data,
        names=[o.name for o in original.graph.output],
        random=random_outputs(original) | random_outputs(fixed),
        plans=plans,
        given=given,
        settings=settings,
        exact=exact,
        libraries=custom_op_libraries(original, settings.custom_op_libraries),
        custom=custom_ops(original),
    )
    if model_size is None:
        model_size = (
            len(original_data) if isinstance(original_data, bytes) else _file_size(original)
        )
    limits = default_limits(model_size, settings.timeout, settings.memory_limit)
    _warm_up()
    outcome = run_isolated(job.run, limits)
    if isinstance(outcome, ChildFailure):
        return _failure_report(outcome, settings)
    return outcome


def _failure_report(failure: ChildFailure, settings: VerifySettings) -> VerifyReport:
    """The verdict on a child that crashed, hung or ran out of memory: the fixed
    model's fault when the original had run through, else nothing is proven."""
    key = {"timeout": " (verify.timeout)", "memory": " (verify.memory-limit)"}.get(failure.kind, "")
    if failure.phase == "fixed":
        verdict, subject = Verdict.FAILED, "the fixed model"
    else:
        verdict, subject = Verdict.COULD_NOT_VERIFY, "the original model"
    if failure.kind == "error":
        reason = f"the verifier failed on {subject}: {failure.detail}"
    else:
        reason = f"onnxruntime {failure.detail}{key} running {subject}"
    return VerifyReport(verdict, 0.0, None, reason, settings.samples)


def _warm_up() -> None:
    """Import onnxruntime here, before forking, so each child has it already."""
    import onnxruntime  # noqa: F401


def _file_size(model: onnx.ModelProto) -> int:
    return model.ByteSize()


@dataclass
class _Job:
    """The onnxruntime part of a verification, run in the child process.

    The original runs first, on every sample (and, when it does not run on the
    configured plan, on the alternative ones until one runs); then the fixed model
    runs on the same feeds and is compared. One session at a time: two sessions
    of a large model side by side would hold its weights twice.
    """

    original: bytes | Path
    fixed: bytes | Path
    names: list[str]
    random: set[str]
    plans: list[InputPlan]
    given: list[Sample]
    settings: VerifySettings
    exact: bool
    libraries: list[str]
    custom: list[str]

    def run(self, announce: Callable[[str], None]) -> VerifyReport:
        announce("original")
        try:
            session = Runner(self.original, self.libraries)
        except Exception as exc:  # any onnxruntime failure is a verdict, not a crash
            return self._report(
                Verdict.COULD_NOT_VERIFY,
                f"onnxruntime cannot load the original model: {self._why(exc)}",
            )
        found = self._original_runs(session)
        if isinstance(found, VerifyReport):
            return found
        feed_of, expected_runs, note = found
        n = len(expected_runs)
        del session

        announce("fixed")
        try:
            session = Runner(self.fixed, self.libraries)
        except Exception as exc:
            return self._report(
                Verdict.FAILED, f"the fixed model does not run: {self._why(exc)}", n
            )
        max_diff = 0.0
        for sample, expected in enumerate(expected_runs):
            try:
                actual = session.run(self.names, feed_of(sample))
            except CannotVerify as exc:
                return self._report(Verdict.COULD_NOT_VERIFY, str(exc), n)
            except Exception as exc:
                return self._report(
                    Verdict.FAILED,
                    f"the fixed model does not run (sample {sample}): {first_line(exc)}",
                    n,
                )
            failure = self._compare(expected, actual, sample)
            if isinstance(failure, VerifyReport):
                return failure
            max_diff = max(max_diff, failure)

        compared = len(self.names) - len(self.random & set(self.names))
        plural = "s" if compared != 1 else ""
        reason = f"{n} sample{'s' if n != 1 else ''}, {compared} output{plural} compared"
        shape_only = len(self.names) - compared
        if shape_only:
            reason += f", {shape_only} random-dependent checked by dtype and shape only"
        if note:
            reason += f"; {note}"
        return VerifyReport(Verdict.PASSED, max_diff, None, reason, n)

    def _original_runs(
        self, session: Runner
    ) -> tuple[Callable[[int], dict[str, np.ndarray]], list[list[Any]], str] | VerifyReport:
        """The feeds, the original's outputs on them, and a note on where the inputs
        came from; or the report of why the original does not run."""
        settings = self.settings
        if self.given:
            feeds_used = [
                _given_feed(s, self.plans[0].specs, settings.seed + i)
                for i, s in enumerate(self.given)
            ]
            outputs = []
            for given, feed in zip(self.given, feeds_used, strict=True):
                try:
                    got = session.run(self.names, feed)
                except CannotVerify as exc:
                    return self._report(Verdict.COULD_NOT_VERIFY, str(exc))
                except Exception as exc:
                    return self._report(
                        Verdict.COULD_NOT_VERIFY,
                        f"the original model does not run on {given.label}: {self._why(exc)}",
                    )
                if given.expected is not None:
                    mismatch = _check_expected(self.names, given, got)
                    if mismatch is not None:
                        return self._report(Verdict.COULD_NOT_VERIFY, mismatch)
                outputs.append(got)
            labels = [s.label for s in self.given]
            source = labels[0] if len(labels) == 1 else f"{labels[0]} .. {labels[-1]}"
            return feeds_used.__getitem__, outputs, f"inputs from {source}"

        first_error = ""
        for number, plan in enumerate(self.plans):
            try:
                first = session.run(self.names, feeds(plan.specs, settings.seed))
            except CannotVerify as exc:
                return self._report(Verdict.COULD_NOT_VERIFY, str(exc))
            except Exception as exc:
                if number == 0:
                    first_error = self._why(exc)
                continue
            specs = plan.specs

            def generated(index: int, specs: Sequence[InputSpec] = specs) -> dict[str, np.ndarray]:
                return feeds(specs, settings.seed + index)

            outputs = [first]
            for sample in range(1, settings.samples):
                try:
                    outputs.append(session.run(self.names, generated(sample)))
                except CannotVerify as exc:
                    return self._report(Verdict.COULD_NOT_VERIFY, str(exc))
                except Exception as exc:
                    return self._report(
                        Verdict.COULD_NOT_VERIFY,
                        f"the original model does not run on generated inputs "
                        f"(sample {sample}{_with(plan)}): {first_line(exc)}",
                    )
            note = f"inputs with {plan.note} (the configured ones do not run)" if plan.note else ""
            return generated, outputs, note
        tried = len(self.plans)
        hint = _hint(self.plans[0].specs)
        more = f" (nor on {tried - 1} other dims and values tried)" if tried > 1 else ""
        return self._report(
            Verdict.COULD_NOT_VERIFY,
            f"the original model does not run on generated inputs{more}: {first_error}; {hint}",
        )

    def _compare(
        self, expected: Sequence[Any], actual: Sequence[Any], sample: int
    ) -> float | VerifyReport:
        """The largest difference on one sample, or the report of a failure."""
        failures: list[tuple[str, Comparison]] = []
        max_diff = 0.0
        for name, a, b in zip(self.names, expected, actual, strict=True):
            cmp = compare(a, b, self.settings, self.exact, shape_only=name in self.random)
            if cmp.unsupported:
                return VerifyReport(
                    Verdict.COULD_NOT_VERIFY,
                    max_diff,
                    None,
                    f"output {name!r}: {cmp.detail}",
                    sample + 1,
                )
            max_diff = max(max_diff, cmp.max_diff)
            if not cmp.ok:
                failures.append((name, cmp))
        if not failures:
            return max_diff
        structural = [f for f in failures if f[1].structural]
        name, cmp = structural[0] if structural else max(failures, key=lambda f: f[1].max_diff)
        others = len(failures) - 1
        more = f" (and {others} other output{'s' if others > 1 else ''})" if others else ""
        return VerifyReport(
            Verdict.FAILED,
            max_diff,
            name,
            f"output {name!r} differs: {cmp.detail}, sample {sample}{more}",
            sample + 1,
        )

    def _report(self, verdict: Verdict, reason: str, samples: int | None = None) -> VerifyReport:
        return VerifyReport(verdict, 0.0, None, reason, samples or self.settings.samples)

    def _why(self, exc: BaseException) -> str:
        """onnxruntime's message, with what to do when a custom op has no kernel."""
        text = first_line(exc)
        missing = (
            "is not a registered function/op" in text or "Could not find an implementation" in text
        )
        if missing and self.custom:
            ops = ", ".join(self.custom[:5]) + (", ..." if len(self.custom) > 5 else "")
            text += (
                f" (custom ops {ops} need their onnxruntime library: set verify.custom-op-libraries"
            )
            text += ")" if self.libraries else ", or install onnxruntime-extensions)"
        return text


def _with(plan: InputPlan) -> str:
    return f", {plan.note}" if plan.note else ""


def _hint(specs: Sequence[InputSpec]) -> str:
    names = ", ".join(repr(spec.name) for spec in specs) or "none"
    return (
        f"give the inputs ({names}) with shapes/values in a "
        "[[tool.onnxslim-lint.verify.overrides]] entry, verify.inputs, or a "
        "test_data_set_0/ beside the model"
    )


def _given_feed(sample: Sample, specs: Sequence[InputSpec], seed: int) -> dict[str, np.ndarray]:
    """A given sample's arrays, and generated ones for the inputs it leaves out."""
    generated = feeds([spec for spec in specs if spec.name not in sample.inputs], seed)
    out: dict[str, np.ndarray] = {}
    for spec in specs:
        if spec.name in sample.inputs:
            array = sample.inputs[spec.name]
            out[spec.name] = array.astype(object) if array.dtype.kind in "SU" else array
        else:
            out[spec.name] = generated[spec.name]
    return out


# The original must reproduce the outputs stored with its test data this closely:
# they were computed elsewhere (another runtime, another CPU), so looser than the
# original-versus-fixed comparison.
_EXPECTED_RTOL = 1e-3
_EXPECTED_ATOL = 1e-4


def _check_expected(names: Sequence[str], sample: Sample, got: Sequence[Any]) -> str | None:
    assert sample.expected is not None
    for position, (name, want, have) in enumerate(zip(names, sample.expected, got, strict=True)):
        have_array = np.asarray(have)
        if have_array.shape != want.shape:
            return (
                f"the original's output {name!r} has shape {list(have_array.shape)}, but "
                f"{sample.label}/output_{position}.pb has {list(want.shape)}"
            )
        if want.dtype.kind in "fc":
            ok = np.allclose(
                have_array, want, rtol=_EXPECTED_RTOL, atol=_EXPECTED_ATOL, equal_nan=True
            )
        else:
            ok = np.array_equal(have_array, want)
        if not ok:
            return (
                f"the original's output {name!r} does not match "
                f"{sample.label}/output_{position}.pb, so the test data cannot prove anything"
            )
    return None


def _source(model: onnx.ModelProto, data: bytes | None, file: Path | None) -> bytes | Path | str:
    """What onnxruntime loads a model from: its file, its bytes, or the model
    serialized now (a str: why it cannot be)."""
    if file is not None:
        return file
    return serialize(model) if data is None else data
