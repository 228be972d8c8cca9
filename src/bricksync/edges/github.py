"""GitHub pull requests over REST (API version 2022-11-28), through `requests`.

The one module that talks to GitHub. It keeps one bricksync comment per pull request (an issue
comment found again by prcomment.MARKER and by its author being the token's identity) and sets
the commit status `bricksync/plan` on the pull request's head commit. The transport is
edges/rest.py, shared with the Azure DevOps client: bounded retries, a creation whose answer was
lost looked up before it is sent again, the token only in the Authorization header.

REST reference (docs.github.com/rest): Users "Get the authenticated user"; Issues "List issue
comments" / "Create an issue comment" / "Update an issue comment"; Commits "Create a commit
status" / "List commit statuses for a reference". Rate limits, as "Rate limits for the REST API
> Exceeding the rate limit" says (docs.github.com/rest/using-the-rest-api/rate-limits-for-the-rest-api):
a 403 or 429 with `retry-after` waits that many seconds; with `x-ratelimit-remaining: 0` until
`x-ratelimit-reset` (UTC epoch seconds); a secondary rate limit with neither waits at least one
minute, then exponentially longer; any other 403 is a permission, not retried.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

import requests

from ..core.prcomment import find_own_issue_comment
from .rest import NotAPullRequest, RestClient, RestError, message, upsert

API_VERSION = "2022-11-28"
STATUS_CONTEXT = "bricksync/plan"
# prcomment.Outcome's states (Azure DevOps' words) -> a commit status's (error, failure, pending, success)
STATES = {"succeeded": "success", "failed": "failure", "pending": "pending"}
MAX_COMMENT_PAGES = 30  # 3,000 comments at 100 a page: a bound, not a limit any pull request meets
SECONDARY_WAIT = 60.0  # "wait for at least one minute before retrying"
REPOSITORY_RE = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
SHA_RE = re.compile(r"^[0-9a-fA-F]{40}$")
PERMISSIONS = "pull-requests: write (the comment) and statuses: write (the status)"


class GitHubError(RestError):
    """A call to GitHub failed; the message says which and what to do."""


@dataclass(frozen=True)
class PullRequest:
    """Where to post, from a GitHub Actions run's default variables and its event payload."""

    api_url: str  # GITHUB_API_URL, e.g. https://api.github.com (GitHub Enterprise Server: .../api/v3)
    graphql_url: str  # GITHUB_GRAPHQL_URL
    repository: str  # GITHUB_REPOSITORY: owner/name
    number: int  # the pull request
    head_sha: str  # the commit planned: the pull request's head, not the merge commit GITHUB_SHA names
    token: str  # GITHUB_TOKEN (or GH_TOKEN)
    run_url: str | None = None  # the run whose plans these are: the status links to it
    run_number: str | None = None

    def __repr__(self) -> str:  # never the token, even in a traceback's locals
        return f"PullRequest({self.repository!r}, pr={self.number}, head={self.head_sha[:12]})"

    @property
    def repo_url(self) -> str:
        owner, name = self.repository.split("/", 1)
        return f"{self.api_url}/repos/{quote(owner, safe='')}/{quote(name, safe='')}"


def pull_request_of_event(event_name: str, event: Mapping[str, Any]) -> tuple[int, str, str | None, str | None]:
    """(number, head sha, run url, run number) of the pull request an event is about. Pure.

    pull_request / pull_request_target: the payload's `pull_request` (its head.sha: GITHUB_SHA is
    the merge commit). workflow_run (bricksync-pr-comment.yml, run by the completed plan run): the
    triggering run's `head_sha` and the one of its `pull_requests` with that head; GitHub lists
    none for a pull request from a fork, and then there is nothing to post to."""
    if event_name in ("pull_request", "pull_request_target"):
        pr = event.get("pull_request") or {}
        return _checked(pr.get("number"), (pr.get("head") or {}).get("sha"), None, None)
    if event_name == "workflow_run":
        run = event.get("workflow_run") or {}
        if run.get("event") not in ("pull_request", "pull_request_target"):
            raise NotAPullRequest(f"the run that triggered this one was a {run.get('event')!r} run, not a "
                                  "pull request's")
        sha = str(run.get("head_sha") or "")
        prs = [p for p in run.get("pull_requests") or [] if (p.get("head") or {}).get("sha") == sha]
        if not prs:
            raise NotAPullRequest("GitHub names no pull request of this repository for the run that triggered "
                                  "this one (a pull request from a fork is not listed)")
        url, number = run.get("html_url"), run.get("run_number")
        return _checked(prs[0].get("number"), sha, str(url) if url else None, str(number) if number else None)
    raise NotAPullRequest(f"not a pull-request run (GITHUB_EVENT_NAME is {event_name or 'not set'!r})")


