"""The Action's sticky pull-request comment (input ``comment``), against a fake GitHub.

``scripts/github_action.py`` runs for real, as the Action's run step does: a
subprocess in a pull request checkout made like actions/checkout's, with the
runner's environment variables and an event file; the API it talks to is
``fake_github``'s local server. ``test_action_install.py`` runs the same through
``action.yml`` (the ``comment`` and ``github-token`` inputs).
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fake_github import FakeGitHub, serve
from test_action import PR_EVENT, _env, _parse_github_file, checkout_like_actions, make_pull_request

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "github_action.py"
MARKER = "<!-- onnxslim-lint -->"
TOKEN = "ghs_test-token"

sys.path.insert(0, str(ROOT / "scripts"))
import pr_comment  # noqa: E402  (scripts/ is not a package)


def pull_request_event(head_repository: str = "octo/models") -> dict[str, object]:
    """The fields of a ``pull_request`` event file that the comment reads."""
    return {
        "action": "synchronize",
        "number": 1,
        "pull_request": {
            "number": 1,
            "head": {"ref": "feature", "repo": {"full_name": head_repository}},
            "base": {"ref": "main", "repo": {"full_name": "octo/models"}},
        },
    }


@dataclass
class StepRun:
    returncode: int
    stdout: str
    stderr: str
    summary: str
    outputs: dict[str, str]

    @property
    def annotations(self) -> list[str]:
        return [line for line in self.stdout.splitlines() if line.startswith("::")]


@pytest.fixture(scope="module")
def checkouts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Pull request checkouts: one that fails the check (exit 1), one that passes."""
    made = {}
    for head in ("bloated", "clean"):
        tmp = tmp_path_factory.mktemp(head)
        pr = make_pull_request(tmp, head=head)
        checkout_like_actions(pr.origin, tmp / "workspace")
        made[head] = tmp / "workspace"
    return made


@pytest.fixture
def github() -> Iterator[FakeGitHub]:
    with serve(FakeGitHub("octo/models", 1, TOKEN)) as api:
        yield api


