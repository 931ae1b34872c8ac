"""The Action's sticky pull-request comment: the job summary, posted once and then updated.

One comment per pull request, found again by the hidden ``MARKER`` on its first line,
so every push edits it instead of adding another. Optional (input ``comment``): the
job summary stays the primary surface, since pull requests from forks get a read-only
token. A comment that cannot be made is a warning, never the check's failure.

Talks to the REST API with urllib (the Action installs nothing for it):
``GET /repos/{repo}/issues/{n}/comments`` (followed through ``Link: rel="next"``),
then ``PATCH /repos/{repo}/issues/comments/{id}`` or ``POST .../issues/{n}/comments``.
"""

from __future__ import annotations

import json
import re
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from onnxslim_lint.report.formatters.github import escape_data

MARKER = "<!-- onnxslim-lint -->"
MAX_BODY = 65_536  # GitHub refuses a longer comment body (characters)
PULL_REQUEST_EVENTS = ("pull_request", "pull_request_target")
TIMEOUT_SECONDS = 30
_NEXT = re.compile(r'<([^>]+)>\s*;\s*rel="next"')


class ApiError(Exception):
    """A request that failed: ``status`` is the HTTP status, None when none came back."""

    def __init__(self, method: str, path: str, status: int | None, reason: str) -> None:
        self.method = method
        self.path = path
        self.status = status
        self.reason = reason
        answer = f"answered {status}" if status is not None else "did not answer"
        super().__init__(f"GitHub API {answer} to {method} {path}: {reason}")


class GitHubApi:
    """The few REST calls the comment needs, with a token and a timeout."""

    def __init__(self, base_url: str, token: str, timeout: float = TIMEOUT_SECONDS) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.timeout = timeout

    def request(
        self, method: str, path_or_url: str, payload: dict[str, Any] | None = None
    ) -> tuple[Any, str]:
        """The decoded JSON answer and its ``Link`` header."""
        url = path_or_url if "://" in path_or_url else self.base_url + path_or_url
        path = url.removeprefix(self.base_url)
        if not url.startswith(self.base_url + "/"):  # the token goes to the API only
            raise ApiError(method, path, None, f"refusing to follow a link off the API: {url}")
        data = None if payload is None else json.dumps(payload).encode("utf-8")
        request = urllib.request.Request(url, data=data, method=method)
        request.add_header("Authorization", f"Bearer {self.token}")
        request.add_header("Accept", "application/vnd.github+json")
        request.add_header("X-GitHub-Api-Version", "2022-11-28")
        request.add_header("User-Agent", "onnxslim-lint-action")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                body = response.read()
                link = response.headers.get("Link", "")
        except urllib.error.HTTPError as exc:
            raise ApiError(method, path, exc.code, _error_message(exc)) from exc
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", None) or exc
            raise ApiError(method, path, None, str(reason)) from exc
        try:
            return (json.loads(body) if body else None), link
        except ValueError as exc:
            raise ApiError(method, path, None, "the answer is not JSON") from exc

    def paginate(self, path: str) -> Iterator[Any]:
        """Each item of a list endpoint, page after page."""
        url: str | None = path
        while url:
            items, link = self.request("GET", url)
            if not isinstance(items, list):
                raise ApiError("GET", url, None, "the answer is not a list")
            yield from items
            found = _NEXT.search(link)
            url = found.group(1) if found else None


def _error_message(exc: urllib.error.HTTPError) -> str:
    try:
        message = json.loads(exc.read()).get("message")
    except (ValueError, AttributeError, OSError):
        message = None
    return str(message or exc.reason)


def comment_body(summary: str, run_url: str | None) -> str:
    """The marker, the summary and a link to the run, within GitHub's length limit."""
    footer = f"\n<sub>From [this run]({run_url}); updated on each push.</sub>\n" if run_url else ""
    body = f"{MARKER}\n{summary.rstrip()}\n{footer}"
    if len(body) <= MAX_BODY:
        return body
    note = "\n\n… (cut to GitHub's comment limit: the job summary has it all)\n"
    room = MAX_BODY - len(MARKER) - len(note) - len(footer) - 1
    cut = summary[:room]
    cut = cut[: cut.rfind("\n")] if "\n" in cut else cut
    return f"{MARKER}\n{cut}{note}{footer}"


