"""Azure DevOps pull requests over REST (API version 7.1), through `requests`.

The one module that talks to Azure DevOps. It keeps one bricksync comment per pull request
(found again by prcomment.MARKER and its author) and sets the `bricksync/plan` PR status.
Retries 429 and 5xx a bounded number of times, honouring Retry-After; the token lives only in
the Authorization header and never reaches a message, log line or exception.

REST reference (learn.microsoft.com/rest/api/azure/devops/git): Pull Request Threads - List /
Create, Pull Request Thread Comments - Update, Pull Request Iterations - List, Pull Request
Statuses - Create.
"""

from __future__ import annotations

import email.utils
import logging
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import requests

from ..core.errors import BricksyncError
from ..core.prcomment import find_own_comment
from ..core.secrets import redact

log = logging.getLogger(__name__)
API_VERSION = "7.1"
CONNECTION_DATA_VERSION = "7.1-preview"  # _apis/connectionData (who the token is) is only served as preview
STATUS_GENRE, STATUS_NAME = "bricksync", "plan"  # shown and required as "bricksync/plan"
PERMISSION = "Contribute to pull requests"


class AzdoError(BricksyncError):
    """A call to Azure DevOps failed; the message says which and what to do."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status  # the HTTP status, when there was one


@dataclass(frozen=True)
class PullRequest:
    """Where to post, from the predefined variables of an Azure Pipelines pull-request run."""

    collection_uri: str  # SYSTEM_COLLECTIONURI, e.g. https://dev.azure.com/org/
    project: str  # SYSTEM_TEAMPROJECT
    repository_id: str  # BUILD_REPOSITORY_ID
    pull_request_id: int  # SYSTEM_PULLREQUEST_PULLREQUESTID
    token: str  # SYSTEM_ACCESSTOKEN
    build_id: str | None = None  # BUILD_BUILDID: the status links to the run
    build_number: str | None = None  # BUILD_BUILDNUMBER
    commit: str | None = None  # SYSTEM_PULLREQUEST_SOURCECOMMITID

    def __repr__(self) -> str:  # never the token, even in a traceback's locals
        return f"PullRequest({self.collection_uri!r}, {self.project!r}, pr={self.pull_request_id})"

    @property
    def git_base(self) -> str:
        return (f"{self.collection_uri}{quote(self.project, safe='')}/_apis/git/repositories/"
                f"{quote(self.repository_id, safe='')}/pullRequests/{self.pull_request_id}")

    @property
    def build_url(self) -> str | None:
        if not (self.build_id and self.build_id.isdigit()):
            return None
        return f"{self.collection_uri}{quote(self.project, safe='')}/_build/results?buildId={self.build_id}"


class NotAPullRequest(Exception):
    """Not a pull-request run of Azure Repos: nothing to post (the reason is the message)."""


def pull_request_from_env(env: Mapping[str, str] = os.environ) -> PullRequest:
    """The pull request of this run; NotAPullRequest outside one; AzdoError when a variable is missing."""
    pr_id = env.get("SYSTEM_PULLREQUEST_PULLREQUESTID", "").strip()
    if not pr_id:
        raise NotAPullRequest("not a pull-request run (SYSTEM_PULLREQUEST_PULLREQUESTID is not set)")
    provider = env.get("BUILD_REPOSITORY_PROVIDER", "TfsGit")
    if provider != "TfsGit":
        raise NotAPullRequest(f"the repository is on {provider}, not Azure Repos: bricksync comments only on "
                              "Azure Repos pull requests")
    if not pr_id.isdigit():
        raise AzdoError(f"SYSTEM_PULLREQUEST_PULLREQUESTID is not a number: {pr_id!r}")
    missing = [v for v in ("SYSTEM_COLLECTIONURI", "SYSTEM_TEAMPROJECT", "BUILD_REPOSITORY_ID") if not env.get(v)]
    if missing:
        raise AzdoError(f"pull-request run without {', '.join(missing)}: run `bricksync comment` in an Azure "
                        "Pipelines job (these are predefined variables there)")
    if not env.get("SYSTEM_ACCESSTOKEN"):
        raise AzdoError("SYSTEM_ACCESSTOKEN is not set: map the job's token into the step's environment "
                        "(env: SYSTEM_ACCESSTOKEN: $(System.AccessToken))")
    uri = env["SYSTEM_COLLECTIONURI"]
    return PullRequest(collection_uri=uri if uri.endswith("/") else uri + "/", project=env["SYSTEM_TEAMPROJECT"],
                       repository_id=env["BUILD_REPOSITORY_ID"], pull_request_id=int(pr_id),
                       token=env["SYSTEM_ACCESSTOKEN"], build_id=env.get("BUILD_BUILDID") or None,
                       build_number=env.get("BUILD_BUILDNUMBER") or None,
                       commit=env.get("SYSTEM_PULLREQUEST_SOURCECOMMITID") or None)


class _Bearer(requests.auth.AuthBase):
    """The token as an auth object, not a default header: requests then never swaps in ~/.netrc
    credentials, drops it on a redirect to another host, and nothing prints it."""

    def __init__(self, token: str):
        self._token = token

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self._token}"
        return request

    def __repr__(self) -> str:
        return "_Bearer(***)"


class _Ambiguous(Exception):
    """The request may or may not have been carried out (5xx, lost connection)."""


class AzdoClient:
    """A few pull-request calls. Every wait is bounded: at most `attempts` tries, each pause at
    most `max_wait` seconds; a Retry-After longer than that is reported instead of waited out."""

    def __init__(self, pr: PullRequest, *, attempts: int = 5, max_wait: float = 30.0,
                 timeout: tuple[float, float] = (10.0, 60.0), sleep: Callable[[float], None] | None = None):
        self.pr = pr
        self.attempts = attempts
        self.max_wait = max_wait
        self.timeout = timeout
        self.sleep = sleep or time.sleep
        self.session = requests.Session()
        self.session.headers.update({"Accept": "application/json", "User-Agent": "bricksync"})
        self._auth = _Bearer(pr.token)
        self.calls = 0

    # --- the calls ---------------------------------------------------------------------------

    def identity(self) -> str:
        """The id of the identity the token belongs to (the build service): only its comments are ours."""
        doc = self._call("GET", f"{self.pr.collection_uri}_apis/connectionData", "read who the token belongs to",
                         version=CONNECTION_DATA_VERSION)
        user = doc.get("authenticatedUser") or {}
        if not user.get("id"):
            raise AzdoError("Azure DevOps did not say who the token belongs to (connectionData has no "
                            "authenticatedUser.id)")
        return str(user["id"])

    def threads(self) -> list[dict]:
        doc = self._call("GET", f"{self.pr.git_base}/threads", "list the pull request's comment threads")
        return list(doc.get("value") or [])

    def create_thread(self, content: str) -> tuple[int, int]:
        # No thread status: an "active" thread would hold up a "Check for comment resolution" policy.
        body = {"comments": [{"parentCommentId": 0, "content": content, "commentType": "text"}]}
        doc = self._call("POST", f"{self.pr.git_base}/threads", "create the plan comment", body=body,
                         repeatable=False)
        return int(doc["id"]), int(doc["comments"][0]["id"])

    def update_comment(self, thread_id: int, comment_id: int, content: str) -> None:
        self._call("PATCH", f"{self.pr.git_base}/threads/{thread_id}/comments/{comment_id}",
                   "update the plan comment", body={"content": content})

    def iteration(self) -> int | None:
        """The PR iteration this run planned: the one whose source commit is the commit built, else
        the latest. A status policy with "Reset status whenever there are new changes" accepts only
        statuses posted on an iteration, and a new push then resets this one."""
        doc = self._call("GET", f"{self.pr.git_base}/iterations", "list the pull request's iterations")
        iterations = [i for i in doc.get("value") or [] if isinstance(i.get("id"), int)]
        commit = (self.pr.commit or "").lower()
        same = [i["id"] for i in iterations
                if commit and str((i.get("sourceRefCommit") or {}).get("commitId", "")).lower() == commit]
        if same:
            return max(same)
        return max((i["id"] for i in iterations), default=None)

    def post_status(self, state: str, description: str, target_url: str | None) -> None:
        body: dict[str, Any] = {"state": state, "description": description,
                                "context": {"genre": STATUS_GENRE, "name": STATUS_NAME}}
        iteration = self.iteration()
        if iteration is not None:
            body["iterationId"] = iteration
        if target_url:
            body["targetUrl"] = target_url
        # Posting the same status again is harmless (the latest one per context counts): safe to retry.
        self._call("POST", f"{self.pr.git_base}/statuses", "set the bricksync/plan status", body=body)

    def upsert_comment(self, content: str) -> tuple[str, int]:
        """('created' | 'updated', thread id): bricksync's one thread in this pull request."""
        me = self.identity()
        own = find_own_comment(self.threads(), me)
        if own:
            try:
                self.update_comment(*own, content)
                return "updated", own[0]
            except AzdoError as exc:
                if exc.status != 404:  # deleted meanwhile: start a new thread
                    raise
        for attempt in range(1, self.attempts + 1):
            try:
                return "created", self.create_thread(content)[0]
            except _Ambiguous as exc:
                # The thread may exist although the answer was lost: look before posting again,
                # so a retry never leaves two plan comments.
                own = find_own_comment(self.threads(), me)
                if own:
                    self.update_comment(*own, content)
                    return "created", own[0]
                if attempt == self.attempts:
                    raise AzdoError(f"could not create the plan comment: {exc}") from None
                self.sleep(min(2.0 ** (attempt - 1), self.max_wait))
        raise AssertionError("unreachable")

    # --- transport -----------------------------------------------------------------------------

    def _call(self, method: str, url: str, what: str, *, body: dict | None = None, version: str = API_VERSION,
              repeatable: bool = True) -> dict:
        """One call with bounded retries. Not `repeatable`: a 5xx or lost connection raises _Ambiguous
        for the caller to check, instead of sending again blindly."""
        for attempt in range(1, self.attempts + 1):
            self.calls += 1
            try:
                resp = self.session.request(method, url, params={"api-version": version}, json=body,
                                            auth=self._auth, timeout=self.timeout)
            except requests.RequestException as exc:
                problem = f"{type(exc).__name__} talking to {_host(url)}"
                log.debug("%s %s: %s", method, url, problem)
                if not repeatable:
                    raise _Ambiguous(problem) from None
                if attempt == self.attempts:
                    raise AzdoError(f"could not {what}: {problem} ({attempt} attempts)") from None
                self.sleep(min(2.0 ** (attempt - 1), self.max_wait))
                continue
            log.debug("%s %s -> %s", method, url, resp.status_code)
            if resp.status_code < 300:
                return _json(resp)
            if resp.status_code in (401, 403):
                raise self._denied(resp, what)
            retry = resp.status_code == 429 or resp.status_code >= 500
            if not retry:
                raise _failed(resp, what)
            if resp.status_code >= 500 and not repeatable:
                raise _Ambiguous(f"HTTP {resp.status_code}: {_message(resp)}")
            if attempt == self.attempts:
                raise AzdoError(f"could not {what}: HTTP {resp.status_code} after {attempt} attempts "
                                f"({_message(resp)})")
            wait = _retry_after(resp)
            if wait is None:
                wait = min(2.0 ** (attempt - 1), self.max_wait)
            elif wait > self.max_wait:
                raise AzdoError(f"could not {what}: Azure DevOps asks to wait {wait:.0f} s (HTTP "
                                f"{resp.status_code}, Retry-After), longer than bricksync waits ({self.max_wait:.0f} s)")
            log.debug("HTTP %s: retrying in %.1f s", resp.status_code, wait)
            self.sleep(wait)
        raise AssertionError("unreachable")

    def _denied(self, resp: requests.Response, what: str) -> AzdoError:
        if "RejectedByPolicy" in _type_key(resp):  # a status policy's own rule, not a missing permission
            return AzdoError(f"could not {what}: a branch policy refused it (HTTP {resp.status_code}: "
                             f"{_message(resp)})", resp.status_code)
        why = ("rejected the token" if resp.status_code == 401 else "refused the request")
        return AzdoError(
            f"could not {what}: Azure DevOps {why} (HTTP {resp.status_code}: {_message(resp)}). The build "
            f"service needs the '{PERMISSION}' permission on this repository: Project settings > "
            f"Repositories > the repository > Security > the '<project> Build Service (<organization>)' "
            f"user > '{PERMISSION}': Allow. Also check that the step maps the job's token: "
            "env: SYSTEM_ACCESSTOKEN: $(System.AccessToken).", resp.status_code)


