"""The Action's ``version`` input and output: which onnxslim-lint it installs and runs.

The install step (``scripts/action_install.py``) runs for real: a virtual
environment, then pip. The releases it installs are wheels built here from copies of
this checkout with other version numbers, offered to pip as its only source
(``PIP_NO_INDEX``, ``PIP_FIND_LINKS``), so nothing comes from a registry. The first
install, from the Action's checkout, brings the dependencies the way the other Action
tests get them; the releases then only replace the package.

The last test also runs the whole Action with ``comment: true`` (the inputs'
wiring, the ``github.token`` default) against ``fake_github``; the comment's cases
are in ``test_action_comment.py``.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from fake_github import FakeGitHub, serve
from test_action import (
    PR_EVENT,
    SimulatedRunner,
    _env,
    _parse_github_file,
    checkout_like_actions,
    make_pull_request,
)
from test_action import action_dir as action_dir  # the module fixtures
from test_action import runner_temp as runner_temp

from onnxslim_lint import __version__

ROOT = Path(__file__).resolve().parents[1]
MARKER = "<!-- onnxslim-lint -->"
RELEASES = ("0.2.0", "0.3.0")

sys.path.insert(0, str(ROOT / "scripts"))
import action_install  # noqa: E402  (scripts/ is not a package)


@pytest.mark.parametrize(
    ("version", "requirement"),
    [
        ("", "/action"),
        ("  ", "/action"),
        ("latest", "onnxslim-lint"),
        ("0.2.0", "onnxslim-lint==0.2.0"),
        ("v0.2.0", "onnxslim-lint==0.2.0"),
        ("1.0.0rc1", "onnxslim-lint==1.0.0rc1"),
        (">=0.2", "onnxslim-lint>=0.2"),
        (" >=0.2, <0.3 ", "onnxslim-lint>=0.2,<0.3"),
        ("~=0.2.1", "onnxslim-lint~=0.2.1"),
        ("==0.2.*", "onnxslim-lint==0.2.*"),
        ("!=0.2.1,>0.1", "onnxslim-lint!=0.2.1,>0.1"),
    ],
)
def test_the_version_input_becomes_one_pip_requirement(version: str, requirement: str) -> None:
    assert action_install.pip_requirement(version, "/action") == requirement


@pytest.mark.parametrize(
    "version",
    [
        "--index-url=http://example.invalid/simple",
        "0.2.0 --pre",
        "0.2.0; python_version > '3'",
        "onnx",
        "onnxslim-lint==0.2.0",
        "git+https://example.invalid/onnxslim-lint",
        ">=",
        ">=0.2,",
        "0.2.0,0.3.0",
    ],
)
def test_anything_else_is_refused_before_pip_sees_it(version: str) -> None:
    with pytest.raises(ValueError, match="is not a version"):
        action_install.pip_requirement(version, "/action")


def _release_wheel(source: Path, version: str, into: Path, scratch: Path) -> None:
    """A wheel of ``source`` (this checkout's copy) that calls itself ``version``."""
    tree = scratch / f"onnxslim-lint-{version}"
    shutil.copytree(source, tree)
    for name in ("pyproject.toml", "onnxslim_lint/__init__.py"):
        path = tree / name
        text = path.read_text()
        assert __version__ in text
        path.write_text(text.replace(f'"{__version__}"', f'"{version}"', 1))
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "-w",
            str(into),
            str(tree),
        ],
        check=True,
        capture_output=True,
    )


