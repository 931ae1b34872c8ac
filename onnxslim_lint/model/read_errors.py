"""The OSL0xx codes: why a file could not be checked at all.

These are not rules (nothing to select or fix); they are the reasons a file is
reported instead of linted. Each still has a code and a name so that every output
format can show it like a finding, as ruff does with E902.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["READ_ERRORS", "ReadErrorKind", "read_error"]


@dataclass(frozen=True)
class ReadErrorKind:
    code: str
    name: str
    summary: str


READ_ERRORS: dict[str, ReadErrorKind] = {
    kind.code: kind
    for kind in (
        ReadErrorKind("OSL001", "empty-file", "The file is empty."),
        ReadErrorKind("OSL002", "not-an-onnx-model", "The bytes are not an ONNX model."),
        ReadErrorKind("OSL003", "truncated-model", "The model file ends early."),
        ReadErrorKind(
            "OSL004",
            "git-lfs-pointer",
            "The file is a Git LFS pointer, not the model; `git lfs pull` fetches it.",
        ),
        ReadErrorKind("OSL005", "unreadable-file", "The path cannot be read as a file."),
        ReadErrorKind(
            "OSL006",
            "missing-external-data",
            "An external-data file is missing or shorter than the model says.",
        ),
        ReadErrorKind(
            "OSL007",
            "external-data-outside-model-folder",
            "An external-data path leaves the model's folder; it is never read.",
        ),
        ReadErrorKind(
            "OSL008",
            "unsupported-ir-version",
            "The model's IR version is newer than the installed onnx supports.",
        ),
        ReadErrorKind(
            "OSL009",
            "invalid-external-data",
            "External-data metadata that cannot be honoured (bad offset, length or key).",
        ),
        ReadErrorKind(
            "OSL010",
            "internal-error",
            "Checking or fixing the file failed in onnxslim-lint itself (please report it);"
            " the file is left unchanged.",
        ),
        ReadErrorKind(
            "OSL011",
            "invalid-tensor",
            "A tensor's data does not agree with its dims and data type, or its dims are"
            " impossible.",
        ),
        ReadErrorKind(
            "OSL012",
            "unknown-data-type",
            "A data type that is not one of ONNX's TensorProto.DataType values.",
        ),
        ReadErrorKind(
            "OSL013",
            "invalid-attribute",
            "An attribute's type is missing, or wrong for its operator, or not the one its"
            " value is stored as.",
        ),
        ReadErrorKind("OSL014", "invalid-utf8", "A name or other text field is not valid UTF-8."),
    )
}


def read_error(code: str) -> ReadErrorKind:
    return READ_ERRORS[code]
