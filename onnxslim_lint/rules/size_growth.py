"""OSL302 size-growth."""

from __future__ import annotations

from onnxslim_lint.findings import Finding, FixAvailability
from onnxslim_lint.rules.base import CheckContext, Rule


class SizeGrowth(Rule):
    """
    ## What it does
    With ``--base REF``, compares each model's size with its size at ``REF`` (the
    merge base of ``REF`` and ``HEAD`` when there is one) and reports a model that
    grew by more than the configured amount or percentage. The base is read with
    git; a model that is a Git LFS pointer at the base is measured by the pointer's
    ``size`` line, so nothing is downloaded.

    A model that does not exist at the base is reported as new when its size is
    above ``max-growth`` (a percentage of nothing means nothing).

    ## Why is this bad?
    An exporter upgrade, a forgotten ``keep_initializers_as_inputs`` or a weight
    stored twice can grow a model by megabytes in a change that touches no model
    code. The growth is easy to miss in review and expensive for every user.

    ## Configuration
    Nothing is reported until a limit is set, and only with ``--base``:

    ```toml
    [tool.onnxslim-lint.budget]
    max-growth = "1 MB"         # bytes, or a string with a unit
    max-growth-percent = 5      # percent of the size at the base
    message = "ask #ml-infra"   # optional: shown at the end of the finding

    [tool.onnxslim-lint.budget.per-file]
    "models/experimental/**" = { max-growth-percent = 50 }
    ```

    A model breaks the budget when it grew by more than either limit.

    ## Example
    ``onnxslim-lint --base origin/main models/`` with ``max-growth-percent = 5``
    reports ``encoder.onnx`` going from 10.0 MB to 12.0 MB as "model grew by 2.0 MB
    (+20.0%) against origin/main, above the 5% budget".

    ## Fix
    None: remove dead weight with ``onnxslim-lint --fix``, or raise the budget in the
    same pull request so the growth is reviewed.
    """

    code = "OSL302"
    name = "size-growth"
    summary = "A model that grew more than its configured budget against --base"
    availability = FixAvailability.NONE

    def check(self, ctx: CheckContext) -> list[Finding]:
        """Nothing to see in the graph: the budget stage compares the files with git."""
        return []
