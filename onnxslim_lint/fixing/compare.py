"""How verification compares one output of both models.

Tensors must agree in dtype and shape; then integers, booleans and strings must be
equal, and floats bit-identical (``exact``) or within ``atol + rtol * |expected|``.
NaN positions must agree, and so must the positions and signs of infinities.
Sequences and maps are compared element by element; an output that depends on a
random op is compared by dtype and shape only (``shape_only``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, SupportsInt

import numpy as np

from onnxslim_lint.config import VerifySettings

__all__ = ["Comparison", "compare"]


@dataclass
class Comparison:
    """One output compared: whether it matched, the largest difference, and why not."""

    ok: bool = True
    max_diff: float = 0.0
    detail: str = ""
    structural: bool = False  # dtype/shape/type mismatch rather than different values
    unsupported: bool = False


def _fmt_index(index: tuple[SupportsInt, ...]) -> str:
    return "[" + ", ".join(str(int(i)) for i in index) + "]"


def _fmt_value(value: Any) -> str:
    if isinstance(value, (np.floating, float)) or type(value).__name__ == "bfloat16":
        return f"{float(value):.9g}"
    if isinstance(value, (np.integer, np.bool_)):
        return str(value.item())
    return repr(value)


def _is_float(dtype: np.dtype) -> bool:
    return dtype.kind == "f" or dtype.name == "bfloat16"


def compare(
    orig: Any, fixed: Any, settings: VerifySettings, exact: bool, shape_only: bool
) -> Comparison:
    """Compare one output value (ndarray, list, dict or None) of both models."""
    if isinstance(orig, np.ndarray) and isinstance(fixed, np.ndarray):
        return _compare_arrays(orig, fixed, settings, exact, shape_only)
    if orig is None and fixed is None:
        return Comparison()
    scalars = (bool, int, float, str, np.generic)
    if isinstance(orig, scalars) and isinstance(fixed, scalars):
        # The values of a map output (ZipMap's class probabilities) come as Python
        # scalars: compared as the 0-d tensors they are.
        return _compare_arrays(np.asarray(orig), np.asarray(fixed), settings, exact, shape_only)
    if isinstance(orig, list) and isinstance(fixed, list):
        if len(orig) != len(fixed):
            return Comparison(
                False, detail=f"sequence length {len(orig)} vs {len(fixed)}", structural=True
            )
        return _combine(
            (f"[{i}]", compare(a, b, settings, exact, shape_only))
            for i, (a, b) in enumerate(zip(orig, fixed, strict=True))
        )
    if isinstance(orig, dict) and isinstance(fixed, dict):
        if set(orig) != set(fixed):
            return Comparison(False, detail="map keys differ", structural=True)
        return _combine(
            (f"[{k!r}]", compare(orig[k], fixed[k], settings, exact, shape_only)) for k in orig
        )
    known = (np.ndarray, list, dict, type(None))
    if isinstance(orig, known) and isinstance(fixed, known):
        return Comparison(
            False,
            detail=f"{_kind(orig)} in the original but {_kind(fixed)} in the fixed model",
            structural=True,
        )
    return Comparison(
        False, unsupported=True, detail=f"cannot compare values of type {_kind(orig)}"
    )


def _kind(value: Any) -> str:
    if value is None:
        return "an empty optional"
    if isinstance(value, np.ndarray):
        return "a tensor"
    if isinstance(value, list):
        return "a sequence"
    if isinstance(value, dict):
        return "a map"
    return type(value).__name__


def _combine(parts: Iterable[tuple[str, Comparison]]) -> Comparison:
    """Merge element comparisons of a sequence or map: first failure wins the detail."""
    total = Comparison()
    for where, cmp in parts:
        total.max_diff = max(total.max_diff, cmp.max_diff)
        if total.ok and not cmp.ok:
            total.ok = False
            total.detail = f"element {where}: {cmp.detail}"
            total.structural = cmp.structural
            total.unsupported = cmp.unsupported
    return total


def _compare_arrays(
    orig: np.ndarray, fixed: np.ndarray, settings: VerifySettings, exact: bool, shape_only: bool
) -> Comparison:
    if orig.dtype != fixed.dtype:
        return Comparison(False, detail=f"dtype {orig.dtype} vs {fixed.dtype}", structural=True)
    if orig.shape != fixed.shape:
        return Comparison(False, detail=f"shape {orig.shape} vs {fixed.shape}", structural=True)
    if shape_only:
        return Comparison()
    dtype = orig.dtype
    if dtype.kind == "c":
        real = np.float32 if dtype == np.complex64 else np.float64
        orig = np.stack([orig.real, orig.imag], axis=-1).astype(real)
        fixed = np.stack([fixed.real, fixed.imag], axis=-1).astype(real)
        dtype = orig.dtype
    if _is_float(dtype):
        return _compare_floats(orig, fixed, settings, exact)
    if dtype.kind in "iub":
        differ = orig != fixed
        if not differ.any():
            return Comparison()
        o64 = orig.astype(np.float64)
        f64 = fixed.astype(np.float64)
        diff = np.abs(o64 - f64)
        worst = np.unravel_index(int(np.argmax(diff)), orig.shape)
        return Comparison(
            False,
            max_diff=float(diff[worst]),
            detail=(
                f"{int(differ.sum())} of {orig.size} values differ, max abs diff "
                f"{_fmt_value(diff[worst])} at {_fmt_index(worst)} "
                f"({_fmt_value(orig[worst])} vs {_fmt_value(fixed[worst])})"
            ),
        )
    if dtype.kind in "OUS":
        differ = np.asarray(orig != fixed, dtype=bool)
        if not differ.any():
            return Comparison()
        first = np.unravel_index(int(np.argmax(differ)), orig.shape)
        return Comparison(
            False,
            detail=(
                f"{int(differ.sum())} of {orig.size} values differ, first at {_fmt_index(first)} "
                f"({orig[first]!r} vs {fixed[first]!r})"
            ),
        )
    return Comparison(False, unsupported=True, detail=f"cannot compare dtype {dtype}")


def _compare_floats(
    orig: np.ndarray, fixed: np.ndarray, settings: VerifySettings, exact: bool
) -> Comparison:
    o64 = orig.astype(np.float64)
    f64 = fixed.astype(np.float64)
    o_nan, f_nan = np.isnan(o64), np.isnan(f64)
    # NaN positions must agree; then inf positions and signs must agree.
    bad = (o_nan != f_nan) | ((np.isinf(o64) | np.isinf(f64)) & ~o_nan & ~f_nan & (o64 != f64))
    if bad.any():
        where = np.unravel_index(int(np.argmax(bad)), orig.shape)
        a, b = o64[where], f64[where]
        return Comparison(
            False,
            max_diff=math.inf,
            detail=f"{_fmt_value(a)} vs {_fmt_value(b)} at {_fmt_index(where)}",
        )
    finite = np.isfinite(o64)  # same positions in both now
    positions = np.flatnonzero(finite)
    o_fin = o64.reshape(-1)[positions]
    f_fin = f64.reshape(-1)[positions]
    with np.errstate(over="ignore", invalid="ignore"):
        diff = np.abs(o_fin - f_fin)
    max_diff = float(diff.max()) if diff.size else 0.0
    if exact:
        bits = f"u{orig.dtype.itemsize}"
        wrong = orig.reshape(-1).view(bits)[positions] != fixed.reshape(-1).view(bits)[positions]
        label = "not bit-identical (exact)"
    else:
        with np.errstate(over="ignore", invalid="ignore"):
            wrong = diff > settings.atol + settings.rtol * np.abs(o_fin)
        label = f"rtol {settings.rtol:g}, atol {settings.atol:g}"
    if not wrong.any():
        return Comparison(max_diff=max_diff)
    k = int(np.argmax(np.where(wrong, diff, -1.0)))
    where = np.unravel_index(int(positions[k]), orig.shape)
    return Comparison(
        False,
        max_diff=max_diff,
        detail=(
            f"max abs diff {max_diff:.3g}, worst at {_fmt_index(where)} "
            f"({_fmt_value(o64[where])} vs {_fmt_value(f64[where])}) ({label})"
        ),
    )
