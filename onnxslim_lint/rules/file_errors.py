"""What the OSL0xx file-error codes mean and what to do about them.

The codes and their one-line summaries live with the reader that raises them
(:mod:`onnxslim_lint.model.read_errors`); this is their documentation, printed by
``onnxslim-lint rule OSL004`` and written to docs/rules/ like a rule's.
"""

from __future__ import annotations

from onnxslim_lint.model.read_errors import ReadErrorKind

__all__ = ["FILE_ERROR_HELP", "file_error_explanation"]

_SELECTION = (
    "## Selecting and ignoring it\n"
    "File errors are reported whatever `select` says, and the run exits 2. An\n"
    "`ignore` or a `per-file-ignores` entry that names this code (or `OSL0`) turns\n"
    "it into a warning on stderr: the file is skipped and the run does not fail\n"
    "because of it. `ALL` and `OSL` in an ignore list do not count."
)

#: code -> (what happened, what to do)
FILE_ERROR_HELP: dict[str, tuple[str, str]] = {
    "OSL001": (
        "The file has no bytes at all, so there is no model to check.",
        "An interrupted export or download usually leaves an empty file. Export or\n"
        "fetch the model again, or delete the file.",
    ),
    "OSL002": (
        "The bytes do not parse as an ONNX `ModelProto`: the file is something else\n"
        "(an archive, a PyTorch checkpoint, text) saved with an `.onnx` name.",
        "Check what wrote the file; export it with `torch.onnx.export` or your\n"
        "framework's ONNX exporter, or rename it if it is not a model.",
    ),
    "OSL003": (
        "The protobuf ends in the middle of a field: the file was cut short.",
        "A copy or download that stopped early does this. Fetch or export the model\n"
        "again and compare its size with the original.",
    ),
    "OSL004": (
        "The file is a Git LFS pointer (a few lines starting with\n"
        "`version https://git-lfs.github.com/spec/v1`) committed or checked out in place\n"
        "of the model.",
        "Run `git lfs install` and `git lfs pull` to get the model itself. In CI, check\n"
        "out with LFS (`actions/checkout` with `lfs: true`). Committed by mistake:\n"
        "`git lfs install` before `git add`, so that the model goes to LFS.",
    ),
    "OSL005": (
        "The path cannot be read as a regular file: it is a directory named `*.onnx`,\n"
        "a broken symlink, or the file is not readable.",
        "Rename the directory, fix the symlink, or the file's permissions; or add the\n"
        "path to `exclude`.",
    ),
    "OSL006": (
        "The model keeps tensors in an external-data file that is missing, or shorter\n"
        "than the offsets and lengths the model records.",
        "Keep the data file next to the model under the name the model records (and,\n"
        "with Git LFS, pull it too); re-export if the data file was lost.",
    ),
    "OSL007": (
        "An external-data location is absolute, contains `..`, or leaves the model's\n"
        "folder through a symlink. Such a path is never read: a model file must not\n"
        "make the tool read files elsewhere on the machine.",
        "Save the model with its data files in its own folder, with relative\n"
        "locations (`onnx.save(..., save_as_external_data=True, location=...)`).",
    ),
    "OSL008": (
        "The model's IR version is newer than the installed onnx package reads.",
        "Upgrade onnx (`pip install -U onnx`), or export with an older IR version.",
    ),
    "OSL009": (
        "External-data metadata that cannot be honoured: an offset or length that is\n"
        "negative, not a number, or past the end of the data file, or an unknown key.",
        "Re-save the model with onnx's external-data helpers; hand-edited or\n"
        "partially rewritten metadata is the usual cause.",
    ),
    "OSL010": (
        "Checking or fixing the file failed inside onnxslim-lint itself. The file is\n"
        "left unchanged and the other files are still checked.",
        "Please report it with the message; `ONNXSLIM_LINT_DEBUG=1` prints the\ntraceback.",
    ),
    "OSL011": (
        "A tensor's data does not agree with its dims and data type (too few or too\n"
        "many bytes or elements), or its dims are impossible (negative).",
        "The model is corrupt or was written by a buggy tool; export it again.",
    ),
    "OSL012": (
        "A tensor or type annotation uses a data type number that is not one of\n"
        "ONNX's `TensorProto.DataType` values.",
        "The model is corrupt, or needs a newer onnx that knows the type\n(`pip install -U onnx`).",
    ),
    "OSL013": (
        "An attribute's type is missing, wrong for its operator, or not the field\n"
        "its value is stored in.",
        "The model was written by a buggy tool; export it again, or fix the attribute\n"
        "with onnx's helpers.",
    ),
    "OSL014": (
        "A name, doc string or other text field is not valid UTF-8, which the ONNX\n"
        "format requires.",
        "Export again; names that come from user data are the usual cause.",
    ),
}


def file_error_explanation(kind: ReadErrorKind) -> str:
    what, fix = FILE_ERROR_HELP[kind.code]
    return (
        f"## What it means\n{kind.summary}\n\n{what}\n\n## How to fix it\n{fix}\n\n{_SELECTION}\n"
    )