def upsert_comment(api: GitHubApi, repository: str, number: int, body: str) -> tuple[str, Any]:
    """Update the pull request's marked comment, or post one: ("updated" | "posted", it)."""
    for comment in api.paginate(f"/repos/{repository}/issues/{number}/comments?per_page=100"):
        if str(comment.get("body") or "").startswith(MARKER):
            path = f"/repos/{repository}/issues/comments/{comment['id']}"
            updated, _ = api.request("PATCH", path, {"body": body})
            return "updated", updated
    posted, _ = api.request("POST", f"/repos/{repository}/issues/{number}/comments", {"body": body})
    return "posted", posted


@dataclass(frozen=True)
class PullRequest:
    number: int
    repository: str  # owner/name of the base repository, where the comment goes
    from_fork: bool


def pull_request_of(event: Mapping[str, Any], repository: str) -> PullRequest | None:
    """The pull request a ``pull_request``/``pull_request_target`` event is about."""
    pull = event.get("pull_request")
    if not isinstance(pull, dict):
        return None
    number = pull.get("number", event.get("number"))
    if not isinstance(number, int):
        return None
    base = ((pull.get("base") or {}).get("repo") or {}).get("full_name") or repository
    head = ((pull.get("head") or {}).get("repo") or {}).get("full_name")  # None: fork deleted
    return PullRequest(number, base, head != base)


def _truthy(value: str) -> bool:
    return value.strip().lower() in ("1", "true", "yes", "on")


def _read_event(path: str) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as handle:
            event = json.load(handle)
    except (OSError, ValueError):
        return {}
    return event if isinstance(event, dict) else {}


def post_summary_comment(env: Mapping[str, str], summary: str) -> None:
    """The ``comment`` input's work; prints what it did, never raises for the API."""
    if not _truthy(env.get("INPUT_COMMENT", "false")):
        return
    event_name = env.get("GITHUB_EVENT_NAME", "")
    if event_name not in PULL_REQUEST_EVENTS:
        print(f"comment: not a pull request ({event_name or 'no event'})", file=sys.stderr)
        return
    repository = env.get("GITHUB_REPOSITORY", "")
    pull = pull_request_of(_read_event(env.get("GITHUB_EVENT_PATH", "")), repository)
    if pull is None:
        print("::notice title=onnxslim-lint::no pull request comment: the event names none")
        return
    if not summary.strip():  # the check did not get far enough to write one
        print("comment: no job summary to post", file=sys.stderr)
        return
    if pull.from_fork and event_name == "pull_request":
        print(
            "::notice title=onnxslim-lint::no pull request comment: this pull request comes "
            "from a fork, whose token is read-only; the job summary has the results",
            flush=True,
        )
        return
    token = env.get("INPUT_GITHUB_TOKEN", "").strip()
    if not token:
        print("::notice title=onnxslim-lint::no pull request comment: github-token is empty")
        return
    server = env.get("GITHUB_SERVER_URL", "").rstrip("/")
    run_id = env.get("GITHUB_RUN_ID", "")
    run_url = f"{server}/{repository}/actions/runs/{run_id}" if server and run_id else None
    api = GitHubApi(env.get("GITHUB_API_URL") or "https://api.github.com", token)
    try:
        done, comment = upsert_comment(
            api, pull.repository, pull.number, comment_body(summary, run_url)
        )
    except ApiError as exc:
        hint = " (the job needs `permissions: pull-requests: write`)" if exc.status == 403 else ""
        print(
            f"::warning title=onnxslim-lint::no pull request comment: {escape_data(str(exc))}"
            f"{hint}; the job summary has the results",
            flush=True,
        )
        return
    where = comment.get("html_url", "") if isinstance(comment, dict) else ""
    print(f"comment: {done} on pull request #{pull.number} {where}".rstrip(), file=sys.stderr)
