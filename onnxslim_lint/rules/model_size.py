"""OSL301 model-size."""

from __future__ import annotations

from onnxslim_lint.findings import Finding, FixAvailability
from onnxslim_lint.rules.base import CheckContext, Rule


class ModelSize(Rule):
    """
    ## What it does
    Reports a model whose size on disk is above the maximum configured for it: the
    ``.onnx`` file plus every external-data file it references. A Git LFS pointer
    counts as the size its ``size`` line names.

    ## Why is this bad?
    A model that quietly doubles in size costs download time, disk and memory for
    everyone who uses it. A budget in the repository makes the growth visible in the
    commit or pull request that causes it.

    ## Configuration
    Nothing is reported until a maximum is set:

    ```toml
    [tool.onnxslim-lint.budget]
    max-size = "50 MB"          # bytes as an integer, or "500 kB", "1.5 GB", "2 GiB"
    message = "ask #ml-infra"   # optional: shown at the end of the finding

    [tool.onnxslim-lint.budget.per-file]
    "models/asr/*.onnx" = { max-size = "400 MB" }
    ```

    Per-file globs are matched like ``per-file-ignores``; when several match, the
    later entry wins key by key (``message`` too).

    ## Example
    With ``max-size = "10 MB"``, a 12.3 MB ``encoder.onnx`` is reported as
    "model is 12.3 MB, 2.3 MB above the 10.0 MB budget".

    ## Fix
    None: run ``onnxslim-lint --fix`` to remove dead weight, raise the budget, or
    shrink the model (quantization, pruning).
    """

    code = "OSL301"
    name = "model-size"
    summary = "A model above its configured maximum size"
    availability = FixAvailability.NONE

    def check(self, ctx: CheckContext) -> list[Finding]:
        """Nothing to see in the graph: the budget stage measures the files."""
        return []