@pytest.fixture(scope="module")
def releases(action_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder of wheels, releases 0.2.0 and 0.3.0, for ``--find-links``."""
    wheels = tmp_path_factory.mktemp("wheels")
    scratch = tmp_path_factory.mktemp("release-trees")
    for version in RELEASES:
        _release_wheel(action_dir, version, wheels, scratch)
    assert len(list(wheels.glob("onnxslim_lint-*.whl"))) == len(RELEASES)
    return wheels


def _offline(wheels: Path) -> dict[str, str]:
    return {"PIP_NO_INDEX": "1", "PIP_FIND_LINKS": str(wheels)}


def install(
    action_dir: Path,
    runner_temp: Path,
    tmp: Path,
    version: str,
    pip_env: dict[str, str],
) -> tuple[subprocess.CompletedProcess[str], str]:
    """The install step as action.yml runs it; (the run, the version the venv has)."""
    env_file = tmp / "github_env"
    env_file.write_text("")
    env = _env()
    env.pop("PYTHONPATH", None)
    env.update(pip_env)
    env.update(
        GITHUB_ACTION_PATH=str(action_dir),
        GITHUB_ENV=str(env_file),
        RUNNER_TEMP=str(runner_temp),
        INPUT_VERSION=version,
    )
    script = action_dir / "scripts" / "action_install.py"
    done = subprocess.run(
        [sys.executable, str(script)], cwd=tmp, env=env, capture_output=True, text=True, check=False
    )
    python = _parse_github_file(env_file).get("ONNXSLIM_LINT_PYTHON")
    if python is None:
        return done, ""
    ran = subprocess.run(
        [python, "-m", "onnxslim_lint", "--version"],
        cwd=tmp,  # not this checkout, which -m would import instead
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return done, ran.stdout.strip().removeprefix("onnxslim-lint ")


@pytest.fixture(scope="module")
def dependencies(
    action_dir: Path, runner_temp: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """The runner's environment with the Action's checkout and its dependencies."""
    done, installed = install(action_dir, runner_temp, tmp_path_factory.mktemp("first"), "", {})
    assert done.returncode == 0, done.stdout + done.stderr
    assert installed == __version__


def test_the_install_step_installs_the_release_the_version_input_names(
    action_dir: Path, runner_temp: Path, releases: Path, dependencies: None, tmp_path: Path
) -> None:
    offline = _offline(releases)
    for version, expected, pip_env in [
        (">=0.2,<0.3", "0.2.0", offline),
        ("latest", "0.3.0", offline),  # an upgrade of the 0.2.0 there
        ("v0.2.0", "0.2.0", offline),
        ("", __version__, {}),  # the checkout again (its build needs setuptools: an index)
    ]:
        done, installed = install(action_dir, runner_temp, tmp_path, version, pip_env)
        assert done.returncode == 0, version + done.stdout + done.stderr
        assert installed == expected, version
    # A release that does not exist, and an input that is not a version: exit 2, said.
    done, installed = install(action_dir, runner_temp, tmp_path, "0.9.0", offline)
    assert done.returncode == 2 and installed == ""
    assert "::error title=onnxslim-lint::pip could not install onnxslim-lint==0.9.0" in done.stdout
    done, installed = install(action_dir, runner_temp, tmp_path, "--pre", offline)
    assert done.returncode == 2 and installed == ""
    assert "::error title=onnxslim-lint::version '--pre' is not a version" in done.stdout
    assert "pip install" not in done.stderr
    done, _ = install(action_dir, runner_temp, tmp_path, "1\n::warning::hi %", offline)
    assert done.returncode == 2
    assert done.stdout.splitlines() == [
        "::error title=onnxslim-lint::version '1\\n::warning::hi %25' is not a version "
        "(0.2.0) or a version specifier (>=0.2,<0.3)"
    ]


def test_the_action_outputs_the_version_that_ran_and_comments_through_its_inputs(
    action_dir: Path, runner_temp: Path, releases: Path, dependencies: None, tmp_path: Path
) -> None:
    pr = make_pull_request(tmp_path, head="bloated")
    workspace = tmp_path / "workspace"
    checkout_like_actions(pr.origin, workspace)
    event = tmp_path / "event.json"
    event.write_text(
        json.dumps(
            {
                "number": 1,
                "pull_request": {
                    "number": 1,
                    "head": {"repo": {"full_name": "octo/models"}},
                    "base": {"repo": {"full_name": "octo/models"}},
                },
            }
        )
    )
    token = "ghs_the-jobs-token"
    runs = []
    with serve(FakeGitHub("octo/models", 1, token)) as github:
        for index, version in enumerate(("0.3.0", "")):
            scratch = tmp_path / f"runner-files-{index}"
            scratch.mkdir()
            event_env = dict(PR_EVENT)
            event_env.update(_offline(releases) if version else {})
            event_env.update(
                GITHUB_EVENT_PATH=str(event), GITHUB_API_URL=github.url, NO_PROXY="127.0.0.1"
            )
            runner = SimulatedRunner(action_dir, workspace, scratch)
            inputs = {"paths": "models", "comment": "true", "version": version}
            runs.append(
                runner.run(inputs, event_env, runner_temp=runner_temp, github={"token": token})
            )
    release, checkout = runs
    assert release.returncode == 1, release.stdout + release.stderr  # the check's verdict
    assert release.outputs["version"] == "0.3.0"
    assert release.outputs["findings"] == "6"
    assert checkout.returncode == 1, checkout.stdout + checkout.stderr
    assert checkout.outputs["version"] == __version__
    # The token came from the github-token input's default, github.token.
    assert {r.headers["authorization"] for r in github.requests} == {f"Bearer {token}"}
    assert [r.method for r in github.requests] == ["GET", "POST", "GET", "PATCH"]
    (comment,) = github.marked(MARKER)
    assert comment["body"].startswith(MARKER + "\n## onnxslim-lint")
    assert checkout.summary.strip() in comment["body"]
