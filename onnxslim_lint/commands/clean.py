"""``onnxslim-lint clean``: remove the result cache, as ``ruff clean`` does."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from onnxslim_lint.cache import clean_cache
from onnxslim_lint.config import find_config_file


def run_clean(args: argparse.Namespace) -> int:
    for folder in [Path(p) for p in args.paths] or [Path(".")]:
        config = find_config_file(folder.absolute())
        for root in {folder.absolute(), *([config.parent] if config is not None else [])}:
            removed = clean_cache(root)
            if removed is not None:
                print(f"Removing cache at: {removed}", file=sys.stderr)
    return 0
