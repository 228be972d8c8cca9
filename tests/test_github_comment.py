"""`bricksync comment --github`: one plan comment per pull request, kept current, and the commit
status bricksync/plan on the head commit, against a local fake of the GitHub REST API over real HTTP."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bricksync.core.prcomment import MARKER
from bricksync.edges.github import GitHubError, pull_request_of_event
from bricksync.edges.rest import NotAPullRequest

from .github_fake import BOT, HEAD, HUMAN, MERGE, USER, FakeGitHub, Fault
from .test_comment import changed_plan, run_comment, unchanged_plan, write_plans

TOKEN = "ghs_sentinelTokenValue0123456789abcdefXYZ"


@pytest.fixture
def gh(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[FakeGitHub]:
    with FakeGitHub(token=TOKEN) as server:
        use_event(server, monkeypatch, tmp_path, "pull_request")
        yield server


@pytest.fixture
def waits(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The pauses the client asked for (recorded, not slept)."""
    asked: list[float] = []
    monkeypatch.setattr(time, "sleep", asked.append)
    return asked


def use_event(server: FakeGitHub, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, name: str,
              event: dict | None = None) -> None:
    path = tmp_path / f"event-{name}.json"
    path.write_text(json.dumps(event if event is not None else server.event(name)))
    for key, value in server.env(str(path), name).items():
        monkeypatch.setenv(key, value)


def run(tmp_path: Path, *args: str) -> tuple[int, str]:
    return run_comment("github", tmp_path, *args)


def own(gh: FakeGitHub) -> list[dict]:
    return [c for c in gh.comments if c["user"]["login"] == gh.identity["login"]]


# --- pure: which pull request an event is about ------------------------------------------------

def test_the_event_names_the_pull_request_and_its_head_not_the_merge_commit() -> None:
    fake = FakeGitHub.__new__(FakeGitHub)  # only its payloads
    fake.pr, fake.repository = 7, "o/r"
    assert pull_request_of_event("pull_request", fake.event())[:2] == (7, HEAD)
    number, sha, url, run_number = pull_request_of_event("workflow_run", fake.event("workflow_run"))
    assert (number, sha, run_number) == (7, HEAD, "12") and url.endswith("/actions/runs/99")
    fork = fake.event("workflow_run")
    fork["workflow_run"]["pull_requests"] = []  # GitHub lists none for a fork's pull request
    with pytest.raises(NotAPullRequest, match="fork"):
        pull_request_of_event("workflow_run", fork)
    with pytest.raises(NotAPullRequest, match="'push'"):
        pull_request_of_event("push", {})
    with pytest.raises(GitHubError, match="head commit"):
        pull_request_of_event("pull_request", {"pull_request": {"number": 7, "head": {"sha": "not-a-sha"}}})


# --- against the fake GitHub -----------------------------------------------------------------------

def test_created_once_then_edited_and_the_status_is_on_the_head_commit(gh: FakeGitHub, tmp_path: Path) -> None:
    write_plans(tmp_path, changed_plan(), unchanged_plan("staging"))
    code, output = run(tmp_path, "--plan-exit-code", "2", "plan-prod.md", "plan-staging.md")
    assert code == 0, output
    assert "Created the plan comment on pull request 7 (comment 1001)" in output
    assert len(gh.comments) == 1 and gh.comments[0]["body"].startswith(MARKER)
    assert "2 to create, 1 to update" in gh.comments[0]["body"]

    write_plans(tmp_path, unchanged_plan(), unchanged_plan("staging"))
    code, output = run(tmp_path, "plan-prod.md", "plan-staging.md")
    assert code == 0, output
    assert "Updated the plan comment on pull request 7 (comment 1001)" in output
    assert len(gh.comments) == 1 and gh.calls("POST", r"/comments$") == 1 and gh.calls("PATCH", r"/1001$") == 1
    assert "## bricksync plan: no changes" in gh.comments[0]["body"]

    assert [(s["sha"], s["state"], s["context"]) for s in gh.statuses] == [(HEAD, "success", "bricksync/plan")] * 2
    assert gh.statuses[0]["description"] == "prod: 2 to create, 1 to update; staging: no changes"
    assert gh.statuses[0]["target_url"] == "https://github.com/octo-org/jobs-repo/actions/runs/4242"
    assert not [s for s in gh.statuses if s["sha"] == MERGE]
    assert all(h.get("Authorization") == f"Bearer {TOKEN}" and h.get("X-GitHub-Api-Version") == "2022-11-28"
               for h in gh.headers_seen)