def _checked(number: Any, sha: Any, url: str | None, run: str | None) -> tuple[int, str, str | None, str | None]:
    if not isinstance(number, int) or number <= 0:
        raise GitHubError(f"the event names no pull request number (got {number!r})")
    if not isinstance(sha, str) or not SHA_RE.match(sha):
        raise GitHubError(f"the event names no head commit of the pull request (got {sha!r})")
    return number, sha.lower(), url, run


def pull_request_from_env(env: Mapping[str, str] = os.environ) -> PullRequest:
    """The pull request of this run; NotAPullRequest outside one; GitHubError when a variable is missing."""
    if env.get("GITHUB_ACTIONS", "").lower() != "true":
        raise NotAPullRequest("not a GitHub Actions run (GITHUB_ACTIONS is not true)")
    missing = [v for v in ("GITHUB_REPOSITORY", "GITHUB_EVENT_PATH") if not env.get(v)]
    if missing:
        raise GitHubError(f"GitHub Actions run without {', '.join(missing)}: run `bricksync comment --github` "
                          "in a workflow step (these are default variables there)")
    repository = env["GITHUB_REPOSITORY"]
    if not REPOSITORY_RE.match(repository):
        raise GitHubError(f"GITHUB_REPOSITORY is not owner/name: {repository!r}")
    try:
        with open(env["GITHUB_EVENT_PATH"], encoding="utf-8") as fh:
            event = json.load(fh)
    except (OSError, ValueError) as exc:
        raise GitHubError(f"cannot read the event payload GITHUB_EVENT_PATH: {exc}") from None
    number, sha, run_url, run_number = pull_request_of_event(env.get("GITHUB_EVENT_NAME", ""), event)
    token = env.get("GITHUB_TOKEN") or env.get("GH_TOKEN")
    if not token:
        raise GitHubError("GITHUB_TOKEN is not set: pass the job's token to the step "
                          "(env: GITHUB_TOKEN: ${{ github.token }}) and give the job " + PERMISSIONS)
    api = (env.get("GITHUB_API_URL") or "https://api.github.com").rstrip("/")
    server, run_id = env.get("GITHUB_SERVER_URL", "https://github.com").rstrip("/"), env.get("GITHUB_RUN_ID", "")
    return PullRequest(api_url=api, graphql_url=env.get("GITHUB_GRAPHQL_URL") or f"{api}/graphql",
                       repository=repository, number=number, head_sha=sha, token=token,
                       run_url=run_url or (f"{server}/{repository}/actions/runs/{run_id}" if run_id.isdigit() else None),
                       run_number=run_number or env.get("GITHUB_RUN_NUMBER") or None)


