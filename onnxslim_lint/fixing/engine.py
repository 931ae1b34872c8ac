"""The fix engine: the one way a model gets fixed, whoever asks.

The pipeline (``--fix``, ``--diff``), ``onnxslim_lint.fix`` and ``Rule.run`` all call
:func:`fix_model`, so each gives the same guarantees:

1. the fix loop (:mod:`onnxslim_lint.fixing.apply`) fixes a copy until nothing changes;
2. the gates, each run once: same interface, the full onnx checker, not larger;
3. verification in onnxruntime (unless the settings turn it off): bit-exact for
   exact fixes, within rtol/atol once a numeric fix is applied. A small single-file
   model goes to onnxruntime as its bytes; a model whose weights are still in data
   files, or one of :data:`VERIFY_FROM_FILES_BYTES` or more, as files: the original
   as loaded, the candidate in a private temporary folder outside the user's
   folders (beside hard links of the original's data files, or streamed to its own),
   removed afterwards;
4. when verification fails, the loop runs again without each applied rule in turn
   (numeric ones first) and the first result that passes every gate is kept,
   naming the rule left out.

The outcome carries a :class:`~onnxslim_lint.results.Verdict`; a refused fix has
no fixed model. The engine writes nothing: writing is the pipeline's stage.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import onnx

from onnxslim_lint.config import VerifySettings
from onnxslim_lint.findings import Finding, FixSafety
from onnxslim_lint.fixing.apply import FixLoopResult, apply_fixes
from onnxslim_lint.fixing.gates import refusal
from onnxslim_lint.fixing.verify import VerifyReport, verify_models
from onnxslim_lint.model.external_data import ExternalData
from onnxslim_lint.model.graphs import iter_tensors
from onnxslim_lint.model.index import ModelIndex
from onnxslim_lint.model.litter import remove_stale, temp_prefix
from onnxslim_lint.model.load import LoadedModel
from onnxslim_lint.model.tensors import data_nbytes
from onnxslim_lint.model.write import ModelWriteError, serialized_size, write_model
from onnxslim_lint.results import FixReport, Verdict
from onnxslim_lint.rules.base import DEFAULT_OPTIONS, Rule, RuleOptions

__all__ = ["VERIFY_FROM_FILES_BYTES", "FixOutcome", "FixPolicy", "count_nodes", "fix_model"]

#: A fixed model of this many bytes or more (data files included) is verified from
#: files, not from its bytes (protobuf cannot serialize 2 GiB). Module level so
#: tests can lower it.
VERIFY_FROM_FILES_BYTES = 2**31 - 1
# write_model's default size_threshold: smaller tensors are written inline.
_WRITE_INLINE_BELOW = 1024

#: Which findings the loop applies (the caller's choice: ``--fix`` applies exact
#: fixes, numeric ones with ``--unsafe-fixes``; ``Rule.run`` applies its rule's).
FixPolicy = Callable[[Finding], bool]


@dataclass
class FixOutcome:
    """What :func:`fix_model` did.

    ``report`` is None when no fix changed anything. ``model`` is the fixed model
    when the fix is accepted (None otherwise: nothing changed, or a gate or the
    verification refused it), ``fixed`` the findings whose fixes it holds and
    ``payload`` its serialized bytes when it is a single-file model (for the writer).
    """

    report: FixReport | None = None
    model: onnx.ModelProto | None = None
    fixed: list[Finding] = field(default_factory=list)
    payload: bytes | None = None
    verification: VerifyReport | None = None

    @property
    def verdict(self) -> Verdict | None:
        return None if self.report is None else self.report.verdict

    @property
    def accepted(self) -> bool:
        return self.model is not None


@dataclass(frozen=True)
class _Original:
    """The model being fixed, as the gates and verification need it."""

    model: onnx.ModelProto
    size: int  # bytes on disk (with external data), or serialized in memory
    serialized: bytes | None  # its bytes for onnxruntime (None: serialize when needed)
    external: bool  # written with external data
    target: Path | None  # where the fixed model would be written (its data file's name)
    file: Path | None = None  # the file it was loaded from (None: a model in memory)
    data: ExternalData | None = None  # the data files of weights still on disk
    source: Path | None = None  # the user's file (test data beside it is used to verify)

    @classmethod
    def of(cls, subject: LoadedModel | onnx.ModelProto, target: Path | None) -> _Original:
        if isinstance(subject, LoadedModel):
            external = subject.has_external_data
            serialized = None if external else subject.file_bytes
            return cls(
                subject.model,
                subject.total_size,
                serialized,
                external,
                target,
                subject.path if _runs_from_its_file(subject) else None,
                subject.external,
                subject.path,
            )
        payload = _serialize(subject)
        size = len(payload) if payload is not None else subject.ByteSize()
        return cls(subject, size, payload, False, target)


@dataclass
class _Attempt:
    """One fixed model judged: its report, its bytes and whether it may be kept."""

    loop: FixLoopResult
    report: FixReport
    payload: bytes | None
    verification: VerifyReport | None = None
    refused: bool = False


def count_nodes(model: onnx.ModelProto) -> int:
    """Nodes of the main graph and all its subgraphs."""
    return sum(1 for _ in ModelIndex.build(model).nodes())


def fix_model(
    subject: LoadedModel | onnx.ModelProto,
    rules: Sequence[Rule],
    policy: FixPolicy,
    verify: VerifySettings,
    *,
    plan_only: bool = False,
    path: str = "<model>",
    options: RuleOptions = DEFAULT_OPTIONS,
    target: Path | None = None,
    on_verify: Callable[[], None] | None = None,
) -> FixOutcome:
    """Fix ``subject`` (a loaded file or a model in memory) with ``rules``.

    ``policy`` picks the findings to fix; ``verify`` says how to verify
    (``enabled=False``: the gates only, verdict ``not-verified``). ``plan_only``
    (``--diff``) runs the gates and stops: verdict ``planned``. ``target`` is where
    the pipeline will write the result (the external data file's name counts in
    its size). ``on_verify`` is called as each verification in onnxruntime starts
    (the CLI's progress line). ``subject`` is never changed.
    """
    started = time.perf_counter()
    original = _Original.of(subject, target)
    loop = apply_fixes(
        original.model, rules, may_fix=policy, path=path, options=options, external=original.data
    )
    if not loop.changed:  # every fix found nothing left to do
        return FixOutcome()
    attempt = _judge(original, loop, verify, plan_only, on_verify)
    if attempt.report.verdict is Verdict.FAILED:
        # One rule's fix did not verify: the others may still be good.
        for code in _retry_order(loop, rules):
            retry = apply_fixes(
                original.model,
                [rule for rule in rules if rule.code != code],
                may_fix=policy,
                path=path,
                options=options,
                external=original.data,
            )
            if not retry.changed:
                continue
            second = _judge(original, retry, verify, plan_only, on_verify)
            if not second.refused:
                reason = attempt.report.reason
                second.report.left_out = f"{code} left out, its fix did not verify: {reason}"
                attempt = second
                break
    report = attempt.report
    report.seconds = time.perf_counter() - started
    if attempt.refused:
        if report.verdict in (Verdict.NOT_VERIFIED, Verdict.PLANNED):
            report.verdict = Verdict.REFUSED  # a gate refused it
        return FixOutcome(report, verification=attempt.verification)
    return FixOutcome(
        report, attempt.loop.model, attempt.loop.fixed, attempt.payload, attempt.verification
    )


def _judge(
    original: _Original,
    loop: FixLoopResult,
    verify: VerifySettings,
    plan_only: bool,
    on_verify: Callable[[], None] | None = None,
) -> _Attempt:
    """Run the gates and then the verification on one fixed model."""
    fixed = loop.model
    # A single-file model is serialized once, for its size, the checker,
    # onnxruntime and the write (each would otherwise serialize it again); not one
    # whose weights are on disk (data files, or left in place in its own file): its
    # serialization would hold only the weights' headers.
    payload = None if original.external or original.data is not None else _serialize(fixed)
    if payload is not None:
        size_after = len(payload)
    else:
        size_after = serialized_size(
            fixed, external=original.external, target=original.target, external_data=original.data
        )
    report = FixReport(
        nodes_before=count_nodes(original.model),
        nodes_after=count_nodes(fixed),
        size_before=original.size,
        size_after=size_after,
        applied=loop.applied,
        seconds=0.0,
        verdict=Verdict.NOT_VERIFIED,
    )
    attempt = _Attempt(loop, report, payload)
    notes: list[str] = []
    reason = refusal(
        original.model,
        fixed,
        serialized=payload,
        size_before=report.size_before,
        size_after=report.size_after,
        notes=notes,
    )
    if reason is None and notes and not verify.enabled:
        # Held to a lower checker level, only onnxruntime can vouch for the fix.
        reason = f"{notes[0]}; such a fix is kept only when verified (without --no-verify)"
    if reason is not None:
        report.reason = reason
        attempt.refused = True
    elif plan_only:
        report.verdict = Verdict.PLANNED
    elif verify.enabled:
        if on_verify is not None:
            on_verify()
        verdict = _verify(original, loop, verify, payload, size_after)
        attempt.verification = verdict
        report.verdict = verdict.verdict
        report.max_diff = verdict.max_diff
        report.reason = "; ".join([verdict.reason, *notes])
        attempt.refused = not verdict.passed
    return attempt


def _verify(
    original: _Original,
    loop: FixLoopResult,
    settings: VerifySettings,
    payload: bytes | None,
    size: int,
) -> VerifyReport:
    """Verify ``loop.model`` against the original, from bytes or from files (see the
    module docstring); the temporary folder is removed whatever happens."""
    fixed = loop.model
    if payload is not None and original.data is None and size < VERIFY_FROM_FILES_BYTES:
        return verify_models(
            original.model,
            fixed,
            settings,
            exact=loop.exact,
            fixed_bytes=payload,
            original_bytes=original.serialized,
            model_path=original.source,
            model_size=original.size,
        )
    folder: Path | None = None
    try:
        remove_stale(Path(tempfile.gettempdir()))  # folders of a killed run
        folder = Path(tempfile.mkdtemp(prefix=temp_prefix("verify")))
        linked = _link_data_files(original, fixed, folder)
        fixed_file = _candidate_file(original, fixed, folder, linked)
        original_file = None if original.serialized is not None else original.file
        if linked and original.data is not None and not original.external:
            # Weights left in the model's own file: onnxruntime reads the original's
            # from the linked file too, not from the whole file (which it would copy
            # into memory, and keep there while it runs the candidate).
            original_file = _skeleton_file(original.model, folder, "original") or original_file
        if original.serialized is None and original_file is None:
            original_file = write_model(
                original.model,
                folder / "original.onnx",
                external=original.external,
                external_data=original.data,
                durable=False,
            ).model_path
        return verify_models(
            original.model,
            fixed,
            settings,
            exact=loop.exact,
            original_bytes=original.serialized,
            original_file=original_file,
            fixed_file=fixed_file,
            model_path=original.source,
            model_size=original.size,
        )
    except (OSError, ModelWriteError) as exc:
        why = exc.reason if isinstance(exc, ModelWriteError) else exc.strerror or repr(exc)
        reason = f"cannot write the models for onnxruntime to a temporary folder: {why}"
        return VerifyReport(Verdict.COULD_NOT_VERIFY, 0.0, None, reason, settings.samples)
    finally:
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)


def _candidate_file(
    original: _Original, fixed: onnx.ModelProto, folder: Path, linked: bool
) -> Path:
    """The fixed model as a file in ``folder``, for onnxruntime.

    When the data files it refers to are ``linked`` into ``folder`` (the original
    runs from its own file), the fixed model (its graph and the weights' headers)
    is written beside them as it is: its weights still point at those files, and
    nothing is copied. Otherwise (another file system, no permission to link) it is
    written with :func:`write_model`, its weights streamed to a new data file.
    """
    if linked:
        path = _skeleton_file(fixed, folder, "fixed")
        if path is not None:
            return path
    return write_model(
        fixed,
        folder / "fixed.onnx",
        external=original.external,
        external_data=original.data,
        durable=False,  # a scratch copy: never worth a flush to disk
    ).model_path


def _skeleton_file(model: onnx.ModelProto, folder: Path, stem: str) -> Path | None:
    """``model`` as it is (weights on disk as headers) in a new file of ``folder``.

    A name no file there has: a model whose weights were left in its own file is
    linked into ``folder`` as its own data file (it may be called ``fixed.onnx``),
    and writing through a hard link would write the user's file.
    """
    payload = _serialize(model)
    if payload is None:
        return None
    names = (f"{stem}.onnx", *(f"{stem}-{n}.onnx" for n in range(1, 1000)))
    path = next(folder / name for name in names if not os.path.lexists(folder / name))
    with open(path, "xb") as handle:
        handle.write(payload)
    return path


def _link_data_files(original: _Original, fixed: onnx.ModelProto, folder: Path) -> bool:
    """Hard-link each data file ``fixed`` refers to into ``folder`` under its location;
    False when one is not a data file checked at load or cannot be linked."""
    if original.file is None or original.data is None:
        return False
    checked = set(original.data.files)
    locations = {
        entry.value
        for tensor, _ in iter_tensors(fixed)
        if tensor.data_location == onnx.TensorProto.EXTERNAL
        for entry in tensor.external_data
        if entry.key == "location"
    }
    try:
        for location in sorted(locations):
            source = Path(os.path.realpath(original.file.parent / location))
            if source not in checked or os.path.isabs(location) or ".." in Path(location).parts:
                return False
            link = folder / location
            link.parent.mkdir(parents=True, exist_ok=True)
            os.link(source, link)
    except OSError:
        return False
    return True


def _runs_from_its_file(loaded: LoadedModel) -> bool:
    """Can onnxruntime load the model from its own file, data files and all?

    Not when a small tensor is external: onnxruntime's shape inference cannot read
    an external constant (a Reshape's shape, say), so such a model is written
    again for it, small tensors inline (as :func:`write_model` writes them).
    """
    if not loaded.has_external_data:
        return True
    if loaded.file_bytes is None:
        return False
    as_stored = onnx.ModelProto.FromString(loaded.file_bytes)  # the file: a few kB
    return all(
        (data_nbytes(tensor) or 0) >= _WRITE_INLINE_BELOW
        for tensor, _ in iter_tensors(as_stored)
        if tensor.data_location == onnx.TensorProto.EXTERNAL
    )


def _retry_order(loop: FixLoopResult, rules: Sequence[Rule]) -> list[str]:
    """The applied rules to leave out after a failed verification: numeric ones first
    (their fixes change values by design), then the others, last-registered first."""
    applied = {finding.code for finding in loop.fixed}
    numeric = {f.code for f in loop.fixed if f.safety is not FixSafety.EXACT}
    order = [rule.code for rule in reversed(rules) if rule.code in applied]
    return sorted(order, key=lambda code: code not in numeric)


def _serialize(model: onnx.ModelProto) -> bytes | None:
    try:
        return model.SerializeToString()
    except (ValueError, OverflowError):  # over protobuf's 2 GiB: the checker says why
        return None
