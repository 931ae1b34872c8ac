"""The Action's job summary and annotations, as a reviewer reads them.

Each test makes a real git repository (``main`` and a pull request on ``feature``)
and runs the action's run step, ``scripts/github_action.py``, with the variables
GitHub sets (see ``action_pr.py``; ``python tests/action_pr.py`` prints the summary
of the sample pull request). The full composite action, installed into its own
virtual environment, is run in ``test_action.py``.
"""

from __future__ import annotations

import html
import re
import shutil
from pathlib import Path

import ci_models
import pytest
from action_pr import commit, git, make_pull_request, new_repository, run_step

from onnxslim_lint import __version__
from onnxslim_lint.findings import format_bytes

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="needs git")


def _size(path: Path) -> int:
    return path.stat().st_size


def _rows(summary: str) -> list[str]:
    return [line for line in summary.splitlines() if line.startswith("| ")]


def _titles(annotations: list[str]) -> list[str]:
    return [
        re.sub(r"^::error file=([^,]*),line=1,title=([^:]*)::.*", r"\1 \2", a) for a in annotations
    ]


def test_summary_of_a_pull_request_that_bloats_deletes_and_renames(tmp_path: Path) -> None:
    # Sizes at the base, before the pull request's commit changes them.
    repo = tmp_path / "repo"
    make_pull_request(repo)
    base = {
        name: int(git(repo, "cat-file", "-s", f"main:models/{name}"))
        for name in ("encoder.onnx", "legacy.onnx", "decoder.onnx")
    }
    encoder = _size(repo / "models" / "encoder.onnx")
    renamed = _size(repo / "models" / "decoder_v2.onnx")
    assert renamed == base["decoder.onnx"]

    step = run_step(repo, paths="models")
    assert step.returncode == 1, step.stderr

    header, renamed_row, encoder_row, deleted_row, total_row = _rows(step.summary)
    assert header == ("| | Model | Size | Change vs <code>main</code> | Findings | Removable |")
    # The rename is one row, compared with the old path's size: unchanged, not new.
    assert renamed_row == (
        "| ✅ | <code>models/decoder.onnx</code> → <code>models/decoder&#95;v2.onnx</code> | "
        f"{renamed} B | = 0 B | 0 | – |"
    )
    # The bloated model: human units everywhere, the broken budgets in words.
    growth = encoder - base["encoder.onnx"]
    percent = growth / base["encoder.onnx"] * 100
    assert encoder_row == (
        f"| ❌ | <code>models/encoder.onnx</code> | {format_bytes(encoder)} | "
        f"▲ +{format_bytes(growth)} ({percent:+.1f}%) | "
        "4 (OSL101, OSL201, OSL301, OSL302)"
        f"<br>**{format_bytes(encoder)}: {format_bytes(encoder - 50_000)} over the 50 kB budget**"
        f"<br>**+{format_bytes(growth)} ({percent:+.1f}%) over the 20% growth budget** | "
        "80.1 kB |"
    )
    # The deleted model: a row, and its size leaves the total.
    assert deleted_row == (
        f"| 🗑️ | <code>models/legacy.onnx</code> | deleted | "
        f"▼ -{format_bytes(base['legacy.onnx'])} (-100.0%) | – | – |"
    )
    change = growth - base["legacy.onnx"]
    base_total = sum(base.values())
    assert total_row == (
        f"| | **Total** (3 models, 1 deleted) | **{format_bytes(encoder + renamed)}** | "
        f"**▲ +{format_bytes(change)} ({change / base_total * 100:+.1f}%)** | **4** | "
        "**80.1 kB** |"
    )
    assert "MB" not in step.summary  # no "0.08 MB" for 80 kB
    # docs/ci.md shows this very table.
    docs = (Path(__file__).resolve().parents[1] / "docs" / "ci.md").read_text()
    assert [row for row in _rows(step.summary) if row not in docs] == []
    assert "steady.onnx" not in step.summary  # unchanged: not this pull request's

    assert step.outputs == {
        "findings": "4",
        "removable-bytes": str(80_058),
        "size-change-bytes": str(change),
        "version": __version__,
    }
    # Broken budgets first, then the other findings, in the order of the file.
    assert _titles(step.annotations) == [
        "models/encoder.onnx OSL301 model-size",
        "models/encoder.onnx OSL302 size-growth",
        "models/encoder.onnx OSL101 unused-initializer",
        "models/encoder.onnx OSL201 identity-op",
    ]