def test_the_job_token_is_found_through_graphql_and_other_authors_are_left_alone(
        gh: FakeGitHub, tmp_path: Path) -> None:
    forged = gh.add_comment(MARKER + "\nforged by a person", HUMAN)  # a collaborator: editable, never ours
    other_bot = gh.add_comment("a comment of another workflow", BOT)
    write_plans(tmp_path, changed_plan())
    assert run(tmp_path, "plan-prod.md")[0] == 0
    assert gh.calls("GET", r"^/user$") == 1 and gh.calls("POST", r"^/graphql$") == 1  # 403 there, then viewer
    assert forged["body"].endswith("forged by a person") and other_bot["body"] == "a comment of another workflow"
    assert len(gh.comments) == 3 and gh.comments[2]["user"] == BOT
    assert run(tmp_path, "plan-prod.md")[0] == 0
    assert len(gh.comments) == 3 and gh.calls("PATCH", r"/comments/") == 1
    assert gh.calls("PATCH", rf"/comments/{forged['id']}$") == 0


def test_a_user_token_is_known_by_login_and_id(gh: FakeGitHub, tmp_path: Path) -> None:
    gh.app_token = False
    impostor = gh.add_comment(MARKER + "\nsame login, another account", {**USER, "id": 1})
    write_plans(tmp_path, changed_plan())
    assert run(tmp_path, "plan-prod.md")[0] == 0
    assert gh.calls("POST", r"^/graphql$") == 0 and len(own(gh)) == 2  # a new comment of our own
    assert impostor["body"].endswith("another account")


def test_a_comment_on_a_later_page_is_found(gh: FakeGitHub, tmp_path: Path) -> None:
    gh.page_size = 2
    for i in range(5):
        gh.add_comment(f"review comment {i}", HUMAN)
    mine = gh.add_comment(MARKER + "\nan earlier run", BOT)
    write_plans(tmp_path, changed_plan())
    code, output = run(tmp_path, "plan-prod.md")
    assert code == 0, output
    assert gh.calls("GET", r"/issues/7/comments$") == 3  # pages 1-3 by the Link header
    assert "Updated" in output and mine["body"] != MARKER + "\nan earlier run" and len(gh.comments) == 6


@pytest.mark.parametrize("fault", [Fault("POST", r"/issues/7/comments$", 502, after=True),
                                   Fault("POST", r"/issues/7/comments$", 0, drop=True)],
                         ids=["502 after the write", "connection dropped after the write"])
def test_a_lost_create_answer_never_makes_two_comments(gh: FakeGitHub, tmp_path: Path, fault: Fault,
                                                       waits: list[float]) -> None:
    gh.faults.append(fault)
    write_plans(tmp_path, changed_plan())
    code, output = run(tmp_path, "plan-prod.md")
    assert code == 0, output
    assert len(gh.comments) == 1 and gh.calls("POST", r"/issues/7/comments$") == 1
    assert gh.calls("GET", r"/issues/7/comments$") == 2  # looked for before sending again, found


def test_5xx_is_retried_and_a_create_refused_before_the_write_is_sent_again(gh: FakeGitHub, tmp_path: Path,
                                                                            waits: list[float]) -> None:
    gh.faults += [Fault("GET", r"/issues/7/comments$", 503, count=2), Fault("POST", r"/statuses/", 500),
                  Fault("POST", r"/issues/7/comments$", 503)]
    write_plans(tmp_path, changed_plan())
    code, output = run(tmp_path, "plan-prod.md")
    assert code == 0, output
    assert len(gh.comments) == 1 and gh.calls("POST", r"/issues/7/comments$") == 2 and len(gh.statuses) == 1
    assert waits and max(waits) <= 2


def test_rate_limits_are_waited_out_as_github_says(gh: FakeGitHub, tmp_path: Path, waits: list[float]) -> None:
    reset = str(int(time.time()) + 5)
    gh.faults += [
        Fault("GET", r"^/user$", 403, headers={"x-ratelimit-remaining": "0", "x-ratelimit-reset": reset},
              message="API rate limit exceeded for installation ID 1."),
        Fault("POST", r"^/graphql$", 429, headers={"retry-after": "3"}, message="secondary rate limit"),
        Fault("POST", r"/issues/7/comments$", 403, message="You have exceeded a secondary rate limit. Please "
              "wait a few minutes before you try again."),
    ]
    write_plans(tmp_path, changed_plan())
    code, output = run(tmp_path, "plan-prod.md")
    assert code == 0, output
    assert len(gh.comments) == 1 and len(gh.statuses) == 1
    assert 4 <= waits[0] <= 7  # until x-ratelimit-reset (and a second more)
    assert waits[1:] == [3.0, 60.0]  # retry-after; a secondary limit without headers: one minute


