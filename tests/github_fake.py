"""A local fake of the GitHub REST endpoints `bricksync comment --github` uses, over real HTTP.

Paths, bodies and errors as docs.github.com/rest describes them (API version 2022-11-28):
GET /user, POST /graphql (the `viewer` query only), issue comments list (paged by per_page/page
with a Link rel="next" header) / create (201) / update, commit statuses create (201) / list
(newest first). Errors come as GitHub sends them: {"message": ..., "documentation_url": ...},
422 validation failures with an `errors` list. An installation token (the job's GITHUB_TOKEN) is
refused by GET /user with 403 "Resource not accessible by integration" and is
`github-actions[bot]` to GraphQL's viewer and on its comments. A collaborator's token may edit
anyone's comment here, as on GitHub: nothing but bricksync's own check keeps it off others'.
Faults: a status (and headers) on a method + path pattern for N calls, before the handler or
after it (the write happened, the answer was lost), or the connection dropped after it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, urlsplit

from .http_fake import FakeService
from .http_fake import Fault as BaseFault

HEAD = "89abcdef0123456789abcdef0123456789abcdef"  # the pull request's head commit
MERGE = "fedcba9876543210fedcba9876543210fedcba98"  # the merge commit GITHUB_SHA names in a pull_request run
BOT = {"login": "github-actions[bot]", "id": 41898282, "type": "Bot"}
USER = {"login": "bricksync-ci", "id": 5001, "type": "User"}
HUMAN = {"login": "mallory", "id": 6666, "type": "User"}
STATES = {"error", "failure", "pending", "success"}
DOCS = "https://docs.github.com/rest"


@dataclass
class Fault(BaseFault):
    drop: bool = False  # run the handler, then close the connection with no answer at all
    headers: dict[str, str] = field(default_factory=dict)
    message: str = "fault"


@dataclass
class FakeGitHub(FakeService):
    token: str
    app_token: bool = True  # an installation token (GITHUB_TOKEN); False: a user's PAT
    repository: str = "octo-org/jobs-repo"
    pr: int = 7
    page_size: int = 100  # the most a page holds (GitHub: per_page up to 100)
    comments: list[dict] = field(default_factory=list)
    statuses: list[dict] = field(default_factory=list)
    log: list[tuple[str, str, int]] = field(default_factory=list)  # method, path, status
    faults: list[Fault] = field(default_factory=list)
    headers_seen: list[dict] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._start_server()
        self._next_id = 1000

    @property
    def identity(self) -> dict:
        return BOT if self.app_token else USER

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def event(self, name: str = "pull_request") -> dict:
        """The event payload of a run about this pull request."""
        pr = {"number": self.pr, "head": {"sha": HEAD, "ref": "feature"}, "base": {"ref": "main"}}
        if name == "workflow_run":
            return {"action": "completed", "workflow_run": {
                "id": 99, "event": "pull_request", "head_sha": HEAD, "run_number": 12, "conclusion": "failure",
                "html_url": f"https://github.com/{self.repository}/actions/runs/99", "pull_requests": [pr]}}
        return {"action": "synchronize", "number": self.pr, "pull_request": pr}

    def env(self, event_path: str, name: str = "pull_request") -> dict[str, str]:
        """The default variables of a run (GITHUB_ACTIONS and the rest), pointing at this fake."""
        return {"GITHUB_ACTIONS": "true", "GITHUB_REPOSITORY": self.repository, "GITHUB_EVENT_NAME": name,
                "GITHUB_EVENT_PATH": event_path, "GITHUB_API_URL": self.api_url,
                "GITHUB_GRAPHQL_URL": f"{self.api_url}/graphql", "GITHUB_SERVER_URL": "https://github.com",
                "GITHUB_RUN_ID": "4242", "GITHUB_RUN_NUMBER": "31", "GITHUB_SHA": MERGE,
                "GITHUB_TOKEN": self.token}

    def add_comment(self, body: str, user: dict) -> dict:
        """A comment someone (or an earlier run) wrote."""
        with self._lock:
            return self._new_comment(body, user)

    # --- request handling ----------------------------------------------------------------------

    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        url = urlsplit(h.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        length = int(h.headers.get("Content-Length") or 0)
        raw = h.rfile.read(length) if length else b""
        self.headers_seen.append(dict(h.headers))
        fault = self._fault(h.command, url.path)
        if fault and not (fault.after or fault.drop):
            return self._reply(h, url.path, fault.status, {"message": fault.message}, fault.headers)
        status, doc, headers = self._route(h, url.path, query, raw)
        if fault and fault.drop:
            self.log.append((h.command, url.path, 0))
            h.close_connection = True
            return None
        if fault:
            return self._reply(h, url.path, fault.status, {"message": fault.message}, fault.headers)
        self._reply(h, url.path, status, doc, headers)

    def _reply(self, h: BaseHTTPRequestHandler, path: str, status: int, doc: object,
               headers: dict[str, str] | None = None) -> None:
        self.log.append((h.command, path, status))
        data = json.dumps(doc).encode()
        h.send_response(status)
        h.send_header("Content-Type", "application/json; charset=utf-8")
        h.send_header("Content-Length", str(len(data)))
        h.send_header("x-ratelimit-limit", "1000")
        for name, value in (headers or {}).items():
            h.send_header(name, value)
        h.end_headers()
        h.wfile.write(data)

    def _route(self, h: BaseHTTPRequestHandler, path: str, query: dict, raw: bytes
               ) -> tuple[int, object, dict[str, str]]:
        if h.headers.get("Authorization") != f"Bearer {self.token}":
            return 401, _error("Bad credentials"), {}
        body = json.loads(raw) if raw else None
        if path == "/user" and h.command == "GET":
            if self.app_token:
                return 403, _error("Resource not accessible by integration"), {}
            return 200, dict(USER), {}
        if path == "/graphql" and h.command == "POST":
            if "viewer" not in str((body or {}).get("query")):
                return 200, {"errors": [{"message": "this fake answers the viewer query only"}]}, {}
            return 200, {"data": {"viewer": {"login": self.identity["login"]}}}, {}
        base = f"/repos/{self.repository}"
        if not path.startswith(base + "/"):
            return 404, _error("Not Found"), {}
        with self._lock:
            return self._repo(h.command, path[len(base):], query, body)

    def _repo(self, method: str, rest: str, query: dict, body: dict | None) -> tuple[int, object, dict[str, str]]:
        if rest == f"/issues/{self.pr}/comments" and method == "GET":
            return self._page(query)
        if rest == f"/issues/{self.pr}/comments" and method == "POST":
            text = (body or {}).get("body")
            if not isinstance(text, str) or not text:
                return 422, _invalid("IssueComment", "body", "missing_field"), {}
            if len(text) > 65536:
                return 422, _invalid("IssueComment", "data", "Body is too long (maximum is 65536 characters)"), {}
            return 201, self._new_comment(text, self.identity), {}
        match = re.fullmatch(r"/issues/comments/(\d+)", rest)
        if match and method == "PATCH":
            comment = next((c for c in self.comments if c["id"] == int(match.group(1))), None)
            if comment is None:
                return 404, _error("Not Found"), {}
            comment["body"] = (body or {}).get("body")
            return 200, comment, {}
        match = re.fullmatch(r"/(?:statuses|commits)/([0-9a-f]{40})(/statuses)?", rest)
        if match and method == "POST" and rest.startswith("/statuses/"):
            return self._post_status(match.group(1), body or {})
        if match and method == "GET" and match.group(2):
            mine = [s for s in reversed(self.statuses) if s["sha"] == match.group(1)]
            return 200, mine, {}
        return 404, _error("Not Found"), {}

    def _page(self, query: dict) -> tuple[int, object, dict[str, str]]:
        size = min(int(query.get("per_page", 30)), 100, self.page_size)
        page = int(query.get("page", 1))
        items = self.comments[(page - 1) * size: page * size]
        headers = {}
        if page * size < len(self.comments):
            nxt = f"{self.api_url}/repos/{self.repository}/issues/{self.pr}/comments?per_page={size}&page={page + 1}"
            headers["Link"] = f'<{nxt}>; rel="next"'
        return 200, items, headers

    def _post_status(self, sha: str, body: dict) -> tuple[int, object, dict[str, str]]:
        if sha not in (HEAD, MERGE):
            return 422, _invalid("Status", "sha", f"No commit found for SHA: {sha}"), {}
        if body.get("state") not in STATES:
            return 422, _invalid("Status", "state", "invalid"), {}
        if len(str(body.get("description") or "")) > 140:
            return 422, _invalid("Status", "description", "description is too long (maximum is 140 characters)"), {}
        status = {**body, "sha": sha, "context": body.get("context") or "default", "id": len(self.statuses) + 1,
                  "creator": dict(self.identity)}
        self.statuses.append(status)
        return 201, status, {}

    def _new_comment(self, text: str, user: dict) -> dict:
        self._next_id += 1
        comment = {"id": self._next_id, "body": text, "user": dict(user),
                   "html_url": f"https://github.com/{self.repository}/pull/{self.pr}#issuecomment-{self._next_id}"}
        self.comments.append(comment)
        return comment


def _error(message: str) -> dict:
    return {"message": message, "documentation_url": DOCS, "status": "error"}


def _invalid(resource: str, field_name: str, message: str) -> dict:
    return {"message": "Validation Failed", "documentation_url": DOCS,
            "errors": [{"resource": resource, "code": "custom", "field": field_name, "message": message}]}
