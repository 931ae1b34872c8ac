"""The base revision of a comparison (``--base REF``), read with git.

Everything here runs ``git`` in a subprocess and reads only object metadata and
small blobs: the size of a file at the base is the blob size from ``git ls-tree``,
or, for a Git LFS pointer, the ``size`` line of the pointer, so no model is
downloaded. The comparison is against the merge base of ``REF`` and ``HEAD`` when
there is one (what a pull request changes), else against ``REF`` itself (a shallow
clone, or a pull request's merge commit whose first parent is the base).
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path, PurePosixPath

from onnxslim_lint.datafiles import external_locations, model_data_files
from onnxslim_lint.discover import ALWAYS_SKIPPED_DIRS, MODEL_SUFFIX, matches_any
from onnxslim_lint.errors import UsageError
from onnxslim_lint.model.lfs import lfs_pointer_size

__all__ = [
    "BaseRevision",
    "GitError",
    "changed_models",
    "find_toplevel",
    "gone_models",
    "open_base",
]

# Pointers are about 130 bytes; anything up to this size is read to check.
_POINTER_MAX = 1024


class GitError(UsageError):
    """git is missing, the folder is not a repository, or the ref does not exist."""


def _git(cwd: Path, *args: str, input_bytes: bytes | None = None) -> bytes:
    try:
        done = subprocess.run(
            ["git", *args],
            cwd=cwd,
            input=input_bytes,
            capture_output=True,
            check=False,
        )
    except FileNotFoundError:
        raise GitError("--base needs git, which is not installed") from None
    if done.returncode != 0:
        message = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise GitError(f"git {args[0]} failed: {message[-1] if message else done.returncode}")
    return done.stdout


def find_toplevel(start: Path | None = None) -> Path | None:
    """The working tree root containing ``start`` (default: the working directory)."""
    start = Path(start or Path.cwd()).absolute()
    if not start.is_dir():
        start = start.parent
    try:
        out = _git(start, "rev-parse", "--show-toplevel")
    except GitError:
        return None
    return Path(out.decode().strip())


@dataclass
class BaseRevision:
    """A commit to compare sizes with, in the repository at ``root``."""

    root: Path
    ref: str  # as the user gave it
    commit: str  # the commit compared with (merge base or the ref itself)
    _sizes: dict[str, int | None] = field(default_factory=dict, repr=False)

    def relative(self, path: Path) -> str | None:
        """``path`` relative to the repository root in posix form (None if outside)."""
        real = os.path.realpath(path)
        root = os.path.realpath(self.root)
        try:
            rel = os.path.relpath(real, root)
        except ValueError:
            return None
        if rel == os.pardir or rel.startswith(os.pardir + os.sep):
            return None
        return PurePosixPath(*Path(rel).parts).as_posix()

    @cached_property
    def _tree(self) -> dict[str, tuple[str, int]]:
        """Every blob at the base: repository path -> (object id, size)."""
        out = _git(self.root, "ls-tree", "-r", "-l", "-z", "--full-tree", self.commit)
        tree: dict[str, tuple[str, int]] = {}
        for record in out.split(b"\0"):
            if not record:
                continue
            meta, _, name = record.partition(b"\t")
            parts = meta.split()
            if len(parts) != 4 or parts[1] != b"blob" or not parts[3].isdigit():
                continue  # submodules ("commit") and odd entries
            tree[name.decode("utf-8", "surrogateescape")] = (parts[2].decode(), int(parts[3]))
        return tree

    def _blob(self, object_id: str) -> bytes:
        return _git(self.root, "cat-file", "blob", object_id)

    def file_size(self, repo_path: str) -> int | None:
        """Size of one file at the base (an LFS pointer's object size), None if absent."""
        if repo_path in self._sizes:
            return self._sizes[repo_path]
        entry = self._tree.get(repo_path)
        size: int | None = None
        if entry is not None:
            object_id, size = entry
            if size <= _POINTER_MAX:
                pointed = lfs_pointer_size(self._blob(object_id))
                if pointed is not None:
                    size = pointed
        self._sizes[repo_path] = size
        return size

    def exists(self, path: Path) -> bool:
        rel = self.relative(path)
        return rel is not None and rel in self._tree

    def model_size(self, path: Path, data_files_now: Sequence[Path] = ()) -> int | None:
        """The model's size at the base: its file plus its external-data files.

        The data files are those the model named at the base; for a model that is an
        LFS pointer at the base (whose content is not read), those it names now. A
        model renamed since the base is measured at its old path. None when the model
        did not exist at the base.
        """
        rel = self.base_path(path)
        if rel is None:
            return None
        size = self.file_size(rel)
        if size is None:
            return None
        folder = PurePosixPath(rel).parent
        object_id, blob_size = self._tree[rel]
        names: Iterable[str | None]
        if blob_size <= _POINTER_MAX and lfs_pointer_size(self._blob(object_id)) is not None:
            names = (self.base_path(data) for data in data_files_now)
        else:
            names = ((folder / loc).as_posix() for loc in external_locations(self._blob(object_id)))
        for name in names:
            data_size = self.file_size(name) if name is not None else None
            if data_size is not None:
                size += data_size
        return size

    def base_path(self, path: Path) -> str | None:
        """The repository path ``path`` had at the base: its own, or the one it was
        renamed from; None when it did not exist there (or lies outside the root)."""
        rel = self.relative(path)
        if rel is None or rel in self._tree:
            return rel
        return self._moves[0].get(rel)

    def renamed_from(self, path: Path) -> str | None:
        """The base path of a file renamed since the base, None if it was not renamed."""
        old = self.base_path(path)
        return old if old is not None and old != self.relative(path) else None

    def gone_files(self) -> list[str]:
        """Repository paths at the base that are missing from the working tree:
        deleted, or renamed away (then :meth:`renamed_from` names them)."""
        return self._moves[1]

    @cached_property
    def _moves(self) -> tuple[dict[str, str], list[str]]:
        """(new path -> base path for renames, base paths gone from the working tree),
        from ``git diff -M`` between the base and the working tree. Read only when
        asked: finding inexact renames reads the blobs of added and deleted files."""
        out = _git(
            self.root, "diff", "--name-status", "-M", "--diff-filter=DR", "-z", self.commit, "--"
        )
        fields = [f.decode("utf-8", "surrogateescape") for f in out.split(b"\0")]
        renamed: dict[str, str] = {}
        gone: list[str] = []
        i = 0
        while i < len(fields) and fields[i]:
            status = fields[i]
            if status.startswith("R") and i + 2 < len(fields):
                old, new = fields[i + 1], fields[i + 2]
                renamed[new] = old
                gone.append(old)
                i += 3
            else:
                gone.append(fields[i + 1])
                i += 2
        return renamed, gone

    def changed_files(self) -> list[Path]:
        """Files that differ between the base and the working tree (committed or not),
        plus untracked files; absolute paths."""
        out = _git(self.root, "diff", "--name-only", "--no-renames", "-z", self.commit, "--")
        names = [n for n in out.split(b"\0") if n]
        untracked = _git(self.root, "ls-files", "--others", "--exclude-standard", "-z")
        names += [n for n in untracked.split(b"\0") if n]
        seen: set[bytes] = set()
        paths: list[Path] = []
        for name in names:
            if name not in seen:
                seen.add(name)
                paths.append(self.root / name.decode("utf-8", "surrogateescape"))
        return paths


def open_base(ref: str, start: Path | None = None) -> BaseRevision:
    """Resolve ``--base REF`` in the repository containing ``start``."""
    root = find_toplevel(start)
    if root is None:
        raise GitError(f"--base {ref}: {Path(start or Path.cwd())} is not in a git repository")
    try:
        commit = _git(root, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
    except GitError:
        raise GitError(f"--base {ref}: no such commit, branch or tag in {root}") from None
    base = commit.decode().strip()
    try:
        merge_base = _git(root, "merge-base", base, "HEAD").decode().strip()
    except GitError:  # shallow clone, unrelated histories, no HEAD yet
        merge_base = ""
    return BaseRevision(root=root, ref=ref, commit=merge_base or base)


def changed_models(files: Sequence[Path], base: BaseRevision) -> list[Path]:
    """The models among ``files`` that differ from the base: the model file itself, or
    one of its external-data files (a change to the data alone counts)."""
    changed = {os.path.realpath(path) for path in base.changed_files()}
    kept = []
    for path in files:
        names = [path, *model_data_files(path)]
        if any(os.path.realpath(name) in changed for name in names):
            kept.append(path)
    return kept


def gone_models(
    base: BaseRevision,
    paths: Sequence[Path],
    *,
    root: Path | None = None,
    exclude: Sequence[str] = (),
) -> list[str]:
    """The models a check of ``paths`` would have found at the base that are gone
    from the working tree (deleted, or renamed away), as repository paths.

    As in discovery, a model counts when it is a given path or lies below one, with
    no skipped or excluded folder (``exclude``, relative to ``root``) in between.
    """
    given = [Path(os.path.realpath(path)) for path in paths]  # as git names the root
    found: list[str] = []
    for rel in base.gone_files():
        if not rel.lower().endswith(MODEL_SUFFIX):
            continue
        model = base.root / rel
        for start in given:
            if model == start:
                found.append(rel)
                break
            if not model.is_relative_to(start):
                continue
            below = model.relative_to(start).parts
            folders = [start.joinpath(*below[: i + 1]) for i in range(len(below) - 1)]
            skipped = any(name in ALWAYS_SKIPPED_DIRS for name in below[:-1])
            if not skipped and not any(matches_any(p, exclude, root) for p in [*folders, model]):
                found.append(rel)
                break
    return found