def run_step(
    workspace: Path,
    tmp: Path,
    api_url: str,
    *,
    event: dict[str, object],
    event_name: str = "pull_request",
    comment: str | None = "true",
    token: str = TOKEN,
    run_id: str = "101",
) -> StepRun:
    tmp.mkdir(parents=True, exist_ok=True)
    event_file = tmp / "event.json"
    event_file.write_text(json.dumps(event))
    summary, output = tmp / "summary.md", tmp / "output"
    summary.write_text("")
    output.write_text("")
    env = _env()
    env.update(PR_EVENT)
    env.update(
        GITHUB_ACTIONS="true",
        GITHUB_EVENT_NAME=event_name,
        GITHUB_EVENT_PATH=str(event_file),
        GITHUB_WORKSPACE=str(workspace),
        GITHUB_STEP_SUMMARY=str(summary),
        GITHUB_OUTPUT=str(output),
        GITHUB_API_URL=api_url,
        GITHUB_SERVER_URL="https://github.com",
        GITHUB_RUN_ID=run_id,
        INPUT_PATHS="models",
        INPUT_CHANGED_ONLY="true",
        INPUT_GITHUB_TOKEN=token,
        NO_PROXY="127.0.0.1",
    )
    if event_name not in ("pull_request", "pull_request_target"):
        env.pop("GITHUB_BASE_REF")
    if comment is not None:
        env["INPUT_COMMENT"] = comment
    done = subprocess.run(
        [sys.executable, str(SCRIPT)],
        cwd=workspace,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    return StepRun(
        done.returncode,
        done.stdout,
        done.stderr,
        summary.read_text(),
        _parse_github_file(output),
    )


def test_first_run_posts_the_summary_and_later_runs_update_that_comment(
    checkouts: dict[str, Path], github: FakeGitHub, tmp_path: Path
) -> None:
    # Three comments by people already: with two a page, the list takes two pages.
    for text in ("LGTM", "the encoder grew?", f"quoting the tool: {MARKER}"):
        github.add_comment(text)
    first = run_step(checkouts["bloated"], tmp_path / "1", github.url, event=pull_request_event())
    assert first.returncode == 1, first.stdout + first.stderr  # the check's verdict
    assert [(r.method, r.path) for r in github.requests] == [
        ("GET", "/repos/octo/models/issues/1/comments?per_page=100"),
        ("GET", "/repos/octo/models/issues/1/comments?per_page=100&page=2"),
        ("POST", "/repos/octo/models/issues/1/comments"),
    ]
    (posted,) = github.marked(MARKER)
    body = posted["body"]
    assert body.startswith(MARKER + "\n## onnxslim-lint")
    assert first.summary.strip() in body  # the job summary, whole
    assert "<code>models/encoder.onnx</code>" in body
    assert "(https://github.com/octo/models/actions/runs/101)" in body
    assert len(github.comments) == 4
    assert not [a for a in first.annotations if "comment" in a]
    assert "comment: posted on pull request #1" in first.stderr

    # The next push: the marked comment (now on page 2) is edited, none is added.
    github.requests.clear()
    second = run_step(
        checkouts["bloated"], tmp_path / "2", github.url, event=pull_request_event(), run_id="102"
    )
    assert second.returncode == 1
    assert [(r.method, r.path) for r in github.requests] == [
        ("GET", "/repos/octo/models/issues/1/comments?per_page=100"),
        ("GET", "/repos/octo/models/issues/1/comments?per_page=100&page=2"),
        ("PATCH", f"/repos/octo/models/issues/comments/{posted['id']}"),
    ]
    assert len(github.comments) == 4
    (updated,) = github.marked(MARKER)
    assert updated["id"] == posted["id"]
    assert "/actions/runs/102)" in updated["body"] and "/actions/runs/101)" not in updated["body"]
    assert "comment: updated on pull request #1" in second.stderr

    for request in github.requests:
        assert request.headers["authorization"] == f"Bearer {TOKEN}"
        assert request.headers["accept"] == "application/vnd.github+json"


def test_a_pull_request_from_a_fork_is_not_commented_on(
    checkouts: dict[str, Path], github: FakeGitHub, tmp_path: Path
) -> None:
    run = run_step(
        checkouts["bloated"], tmp_path, github.url, event=pull_request_event("someone/models")
    )
    assert run.returncode == 1
    assert github.requests == []
    (notice,) = [a for a in run.annotations if a.startswith("::notice")]
    assert "fork" in notice and "read-only" in notice and "job summary" in notice
    assert "<code>models/encoder.onnx</code>" in run.summary  # the summary is still there


def test_pull_request_target_from_a_fork_comments_with_its_write_token(
    checkouts: dict[str, Path], github: FakeGitHub, tmp_path: Path
) -> None:
    run = run_step(
        checkouts["clean"],
        tmp_path,
        github.url,
        event=pull_request_event("someone/models"),
        event_name="pull_request_target",
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert [r.method for r in github.requests] == ["GET", "POST"]
    assert len(github.marked(MARKER)) == 1


def _closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


@pytest.mark.parametrize(
    ("failure", "said"),
    [
        ("read-only token", "answered 403 to GET /repos/octo/models/issues/1/comments"),
        ("wrong token", "answered 401 to GET"),
        ("no server", "did not answer"),
    ],
)
def test_an_api_failure_is_a_warning_and_keeps_the_checks_exit_code(
    checkouts: dict[str, Path], github: FakeGitHub, tmp_path: Path, failure: str, said: str
) -> None:
    url, token = github.url, TOKEN
    if failure == "read-only token":
        github.refuse_with = 403
    elif failure == "wrong token":
        token = "ghs_another"
    else:
        url = _closed_port_url()
    run = run_step(checkouts["clean"], tmp_path, url, event=pull_request_event(), token=token)
    assert run.returncode == 0, run.stdout + run.stderr  # the clean check's code, kept
    assert run.outputs["findings"] == "0"
    (warning,) = [a for a in run.annotations if a.startswith("::warning")]
    assert warning.startswith("::warning title=onnxslim-lint::no pull request comment: GitHub API")
    assert said in warning
    assert ("pull-requests: write" in warning) == (failure == "read-only token")
    assert github.comments == []


def test_nothing_is_commented_outside_a_pull_request_or_when_not_asked(
    checkouts: dict[str, Path], github: FakeGitHub, tmp_path: Path
) -> None:
    push = run_step(
        checkouts["clean"],
        tmp_path / "push",
        github.url,
        event={"ref": "refs/heads/main", "commits": []},
        event_name="push",
    )
    # No base on a push: every model is checked, and legacy.onnx has dead weight.
    assert push.returncode == 1, push.stdout + push.stderr
    assert [a for a in push.annotations if not a.startswith("::error file=")] == []
    assert "comment: not a pull request (push)" in push.stderr
    unasked = run_step(
        checkouts["clean"],
        tmp_path / "default",
        github.url,
        event=pull_request_event(),
        comment=None,
    )
    assert unasked.returncode == 0
    assert unasked.annotations == []
    assert github.requests == []


# --------------------------------------------------------------------------- the client


def test_a_long_summary_is_cut_at_a_line_to_githubs_comment_limit() -> None:
    rows = [f"| <code>models/m{i}.onnx</code> | 1.00 MB | ✅ |" for i in range(5000)]
    summary = "## onnxslim-lint\n\n" + "\n".join(rows) + "\n"
    run_url = "https://github.com/octo/models/actions/runs/7"
    body = pr_comment.comment_body(summary, run_url)
    assert len(summary) > pr_comment.MAX_BODY
    assert len(body) <= pr_comment.MAX_BODY
    assert body.startswith(MARKER + "\n## onnxslim-lint\n")
    kept = body.split("\n\n… (cut")[0].splitlines()[-1]
    assert kept in rows  # a whole row, never half of one
    assert "the job summary has it all" in body and run_url in body
    short = pr_comment.comment_body("## onnxslim-lint\n\nok\n", None)
    assert short == MARKER + "\n## onnxslim-lint\n\nok\n"


def test_the_token_never_follows_a_link_off_the_api(github: FakeGitHub) -> None:
    for text in ("a", "b", "c"):
        github.add_comment(text)
    github.next_link_base = "http://attacker.invalid"
    api = pr_comment.GitHubApi(github.url, TOKEN)
    with pytest.raises(pr_comment.ApiError, match="refusing to follow a link off the API"):
        list(api.paginate("/repos/octo/models/issues/1/comments?per_page=100"))
    assert len(github.requests) == 1
