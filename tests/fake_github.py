"""A local HTTP server that plays the part of GitHub's REST API for the Action's comment.

It serves one repository's pull-request comments the way the API does: the list in
pages (a small page size, so a client that ignores ``Link: rel="next"`` misses
comments), ``POST`` to add one, ``PATCH`` to edit one. It records every request, and
answers 401 to a request without ``Authorization: Bearer <token>``, as GitHub does.
``refuse_with`` makes it answer every request with that status instead (a read-only
token gets 403 "Resource not accessible by integration").
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class Recorded:
    method: str
    path: str  # with the query
    headers: dict[str, str]
    body: Any


@dataclass
class FakeGitHub:
    repository: str
    number: int
    token: str
    page_size: int = 2
    comments: list[dict[str, Any]] = field(default_factory=list)
    requests: list[Recorded] = field(default_factory=list)
    refuse_with: int | None = None
    next_link_base: str | None = None  # where the ``rel="next"`` links point (default: here)
    url: str = ""
    _next_id: int = 1000

    def add_comment(self, body: str, user: str = "someone") -> dict[str, Any]:
        self._next_id += 1
        comment = {
            "id": self._next_id,
            "body": body,
            "user": {"login": user},
            "html_url": f"https://github.com/{self.repository}/pull/{self.number}"
            f"#issuecomment-{self._next_id}",
        }
        self.comments.append(comment)
        return comment

    def marked(self, marker: str) -> list[dict[str, Any]]:
        return [c for c in self.comments if c["body"].startswith(marker)]

    # ----------------------------------------------------------------------- routing

    def answer(
        self, method: str, target: str, headers: dict[str, str], body: Any
    ) -> tuple[int, Any, dict[str, str]]:
        self.requests.append(Recorded(method, target, headers, body))
        if self.refuse_with is not None:
            return self.refuse_with, {"message": "Resource not accessible by integration"}, {}
        if headers.get("authorization") != f"Bearer {self.token}":
            return 401, {"message": "Bad credentials"}, {}
        split = urlsplit(target)
        issue = f"/repos/{self.repository}/issues/{self.number}/comments"
        edit = re.fullmatch(
            rf"/repos/{re.escape(self.repository)}/issues/comments/(\d+)", split.path
        )
        if method == "GET" and split.path == issue:
            page = int(parse_qs(split.query).get("page", ["1"])[0])
            start = (page - 1) * self.page_size
            link = {}
            if start + self.page_size < len(self.comments):
                base = self.next_link_base or self.url
                link["Link"] = f'<{base}{issue}?per_page=100&page={page + 1}>; rel="next"'
            return 200, self.comments[start : start + self.page_size], link
        if method == "POST" and split.path == issue:
            return 201, self.add_comment(body["body"], user="github-actions[bot]"), {}
        if method == "PATCH" and edit:
            for comment in self.comments:
                if comment["id"] == int(edit.group(1)):
                    comment["body"] = body["body"]
                    return 200, comment, {}
        return 404, {"message": "Not Found"}, {}


def _handler(api: FakeGitHub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            body = json.loads(raw) if raw else None
            headers = {k.lower(): v for k, v in self.headers.items()}
            status, payload, extra = api.answer(self.command, self.path, headers, body)
            data = json.dumps(payload).encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in extra.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PATCH = _serve

        def log_message(self, format: str, *args: Any) -> None:  # quiet test output
            pass

    return Handler


@contextmanager
def serve(api: FakeGitHub) -> Iterator[FakeGitHub]:
    """``api`` listening on a free local port (``api.url``) for the ``with`` block."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(api))
    api.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield api
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
