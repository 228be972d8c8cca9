"""In a GitHub Actions run (GITHUB_ACTIONS=true): findings as workflow commands, escaped as GitHub's
toolkit escapes them, the Markdown report in the step summary, and no command that data could start;
none of it outside Actions, and no Azure logging commands inside."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from bricksync.core.escape import log_text, term, workflow_data, workflow_property
from bricksync.core.plan import Action, Change, Plan
from bricksync.reports.report import ANNOTATIONS_PER_KIND, github_lines

from .conftest import Project
from .test_pipeline_reports import drifted_project, sample_plan

# What bricksync itself prints as a workflow command; anything else starting with "::" came from data.
OURS = re.compile(r"^::(group|endgroup|warning|error|notice)( [a-z]+=[^:,]*(,[a-z]+=[^:,]*)*)?::")
HOSTILE = "x\r\n::error::pwned 100%\n::stop-commands::abc\n  ::add-mask::zz ##[error]old,format:a"


def commands_in(text: str) -> list[str]:
    """Every line the runner would take for a workflow command (it trims leading white space)."""
    return [line.lstrip() for line in text.splitlines() if line.lstrip().startswith("::") or "##[" in line]


def test_messages_and_properties_are_escaped_as_the_toolkit_does() -> None:
    assert workflow_data("50% done\r\nnext") == "50%25 done\\r\\nnext"  # one line; % can not fake an escape
    assert workflow_data("a%0Ab") == "a%250Ab"
    assert workflow_property("state/jobs/a,b:c.yml") == "state/jobs/a%2Cb%3Ac.yml"
    assert workflow_property("t: x,file=/etc/passwd") == "t%3A x%2Cfile=/etc/passwd"
    for text in (log_text(HOSTILE), term(HOSTILE), workflow_data(HOSTILE)):
        assert "\n" not in text and "::" not in text and "##" not in text


def test_hostile_names_start_no_command_and_annotations_point_at_state_files() -> None:
    plan = sample_plan()
    plan.actions.append(Action("evil", "update", HOSTILE, job_id=20, file="state/jobs/evil,x:y.yml",
                               changes=[Change("description", "::warning::a", HOSTILE)]))
    plan.warnings.append(HOSTILE)
    lines = github_lines(plan, kind="drift")
    assert all(OURS.match(x) for x in commands_in("\n".join(lines))), commands_in("\n".join(lines))
    evil = next(x for x in lines if x.startswith("::warning file=state/jobs/evil"))
    assert evil.startswith("::warning file=state/jobs/evil%2Cx%3Ay.yml,title=bricksync drift (prod)%3A evil::")
    assert "%25" in evil and ":\\x3aerror:\\x3apwned" in evil
    assert lines.count("::endgroup::") == 5 and sum(x.startswith("::group::") for x in lines) == 5
    assert "::error file=state/jobs/twice.yml" not in lines  # sample_plan's actions carry no file
    assert any(x.startswith("::error title=bricksync drift (prod)%3A twice::twice (Twice): conflict") for x in lines)
    assert not [x for x in lines if x.startswith("::group") and "evil" not in x and "\\n" in x]


def test_plan_findings_are_notices_apply_shows_warnings_only_and_annotations_are_capped() -> None:
    plan = Plan(target="prod", host="h", fingerprint="f")
    plan.actions = [Action(f"job-{i}", "create", f"Job {i}", file=f"state/jobs/job-{i}.yml") for i in range(14)]
    plan.warnings = ["a path is missing"]
    lines = github_lines(plan, kind="plan")
    notices = [x for x in lines if x.startswith("::notice ")]
    assert len(notices) == ANNOTATIONS_PER_KIND and notices[-1].endswith("::5 more notices: see this step's log "
                                                                           "and summary")
    assert notices[0] == "::notice file=state/jobs/job-0.yml,title=bricksync plan (prod)%3A job-0::job-0 (Job 0): create"
    assert github_lines(plan, kind="apply") == ["::warning title=bricksync apply (prod)::a path is missing"]


def test_drift_in_github_actions(project: Project, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    p = drifted_project(project)
    w = p.prod.client()
    job = next(j for j in w.jobs.list(name="Customer 360 scoring"))
    w.api_client.do("POST", "/api/2.2/jobs/update", body={"job_id": job.job_id, "new_settings": {
        "description": HOSTILE}})
    res = p.run("drift", "--target", "prod")
    assert res.code == 0 and not commands_in(res.output)  # outside Actions: no command at all
    summary = tmp_path / "step_summary.md"
    summary.write_text("earlier step\n")
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("TF_BUILD", "True")  # both set: GitHub's commands only
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    res = p.run("drift", "--target", "prod", "--json", "-")
    assert res.code == 0
    found = commands_in(res.output)
    assert found and all(OURS.match(x) for x in found), found
    assert "##vso[" not in res.output
    assert "::group::~ customer-360-scoring (update)" in found
    assert ("::warning file=state/jobs/customer-360-scoring.yml,title=bricksync drift (prod)%3A "
            "customer-360-scoring::customer-360-scoring (Customer 360 scoring): edited outside git (would be "
            "updated); to settle: accept `bricksync capture --target prod customer-360-scoring` or revert "
            "`bricksync apply --target prod`") in found
    doc = res.output[res.output.index('{\n  "bricksync_report"'):]
    settle = json.loads(doc[:doc.index("\n}\n") + 3])["settle"]  # the report, on stdout
    assert settle == [{"kind": "job", "item": "customer-360-scoring", "what": "customer-360-scoring",
                       "accept": "bricksync capture --target prod customer-360-scoring",
                       "revert": ["bricksync apply --target prod"]}]
    group = res.output.split("::group::~ customer-360-scoring (update)\n", 1)[1].split("::endgroup::", 1)[0]
    assert "description: x\\r\\n:\\x3aerror:\\x3apwned 100%" in group  # the hand edit, one line, inert
    text = summary.read_text()
    assert text.startswith("earlier step\n**0 to create, 1 to update") and "### bricksync drift: target `prod`" in text
    res = p.run("plan", "--target", "prod", "--markdown", "plan.md")
    assert "::notice file=state/jobs/customer-360-scoring.yml" in res.output
    assert summary.read_text().count("target `prod`") == 2


def test_the_step_summary_is_cut_to_what_is_left_of_its_1_mib(tmp_path: Path) -> None:
    from bricksync.edges.runner import STEP_SUMMARY_LIMIT, append_step_summary

    summary = tmp_path / "summary.md"
    summary.write_text("x" * (STEP_SUMMARY_LIMIT - 5000))  # earlier steps' text
    report = "**1 to update**\n\n<details><summary>job</summary>\n\n```diff\n" + "- é line\n" * 2000 + "```\n</details>\n"
    assert append_step_summary(report, {"GITHUB_STEP_SUMMARY": str(summary)})
    text = summary.read_bytes()
    added = text[STEP_SUMMARY_LIMIT - 5000:].decode()
    assert len(text) <= STEP_SUMMARY_LIMIT and "Truncated" in added
    assert added.count("```") == 2 and added.count("<details>") == added.count("</details>")
    assert not append_step_summary(report, {})  # not in Actions: nothing written anywhere