def _failed(resp: requests.Response, what: str) -> AzdoError:
    return AzdoError(f"could not {what}: HTTP {resp.status_code} ({_message(resp)})", resp.status_code)


def _json(resp: requests.Response) -> dict:
    try:
        doc = resp.json() if resp.content else {}
    except ValueError:
        raise AzdoError(f"Azure DevOps answered {resp.request.method} {_host(resp.url)} with something "
                        "other than JSON (a sign-in page? check SYSTEM_COLLECTIONURI)") from None
    return doc if isinstance(doc, dict) else {"value": doc}


def _message(resp: requests.Response) -> str:
    """The service's own error message, short, one line, and redacted."""
    try:
        text = str(resp.json().get("message") or "")
    except (ValueError, AttributeError):
        text = resp.text if "json" in resp.headers.get("Content-Type", "") else ""
    text = " ".join(text.split())[:300] or resp.reason or "no message"
    return redact(text)


def _type_key(resp: requests.Response) -> str:
    try:
        return str(resp.json().get("typeKey") or "")
    except (ValueError, AttributeError):
        return ""


def _retry_after(resp: requests.Response) -> float | None:
    value = resp.headers.get("Retry-After", "").strip()
    if not value:
        return None
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _host(url: str) -> str:
    return url.split("/", 3)[2] if "://" in url else url


