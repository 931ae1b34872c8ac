"""The exceptions onnxslim-lint raises on purpose.

Every failure a user can cause (bad arguments, bad config, a file that is not a
readable model) is an :class:`OnnxLintError`. The CLI turns them into one line
and an exit code; nothing else in the package prints or exits.
"""

from __future__ import annotations

from pathlib import Path

__all__ = [
    "ConfigError",
    "ModelReadError",
    "OnnxLintError",
    "UsageError",
]


class OnnxLintError(Exception):
    """Base of every error that is reported to the user as one line."""


class UsageError(OnnxLintError):
    """Bad command-line usage: unknown rule selector, wrong option combination."""


class ConfigError(OnnxLintError):
    """A configuration file that cannot be used: unknown key, wrong type, bad TOML."""


class ModelReadError(OnnxLintError):
    """A file that cannot be checked as an ONNX model.

    ``code`` is the OSL0xx code of the reason (see :mod:`onnxslim_lint.model.read_errors`),
    so the file shows up in the report like any other finding.
    """

    def __init__(self, code: str, path: Path | str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.code = code
        self.path = Path(path)
        self.reason = reason
