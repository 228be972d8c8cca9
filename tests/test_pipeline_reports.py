"""azure-pipelines.yml against the published schema; reports in every format; secrets never leak."""

from __future__ import annotations

import copy
import json
import re
import shlex
from pathlib import Path

import jsonschema
import pytest
from ruamel.yaml import YAML

from bricksync.cli import cli
from bricksync.core.plan import Action, Change, Plan
from bricksync.emulator.seed import seed_source, seed_target
from bricksync.reports.report import azure_lines, report_json, report_markdown

from .conftest import ROOT, SCHEMAS, Project

PIPELINE = ROOT / "azure-pipelines.yml"


def load_pipeline(text: str):
    """As the Azure Pipelines parser reads it (every scalar a string), except task inputs, which the
    schema types from each task's task.json (booleans, numbers) as the editor's YAML reads them."""
    doc = YAML(typ="base").load(text)
    _type_task_inputs(doc, YAML(typ="safe", pure=True).load(text))
    return doc


def _type_task_inputs(doc, typed) -> None:
    if isinstance(doc, dict) and isinstance(typed, dict):
        if "task" in doc and isinstance(typed.get("inputs"), dict):
            doc["inputs"] = typed["inputs"]
        for key, value in doc.items():
            if key != "inputs" and key in typed:
                _type_task_inputs(value, typed[key])
    elif isinstance(doc, list) and isinstance(typed, list):
        for value, typed_value in zip(doc, typed, strict=False):
            _type_task_inputs(value, typed_value)


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft7Validator:
    return jsonschema.Draft7Validator(json.loads((SCHEMAS / "azure-pipelines.schema.json").read_text()))


def compile_pipeline(text: str, **parameters) -> dict:
    """The pipeline as Azure compiles a run of it (template expressions expanded: tests/ci_expand.py)."""
    from .ci_expand import defaults, expand

    doc = load_pipeline(text)
    return expand(doc, {"parameters": {**defaults(doc), **parameters}})


def test_pipeline_validates_and_a_broken_copy_does_not(validator: jsonschema.Draft7Validator) -> None:
    text = PIPELINE.read_text()
    assert not list(validator.iter_errors(compile_pipeline(text)))
    assert list(validator.iter_errors(compile_pipeline(text.replace("            steps:", "            stepz:", 1))))
    broken = compile_pipeline(text)
    broken["stages"][0]["jobs"][0]["steps"] = "not a list"
    assert list(validator.iter_errors(broken))
    broken = compile_pipeline(text)
    broken["stages"][1]["jobs"][0]["stepz"] = broken["stages"][1]["jobs"][0].pop("steps")
    assert list(validator.iter_errors(broken))


COMMAND_RE = re.compile(r"^\s*bricksync ((?:export|validate|plan|apply|drift|comment|capture)\b[^|;\n]*)",
                        re.MULTILINE)


def pipeline_commands(*texts: str) -> list[list[str]]:
    """Every bricksync command line of these scripts, shell words with a variable in them as 'x'."""
    commands = []
    for text in texts:
        for match in COMMAND_RE.finditer(text):
            args = re.sub(r'"[^"]*\$[^"]*"', "x", match.group(1)).replace("$heal", "--heal")
            commands.append(shlex.split(args))
    return commands


def scripts_of(node) -> list[str]:
    """Every script of a compiled pipeline or workflow (`script:`, `run:`, a template's `script` parameter)."""
    if isinstance(node, dict):
        return [v for k, v in node.items() if k in ("script", "run") and isinstance(v, str)] + [
            s for k, v in node.items() for s in scripts_of(v)]
    if isinstance(node, list):
        return [s for v in node for s in scripts_of(v)]
    return []


def test_every_bricksync_command_in_the_pipelines_parses_with_the_real_cli() -> None:
    from ruamel.yaml import YAML as _YAML

    azure = scripts_of(compile_pipeline(PIPELINE.read_text(), heal=True, capturePR=True))
    github = [s for path in sorted((ROOT / ".github" / "workflows").glob("*.yml"))
              for s in scripts_of(_YAML(typ="safe", pure=True).load(path.read_text()))]
    every = {"export", "validate", "plan", "apply", "drift", "comment"}
    assert {c[0] for c in pipeline_commands(*azure)} == every | {"capture"}
    assert {c[0] for c in pipeline_commands(*github)} == every
    for args in pipeline_commands(*azure, *github):
        ctx = cli.make_context("bricksync", list(args))
        sub = cli.get_command(ctx, args[0])
        assert sub is not None, args
        sub.make_context(args[0], args[1:], parent=ctx)  # raises on an unknown option or bad value


