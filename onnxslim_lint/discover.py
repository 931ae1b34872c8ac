"""Which files to check: walk the given paths for ``*.onnx`` models, ruff-style.

Paths named on the command line are always returned (the loader reports the ones
that are missing or not models) unless ``force_exclude`` says exclusions apply to
them too. Directories are walked in sorted order, skipping VCS, cache, build and
virtual-environment folders, and anything matching an exclude glob.

Globs are matched with :func:`fnmatch.fnmatchcase` against the posix-style path
relative to the project root and against the bare name, so ``"legacy/*.onnx"``,
``"*.tmp.onnx"`` and ``"third_party/**"`` all work. ``*`` also crosses ``/``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from fnmatch import fnmatchcase
from pathlib import Path, PurePosixPath

__all__ = ["ALWAYS_SKIPPED_DIRS", "MODEL_SUFFIX", "discover_models", "matches_any"]

MODEL_SUFFIX = ".onnx"

#: Directory names never walked into (unless passed explicitly).
ALWAYS_SKIPPED_DIRS: frozenset[str] = frozenset(
    {
        ".git",
        ".hg",
        ".svn",
        ".venv",
        "venv",
        ".tox",
        ".nox",
        "node_modules",
        "__pycache__",
        ".mypy_cache",
        ".ruff_cache",
        ".pytest_cache",
        "site-packages",
        "build",
        "dist",
    }
)


def _absolute(path: Path) -> str:
    """Absolute, normalised (``..`` folded, symlinks kept) path as a string."""
    return os.path.normpath(os.path.abspath(path))


def _relative_posix(path: Path, root: Path | None) -> str | None:
    """``path`` relative to ``root`` in posix form, or ``None`` if it lies outside."""
    base = _absolute(root) if root is not None else _absolute(Path.cwd())
    target = _absolute(path)
    try:
        relative = os.path.relpath(target, base)
    except ValueError:  # another drive on Windows
        return None
    if relative == os.curdir:
        return ""
    if relative == os.pardir or relative.startswith(os.pardir + os.sep):
        return None
    return PurePosixPath(*Path(relative).parts).as_posix()


def _clean_glob(glob: str) -> str:
    glob = glob.replace("\\", "/") if os.sep == "\\" else glob
    while glob.startswith("./"):
        glob = glob[2:]
    return glob.rstrip("/") or glob


def _glob_matches(glob: str, relative: str | None, name: str, absolute: str) -> bool:
    glob = _clean_glob(glob)
    if os.path.isabs(glob):
        return fnmatchcase(Path(absolute).as_posix(), Path(glob).as_posix())
    candidates = [glob]
    # "**/x" also matches "x" at the top, as in gitignore-style globs.
    while candidates[-1].startswith("**/"):
        candidates.append(candidates[-1][3:])
    for pattern in candidates:
        if relative is not None and fnmatchcase(relative, pattern):
            return True
        if fnmatchcase(name, pattern):
            return True
    return False


def matches_any(path: Path, globs: Iterable[str], root: Path | None) -> bool:
    """Whether ``path`` matches one of ``globs`` (exclude / per-file-ignores semantics).

    Each glob is tried on the path relative to ``root`` (the config file's folder;
    ``None`` = the current directory) and on the bare file name.
    """
    globs = list(globs)
    if not globs:
        return False
    path = Path(path)
    relative = _relative_posix(path, root)
    absolute = _absolute(path)
    name = os.path.basename(absolute)
    return any(_glob_matches(glob, relative, name, absolute) for glob in globs)


def _is_skipped_dir(path: Path, name: str) -> bool:
    return name in ALWAYS_SKIPPED_DIRS or (path / "pyvenv.cfg").is_file()


def _force_excluded(path: Path, globs: Sequence[str], root: Path | None) -> bool:
    """Whether an explicitly passed path is excluded: itself or a folder above it.

    Built-in skipped folders count too (a passed ``.venv/`` is dropped).

    Only folders below ``root`` are considered, so a project that lives inside, say,
    ``~/build/`` is not excluded as a whole.
    """
    if matches_any(path, globs, root):
        return True
    relative = _relative_posix(path, root)
    if not relative:
        return False
    current = Path(_absolute(root) if root is not None else _absolute(Path.cwd()))
    parts = PurePosixPath(relative).parts
    for index, part in enumerate(parts):
        current = current / part
        last = index == len(parts) - 1
        if last and not current.is_dir():
            break
        if _is_skipped_dir(current, part) or (not last and matches_any(current, globs, root)):
            return True
    return False


def _sorted_entries(directory: Path) -> list[os.DirEntry[str]]:
    try:
        with os.scandir(directory) as scan:
            return sorted(scan, key=lambda entry: entry.name)
    except OSError:
        # Unreadable folder (permissions, vanished meanwhile): nothing to report it as.
        return []


def _walk(directory: Path, globs: Sequence[str], root: Path | None) -> Iterator[Path]:
    """Models below ``directory``, depth first in sorted order.

    Symlinked folders are not entered, so link loops cannot hang the walk. Iterative,
    so deep trees do not hit the recursion limit.
    """
    stack: list[tuple[Path, Iterator[os.DirEntry[str]]]] = [
        (directory, iter(_sorted_entries(directory)))
    ]
    while stack:
        parent, entries = stack[-1]
        entry = next(entries, None)
        if entry is None:
            stack.pop()
            continue
        path = parent / entry.name
        try:
            is_dir = entry.is_dir(follow_symlinks=False)
        except OSError:
            is_dir = False
        if is_dir and _is_skipped_dir(path, entry.name):
            continue
        if globs and matches_any(path, globs, root):
            continue
        if entry.name.lower().endswith(MODEL_SUFFIX):
            # Also folders and broken links named *.onnx: the loader reports them.
            yield path
        if is_dir:
            stack.append((path, iter(_sorted_entries(path))))


def discover_models(
    paths: Sequence[Path],
    *,
    root: Path | None,
    exclude: Sequence[str] = (),
    extend_exclude: Sequence[str] = (),
    force_exclude: bool = False,
) -> list[Path]:
    """The model files to check for ``paths``, de-duplicated, in a stable order.

    Explicit paths that are not directories (files, missing paths, anything else)
    are returned as given. A directory is walked; one named ``*.onnx`` is also
    returned itself. ``exclude`` and ``extend_exclude`` are both extra globs on top of
    the built-in skipped folders; with ``force_exclude`` they, and the built-in
    folders, also drop explicitly passed paths (pre-commit passes files one by one).
    """
    globs = [*exclude, *extend_exclude]
    found: list[Path] = []
    seen: set[str] = set()

    def add(path: Path) -> None:
        key = _absolute(path)
        if key not in seen:
            seen.add(key)
            found.append(path)

    for given in paths:
        given = Path(given)
        if force_exclude and _force_excluded(given, globs, root):
            continue
        if given.is_dir():
            if given.name.lower().endswith(MODEL_SUFFIX):
                add(given)
            for path in _walk(given, globs, root):
                add(path)
        else:
            add(given)
    return found