class GitHubClient(RestClient):
    """The pull-request calls bricksync makes. Waits up to 60 s (a secondary rate limit asks for a minute)."""

    service = "GitHub"
    error = GitHubError
    not_json_hint = " (check GITHUB_API_URL)"

    def __init__(self, pr: PullRequest, **options: Any):
        options.setdefault("max_wait", SECONDARY_WAIT)
        super().__init__(pr.token, headers={"Accept": "application/vnd.github+json",
                                            "X-GitHub-Api-Version": API_VERSION}, **options)
        self.pr = pr

    # --- who the token is ------------------------------------------------------------------------

    def identity(self) -> tuple[str, int | None]:
        """(login, user id or None) of the token. A user's token (PAT, OAuth): GET /user. An installation
        token (the job's GITHUB_TOKEN, any GitHub App's) is refused there with 403 "Resource not
        accessible by integration" (actions/create-github-app-token#258); GraphQL's `viewer` answers
        for both, with the bot's login as its REST comments carry it, e.g. `github-actions[bot]`
        (marocchino/sticky-pull-request-comment src/comment.ts compares comment authors with it)."""
        try:
            doc = self.call("GET", f"{self.pr.api_url}/user", "read who the token belongs to")
            if isinstance(doc, dict) and doc.get("login"):
                return str(doc["login"]), doc.get("id") if isinstance(doc.get("id"), int) else None
        except GitHubError as exc:
            if exc.status != 403:
                raise
        doc = self.call("POST", self.pr.graphql_url, "read who the token belongs to (GraphQL viewer)",
                        body={"query": "query { viewer { login } }"})
        login = ((doc.get("data") or {}).get("viewer") or {}).get("login") if isinstance(doc, dict) else None
        if not login:
            errors = "; ".join(str(e.get("message")) for e in (doc.get("errors") or []) if isinstance(e, dict)) \
                if isinstance(doc, dict) else ""
            raise GitHubError(f"GitHub did not say who the token belongs to (GraphQL viewer: {errors or 'no login'})")
        return str(login), None

    # --- comments ----------------------------------------------------------------------------------

    def comments(self) -> list[dict]:
        """Every comment of the pull request, 100 a page, following the Link header's rel="next" (on
        the API's own host only: the token is never sent anywhere else)."""
        url: str | None = f"{self.pr.repo_url}/issues/{self.pr.number}/comments"
        params: dict | None = {"per_page": 100}
        found: list[dict] = []
        for _ in range(MAX_COMMENT_PAGES):
            resp = self.request("GET", str(url), "list the pull request's comments", params=params)
            page = self.json(resp)
            if isinstance(page, list):
                found.extend(c for c in page if isinstance(c, dict))
            url, params = (resp.links.get("next") or {}).get("url"), None
            if not url or urlsplit(url).netloc != urlsplit(self.pr.api_url).netloc:
                break
        return found

    def create_comment(self, body: str) -> int:
        doc = self.call("POST", f"{self.pr.repo_url}/issues/{self.pr.number}/comments", "create the plan comment",
                        body={"body": body}, repeatable=False)
        return int(doc["id"])

    def update_comment(self, comment_id: int, body: str) -> None:
        self.call("PATCH", f"{self.pr.repo_url}/issues/comments/{comment_id}", "update the plan comment",
                  body={"body": body})

    def upsert_comment(self, body: str) -> tuple[str, int]:
        """('created' | 'updated', comment id): bricksync's one comment in this pull request."""
        login, user_id = self.identity()
        return upsert(lambda: find_own_issue_comment(self.comments(), login, user_id),
                      lambda: self.create_comment(body), lambda own: self.update_comment(own, body),
                      attempts=self.attempts, pause=lambda attempt: self.sleep(self.backoff(attempt)),
                      error=GitHubError)

    # --- the status ---------------------------------------------------------------------------------

    def post_status(self, state: str, description: str, target_url: str | None) -> None:
        """The commit status bricksync/plan on the head commit (the latest per context counts: safe to repeat)."""
        body = {"state": STATES[state], "description": description, "context": STATUS_CONTEXT}
        if target_url:
            body["target_url"] = target_url
        self.call("POST", f"{self.pr.repo_url}/statuses/{self.pr.head_sha}", "set the bricksync/plan status",
                  body=body)

    def final_status_of_run(self, target_url: str | None) -> str | None:
        """The state of a bricksync/plan status this identity already posted for the same run (same
        target_url) that is not pending, if any: a `--pending` that arrives after the result (two
        workflow_run events, delivered out of order) must not cover it."""
        resp = self.request("GET", f"{self.pr.repo_url}/commits/{self.pr.head_sha}/statuses",
                            "list the head commit's statuses", params={"per_page": 100})
        login, _ = self.identity()
        for status in self.json(resp) or []:  # newest first
            if not isinstance(status, dict) or status.get("context") != STATUS_CONTEXT:
                continue
            if str((status.get("creator") or {}).get("login", "")).lower() != login.lower():
                continue
            same_run = target_url and status.get("target_url") == target_url
            return str(status.get("state")) if same_run and status.get("state") != "pending" else None
        return None

    # --- how GitHub says "not now" and "not allowed" ------------------------------------------------

    def rate_limited(self, resp: requests.Response, attempt: int) -> tuple[float | None, str] | None:
        if resp.status_code not in (403, 429):
            return None
        after = resp.headers.get("retry-after", "").strip()
        if after.isdigit():
            return float(after), "retry-after"
        if resp.headers.get("x-ratelimit-remaining") == "0" and resp.headers.get("x-ratelimit-reset", "").isdigit():
            return max(0.0, float(resp.headers["x-ratelimit-reset"]) - time.time()) + 1.0, "x-ratelimit-reset"
        if resp.status_code == 429 or "secondary rate limit" in message(resp).lower():
            return SECONDARY_WAIT * 2 ** (attempt - 1), "secondary rate limit"
        return None

    def denied(self, resp: requests.Response, what: str) -> GitHubError:
        why = "rejected the token" if resp.status_code == 401 else "refused the request"
        return GitHubError(
            f"could not {what}: GitHub {why} (HTTP {resp.status_code}: {message(resp)}). The job's token "
            f"needs {PERMISSIONS}: `permissions:` of the job that posts. A pull request from a fork gets a "
            "read-only GITHUB_TOKEN: its comment comes from bricksync-pr-comment.yml, which runs in the base "
            "repository.", resp.status_code)