def test_a_wait_longer_than_bricksync_waits_is_reported_and_a_403_is_a_permission(gh: FakeGitHub, tmp_path: Path,
                                                                                    waits: list[float]) -> None:
    gh.faults += [Fault("GET", r"/issues/7/comments$", 403, headers={"retry-after": "3600"}),
                  Fault("POST", r"/statuses/", 403, message="Resource not accessible by integration")]
    write_plans(tmp_path, changed_plan())
    code, output = run(tmp_path, "plan-prod.md")
    assert code == 1
    assert "GitHub asks to wait 3600 s (HTTP 403, retry-after), longer than bricksync waits (60 s)" in output
    assert "could not set the bricksync/plan status: GitHub refused the request (HTTP 403" in output
    assert "pull-requests: write" in output and "statuses: write" in output
    assert gh.calls("POST", r"/statuses/") == 1 and not gh.comments and waits == []


def test_a_plan_longer_than_a_comment_is_cut_to_fit(gh: FakeGitHub, tmp_path: Path) -> None:
    from bricksync.core.plan import Action, Change

    plan = changed_plan()
    plan.actions += [Action(f"job-{i}", "update", f"Job {i}", job_id=100 + i, changes=[
        Change(f"tasks[t{j}].notebook_task.notebook_path", "/a" * 40, "/b" * 40) for j in range(40)])
        for i in range(30)]
    write_plans(tmp_path, plan)
    code, output = run(tmp_path, "plan-prod.md")
    assert code == 0, output
    body = gh.comments[0]["body"]
    assert len(body) <= 65536 and "longer than one GitHub comment may be (65,536 characters)" in body
    assert len(gh.statuses[0]["description"]) <= 140


def test_workflow_run_posts_for_the_triggering_run_and_a_fork_gets_nothing(
        gh: FakeGitHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    use_event(gh, monkeypatch, tmp_path, "workflow_run")
    code, output = run(tmp_path, "plan-prod.md")  # the plan run failed: no artifact, no file
    assert code == 0, output
    assert gh.statuses[-1]["state"] == "failure" and gh.statuses[-1]["sha"] == HEAD
    assert gh.statuses[-1]["target_url"].endswith("/actions/runs/99")  # the plan run's log
    assert "in build 12" in gh.comments[0]["body"]
    fork = gh.event("workflow_run")
    fork["workflow_run"]["pull_requests"] = []
    use_event(gh, monkeypatch, tmp_path, "workflow_run", fork)
    code, output = run(tmp_path, "plan-prod.md")
    assert code == 0 and "fork" in output and "nothing posted" in output and len(gh.statuses) == 1


def test_pending_sets_the_status_only_and_never_covers_the_result(gh: FakeGitHub, tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    use_event(gh, monkeypatch, tmp_path, "workflow_run")
    code, output = run(tmp_path, "--pending")
    assert code == 0, output
    assert [s["state"] for s in gh.statuses] == ["pending"] and not gh.comments
    write_plans(tmp_path, changed_plan())
    assert run(tmp_path, "plan-prod.md")[0] == 0
    code, output = run(tmp_path, "--pending")  # delivered after the result: left as it is
    assert code == 0 and "left as it is" in output
    assert [s["state"] for s in gh.statuses] == ["pending", "success"]


def test_outside_a_pull_request_run_nothing_is_posted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    code, output = run(tmp_path, "plan-prod.md")
    assert code == 0 and "not a GitHub Actions run" in output and "nothing posted" in output
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    code, output = run(tmp_path, "plan-prod.md")
    assert code == 1 and "GITHUB_REPOSITORY" in output


def test_the_token_never_appears_even_with_debug(gh: FakeGitHub, tmp_path: Path) -> None:
    write_plans(tmp_path, changed_plan())
    gh.faults.append(Fault("POST", r"/statuses/", 403, message=f"echoing the token {TOKEN}"))
    env = {**os.environ, "NO_COLOR": "1"}
    proc = subprocess.run([sys.executable, "-m", "bricksync.cli", "--debug", "comment", "--github", "plan-prod.md"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 1 and "Created the plan comment" in output
    assert "/issues/7/comments" in output  # debug logging was on
    assert "::error title=bricksync comment::could not set the bricksync/plan status" in output
    assert TOKEN not in output and TOKEN not in gh.comments[0]["body"]