def test_annotations_show_budget_failures_first_and_count_the_rest(tmp_path: Path) -> None:
    repo = new_repository(
        tmp_path / "repo",
        '[tool.onnxslim-lint.budget.per-file]\n"models/z.onnx" = { max-size = "100 B" }\n',
    )
    ci_models.write(repo / "models" / "keep.onnx")
    commit(repo, "base")
    git(repo, "checkout", "-q", "-b", "feature")
    for index in range(6):  # two findings each (OSL101, OSL201), sorted before z.onnx
        ci_models.write(repo / "models" / f"a{index}.onnx", dead_floats=300 + index)
    ci_models.write(repo / "models" / "z.onnx")  # clean, but over its budget
    commit(repo, "pull request")

    step = run_step(repo, paths="models")
    assert step.returncode == 1, step.stderr
    errors = [a for a in step.annotations if a.startswith("::error ")]
    assert len(errors) == 10
    assert _titles(errors)[0] == "models/z.onnx OSL301 model-size"
    assert (
        _titles(errors)[1:]
        == [
            f"models/a{i}.onnx {rule}"
            for i in range(5)
            for rule in ("OSL101 unused-initializer", "OSL201 identity-op")
        ][:9]
    )
    assert step.annotations[-1] == (
        "::notice title=onnxslim-lint::+3 more findings: see the job summary"
    )
    assert len(step.annotations) == 11
    # Every finding is in the summary, the three without an annotation included.
    assert step.outputs["findings"] == "13"
    assert step.summary.count("<code>models/a5.onnx</code>: **OSL") == 2
    z_row = next(row for row in _rows(step.summary) if "<code>models/z.onnx</code>" in row)
    z_size = _size(repo / "models" / "z.onnx")
    over = format_bytes(z_size - 100)
    assert f"**{format_bytes(z_size)}: {over} over the 100 B budget**" in z_row


@pytest.mark.parametrize(
    ("inputs", "line"),
    [
        (
            {"args": "--select OSL1 --bogus"},
            "the `args` input is not valid: unrecognized arguments: --bogus",
        ),
        (
            {"args": '--select "OSL1'},
            "the `args` input cannot be split into arguments: No closing quotation",
        ),
        (
            {"args": "--select OSL999"},
            "unknown rule selector 'OSL999' in --select",
        ),
        (
            {"paths": "models modles"},
            "the `paths` input names `modles`, which does not exist",
        ),
    ],
    ids=["unknown-option", "unbalanced-quote", "unknown-rule", "missing-path"],
)
def test_a_wrong_input_fails_with_one_clear_summary_line(
    tmp_path: Path, inputs: dict[str, str], line: str
) -> None:
    repo = make_pull_request(tmp_path / "repo")
    step = run_step(repo, **{"paths": "models", **inputs})
    assert step.returncode == 2, step.stdout + step.stderr
    title, blank, said, *rest = step.summary.splitlines()
    assert (title, blank, rest) == ("## onnxslim-lint", "", [])
    assert said.startswith("❌ **Nothing was checked:** ")
    assert html.escape(line).replace("`", "&#96;") in said
    (note,) = step.annotations
    assert note.startswith("::error title=onnxslim-lint::") and line in note
    assert step.outputs == {
        "findings": "",
        "removable-bytes": "",
        "size-change-bytes": "",
        "version": __version__,
    }


def test_a_wrong_budget_in_the_configuration_is_the_summary_line(tmp_path: Path) -> None:
    repo = make_pull_request(tmp_path / "repo")
    (repo / "pyproject.toml").write_text('[tool.onnxslim-lint.budget]\nmax-size = "big"\n')
    step = run_step(repo, paths="models")
    assert step.returncode == 2
    (said,) = [line for line in step.summary.splitlines() if line.startswith("❌")]
    assert "max-size" in said and "pyproject.toml" in said


def test_a_path_the_pull_request_deletes_is_not_a_wrong_input(tmp_path: Path) -> None:
    repo = make_pull_request(tmp_path / "repo")
    step = run_step(repo, paths="models/legacy.onnx\nmodels/encoder.onnx")
    assert step.returncode == 1, step.summary + step.stderr
    models = [re.findall(r"<code>(.*?)</code>", row)[:1] for row in _rows(step.summary)[1:-1]]
    assert models == [["models/encoder.onnx"], ["models/legacy.onnx"]]
    assert "| deleted |" in step.summary
    # The only path named is deleted: nothing to check, the deletion is the summary.
    step = run_step(repo, paths="models/legacy.onnx")
    assert step.returncode == 0, step.summary + step.stderr
    (_, deleted, total) = _rows(step.summary)
    assert deleted.startswith("| 🗑️ | <code>models/legacy.onnx</code> | deleted | ▼ -")
    assert total.startswith("| | **Total** (1 model, 1 deleted) | **0 B** | **▼ -")
    assert step.outputs["findings"] == "0" and int(step.outputs["size-change-bytes"]) < 0
