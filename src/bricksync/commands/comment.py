"""bricksync comment: every target's plan as one pull-request comment, and the status bricksync/plan,
on Azure DevOps (edges/azdo.py) or GitHub (edges/github.py).

The plan files are read as data (in GitHub's workflow_run they come from a run the pull request
controlled): each must be a `plan --markdown` file, a named one missing means its target was not
planned. The comment and the status are posted independently: one failing does not keep the other.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..core.errors import BricksyncError
from ..core.prcomment import (
    GITHUB_MAX_COMMENT_CHARS,
    GITHUB_MAX_STATUS_DESCRIPTION,
    MAX_COMMENT_CHARS,
    MAX_STATUS_DESCRIPTION,
    Outcome,
    compose_comment,
    outcome,
    parse_plan_markdown,
)
from ..edges.rest import RestError
from ..edges.state import read_output

PLATFORMS = ("azure-devops", "github")


@dataclass
class CommentPosted:
    """What `post_plan_comment` did; the CLI prints it (escaped) and exits 1 on `failures`."""

    pull_request: int
    outcome: Outcome  # the status state, description, and why the plan failed
    comment: tuple[str, int] | None = None  # (action, thread or comment id) when the comment was posted
    status_set: bool = False
    failures: list[str] | None = None
    unit: str = "thread"  # what the id names: an Azure DevOps thread, a GitHub comment
    skipped: str | None = None  # why the status was not posted (a pending after the result)

    def error(self) -> BricksyncError:
        """The failures as one error (the CLI raises it after printing what was posted: exit 1)."""
        failures = self.failures or []
        return BricksyncError(failures[0] if len(failures) == 1 else
                              f"{len(failures)} problems:\n" + "\n".join(f"  - {f}" for f in failures))


@dataclass
class _Site:
    """One platform's pull request and client, and its limits."""

    number: int
    client: Any  # AzdoClient | GitHubClient: upsert_comment(body), post_status(state, description, url)
    build: str | None
    commit: str | None
    url: str | None
    service: str
    comment_limit: int
    status_limit: int
    unit: str


def _site(platform: str, env: Mapping[str, str]) -> _Site:
    """The pull request of this run on `platform`; NotAPullRequest outside one."""
    if platform == "github":
        from ..edges.github import GitHubClient, pull_request_from_env

        gh = pull_request_from_env(env)
        return _Site(gh.number, GitHubClient(gh), gh.run_number, gh.head_sha, gh.run_url, "GitHub",
                     GITHUB_MAX_COMMENT_CHARS, GITHUB_MAX_STATUS_DESCRIPTION, "comment")
    from ..edges import azdo

    pr = azdo.pull_request_from_env(env)
    return _Site(pr.pull_request_id, azdo.AzdoClient(pr), pr.build_number, pr.commit, pr.build_url, "Azure DevOps",
                 MAX_COMMENT_CHARS, MAX_STATUS_DESCRIPTION, "thread")


def read_plans(plan_files: list[str], plan_exit_code: int | None) -> Outcome:
    """The plans' outcome: every file read back (a missing one, e.g. an unmatched glob, named)."""
    sections, missing = [], []
    for path in plan_files:
        if not Path(path).is_file():
            missing.append(path)
            continue
        sections.append(parse_plan_markdown(read_output(path), path))
    sections.sort(key=lambda s: s.target)
    return outcome(sections, plan_exit_code, missing)


def post_plan_comment(platform: str, plan_files: list[str], plan_exit_code: int | None, *, pending: bool = False,
                      env: Mapping[str, str] = os.environ) -> CommentPosted:
    """Post (or with `pending`, only set the status to pending). Raises NotAPullRequest outside a
    pull-request run (nothing to post to)."""
    site = _site(platform, env)
    result = Outcome(sections=[], failed=False, pending=True) if pending else read_plans(plan_files, plan_exit_code)
    posted = CommentPosted(site.number, result, failures=[], unit=site.unit)
    if not pending:
        body = compose_comment(result, build=site.build, commit=site.commit, build_url=site.url,
                               limit=site.comment_limit, service=site.service)
        try:
            posted.comment = site.client.upsert_comment(body)
        except RestError as exc:
            posted.failures.append(exc.render())
    try:
        final = site.client.final_status_of_run(site.url) if pending and platform == "github" else None
        if final:
            posted.skipped = f"this run's result ({final}) is already posted"
        else:
            site.client.post_status(result.state, result.description(site.status_limit), site.url)
            posted.status_set = True
    except RestError as exc:
        posted.failures.append(exc.render())
    return posted
