"""onnxslim-lint: lint and fix ONNX model files.

Importing the package is cheap; the Python API loads what it needs when called.
"""

from __future__ import annotations

__version__ = "0.1.0"
