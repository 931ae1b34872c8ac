"""``check --add-ignores``: adopt the tool now, fix later (ruff's ``--add-noqa``).

After a check, each file's findings go into ``per-file-ignores`` of the config file
in use: the file's path, relative to the config file's folder (as per-file-ignores
globs are read), with the codes of the rules it broke, merged with what the entry
already holds. The next check passes, and each entry is a to-do list that shrinks
as the models are fixed. File errors (OSL0xx) are never ignored this way: a file
that cannot be checked still fails the run.

With no config file in use, the nearest ``pyproject.toml`` within the project (the
git working tree, else the working directory) gets a
``[tool.onnxslim-lint.per-file-ignores]`` table; without one, an
``onnxslim-lint.toml`` is created at the project's top. The file is changed by a
minimal text edit (:mod:`onnxslim_lint.toml_edit`): everything else in it stays as
it was, byte for byte.
"""

from __future__ import annotations

import argparse
import os
import stat
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path, PurePosixPath
from typing import Any

from onnxslim_lint.config import TOOL_NAME, Settings
from onnxslim_lint.errors import ConfigError, UsageError
from onnxslim_lint.gitbase import find_toplevel
from onnxslim_lint.model.read_errors import READ_ERRORS
from onnxslim_lint.results import FileResult
from onnxslim_lint.toml_edit import TomlEditError, set_string_arrays, toml_array, toml_string

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib  # type: ignore[import-not-found, unused-ignore]

__all__ = ["add_ignores", "ignore_key", "refuse_conflicts"]


def refuse_conflicts(args: argparse.Namespace) -> None:
    """``--add-ignores`` reports and writes the config file; it fixes nothing (as in
    ruff, it cannot be combined with ``--fix`` or ``--diff``)."""
    if not getattr(args, "add_ignores", False):
        return
    for flag, given in (("--fix", args.fix), ("--diff", args.diff)):
        if given:
            raise UsageError(f"--add-ignores cannot be used with {flag}")
    if args.isolated:
        raise UsageError("--add-ignores cannot be used with --isolated: it writes the config file")


def _escape_glob(path: str) -> str:
    """``path`` as a glob that matches only itself (fnmatch has no escape character)."""
    escaped = "".join(f"[{c}]" if c in "*?[" else c for c in path)
    # A leading "!" would negate the entry; "./" keeps it a plain name.
    return f"./{escaped}" if escaped.startswith("!") else escaped


def ignore_key(path: Path, root: Path) -> str:
    """The per-file-ignores key for ``path``: relative to ``root`` in posix form, as
    :func:`onnxslim_lint.discover.matches_any` reads it; absolute when outside it."""
    target = os.path.normpath(os.path.abspath(path))
    base = os.path.normpath(os.path.abspath(root))
    try:
        relative = os.path.relpath(target, base)
    except ValueError:  # another drive on Windows
        relative = os.pardir
    if relative == os.pardir or relative.startswith(os.pardir + os.sep):
        return _escape_glob(Path(target).as_posix())
    return _escape_glob(PurePosixPath(*Path(relative).parts).as_posix())


def _project_config(start: Path) -> Path:
    """Where a config file goes when there is none: the nearest ``pyproject.toml`` up
    to the project's top, else a new ``onnxslim-lint.toml`` there."""
    folder = start if start.is_dir() else start.parent
    top = find_toplevel(folder)
    if top is None:
        cwd = Path.cwd()
        top = cwd if folder == cwd or cwd in folder.parents else folder
    for directory in (folder, *folder.parents):
        if (directory / "pyproject.toml").is_file():
            return directory / "pyproject.toml"
        if directory == top:
            break
    return top / "onnxslim-lint.toml"


def _table_path(config: Path) -> tuple[str, ...]:
    if config.name == "pyproject.toml":
        return ("tool", TOOL_NAME, "per-file-ignores")
    return ("per-file-ignores",)


def _existing(text: str, table: Sequence[str]) -> Mapping[str, Any]:
    node: Any = tomllib.loads(text)
    for part in table:
        node = node.get(part, {}) if isinstance(node, dict) else {}
    return node if isinstance(node, dict) else {}


def _write(path: Path, data: bytes) -> None:
    """Replace ``path`` atomically (a new file is simply created), keeping its mode."""
    target = Path(os.path.realpath(path))
    if not target.exists():
        with target.open("xb") as handle:
            handle.write(data)
        return
    mode = stat.S_IMODE(target.stat().st_mode)
    fd, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, mode)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def add_ignores(
    results: Sequence[FileResult], settings: Settings, start: Path, *, quiet: bool = False
) -> int:
    """Write the findings of ``results`` into per-file-ignores; the exit code (2 when
    a file could not be checked, else 0)."""
    config = settings.config_path or _project_config(start.resolve())
    root = config.parent
    table = _table_path(config)
    display = os.path.relpath(config) if config.is_absolute() else str(config)
    text = config.read_bytes().decode("utf-8") if config.exists() else ""
    existing = _existing(text, table)
    found: dict[str, set[str]] = {}
    for result in results:
        if result.error is None:
            codes = {f.code for f in result.findings if f.code not in READ_ERRORS}
            if codes:
                found.setdefault(ignore_key(result.path, root), set()).update(codes)
    entries: dict[str, list[str]] = {}
    added = 0
    for key, codes in found.items():
        before = existing.get(key, [])
        old = set(before) if isinstance(before, list) else set()
        if codes - old:
            entries[key] = sorted(old | codes)
            added += len(codes - old)
    failed = any(result.error is not None for result in results)
    if not entries:
        if not quiet:
            print("No ignores to add.", file=sys.stderr)
        return 2 if failed else 0
    dotted = ".".join(table)
    try:
        edited = set_string_arrays(text, table, entries)
    except TomlEditError as exc:
        snippet = "\n".join(
            [f"[{dotted}]"]
            + [f"{toml_string(k)} = {toml_array(v)}" for k, v in sorted(entries.items())]
        )
        raise ConfigError(
            f"{display}: cannot add the ignores to [{dotted}] with a plain edit ({exc}); "
            f"add them by hand:\n{snippet}"
        ) from None
    _write(config, edited.encode("utf-8"))
    if not quiet:
        print(
            f"Added {_plural(added, 'ignore')} to {_plural(len(entries), 'file')} in {display}.",
            file=sys.stderr,
        )
    return 2 if failed else 0
