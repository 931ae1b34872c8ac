"""The result cache: a check of an unchanged model with unchanged settings is read
back instead of run again (ruff's ``.ruff_cache``).

One JSON entry per model under ``.onnxslim_lint_cache/<version>/`` in the project
root (the config file's folder, else the working folder), keyed by the model's
path, and valid while the settings, the tool's version and the ``stat`` (size,
mtime, inode) of the model and of every external-data file it reads are the same.
Only the check's own findings are kept; budgets are measured again on every run
(they are a ``stat`` away). A fix, ``--diff`` and ``--base`` never use the cache.
JSON, never pickle: the folder sits in a repository anyone can write to. The
folder holds a ``CACHEDIR.TAG`` (backup tools skip it) and a ``.gitignore`` of
``*`` (git does).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from onnxslim_lint import __version__
from onnxslim_lint.config import Settings, VerifySettings
from onnxslim_lint.datafiles import model_data_files
from onnxslim_lint.findings import Finding, FixSafety, Location
from onnxslim_lint.results import FileResult

__all__ = ["CACHE_DIR_NAME", "ResultCache", "check_fingerprint", "clean_cache"]

CACHE_DIR_NAME = ".onnxslim_lint_cache"
_TAG = (
    "Signature: 8a477f597d28d172789f06886806bc55\n"
    "# This file is a cache directory tag created by onnxslim-lint.\n"
    "# For information about cache directory tags see https://bford.info/cachedir/\n"
)


def check_fingerprint(settings: Settings) -> str:
    """The settings a check's findings depend on: which rules run, what they may fix and
    fold. Not the output format, the verification settings or the budgets (measured on
    every run): changing those keeps the cache."""
    kept = dataclasses.replace(
        settings,
        output_format=None,
        docs_url="",
        verify=VerifySettings(),
        exclude=(),
        extend_exclude=(),
        config_path=None,
        extra={key: value for key, value in settings.extra.items() if key != "budget"},
    )
    return repr(kept)


class ResultCache:
    """Cached check results for one run's settings (``fingerprint``)."""

    def __init__(self, root: Path, fingerprint: str) -> None:
        self.base = Path(root) / CACHE_DIR_NAME
        self.folder = self.base / __version__
        self._fingerprint = hashlib.sha256(f"{__version__}\0{fingerprint}".encode()).hexdigest()
        self.hits = 0
        self._ahead: dict[tuple[str, str], FileResult | None] = {}

    def preload(self, files: Sequence[tuple[Path, str]]) -> bool:
        """Read the entries of ``files`` ahead (``get`` then hands them out); whether
        every one is a hit, so the caller knows before the run whether it needs the
        pipeline at all."""
        for path, display in files:
            self._ahead[(str(path), display)] = self._lookup(path, display)
        return all(hit is not None for hit in self._ahead.values())

    def get(self, path: Path, display: str) -> FileResult | None:
        key = (str(path), display)
        result = self._ahead.pop(key) if key in self._ahead else self._lookup(path, display)
        if result is not None:
            self.hits += 1
        return result

    def _lookup(self, path: Path, display: str) -> FileResult | None:
        entry = self._read(self._entry(path, display))
        if entry is None or entry.get("settings") != self._fingerprint:
            return None
        files = entry.get("files", {})
        for name, stat in files.items():
            if _stat(Path(name)) != stat:
                return None
        try:
            result = FileResult(path, display)
            result.data_files = tuple(Path(name) for name in entry["data_files"])
            result.findings = [_finding(item) for item in entry["findings"]]
            result.error = _finding(entry["error"]) if entry.get("error") else None
        except (KeyError, TypeError, ValueError):
            return None  # an entry of another shape: run the check again
        return result

    def put(self, path: Path, display: str, result: FileResult) -> None:
        """Remember ``result`` (best effort: a cache that cannot be written is skipped)."""
        data_files = model_data_files(Path(path))
        files = [Path(path), *data_files]
        stats = {str(p.absolute()): _stat(p) for p in files}
        if any(stat is None for stat in stats.values()):
            return
        entry = {
            "settings": self._fingerprint,
            "files": stats,
            "data_files": [str(p) for p in data_files],  # as the model names them
            "findings": [_as_json(f) for f in result.findings],
            "error": _as_json(result.error) if result.error is not None else None,
        }
        try:
            self._prepare()
            target = self._entry(path, display)
            fd, temp = tempfile.mkstemp(dir=self.folder, prefix=".entry-", suffix=".tmp")
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(entry, handle)
            os.replace(temp, target)
        except OSError:
            return

    def _entry(self, path: Path, display: str) -> Path:
        key = hashlib.sha256(f"{Path(path).absolute()}\0{display}".encode()).hexdigest()
        return self.folder / f"{key}.json"

    def _prepare(self) -> None:
        if (self.base / "CACHEDIR.TAG").exists():
            self.folder.mkdir(parents=True, exist_ok=True)
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        (self.base / "CACHEDIR.TAG").write_text(_TAG)
        (self.base / ".gitignore").write_text("# Created by onnxslim-lint\n*\n")

    @staticmethod
    def _read(path: Path) -> dict[str, Any] | None:
        try:
            with open(path, encoding="utf-8") as handle:
                data = json.load(handle)
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None


def clean_cache(root: Path) -> Path | None:
    """Remove the cache folder under ``root``; returns it when there was one."""
    folder = Path(root) / CACHE_DIR_NAME
    if not (folder / "CACHEDIR.TAG").exists():
        return None  # not ours (or nothing there): never remove what we did not make
    shutil.rmtree(folder, ignore_errors=True)
    return folder


def _stat(path: Path) -> list[int] | None:
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return [stat.st_size, stat.st_mtime_ns, stat.st_ino]


def _as_json(finding: Finding) -> dict[str, Any]:
    return {
        "path": finding.path,
        "code": finding.code,
        "name": finding.name,
        "message": finding.message,
        "fixable": finding.fixable,
        "safety": finding.safety.value if finding.safety is not None else None,
        "count": finding.count,
        "nbytes": finding.nbytes,
        "nodes": finding.nodes,
        "locations": [loc.as_dict() for loc in finding.locations],
        "fix_title": finding.fix_title,
    }


def _finding(data: dict[str, Any]) -> Finding:
    locations = tuple(
        Location(loc["kind"], loc["name"], loc["graph"], loc["detail"], int(loc["bytes"]))
        for loc in data["locations"]
    )
    safety = FixSafety(data["safety"]) if data["safety"] is not None else None
    return Finding(
        str(data["path"]),
        str(data["code"]),
        str(data["name"]),
        str(data["message"]),
        bool(data["fixable"]),
        safety,
        int(data["count"]),
        int(data["nbytes"]),
        int(data["nodes"]),
        locations,
        data["fix_title"],
    )