def sample_plan() -> Plan:
    plan = Plan(target="prod", host="https://adb-222.azuredatabricks.net", fingerprint="abc")
    plan.actions = [
        Action("new-job", "create", "New job", changes=[Change("", None, {"name": "New job"}, "+")]),
        Action("edited", "update", "Edited | job", job_id=11, changes=[
            Change("tasks[ingest].notebook_task.notebook_path", "/Workspace/prod/a", "/Workspace/prod/b"),
            Change("max_concurrent_runs", 5, None, "-")]),
        Action("gone", "orphan", "Gone job", job_id=12, notes=["managed by bricksync, no state file"]),
        Action("twice", "conflict", "Twice", job_ids=[13, 14], notes=["2 jobs carry bricksync-key=twice"]),
        Action("fine", "no-op", "Fine", job_id=15),
    ]
    return plan


def test_markdown_report_snapshot() -> None:
    md = report_markdown(sample_plan(), title="bricksync drift", awaiting_export=[
        {"key": "sales", "name": "Sales", "status": "changed"}])
    assert md.splitlines()[0] == "**1 to create, 1 to update, 1 orphans, 1 conflicts, 1 unchanged, 1 awaiting export**"
    assert "| ~ | update | `edited` | Edited \\| job | 11 | 2 |" in md
    assert "! tasks[ingest].notebook_task.notebook_path: /Workspace/prod/a → /Workspace/prod/b" in md
    assert "- max_concurrent_runs: 5 → (unset)" in md
    assert "| x | conflict | `twice` | Twice | 13, 14 |  |" in md
    assert "- `sales` — Sales (changed)" in md
    assert "<details>" not in md
    assert "<details><summary>" in report_markdown(sample_plan(), collapse_over=1)


def test_json_report_is_versioned_and_complete() -> None:
    doc = report_json(sample_plan(), kind="drift", awaiting_export=[])
    assert doc["bricksync_report"] == 1 and doc["kind"] == "drift" and doc["has_changes"] is True
    assert doc["summary"] == {"create": 1, "update": 1, "adopt": 0, "orphan": 1, "conflict": 1, "no-op": 1}
    edited = next(j for j in doc["jobs"] if j["key"] == "edited")
    assert edited["changes"][0] == {"path": "tasks[ingest].notebook_task.notebook_path", "op": "~",
                                    "before": "/Workspace/prod/a", "after": "/Workspace/prod/b"}
    json.dumps(doc)


def test_azure_logging_commands_are_well_formed() -> None:
    lines = azure_lines(sample_plan(), summary_file="/tmp/drift.md")
    assert lines.count("##[endgroup]") == 4 and sum(x.startswith("##[group]") for x in lines) == 4
    issues = [x for x in lines if x.startswith("##vso[task.logissue type=warning]")]
    assert len(issues) == 4 and all("\n" not in x for x in issues)
    assert "##vso[task.uploadsummary]/tmp/drift.md" in lines
    assert lines[-1].startswith("##vso[task.complete result=SucceededWithIssues;]")
    assert azure_lines(Plan(target="prod", host="h"), kind="drift") == []


def test_settle_commands_in_pipeline_messages_are_escaped_and_drift_only() -> None:
    from bricksync.core.fileplan import FileAction

    plan = Plan("prod", "h", actions=[Action("a", "update", "A", job_id=1, settings={},
                                             changes=[Change("max_concurrent_runs", 1, 2)])],
                files=[FileAction("/Workspace/prod/odd;]%x", "update")])
    issues = [x for x in azure_lines(plan) if x.startswith("##vso[task.logissue")]
    assert issues == [
        "##vso[task.logissue type=warning]a (A): edited outside git (would be updated)%3B to settle: accept "
        "`bricksync capture --target prod a` or revert `bricksync apply --target prod`",
        "##vso[task.logissue type=warning]/Workspace/prod/odd%3B%5D%AZP25x: edited outside git (would be rewritten)"
        "%3B to settle: accept `bricksync capture --target prod` or revert `bricksync apply --target prod`"]
    assert not any("settle" in x for x in azure_lines(plan, kind="plan"))


