"""A local fake of the Azure DevOps REST endpoints `bricksync comment` uses, over real HTTP.

Paths, bodies and errors as the REST reference (API 7.1) describes them: Pull Request Threads
List/Create, Pull Request Thread Comments Update, Pull Request Statuses Create, and
_apis/connectionData (who the token belongs to). Errors come as the service sends them:
{"$id": "1", "message": ..., "typeKey": ...}. Faults: a status on a method + path pattern for
N calls, optionally after the handler ran (the write happened, the answer was lost).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, unquote, urlsplit

from .http_fake import FakeService
from .http_fake import Fault as BaseFault

BUILD_SERVICE = "11111111-2222-3333-4444-555555555555"  # "<project> Build Service (<org>)"
HUMAN = "99999999-8888-7777-6666-555555555555"
STATES = {"notSet", "pending", "succeeded", "failed", "error", "notApplicable", "partiallySucceeded"}
MAX_COMMENT = 150_000
COMMIT = "0123456789abcdef0123456789abcdef01234567"  # the commit this PR run built (iteration 2)


@dataclass
class Fault(BaseFault):
    retry_after: str | None = None


@dataclass
class FakeAzdo(FakeService):
    token: str
    org: str = "org"
    project: str = "Data Platform"
    repo: str = "0f6a3d1e-aaaa-bbbb-cccc-000000000001"
    pr: int = 42
    identity: str = BUILD_SERVICE
    threads: list[dict] = field(default_factory=list)
    statuses: list[dict] = field(default_factory=list)
    log: list[tuple[str, str, int]] = field(default_factory=list)  # method, path, status
    faults: list[Fault] = field(default_factory=list)
    headers_seen: list[dict] = field(default_factory=list)
    bodies: list[tuple[str, str, object]] = field(default_factory=list)  # method, path, JSON body
    iterations: list[dict] = field(default_factory=lambda: [
        {"id": 1, "sourceRefCommit": {"commitId": "1111111111111111111111111111111111111111"}},
        {"id": 2, "sourceRefCommit": {"commitId": COMMIT}},
        {"id": 3, "sourceRefCommit": {"commitId": "3333333333333333333333333333333333333333"}}])
    reset_on_new_changes: bool = True  # the status policy option: statuses must name an iteration

    def __post_init__(self) -> None:
        self._start_server()

    @property
    def collection_uri(self) -> str:
        return f"http://127.0.0.1:{self.port}/{self.org}/"

    def env(self) -> dict[str, str]:
        """The predefined variables of a pull-request run, pointing at this fake."""
        return {"SYSTEM_COLLECTIONURI": self.collection_uri, "SYSTEM_TEAMPROJECT": self.project,
                "BUILD_REPOSITORY_ID": self.repo, "SYSTEM_PULLREQUEST_PULLREQUESTID": str(self.pr),
                "SYSTEM_ACCESSTOKEN": self.token, "BUILD_BUILDID": "1234", "BUILD_BUILDNUMBER": "20260101.3",
                "SYSTEM_PULLREQUEST_SOURCECOMMITID": COMMIT,
                "BUILD_REPOSITORY_PROVIDER": "TfsGit", "TF_BUILD": "True"}

    def add_thread(self, content: str, author: str, *, deleted: bool = False) -> dict:
        """A thread someone else (or an earlier run) wrote."""
        with self._lock:
            thread = self._new_thread(content, author)
            thread["isDeleted"] = deleted
            return thread

    # --- request handling ----------------------------------------------------------------------

    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        url = urlsplit(h.path)
        path = unquote(url.path)
        query = parse_qs(url.query)
        length = int(h.headers.get("Content-Length") or 0)
        raw = h.rfile.read(length) if length else b""
        self.headers_seen.append(dict(h.headers))
        fault = self._fault(h.command, path)
        if fault and not fault.after:
            return self._reply(h, path, fault.status, _error(f"fault {fault.status}"), fault.retry_after)
        status, doc = self._route(h, path, query, raw)
        if fault and fault.after:
            return self._reply(h, path, fault.status, _error(f"fault {fault.status} after"), fault.retry_after)
        self._reply(h, path, status, doc)

    def _reply(self, h: BaseHTTPRequestHandler, path: str, status: int, doc: dict,
               retry_after: str | None = None) -> None:
        self.log.append((h.command, path, status))
        data = json.dumps(doc).encode()
        h.send_response(status)
        h.send_header("Content-Type", "application/json; charset=utf-8")
        h.send_header("Content-Length", str(len(data)))
        if retry_after is not None:
            h.send_header("Retry-After", retry_after)
        h.end_headers()
        h.wfile.write(data)

    def _route(self, h: BaseHTTPRequestHandler, path: str, query: dict, raw: bytes) -> tuple[int, dict]:
        if h.headers.get("Authorization") != f"Bearer {self.token}":
            return 401, _error("TF400813: The user '' is not authorized to access this resource.")
        if path == f"/{self.org}/_apis/connectionData":
            if not query.get("api-version", [""])[0].startswith("7.1-preview"):
                return 400, _error("connectionData is a preview API: api-version must be -preview")
            return 200, {"authenticatedUser": {"id": self.identity, "providerDisplayName": "Build Service"},
                         "authorizedUser": {"id": self.identity}}
        base = f"/{self.org}/{self.project}/_apis/git/repositories/{self.repo}/pullRequests/{self.pr}"
        if not path.startswith(base):
            return 404, _error(f"no route for {path}")
        if query.get("api-version") != ["7.1"]:
            return 400, _error("The requested REST API version is not supported: api-version=7.1 expected")
        rest = path[len(base):]
        body = json.loads(raw) if raw else None
        self.bodies.append((h.command, rest, body))
        with self._lock:
            if rest == "/threads" and h.command == "GET":
                return 200, {"value": self.threads, "count": len(self.threads)}
            if rest == "/threads" and h.command == "POST":
                comments = (body or {}).get("comments") or []
                if not comments or not isinstance(comments[0].get("content"), str):
                    return 400, _error("A thread needs a comment with content")
                if len(comments[0]["content"].encode("utf-16-le")) // 2 > MAX_COMMENT:
                    return 400, _error("A discussion comment cannot be longer than 150000 characters.\r\n"
                                       "Parameter name: comment.Content")
                if "status" in body and body["status"] not in ("active", "fixed", "wontFix", "closed", "byDesign",
                                                               "pending", "unknown"):
                    return 400, _error("invalid thread status")
                return 200, self._new_thread(comments[0]["content"], self.identity)
            match = re.fullmatch(r"/threads/(\d+)/comments/(\d+)", rest)
            if match and h.command == "PATCH":
                thread = next((t for t in self.threads if t["id"] == int(match.group(1))), None)
                comment = thread and next((c for c in thread["comments"] if c["id"] == int(match.group(2))), None)
                if not comment or thread["isDeleted"]:
                    return 404, _error("TF401180: The requested pull request comment was not found.")
                if comment["author"]["id"] != self.identity:
                    return 403, _error("You can only edit your own comments.")
                if len(body["content"].encode("utf-16-le")) // 2 > MAX_COMMENT:
                    return 400, _error("A discussion comment cannot be longer than 150000 characters.")
                comment["content"] = body["content"]
                return 200, comment
            if rest == "/iterations" and h.command == "GET":
                return 200, {"value": self.iterations, "count": len(self.iterations)}
            if rest == "/statuses" and h.command == "POST":
                if not (body or {}).get("context", {}).get("name"):
                    return 400, _error("Context.Name is required")
                if self.reset_on_new_changes and "iterationId" not in body:
                    return 403, _error("Pull request status rejected by status policy. Policy configuration "
                                       "requires status to be posted on iteration",
                                       "GitPullRequestStatusRejectedByPolicyException")
                if "iterationId" in body and body["iterationId"] not in [i["id"] for i in self.iterations]:
                    return 404, _error(f"iteration {body['iterationId']} not found")
                if body.get("state") not in STATES:
                    return 400, _error(f"invalid state {body.get('state')!r}")
                status = {**body, "id": len(self.statuses) + 1, "createdBy": {"id": self.identity}}
                self.statuses.append(status)
                return 200, status
        return 404, _error(f"no route for {h.command} {path}")

    def _new_thread(self, content: str, author: str) -> dict:
        thread = {"id": len(self.threads) + 1, "isDeleted": False, "properties": {},
                  "comments": [{"id": 1, "parentCommentId": 0, "content": content, "commentType": "text",
                                "author": {"id": author, "displayName": "someone"}, "isDeleted": False}]}
        self.threads.append(thread)
        return thread


def _error(message: str, type_key: str = "InvalidArgumentValueException") -> dict:
    return {"$id": "1", "innerException": None, "message": message,
            "typeName": f"Microsoft.TeamFoundation.SourceControl.WebServer.{type_key}",
            "typeKey": type_key, "errorCode": 0, "eventId": 3000}