# --- `bricksync comment`: every target's plan as one pull-request comment, and the status ----------


@dataclass
class CommentPosted:
    """What `post_plan_comment` did; the CLI prints it (escaped) and exits 1 on `failures`."""

    pull_request: int
    outcome: Any  # prcomment.Outcome: the status state, description, and why the plan failed
    comment: tuple[str, int] | None = None  # (action, thread) when the comment was posted
    status_set: bool = False
    failures: list[str] | None = None

    def error(self) -> BricksyncError:
        """The failures as one error (the CLI raises it after printing what was posted: exit 1)."""
        failures = self.failures or []
        return BricksyncError(failures[0] if len(failures) == 1 else
                              f"{len(failures)} problems:\n" + "\n".join(f"  - {f}" for f in failures))


def post_plan_comment(plan_files: list[str], plan_exit_code: int | None,
                      env: Mapping[str, str] = os.environ) -> CommentPosted:
    """Raises NotAPullRequest outside a pull-request run (nothing to post to)."""
    from pathlib import Path

    from ..core.prcomment import compose_comment, outcome, parse_plan_markdown
    from .state import read_output

    pr = pull_request_from_env(env)
    sections, missing = [], []
    for path in plan_files:
        if not Path(path).is_file():
            missing.append(path)  # includes an unmatched glob: the plan wrote nothing
            continue
        sections.append(parse_plan_markdown(read_output(path), path))
    sections.sort(key=lambda s: s.target)
    result = outcome(sections, plan_exit_code, missing)
    body = compose_comment(result, build=pr.build_number, commit=pr.commit, build_url=pr.build_url)
    client = AzdoClient(pr)
    posted = CommentPosted(pr.pull_request_id, result, failures=[])
    try:
        posted.comment = client.upsert_comment(body)
    except AzdoError as exc:
        posted.failures.append(exc.render())
    try:
        client.post_status(result.state, result.description(), pr.build_url)
        posted.status_set = True
    except AzdoError as exc:
        posted.failures.append(exc.render())
    return posted
