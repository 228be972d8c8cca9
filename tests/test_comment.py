"""`bricksync comment --azure-devops`: one plan comment per pull request, kept current, and the
bricksync/plan status, against a local fake of the Azure DevOps REST API over real HTTP."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from bricksync.cli import cli
from bricksync.core.plan import Action, Change, Plan
from bricksync.core.prcomment import (
    MARKER,
    MAX_COMMENT_CHARS,
    compose_comment,
    find_own_comment,
    outcome,
    parse_plan_markdown,
    utf16_len,
)
from bricksync.reports.report import report_markdown

from .azdo_fake import BUILD_SERVICE, HUMAN, FakeAzdo, Fault

TOKEN = "azdo-sentinel-token-5f0c7a9e2b4d"


def changed_plan(target: str = "prod") -> Plan:
    plan = Plan(target=target, host="https://adb-222.azuredatabricks.net", fingerprint="x")
    plan.actions = [
        Action("new-a", "create", "New A", changes=[Change("", None, {"name": "New A"}, "+")]),
        Action("new-b", "create", "New B", changes=[Change("", None, {"name": "New B"}, "+")]),
        Action("edited", "update", "Edited", job_id=11, changes=[Change("max_concurrent_runs", 5, 2)]),
        Action("fine", "no-op", "Fine", job_id=15),
    ]
    return plan


def unchanged_plan(target: str = "prod") -> Plan:
    plan = Plan(target=target, host="https://adb-222.azuredatabricks.net", fingerprint="x")
    plan.actions = [Action("fine", "no-op", "Fine", job_id=15)]
    return plan


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeAzdo]:
    with FakeAzdo(token=TOKEN) as server:
        for name, value in server.env().items():
            monkeypatch.setenv(name, value)
        yield server


def run_comment(platform: str, tmp_path: Path, *args: str) -> tuple[int, str]:
    """`bricksync comment --<platform> ARGS` in-process, in `tmp_path`."""
    old = Path.cwd()
    os.chdir(tmp_path)
    try:
        res = CliRunner().invoke(cli, ["comment", f"--{platform}", *args], catch_exceptions=False)
    finally:
        os.chdir(old)
    return res.exit_code, res.output


def run(tmp_path: Path, *args: str) -> tuple[int, str]:
    return run_comment("azure-devops", tmp_path, *args)


def write_plans(tmp_path: Path, *plans: Plan) -> None:
    for p in plans:
        (tmp_path / f"plan-{p.target}.md").write_text(report_markdown(p))


# --- pure: reading plans back, composing the comment --------------------------------------

def test_plan_markdown_reads_back_to_target_and_counts() -> None:
    section = parse_plan_markdown(report_markdown(changed_plan("staging")), "plan-staging.md")
    assert section.target == "staging" and section.has_changes
    assert section.short() == "2 to create, 1 to update"
    assert not parse_plan_markdown(report_markdown(unchanged_plan()), "p.md").has_changes
    with pytest.raises(Exception, match=r"notes\.md: not a bricksync plan"):
        parse_plan_markdown("# my notes\n", "notes.md")
    adopting = unchanged_plan("prod")
    adopting.actions.append(Action("legacy", "adopt", "Legacy", job_id=7))
    section = parse_plan_markdown(report_markdown(adopting), "plan-prod.md")  # issue 22.11: adopts counted apart
    assert section.headline.startswith("0 to create, 0 to update, 1 to adopt, 0 orphans")
    assert section.has_changes and section.short() == "1 to adopt"


def test_status_wording_and_state() -> None:
    one = outcome([parse_plan_markdown(report_markdown(changed_plan()), "p")], 2, [])
    assert (one.state, one.description()) == ("succeeded", "2 to create, 1 to update")
    two = outcome([parse_plan_markdown(report_markdown(changed_plan()), "a"),
                   parse_plan_markdown(report_markdown(unchanged_plan("staging")), "b")], 0, [])
    assert two.description() == "prod: 2 to create, 1 to update; staging: no changes"
    failed = outcome([], 1, ["plan-*.md"])
    assert failed.state == "failed" and failed.description() == "plan failed (exit code 1; no plan file plan-*.md)"
    assert outcome([], None, []).failed  # no plan at all is not a success


def test_comment_starts_with_the_marker_and_an_empty_plan_says_no_changes() -> None:
    sections = [parse_plan_markdown(report_markdown(unchanged_plan(t)), t) for t in ("prod", "staging")]
    body = compose_comment(outcome(sections, 0, []), build="20260101.3", commit="0123456789abcdef")
    assert body.startswith(MARKER + "\n## bricksync plan: no changes")
    assert "Every target matches state/: `prod`, `staging`." in body
    assert "| action |" not in body  # nothing to list
    assert "build 20260101.3 for commit 0123456789ab" in body


def test_a_long_plan_is_cut_to_the_comment_limit_with_its_fences_closed() -> None:
    plan = changed_plan()
    plan.actions += [Action(f"job-{i}", "update", f"Job {i}", job_id=100 + i,
                            changes=[Change(f"tasks[t{j}].notebook_task.notebook_path", "/a" * 40, "/b" * 40)
                                     for j in range(40)]) for i in range(60)]
    sections = [parse_plan_markdown(report_markdown(plan), "p"),
                parse_plan_markdown(report_markdown(changed_plan("staging")), "s")]
    body = compose_comment(outcome(sections, 2, []))
    assert utf16_len(body) <= MAX_COMMENT_CHARS
    assert body.startswith(MARKER) and "Truncated" in body and "- `staging`: not shown" in body
    assert body.count("```") % 2 == 0 and body.count("<details>") == body.count("</details>")
    small = compose_comment(outcome(sections, 2, []), limit=5_000)  # emoji count twice in UTF-16
    assert utf16_len(small) <= 5_000 and small.count("```") % 2 == 0


def test_only_a_comment_of_our_own_identity_that_starts_with_the_marker_is_ours() -> None:
    def thread(tid: int, author: str, content: str, deleted: bool = False) -> dict:
        return {"id": tid, "isDeleted": deleted,
                "comments": [{"id": 1, "author": {"id": author}, "content": content, "isDeleted": False}]}

    threads = [thread(1, HUMAN, MARKER + "\nforged by a person"),
               thread(2, BUILD_SERVICE, "a plan quoting " + MARKER),
               thread(3, BUILD_SERVICE, MARKER + "\nold", deleted=True),
               thread(4, BUILD_SERVICE, MARKER + "\nours"),
               thread(5, BUILD_SERVICE, MARKER + "\na later copy")]
    assert find_own_comment(threads, BUILD_SERVICE) == (4, 1)
    assert find_own_comment(threads[:3], BUILD_SERVICE) is None


# --- against the fake Azure DevOps ------------------------------------------------------------

def test_first_run_creates_the_thread_second_run_updates_the_same_comment(fake: FakeAzdo, tmp_path: Path) -> None:
    write_plans(tmp_path, changed_plan(), unchanged_plan("staging"))
    code, output = run(tmp_path, "--plan-exit-code", "2", "plan-prod.md", "plan-staging.md")
    assert code == 0, output
    assert "Created the plan comment on pull request 42 (thread 1)" in output
    assert len(fake.threads) == 1
    first = fake.threads[0]["comments"][0]["content"]
    assert first.startswith(MARKER) and "2 to create, 1 to update" in first
    created = next(b for m, path, b in fake.bodies if (m, path) == ("POST", "/threads"))
    assert created["comments"][0]["parentCommentId"] == 0 and created["comments"][0]["commentType"] == "text"
    assert "status" not in created  # not "active": a comment-resolution policy never waits on it

    write_plans(tmp_path, unchanged_plan(), unchanged_plan("staging"))
    code, output = run(tmp_path, "--plan-exit-code", "0", "plan-prod.md", "plan-staging.md")
    assert code == 0, output
    assert "Updated the plan comment on pull request 42 (thread 1)" in output
    assert len(fake.threads) == 1 and fake.calls("POST", r"/threads$") == 1
    assert fake.calls("PATCH", r"/threads/1/comments/1$") == 1
    content = fake.threads[0]["comments"][0]["content"]
    assert "## bricksync plan: no changes" in content and "2 to create" not in content

    assert [s["state"] for s in fake.statuses] == ["succeeded", "succeeded"]
    status = fake.statuses[0]
    assert status["context"] == {"genre": "bricksync", "name": "plan"}
    assert status["iterationId"] == 2  # the iteration of the commit this run built, not the latest (3)
    assert status["description"] == "prod: 2 to create, 1 to update; staging: no changes"
    assert status["targetUrl"] == f"{fake.collection_uri}Data%20Platform/_build/results?buildId=1234"
    assert fake.statuses[1]["description"] == "prod: no changes; staging: no changes"
    assert all(h.get("Authorization") == f"Bearer {TOKEN}" for h in fake.headers_seen)


def test_a_forged_marker_is_left_alone_and_a_failed_plan_fails_the_status(fake: FakeAzdo, tmp_path: Path) -> None:
    fake.add_thread(MARKER + "\nI wrote this by hand", HUMAN)
    write_plans(tmp_path, changed_plan())
    code, output = run(tmp_path, "--plan-exit-code", "1", "plan-prod.md", "plan-staging.md")
    assert code == 0, output
    assert fake.threads[0]["comments"][0]["content"].endswith("by hand")  # not touched
    assert len(fake.threads) == 2 and fake.threads[1]["comments"][0]["author"]["id"] == BUILD_SERVICE
    assert "## ❌ bricksync plan failed" in fake.threads[1]["comments"][0]["content"]
    assert fake.statuses[-1]["state"] == "failed"
    assert fake.statuses[-1]["description"] == "plan failed (exit code 1; no plan file plan-staging.md); " \
                                               "prod: 2 to create, 1 to update"
    assert "The plan failed" in output


def test_no_plan_file_at_all_fails_the_status(fake: FakeAzdo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BRICKSYNC_PLAN_EXIT_CODE", "0")
    monkeypatch.setenv("SYSTEM_PULLREQUEST_SOURCECOMMITID", "feedfacefeedfacefeedfacefeedfacefeedface")
    code, output = run(tmp_path, "plan-*.md")  # the shell passes an unmatched glob on as it is
    assert code == 0, output
    assert fake.statuses[-1]["state"] == "failed"
    assert fake.statuses[-1]["iterationId"] == 3  # a commit no iteration has: the latest
    assert "no plan file plan-*.md" in fake.statuses[-1]["description"]


def test_429_is_waited_out_and_then_posted(fake: FakeAzdo, tmp_path: Path) -> None:
    fake.faults.append(Fault("POST", r"/threads$", 429, retry_after="1"))
    fake.faults.append(Fault("POST", r"/statuses$", 503, count=2, retry_after="0"))
    write_plans(tmp_path, changed_plan())
    code, output = run(tmp_path, "plan-prod.md")
    assert code == 0, output
    assert fake.calls("POST", r"/threads$") == 2 and len(fake.threads) == 1
    assert fake.calls("POST", r"/statuses$") == 3 and len(fake.statuses) == 1


def test_a_lost_answer_to_create_does_not_make_a_second_thread(fake: FakeAzdo, tmp_path: Path) -> None:
    fake.faults.append(Fault("POST", r"/threads$", 500, after=True))  # created, but the answer is a 500
    write_plans(tmp_path, changed_plan())
    code, output = run(tmp_path, "plan-prod.md")
    assert code == 0, output
    assert len(fake.threads) == 1 and fake.calls("POST", r"/threads$") == 1


@pytest.mark.parametrize("status", [401, 403])
def test_refused_names_the_missing_permission(fake: FakeAzdo, tmp_path: Path, status: int) -> None:
    fake.faults.append(Fault("GET", r"connectionData", status))
    fake.faults.append(Fault("POST", r"/statuses$", status))
    write_plans(tmp_path, changed_plan())
    code, output = run(tmp_path, "plan-prod.md")
    assert code == 1
    assert f"HTTP {status}" in output and "'Contribute to pull requests'" in output
    assert "SYSTEM_ACCESSTOKEN: $(System.AccessToken)" in output
    assert "##vso[task.logissue type=error]" in output
    assert not fake.threads and not fake.statuses


def test_failing_to_post_fails_the_step_with_a_clear_message(fake: FakeAzdo, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("time.sleep", lambda s: None)  # the retries' pauses, not what is tested here
    fake.faults.append(Fault("GET", r"/threads$", 500, count=99))
    fake.faults.append(Fault("POST", r"/statuses$", 502, count=99))
    write_plans(tmp_path, changed_plan())
    code, output = run(tmp_path, "plan-prod.md")
    assert code == 1
    assert "could not list the pull request's comment threads: HTTP 500 after 5 attempts" in output
    assert "could not set the bricksync/plan status: HTTP 502 after 5 attempts" in output


def test_outside_a_pull_request_it_says_so_and_exits_0(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TF_BUILD", "True")
    code, output = run(tmp_path, "plan-prod.md")
    assert code == 0 and "not a pull-request run" in output and "nothing posted" in output
    monkeypatch.setenv("SYSTEM_PULLREQUEST_PULLREQUESTID", "7")
    monkeypatch.setenv("BUILD_REPOSITORY_PROVIDER", "GitHub")
    code, output = run(tmp_path, "plan-prod.md")
    assert code == 0 and "not Azure Repos" in output
    monkeypatch.setenv("BUILD_REPOSITORY_PROVIDER", "TfsGit")
    code, output = run(tmp_path, "plan-prod.md")
    assert code == 1 and "SYSTEM_COLLECTIONURI" in output


def test_the_token_never_appears_in_output_even_with_debug(fake: FakeAzdo, tmp_path: Path) -> None:
    write_plans(tmp_path, changed_plan())
    fake.faults.append(Fault("POST", r"/statuses$", 403))
    env = {**os.environ, **fake.env(), "NO_COLOR": "1"}
    proc = subprocess.run([sys.executable, "-m", "bricksync.cli", "--debug", "comment", "--azure-devops",
                           "plan-prod.md"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 1 and "Created the plan comment" in output
    assert "/threads" in output  # debug logging was on
    assert TOKEN not in output
    assert TOKEN not in "".join(t["comments"][0]["content"] for t in fake.threads)


def test_a_retry_after_longer_than_bricksync_waits_is_reported_not_waited(fake: FakeAzdo, tmp_path: Path) -> None:
    fake.faults.append(Fault("GET", r"/threads$", 429, retry_after="3600"))
    write_plans(tmp_path, changed_plan())
    code, output = run(tmp_path, "plan-prod.md")
    assert code == 1
    assert "asks to wait 3600 s (HTTP 429, Retry-After), longer than bricksync waits (30 s)" in output
    assert fake.calls("GET", r"/threads$") == 1 and len(fake.statuses) == 1  # the status still went out


def test_a_status_policy_refusal_is_not_blamed_on_permissions(fake: FakeAzdo, tmp_path: Path) -> None:
    fake.iterations.clear()  # a PR without iterations: nothing to post the status on
    write_plans(tmp_path, changed_plan())
    code, output = run(tmp_path, "plan-prod.md")
    assert code == 1 and len(fake.threads) == 1  # the comment still went out
    assert "could not set the bricksync/plan status: a branch policy refused it (HTTP 403" in output
    assert "requires status to be posted on iteration" in output
    assert "Contribute to pull requests" not in output
