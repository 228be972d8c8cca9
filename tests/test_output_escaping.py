"""Every printed value is escaped for its medium (issue 14.7), prod secrets never print
(14.6), and the host guard cannot be emptied or leak userinfo (14.8)."""

from __future__ import annotations

import json
import re

import pytest

from bricksync.core.escape import md_code, md_fence, md_text, term
from bricksync.edges.state import parse_state, render_state
from bricksync.emulator import FaultRule
from bricksync.emulator.seed import seed_source, seed_target

from .conftest import Project

SETVAR = "##vso[task.setvariable variable=BRICKSYNC_PROD_HOST]https://evil.example.com"
# Strings an attacker (or an unlucky user) puts into names, descriptions, tags and task keys.
ATTACKS = [
    f"x\n{SETVAR}",
    f"x\r\n##[error]fake failure\n{SETVAR}",
    "x\n```\n" + SETVAR + "\n```",
    "x ```` ``` ` \n~~~\n</details>\n# heading | cell | [link](https://evil.example.com)",
    "x\u2028##vso[task.complete result=Failed]\x1b[31mred\x1b[0m [bold]markup[/bold]",
]
OURS = ("##[group]", "##[endgroup]", "##vso[task.logissue type=warning]", "##vso[task.uploadsummary]",
        "##vso[task.complete result=SucceededWithIssues;]")


def _assert_no_injected_line(text: str) -> None:
    for line in text.splitlines():  # what the agent runs: "##vso[" anywhere, "##[" at the start
        if "##vso[" in line or line.lstrip().startswith("##["):
            assert line.startswith(OURS) and line.count("##") == 1, line
        assert "##vso[task.setvariable" not in line and "\x1b" not in line, line
        assert "##vso[task.complete result=Failed" not in line, line


@pytest.mark.parametrize("attack", ATTACKS)
def test_escapers_keep_one_value_on_one_line(attack: str) -> None:
    for escaped in (term(attack), md_text(attack), md_code(attack)):
        assert "\n" not in escaped and "\r" not in escaped and "\u2028" not in escaped and "##" not in escaped
    fence = md_fence([attack, "plain"], "diff")
    assert fence[0].startswith("```") and fence[-1] == fence[0].removesuffix("diff")
    assert all(fence[-1] not in line for line in fence[1:-1])  # content cannot close the fence


def _poison_state(project: Project, key: str = "daily-sales-etl") -> None:
    """Every attack at once, in a description, the job name and tag values."""
    path = project.root / "state" / "jobs" / f"{key}.yml"
    doc = parse_state(path.read_bytes(), str(path))
    doc.settings["description"] = ATTACKS[0]
    doc.settings["name"] = "Sales " + ATTACKS[1]
    for i, attack in enumerate(ATTACKS):
        doc.settings.setdefault("tags", {})[f"note{i}"] = attack[:200]
    path.write_text(render_state(doc))


@pytest.fixture
def applied(project: Project) -> Project:
    seed_source(project.test.client())
    seed_target(project.prod.client())
    assert project.run("export").code == 0
    res = project.run("apply", "--target", "prod", "--yes")
    assert res.code == 0, res.output
    return project


