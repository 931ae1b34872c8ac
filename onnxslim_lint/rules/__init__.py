"""The rules: one module each, registered in :mod:`onnxslim_lint.rules.registry`."""
