"""onnxslim-lint: lint and fix ONNX model files.

``import onnxslim_lint`` is cheap: the API functions load what they need when called,
and onnxruntime is imported only to verify.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"
__all__ = ["__version__", "check", "fix", "verify"]


def __getattr__(name: str) -> Any:
    if name in ("check", "fix", "verify", "ModelFix"):
        from onnxslim_lint import api

        return getattr(api, name)
    raise AttributeError(f"module 'onnxslim_lint' has no attribute {name!r}")
