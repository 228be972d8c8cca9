"""Preflight: every rewritten workspace path a written job uses must exist in the target; a missing
one is a warning in every report (an error with --strict-paths); a target that cannot answer is
one warning (emulator + real SDK)."""

from __future__ import annotations

import base64
import json

import pytest
from databricks.sdk.errors import NotFound

from bricksync.commands.preflight import missing_paths
from bricksync.core.escape import md_text
from bricksync.core.references import canonical_path
from bricksync.emulator import FaultRule
from bricksync.emulator.seed import seed_source, seed_target

from .conftest import Project

PRESENT = ["/Workspace/prod/sales/ingest", "/Workspace/prod/sales/transform", "/Workspace/prod/sales/publish",
           "/Workspace/prod/c360/features", "/Workspace/prod/c360/score.py",
           "/Workspace/prod/libs/c360-1.4.0-py3-none-any.whl", "/Workspace/prod/finance/report.sql",
           "/Workspace/prod/regions/refresh"]  # every path of the seeded jobs but the dbt project
MISSING = "/Workspace/prod/finance/dbt"


def put(project: Project, path: str) -> None:
    w = project.prod.client()
    w.api_client.do("POST", "/api/2.0/workspace/mkdirs", body={"path": path.rsplit("/", 1)[0]})
    body = {"path": path, "content": base64.b64encode(b"# x").decode(), "overwrite": True}
    body.update({"format": "AUTO"} if "." in path.rsplit("/", 1)[1] else {"format": "SOURCE", "language": "PYTHON"})
    w.api_client.do("POST", "/api/2.0/workspace/import", body=body)


@pytest.fixture
def exported(project: Project) -> Project:
    seed_source(project.test.client())
    seed_target(project.prod.client())
    assert project.run("export", "--branch", "main").code == 0
    for path in PRESENT:
        put(project, path)
    return project


