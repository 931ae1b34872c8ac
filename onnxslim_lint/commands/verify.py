"""``onnxslim-lint verify ORIGINAL FIXED``: compare two models' outputs."""

from __future__ import annotations

import argparse
from pathlib import Path

from onnxslim_lint.config import VerifySettings
from onnxslim_lint.errors import ModelReadError, UsageError
from onnxslim_lint.fixing.gates import check_interface
from onnxslim_lint.fixing.verify import verify_models
from onnxslim_lint.model.load import load_model

__all__ = ["run_verify"]


def run_verify(args: argparse.Namespace) -> int:
    if args.samples < 1:
        raise UsageError("--samples must be at least 1")
    try:
        original = load_model(Path(args.original)).model
        fixed = load_model(Path(args.fixed)).model
    except ModelReadError as exc:
        print(f"{exc.path}: {exc.code} {exc.reason}")
        return 2
    problem = check_interface(original, fixed)
    if problem is not None:
        print(f"failed: the interfaces differ: {problem}")
        return 1
    settings = VerifySettings(samples=args.samples, seed=args.seed, rtol=args.rtol, atol=args.atol)
    report = verify_models(original, fixed, settings, exact=args.exact)
    print(f"{report.verdict}: {report.reason} (max diff {report.max_diff:.3g})")
    return 0 if report.passed else 1