def drifted_project(project: Project) -> Project:
    seed_source(project.test.client())
    seed_target(project.prod.client())
    assert project.run("export", "--branch", "main").code == 0
    assert project.run("apply", "--target", "prod", "--yes").code == 0
    w = project.prod.client()
    job = next(j for j in w.jobs.list(name="Customer 360 scoring"))
    w.api_client.do("POST", "/api/2.2/jobs/update", body={"job_id": job.job_id,
                                                          "new_settings": {"timeout_seconds": 60}})
    return project


def test_drift_logging_only_in_azure_pipelines(project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    p = drifted_project(project)
    res = p.run("drift", "--target", "prod", "--fail-on-drift", "--markdown", "d.md", "--json", "d.json")
    assert res.code == 2 and "##" not in res.output
    assert "~ timeout_seconds: 60 → 0 (default)" in res.output  # the value it goes back to, not "(unset)"
    report = json.loads((p.root / "d.json").read_text())
    assert report["summary"]["update"] == 1
    assert report["jobs"][0]["changes"] == [{"path": "timeout_seconds", "op": "~", "before": 60, "after": 0,
                                             "default": True}]
    assert report["settle"] == [{"kind": "job", "item": "customer-360-scoring", "what": "customer-360-scoring",
                                 "accept": "bricksync capture --target prod customer-360-scoring",
                                 "revert": ["bricksync apply --target prod"]}]
    plan = p.run("plan", "--target", "prod", "--json", "p.json")
    assert plan.code == 0 and "settle" not in json.loads((p.root / "p.json").read_text())  # drift's alone
    assert "! timeout_seconds: 60 → 0 (default)" in (p.root / "d.md").read_text()
    monkeypatch.setenv("TF_BUILD", "True")
    res = p.run("drift", "--target", "prod", "--markdown", "d.md")
    assert res.code == 0
    assert "##[group]~ customer-360-scoring (update)" in res.output
    assert ("##vso[task.logissue type=warning]customer-360-scoring (Customer 360 scoring): edited outside git "
            "(would be updated)%3B to settle: accept `bricksync capture --target prod customer-360-scoring` or "
            "revert `bricksync apply --target prod`") in res.output  # `;` escaped, as the agent reads it
    assert f"##vso[task.uploadsummary]{(p.root / 'd.md').resolve()}" in res.output
    assert "##vso[task.complete result=SucceededWithIssues;]" in res.output
    res = p.run("drift", "--target", "prod", "--heal")
    assert res.code == 0 and p.run("drift", "--target", "prod", "--fail-on-drift").code == 0


def test_drift_reports_source_jobs_awaiting_export(project: Project) -> None:
    p = drifted_project(project)
    w = p.test.client()
    job = next(j for j in w.jobs.list(name="Daily sales ETL"))
    w.api_client.do("POST", "/api/2.2/jobs/update", body={"job_id": job.job_id, "new_settings": {
        "tags": {"PROD_MIGRATION": "true", "team": "sales"}, "timeout_seconds": 1}})
    res = p.run("drift", "--target", "prod", "--json", "d.json")
    assert "awaiting export" in res.output and "daily-sales-etl (changed)" in res.output
    assert json.loads((p.root / "d.json").read_text())["awaiting_export"] == [
        {"key": "daily-sales-etl", "name": "Daily sales ETL", "status": "changed"}]


SENTINEL = "dapi0123456789abcdef0123456789abcdef"


def test_a_known_token_never_appears_in_any_output_or_file(project: Project, tmp_path: Path) -> None:
    p = project
    seed_source(p.test.client())
    seed_target(p.prod.client())
    # The sentinel is the real credential of both workspaces, passed the way CI passes it.
    for emu in (p.test, p.prod):
        emu.token = SENTINEL
    p.databrickscfg.write_text(f"[test]\nhost = {p.test.url}\n\n[prod]\nhost = {p.prod.url}\n")
    env = {"DATABRICKS_TOKEN": SENTINEL}
    outputs = []
    for args in (["--debug", "export", "--branch", "main"], ["--debug", "validate"],
                 ["--debug", "plan", "--target", "prod", "--json", "p.json", "--markdown", "p.md", "--out", "p.plan"],
                 ["--debug", "apply", "--target", "prod", "--yes"],
                 ["--debug", "drift", "--target", "prod", "--json", "d.json", "--markdown", "d.md"],
                 ["plan", "--target", "nope"]):
        outputs.append(p.run_process(*args, env=env))
    assert outputs[3].code == 0, outputs[3].output
    p.prod.token = "dapi-rotated"  # now every call fails with 401: the failure path must not leak either
    outputs.append(p.run_process("--debug", "apply", "--target", "prod", "--yes", env=env))
    assert outputs[-1].code == 1
    text = "".join(r.output for r in outputs)
    assert "GET /api/2.2/jobs/list" in text or "jobs/list" in text  # debug logging was really on
    assert SENTINEL not in text
    for path in p.root.rglob("*"):
        if path.is_file() and ".git" not in path.parts:
            assert SENTINEL.encode() not in path.read_bytes(), path
    assert SENTINEL.encode() not in p.repo.git.log("-p", "--all").encode()


def test_export_refuses_literal_secrets(project: Project) -> None:
    w = project.test.client()
    w.api_client.do("POST", "/api/2.2/jobs/create", body={
        "name": "Leaky", "tags": {"PROD_MIGRATION": "true"},
        "tasks": [{"task_key": "t", "notebook_task": {"notebook_path": "/Workspace/dev/x", "base_parameters": {
            "db_password": "hunter2", "api_token": "{{secrets/prod/api}}"}}},
                  {"task_key": "u", "new_cluster": {"spark_version": "15.4", "num_workers": 1,
                                                    "spark_env_vars": {"X": SENTINEL}},
                   "notebook_task": {"notebook_path": "/Workspace/dev/y"}}]})
    res = project.run("export", "--no-ack")
    assert res.code == 1
    assert "tasks[t].notebook_task.base_parameters.db_password" in res.output
    assert "tasks[u].new_cluster.spark_env_vars.X" in res.output
    assert "api_token" not in res.output  # a secret-scope reference passes
    assert project.state_files == {} and SENTINEL not in res.output and "hunter2" not in res.output


def test_reports_do_not_mutate_the_plan() -> None:
    plan = sample_plan()
    before = copy.deepcopy(plan.to_dict())
    report_markdown(plan)
    report_json(plan)
    azure_lines(plan)
    assert plan.to_dict() == before


def test_terminal_report_snapshot() -> None:
    from rich.console import Console

    from bricksync.reports.report import print_plan

    console = Console(record=True, width=160, no_color=True)
    plan = sample_plan()
    plan.actions.append(Action("namesake", "adopt", "Namesake", job_id=16, notes=["adopts unmanaged job 16"],
                               changes=[Change("tags.bricksync-key", None, "namesake", "+")]))
    plan.warnings.append("'X': an unmanaged job with this name exists")
    print_plan(plan, console, title="Drift")
    text = console.export_text()
    assert text.splitlines()[0] == ("Drift for target 'prod' (https://adb-222.azuredatabricks.net): 1 to create, "
                                    "1 to update, 1 to adopt, 1 orphans, 1 conflicts, 1 unchanged")
    for fragment in ("+  create", "~  update", "!  orphan", "x  conflict", "~  adopt", "13, 14",
                     "~ tasks[ingest].notebook_task.notebook_path: /Workspace/prod/a → /Workspace/prod/b",
                     "- max_concurrent_runs: 5 → (unset)", "+ tags.bricksync-key: namesake",
                     "# adopts unmanaged job 16", "warning: 'X': an unmanaged job with this name exists"):
        assert fragment in text, fragment
    assert "fine" not in text  # no-op jobs are not listed


def test_a_create_shows_the_whole_job_as_it_will_be_sent(project: Project) -> None:
    """Issue 22.11: after rewrites, mapping, overrides and permissions, in every report, secrets
    redacted (Terraform shows a create's body)."""
    p = project
    seed_source(p.test.client())
    pools = seed_target(p.prod.client()) and {r["instance_pool_name"]: i for i, r in
                                               p.prod.workspace.resources["pool"].items()}
    cfg = (p.root / "config" / "bricksync.yml").read_text()
    p.write_config(cfg.replace("overrides: {}", "overrides: {daily-sales-etl: {max_concurrent_runs: 3}}")
                   .replace("prune: false", "prune: false\n    permissions: manage\n"
                                            "    permissions_add: [{group_name: ops, level: CAN_MANAGE_RUN}]"))
    assert p.run("export", "--branch", "main").code == 0
    res = p.run("plan", "--target", "prod", "--json", "p.json", "--markdown", "p.md")
    assert res.code == 0, res.output
    md = (p.root / "p.md").read_text()
    report = json.loads((p.root / "p.json").read_text())
    etl = next(j for j in report["jobs"] if j["key"] == "daily-sales-etl")
    assert etl["action"] == "create"
    body = {c["path"]: c["after"] for c in etl["changes"]}
    assert all(c["op"] == "+" for c in etl["changes"])
    expected = {
        "name": "Daily sales ETL",
        "max_concurrent_runs": 3,  # the override
        "tasks[ingest].notebook_task.notebook_path": "/Workspace/prod/sales/ingest",  # rewritten
        "job_clusters[etl].new_cluster.instance_pool_id": pools["prod-pool"],  # mapped, resolved to the prod ID
        "tags.bricksync-key": "daily-sales-etl",  # the ownership tags, sent in the same call
        "tasks[publish].depends_on": None,  # listed per dependency, below
        "permissions[group:ops]": "CAN_MANAGE_RUN",  # permissions_add, sent right after the create
    }
    del expected["tasks[publish].depends_on"]
    for path, value in expected.items():
        assert body[path] == value, path
        assert f"+ {path}: {value}" in res.output, path
        assert f"+ {path}: {value}" in md, path
    assert "tasks[publish].depends_on[ingest].task_key" in body
    assert any(path.startswith("permissions[user:") for path in body)  # the source's own grants, owner included
    table_row = next(x for x in md.splitlines() if "`daily-sales-etl`" in x and x.startswith("| +"))
    assert table_row.endswith(f"| {len(body)} |")  # the changes column counts the fields sent


def test_a_huge_create_is_listed_bounded_with_counts() -> None:
    from rich.console import Console

    from bricksync.core.createbody import LINES_PER_JOB, LINES_PER_REPORT
    from bricksync.reports.report import print_plan

    tasks = [{"task_key": f"t{i:04d}", "notebook_task": {"notebook_path": f"/Workspace/prod/n{i}"},
              "spark_env_vars": {"DB_PASSWORD": "hunter2-literal"}} for i in range(400)]
    plan = Plan(target="prod", host="h", actions=[
        Action(f"job-{n:02d}", "create", f"Job {n}", settings={"name": f"Job {n}", "tasks": tasks},
               acl=[{"user_name": "a@example.com", "permission_level": "IS_OWNER"}]) for n in range(15)])
    console = Console(record=True, width=200, no_color=True)
    print_plan(plan, console)
    md = report_markdown(plan)
    doc = report_json(plan)
    for text in (console.export_text(), md):
        assert "hunter2" not in text and "(redacted)" in text
        body_lines = [x for x in text.splitlines() if re.match(r"\s*\+ (name|tasks|permissions)", x)]
        assert len(body_lines) == LINES_PER_REPORT  # 10 jobs of 100 lines, then the budget is spent
        assert text.count(f"… and {802 - LINES_PER_JOB:,} more fields (400 tasks, 1 grant in all)") == 10
        assert text.count("… 802 fields (not listed: this report lists 1,000 lines of new jobs) "
                          "(400 tasks, 1 grant in all)") == 5
    assert len(doc["jobs"][0]["changes"]) == 802  # JSON: every field (400 tasks x 2, the name, the grant)
    assert "hunter2" not in json.dumps(doc)
