"""OSL205 no-op: nodes that return their input unchanged.

``rule`` holds the rule; ``shape_ops`` and ``arithmetic`` the matchers that decide
whether one node is a no-op, ``common`` what they share.
"""

from __future__ import annotations

from onnxslim_lint.rules.no_op.rule import NoOp

__all__ = ["NoOp"]