def test_a_missing_path_is_a_warning_in_every_report(exported: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    p = exported
    monkeypatch.setenv("TF_BUILD", "True")
    p.prod.faults.reset_log()
    res = p.run("plan", "--target", "prod", "--json", "plan.json", "--markdown", "plan.md")
    assert res.code == 0, res.output
    text = ("job 'Finance SQL reporting' (finance-sql-reporting), task 'dbt_models': "
            f"{MISSING} does not exist in the target (tasks[dbt_models].dbt_task.project_directory)")
    flat = " ".join(res.output.split())
    assert f"warning: {text}" in flat
    assert f"##vso[task.logissue type=warning]{text.replace(']', '%5D')}" in res.output  # escaped for Azure
    assert f"> ⚠️ {md_text(text)}" in (p.root / "plan.md").read_text()  # Markdown-escaped
    doc = json.loads((p.root / "plan.json").read_text())
    assert doc["warnings"] == [text]
    assert doc["missing_paths"] == [{"key": "finance-sql-reporting", "job": "Finance SQL reporting",
                                     "task": "dbt_models", "path": MISSING,
                                     "field": "tasks[dbt_models].dbt_task.project_directory"}]
    # GIT-sourced: relative to the repository, not checked (the create's body lists it, no warning names it)
    assert [x for x in res.output.splitlines() if "notebooks/train" in x] == [
        "    + tasks[train].notebook_task.notebook_path: notebooks/train"]
    counts = p.prod.faults.counts()
    # 9 distinct paths in 5 folders: one listing per folder is the cheaper way, and the one taken.
    assert counts["GET /api/2.0/workspace/list"] == 5 and counts["GET /api/2.0/workspace/get-status"] == 0


def test_strict_paths_makes_a_missing_path_an_error_before_anything_is_written(exported: Project) -> None:
    p = exported
    res = p.run("plan", "--target", "prod", "--strict-paths")
    assert res.code == 1
    assert "job 'Finance SQL reporting'" in res.output and "tasks[dbt_models].dbt_task.project_directory" in res.output
    before = len(p.prod.workspace.jobs.jobs)
    assert p.run("apply", "--target", "prod", "--yes", "--strict-paths").code == 1
    assert len(p.prod.workspace.jobs.jobs) == before
    put(p, MISSING)
    assert p.run("apply", "--target", "prod", "--yes", "--strict-paths").code == 0
    res = p.run("plan", "--target", "prod", "--strict-paths", "--detailed-exitcode")
    assert res.code == 0 and "warning" not in res.output


def test_no_op_jobs_are_not_checked(exported: Project) -> None:
    p = exported
    put(p, MISSING)
    assert p.run("apply", "--target", "prod", "--yes").code == 0
    p.prod.faults.reset_log()
    res = p.run("plan", "--target", "prod")
    assert res.code == 0 and "5 unchanged" in res.output
    counts = p.prod.faults.counts()
    assert counts["GET /api/2.0/workspace/list"] == 0 and counts["GET /api/2.0/workspace/get-status"] == 0


@pytest.mark.parametrize("status, code", [(403, "PERMISSION_DENIED"), (404, "ENDPOINT_NOT_FOUND")])
def test_a_target_that_cannot_answer_gets_one_warning_not_a_failure(exported: Project, status: int,
                                                                   code: str) -> None:
    p = exported
    for path in ("/api/2.0/workspace/list", "/api/2.0/workspace/get-status"):
        p.prod.faults.add(FaultRule(method="GET", path=path, status=status, error_code=code, count=None))
    res = p.run("plan", "--target", "prod", "--strict-paths", "--json", "plan.json")
    assert res.code == 0, res.output
    warnings = json.loads((p.root / "plan.json").read_text())["warnings"]
    assert len(warnings) == 1 and warnings[0].startswith("could not check that 9 workspace path(s) exist")
    assert code in warnings[0]


def test_the_emulator_answers_missing_paths_as_documented(project: Project) -> None:
    w = project.prod.client()
    for call in (lambda: w.workspace.get_status("/Workspace/nowhere/x"), lambda: list(w.workspace.list("/nowhere"))):
        with pytest.raises(NotFound) as info:
            call()
        assert info.value.error_code == "RESOURCE_DOES_NOT_EXIST"


class Counting:
    """A workspace stand-in for the pure chooser: counts the calls it would make."""

    def __init__(self, present: set[str]):
        self.present, self.lists, self.stats = present, 0, 0

    def folder_entries(self, folder: str) -> list[str] | None:
        self.lists += 1
        return [p for p in self.present if canonical_path(p.rsplit("/", 1)[0]) == canonical_path(folder)]

    def path_exists(self, path: str) -> bool:
        self.stats += 1
        return path in self.present


def test_the_cheaper_check_is_chosen() -> None:
    spread = {"/a/x", "/b/y", "/c/z"}  # one path a folder: get-status per path
    ws = Counting({"/a/x", "/c/z"})
    assert missing_paths(spread, ws) == {"/b/y"} and (ws.lists, ws.stats) == (0, 3)
    shared = {f"/a/n{i}" for i in range(10)} | {"/b/y"}  # ten in one folder: list per folder
    ws = Counting({f"/a/n{i}" for i in range(9)} | {"/b/y"})
    assert missing_paths(shared, ws) == {"/a/n9"} and (ws.lists, ws.stats) == (2, 0)
    ws = Counting({"/a/y"})  # one folder in two spellings: listed once
    assert missing_paths({"/Workspace/a/x", "/a/y", "/b/z"}, ws) == {"/Workspace/a/x", "/b/z"}
    assert (ws.lists, ws.stats) == (2, 0)


@pytest.mark.parametrize("workers", ["0", "2"])
def test_drift_checks_the_unchanged_jobs_too(exported: Project, monkeypatch: pytest.MonkeyPatch, workers: str) -> None:
    p = exported
    monkeypatch.setenv("BRICKSYNC_STATE_WORKERS", workers)  # the paths come back from state workers too
    put(p, MISSING)
    assert p.run("apply", "--target", "prod", "--yes").code == 0
    p.prod.client().api_client.do("POST", "/api/2.0/workspace/delete", body={"path": "/Workspace/prod/sales/ingest"})
    assert "warning" not in p.run("plan", "--target", "prod").output  # plan: no-op jobs are not checked
    p.prod.faults.reset_log()
    res = p.run("drift", "--target", "prod", "--no-source", "--json", "drift.json")
    assert res.code == 0 and "5 unchanged" in res.output, res.output
    doc = json.loads((p.root / "drift.json").read_text())
    assert doc["missing_paths"] == [{"key": "daily-sales-etl", "job": "Daily sales ETL", "task": "ingest",
                                     "path": "/Workspace/prod/sales/ingest",
                                     "field": "tasks[ingest].notebook_task.notebook_path"}]
    assert p.prod.faults.counts()["GET /api/2.0/workspace/list"] == 5  # one per folder in use
    assert p.run("drift", "--target", "prod", "--no-source", "--strict-paths").code == 1


def test_path_sites_cover_alert_files_and_environment_files() -> None:
    from bricksync.core.references import path_sites, rewrite_path

    settings = {"git_source": {"git_url": "https://example.com/r.git"}, "tasks": [
        {"task_key": "a", "alert_task": {"workspace_path": "/Workspace/dev/alerts/a.dbalert.json"}},
        {"task_key": "n", "notebook_task": {"notebook_path": "nb/x"}}],  # GIT-sourced: relative, skipped
        "environments": [{"environment_key": "e", "spec": {
            "base_environment": "/Workspace/dev/env.yaml", "java_dependencies": ["/Workspace/dev/x.jar",
                                                                                 "/Volumes/c/s/v/y.jar"],
            "dependencies": ["/Workspace/dev/w.whl", "pandas"]}}]}
    found = {site.location: site.value for site in path_sites(settings)}
    assert found == {"tasks[a].alert_task.workspace_path": "/Workspace/dev/alerts/a.dbalert.json",
                     "environments[0].spec.base_environment": "/Workspace/dev/env.yaml",
                     "environments[0].spec.java_dependencies[0]": "/Workspace/dev/x.jar",
                     "environments[0].spec.dependencies[0]": "/Workspace/dev/w.whl"}
    for site in path_sites(settings):
        site.set(rewrite_path(str(site.value), {"/Workspace/dev": "/Workspace/prod"}))
    assert settings["environments"][0]["spec"]["base_environment"] == "/Workspace/prod/env.yaml"
