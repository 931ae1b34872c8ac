"""Tests for onnxslim_lint.discover: which paths get checked."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from onnxslim_lint.discover import discover_models, matches_any


def touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"")
    return path


def rel(paths: list[Path], base: Path) -> list[str]:
    return [p.relative_to(base).as_posix() for p in paths]


def test_walk_finds_onnx_case_insensitively_in_sorted_order(tmp_path: Path) -> None:
    touch(tmp_path / "b.onnx")
    touch(tmp_path / "a.ONNX")
    touch(tmp_path / "sub" / "c.onnx")
    touch(tmp_path / "sub" / "notes.txt")
    touch(tmp_path / "z" / "deeper" / "d.onnx")
    touch(tmp_path / "model.onnx.data")
    found = discover_models([tmp_path], root=tmp_path)
    assert rel(found, tmp_path) == ["a.ONNX", "b.onnx", "sub/c.onnx", "z/deeper/d.onnx"]
    assert discover_models([tmp_path], root=tmp_path) == found  # stable


def test_walk_skips_builtin_dirs_and_virtualenvs(tmp_path: Path) -> None:
    keep = touch(tmp_path / "models" / "keep.onnx")
    for name in (".git", "node_modules", ".venv", "venv", "__pycache__", "build", "dist"):
        touch(tmp_path / name / "x.onnx")
    touch(tmp_path / "myenv" / "pyvenv.cfg")
    touch(tmp_path / "myenv" / "lib" / "m.onnx")
    touch(tmp_path / "lib" / "site-packages" / "pkg" / "m.onnx")
    assert discover_models([tmp_path], root=tmp_path) == [keep]


def test_exclude_and_extend_exclude_globs(tmp_path: Path) -> None:
    touch(tmp_path / "legacy" / "old.onnx")
    touch(tmp_path / "legacy" / "sub" / "older.onnx")
    touch(tmp_path / "third_party" / "x" / "y.onnx")
    touch(tmp_path / "models" / "a.tmp.onnx")
    touch(tmp_path / "models" / "a.onnx")
    found = discover_models(
        [tmp_path],
        root=tmp_path,
        exclude=["legacy/*.onnx"],
        extend_exclude=["*.tmp.onnx", "third_party/**"],
    )
    assert rel(found, tmp_path) == ["models/a.onnx"]


def test_exclude_glob_on_directory_name_prunes_it(tmp_path: Path) -> None:
    touch(tmp_path / "generated" / "deep" / "x.onnx")
    touch(tmp_path / "keep.onnx")
    found = discover_models([tmp_path], root=tmp_path, exclude=["generated"])
    assert rel(found, tmp_path) == ["keep.onnx"]


def test_globs_are_relative_to_root_not_cwd(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = tmp_path / "project"
    touch(project / "legacy" / "old.onnx")
    keep = touch(project / "new.onnx")
    monkeypatch.chdir(tmp_path)
    found = discover_models([Path("project")], root=project, exclude=["legacy/*"])
    assert found == [Path("project") / "new.onnx"]
    assert found[0].resolve() == keep.resolve()


def test_explicit_files_are_kept(tmp_path: Path) -> None:
    odd = touch(tmp_path / "model.bin")
    missing = tmp_path / "missing.onnx"
    excluded = touch(tmp_path / "legacy" / "old.onnx")
    in_venv = touch(tmp_path / ".venv" / "x.onnx")
    found = discover_models([odd, missing, excluded, in_venv], root=tmp_path, exclude=["legacy/*"])
    assert found == [odd, missing, excluded, in_venv]


def test_force_exclude_drops_explicit_files(tmp_path: Path) -> None:
    kept = touch(tmp_path / "models" / "a.onnx")
    excluded = touch(tmp_path / "legacy" / "old.onnx")
    by_name = touch(tmp_path / "models" / "b.tmp.onnx")
    in_excluded_dir = touch(tmp_path / "gen" / "sub" / "c.onnx")
    in_venv = touch(tmp_path / ".venv" / "x.onnx")
    found = discover_models(
        [kept, excluded, by_name, in_excluded_dir, in_venv],
        root=tmp_path,
        exclude=["legacy/*"],
        extend_exclude=["*.tmp.onnx", "gen"],
        force_exclude=True,
    )
    assert found == [kept]


def test_force_exclude_ignores_folders_above_root(tmp_path: Path) -> None:
    root = tmp_path / "build" / "project"
    model = touch(root / "m.onnx")
    assert discover_models([model], root=root, force_exclude=True) == [model]
    assert discover_models([root], root=root, force_exclude=True) == [model]


def test_explicit_builtin_dir_is_walked_unless_force_exclude(tmp_path: Path) -> None:
    model = touch(tmp_path / "build" / "m.onnx")
    assert discover_models([tmp_path / "build"], root=tmp_path) == [model]
    assert discover_models([tmp_path / "build"], root=tmp_path, force_exclude=True) == []


def test_directory_named_onnx_is_returned_and_walked(tmp_path: Path) -> None:
    weird = tmp_path / "x.onnx"
    inner = touch(weird / "inner.onnx")
    assert discover_models([tmp_path], root=tmp_path) == [weird, inner]
    assert discover_models([weird], root=tmp_path) == [weird, inner]


def test_duplicates_removed_first_occurrence_kept(tmp_path: Path) -> None:
    a = touch(tmp_path / "a.onnx")
    b = touch(tmp_path / "sub" / "b.onnx")
    found = discover_models([b, tmp_path, a, tmp_path / "sub" / ".." / "a.onnx"], root=tmp_path)
    assert found == [b, a]


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="needs symlinks")
def test_symlink_loop_does_not_hang_and_linked_files_are_returned(tmp_path: Path) -> None:
    real = touch(tmp_path / "real" / "m.onnx")
    try:
        (tmp_path / "real" / "loop").symlink_to(tmp_path, target_is_directory=True)
        (tmp_path / "linked_dir").symlink_to(tmp_path / "real", target_is_directory=True)
        (tmp_path / "link.onnx").symlink_to(real)
        (tmp_path / "broken.onnx").symlink_to(tmp_path / "nowhere.onnx")
    except OSError:
        pytest.skip("cannot create symlinks here")
    found = discover_models([tmp_path], root=tmp_path)
    assert rel(found, tmp_path) == ["broken.onnx", "link.onnx", "real/m.onnx"]


def test_matches_any(tmp_path: Path) -> None:
    path = tmp_path / "legacy" / "sub" / "m.tmp.onnx"
    assert matches_any(path, ["legacy/*.onnx"], tmp_path)  # * crosses /, like fnmatch
    assert matches_any(path, ["*.tmp.onnx"], tmp_path)
    assert matches_any(path, ["legacy/**"], tmp_path)
    assert matches_any(path, ["**/m.tmp.onnx"], tmp_path)
    assert matches_any(path, ["./legacy/sub/m.tmp.onnx"], tmp_path)
    assert matches_any(path, [str(tmp_path / "legacy" / "*")], tmp_path)
    assert not matches_any(path, ["other/*"], tmp_path)
    assert not matches_any(path, [], tmp_path)
    # Relative globs need the path under root; the bare name still matches.
    assert not matches_any(path, ["legacy/*"], tmp_path / "elsewhere")
    assert matches_any(path, ["m.tmp.onnx"], tmp_path / "elsewhere")


def test_matches_any_root_none_is_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert matches_any(Path("legacy/m.onnx"), ["legacy/*"], None)
    assert matches_any(tmp_path / "legacy" / "m.onnx", ["legacy/*"], None)
