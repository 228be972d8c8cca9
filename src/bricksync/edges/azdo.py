"""Azure DevOps pull requests over REST (API version 7.1), through `requests`.

The one module that talks to Azure DevOps. It keeps one bricksync comment per pull request
(found again by prcomment.MARKER and its author) and sets the `bricksync/plan` PR status.
The transport (bounded retries of 429 and 5xx honouring Retry-After, the token only in the
Authorization header, never in a message, log line or exception) is edges/rest.py, shared with
the GitHub client.

REST reference (learn.microsoft.com/rest/api/azure/devops/git): Pull Request Threads - List /
Create, Pull Request Thread Comments - Update, Pull Request Iterations - List, Pull Request
Statuses - Create.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import requests

from ..core.prcomment import find_own_comment
from .rest import NotAPullRequest, RestClient, RestError, message, upsert

API_VERSION = "7.1"
CONNECTION_DATA_VERSION = "7.1-preview"  # _apis/connectionData (who the token is) is only served as preview
STATUS_GENRE, STATUS_NAME = "bricksync", "plan"  # shown and required as "bricksync/plan"
PERMISSION = "Contribute to pull requests"


class AzdoError(RestError):
    """A call to Azure DevOps failed; the message says which and what to do."""


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


def pull_request_from_env(env: Mapping[str, str] = os.environ) -> PullRequest:
    """The pull request of this run; NotAPullRequest outside one (or on another provider); AzdoError
    when a variable is missing."""
    pr_id = env.get("SYSTEM_PULLREQUEST_PULLREQUESTID", "").strip()
    if not pr_id:
        raise NotAPullRequest("not a pull-request run (SYSTEM_PULLREQUEST_PULLREQUESTID is not set)")
    provider = env.get("BUILD_REPOSITORY_PROVIDER", "TfsGit")
    if provider != "TfsGit":
        raise NotAPullRequest(f"the repository is on {provider}, not Azure Repos: --azure-devops comments only "
                              "on Azure Repos pull requests (for GitHub: `bricksync comment --github` in "
                              "GitHub Actions)")
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


class AzdoClient(RestClient):
    """A few pull-request calls over the shared transport (rest.RestClient: bounded retries, 429
    and 5xx retried honouring Retry-After, the token only in the Authorization header)."""

    service = "Azure DevOps"
    error = AzdoError
    not_json_hint = " (a sign-in page? check SYSTEM_COLLECTIONURI)"

    def __init__(self, pr: PullRequest, **options: Any):
        super().__init__(pr.token, **options)
        self.pr = pr

    def _call(self, method: str, url: str, what: str, *, body: dict | None = None, version: str = API_VERSION,
              repeatable: bool = True) -> dict:
        doc = self.call(method, url, what, body=body, params={"api-version": version}, repeatable=repeatable)
        return doc if isinstance(doc, dict) else {"value": doc}

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
        """`state`: prcomment.Outcome's, which are GitStatusState's own words (succeeded, failed, pending)."""
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
        action, own = upsert(lambda: find_own_comment(self.threads(), me), lambda: self.create_thread(content),
                             lambda own: self.update_comment(*own, content), attempts=self.attempts,
                             pause=lambda attempt: self.sleep(self.backoff(attempt)), error=AzdoError)
        return action, own[0]

    def denied(self, resp: requests.Response, what: str) -> AzdoError:
        if "RejectedByPolicy" in _type_key(resp):  # a status policy's own rule, not a missing permission
            return AzdoError(f"could not {what}: a branch policy refused it (HTTP {resp.status_code}: "
                             f"{message(resp)})", resp.status_code)
        why = ("rejected the token" if resp.status_code == 401 else "refused the request")
        return AzdoError(
            f"could not {what}: Azure DevOps {why} (HTTP {resp.status_code}: {message(resp)}). The build "
            f"service needs the '{PERMISSION}' permission on this repository: Project settings > "
            f"Repositories > the repository > Security > the '<project> Build Service (<organization>)' "
            f"user > '{PERMISSION}': Allow. Also check that the step maps the job's token: "
            "env: SYSTEM_ACCESSTOKEN: $(System.AccessToken).", resp.status_code)


def _type_key(resp: requests.Response) -> str:
    try:
        return str(resp.json().get("typeKey") or "")
    except (ValueError, AttributeError):
        return ""