def test_state_file_values_cannot_inject_into_plan_drift_or_reports(applied: Project,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    p = applied
    _poison_state(p)
    plan = p.run("plan", "--target", "prod", "--json", "p.json", "--markdown", "p.md")
    assert plan.code == 0, plan.output
    assert "Sales x" in plan.output
    monkeypatch.setenv("TF_BUILD", "True")
    drift = p.run("drift", "--target", "prod", "--markdown", "d.md")
    monkeypatch.delenv("TF_BUILD")
    assert "##vso[task.logissue" in drift.output  # the real logging commands are still there
    for text in (plan.output, drift.output, (p.root / "p.md").read_text(), (p.root / "d.md").read_text()):
        _assert_no_injected_line(text)
    md = (p.root / "p.md").read_text().splitlines()
    opening = next(i for i, line in enumerate(md) if line.startswith("```") and line.endswith("diff"))
    fence = md[opening].removesuffix("diff")
    closing = md.index(fence, opening + 1)
    assert len(fence) > 4  # the content has a run of four backticks
    assert any("description" in line for line in md[opening:closing])  # the whole diff is inside the fence
    assert all("description" not in line for line in md[closing:])
    report = json.loads((p.root / "p.json").read_text())
    assert any(c["after"] == ATTACKS[0] for j in report["jobs"] for c in j["changes"])  # JSON keeps it exactly
    res = p.run("apply", "--target", "prod", "--yes")
    assert res.code == 0, res.output
    _assert_no_injected_line(res.output)


def test_workspace_error_messages_and_file_names_cannot_inject(applied: Project) -> None:
    p = applied
    path = p.root / "state" / "jobs" / "daily-sales-etl.yml"
    path.write_text(path.read_text().replace("Daily sales ETL", "Daily sales ETL v2"))
    p.prod.faults.add(FaultRule("POST", "/api/2.2/jobs/reset", 400, message="".join(ATTACKS), count=None))
    res = p.run("apply", "--target", "prod", "--yes")
    assert res.code == 1 and "INVALID_PARAMETER_VALUE" in res.output
    _assert_no_injected_line(res.output)
    bad = p.root / "state" / "jobs" / "odd\n##vso[task.setvariable variable=X]1 [red]x.yml"
    bad.write_text("bricksync: {key: odd}\njob: {name: Odd}\n")
    res = p.run("validate")
    assert res.code == 1 and "odd" in res.output
    _assert_no_injected_line(res.output)


PROD_SECRETS = {"DB_PASS": "prod-only-pw-123", "PGPASSWORD": "prod-only-pw-456",
                "JDBC": "jdbc:postgresql://db/x?user=a&password=prod-only-pw-789",
                "HOOK": "https://hooks.slack.com/services/T0000AAAA/B0000BBBB/prodonlyhooksecret0000000"}


def test_secrets_that_live_in_prod_never_print(applied: Project) -> None:
    p = applied
    w = p.prod.client()
    job = next(j for j in p.prod.workspace.jobs.jobs.values() if j["settings"]["name"] == "Daily sales ETL")
    settings = json.loads(json.dumps(job["settings"]))
    for jc in settings.get("job_clusters", []):
        jc["new_cluster"]["spark_env_vars"] = dict(PROD_SECRETS)
    settings["description"] = "Bearer prodonlytoken0123456789"
    w.api_client.do("POST", "/api/2.2/jobs/reset", body={"job_id": job["job_id"], "new_settings": settings})
    outputs = [p.run("plan", "--target", "prod", "--json", "p.json", "--markdown", "p.md", "--out", "p.plan"),
               p.run("drift", "--target", "prod", "--json", "d.json", "--markdown", "d.md")]
    text = "".join(r.output for r in outputs) + "".join(
        (p.root / f).read_text() for f in ("p.json", "p.md", "p.plan", "d.json", "d.md"))
    assert "(redacted" in text and "DB_PASS" in text and "description: (redacted, changed)" in text
    for value in [*PROD_SECRETS.values(), "prodonlytoken0123456789"]:
        assert value.split("password=")[-1] not in text


@pytest.mark.parametrize("value", ["", "   "])
@pytest.mark.parametrize("var", ["BRICKSYNC_PROD_HOST", "BRICKSYNC_SOURCE_HOST"])
def test_an_empty_host_variable_is_an_error_not_a_disabled_guard(applied: Project, var: str, value: str,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(var, value)
    res = applied.run("plan", "--target", "prod")
    assert res.code == 1 and f"${var} is empty" in res.output, res.output


def test_an_empty_host_in_the_config_is_an_error(applied: Project) -> None:
    cfg = applied.root / "config" / "bricksync.yml"
    text = cfg.read_text()
    cfg.write_text(re.sub(r"(?m)^(    host:).*$", r'\1 ""', text, count=1) if "    host:" in text
                   else text.replace("    profile: prod", '    profile: prod\n    host: ""'))
    res = applied.run("validate")
    assert res.code == 1 and "is empty" in res.output, res.output


@pytest.mark.parametrize("userinfo", ["user:s3cretpw@", "oauth2:glpat-AbCdEf1234567890xyz@", "tok@"])
def test_userinfo_in_a_host_is_never_printed(applied: Project, userinfo: str, monkeypatch: pytest.MonkeyPatch) -> None:
    p = applied
    monkeypatch.setenv("BRICKSYNC_PROD_HOST", p.prod.url.replace("://", f"://{userinfo}"))
    res = p.run("plan", "--target", "prod", "--json", "p.json", "--markdown", "p.md")
    secret = userinfo.rstrip("@")
    # The profile points at the emulator without userinfo: the guard compares hosts only.
    assert res.code == 0, res.output
    text = res.output + (p.root / "p.json").read_text() + (p.root / "p.md").read_text()
    assert secret not in text and p.prod.url.split("://")[1] in text
    monkeypatch.setenv("BRICKSYNC_PROD_HOST", "https://" + userinfo + "elsewhere.example.com")
    res = p.run("plan", "--target", "prod")
    assert res.code == 1 and "elsewhere.example.com" in res.output and secret not in res.output


@pytest.mark.parametrize("attack", ATTACKS)
def test_every_report_escapes_keys_names_paths_notes_and_warnings(attack: str) -> None:
    from rich.console import Console

    from bricksync.core.plan import Action, Change, Plan
    from bricksync.reports.report import azure_lines, print_plan, report_markdown

    plan = Plan(target="prod", host="https://u:pw@adb-1.azuredatabricks.net", fingerprint="f")
    plan.actions = [
        Action(attack, "update", attack, job_id=1, notes=[attack],
               changes=[Change(f"tasks[{attack}].description", attack, attack + "!")]),
        Action(attack + "2", "orphan", attack, job_id=2),
        Action(attack + "3", "create", attack, settings={  # a create lists its whole body
            "name": attack, "description": attack, "tags": {attack: attack},
            "tasks": [{"task_key": attack, "notebook_task": {"notebook_path": attack}}]},
            acl=[{"group_name": attack, "permission_level": "CAN_VIEW"}]),
    ] + [Action(f"k{i}", "update", "n", job_id=10 + i, changes=[Change("x", 1, 2)]) for i in range(11)]
    plan.warnings.append(attack)
    console = Console(record=True, width=200, no_color=True)
    print_plan(plan, console)
    texts = [console.export_text(), report_markdown(plan), report_markdown(plan, collapse_over=100),
             "\n".join(azure_lines(plan, summary_file="/tmp/x\n##vso[task.setvariable variable=A]1.md"))]
    for text in texts:
        _assert_no_injected_line(text)
        assert "pw@" not in text and "\x1b" not in text
    for text in texts[:3]:
        assert ".notebook_task.notebook_path: " in text and "+ permissions[group:" in text  # the create's body
    assert "u:pw" not in texts[0] and "adb-1.azuredatabricks.net" in texts[0]


def test_export_listing_escapes_source_job_names(project: Project) -> None:
    project.test.client().api_client.do("POST", "/api/2.2/jobs/create", body={
        "name": "Evil\n" + SETVAR + " [red]x", "tags": {"PROD_MIGRATION": "true"},
        "tasks": [{"task_key": "t", "notebook_task": {"notebook_path": "/Workspace/elsewhere/x"}}]})
    project.test.client().api_client.do("POST", "/api/2.2/jobs/create", body={
        "name": "Fine\n" + SETVAR, "tags": {"PROD_MIGRATION": "true"},
        "tasks": [{"task_key": "t", "notebook_task": {"notebook_path": "/Workspace/dev/x"}}]})
    res = project.run("export", "--no-ack")
    assert res.code == 1 and "rejected" in res.output and "Fine" in res.output  # the other job still exported
    _assert_no_injected_line(res.output)
