"""Values a workspace holds in forms bricksync must read as the service means them (issue 22.3/22.4):
JSON null at any depth (absent), booleans sent as strings, and current task types such as alert_task.
Two emulators, real SDK; the shapes other emulators return are put straight into the job store."""

from __future__ import annotations

import copy

import pytest

from bricksync.core.normalize import normalize_settings
from bricksync.core.yamlio import parse
from bricksync.emulator.seed import seed_source, seed_target

from .conftest import Project


def jobs_by_name(ws) -> dict[str, dict]:
    return {j["settings"]["name"]: j for j in ws.workspace.jobs.jobs.values()}


def with_nulls(settings: dict) -> dict:
    """The settings as another Databricks emulator returns them: null below the top level."""
    out = copy.deepcopy(settings)
    out.setdefault("description", None)
    for task in out.get("tasks", []):
        for dep in task.get("depends_on", []):
            dep["outcome"] = None
        if "notebook_task" in task:
            task["notebook_task"].setdefault("base_parameters", None)
        task["libraries"] = task.get("libraries")  # None where the task has none
    for jc in out.get("job_clusters", []):
        jc["new_cluster"]["spark_env_vars"] = None
    return out


def nulls(value, where: str = ""):
    """Paths of every null in parsed data."""
    if value is None:
        yield where
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from nulls(v, f"{where}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from nulls(v, f"{where}[{i}]")


def test_null_is_absent_at_every_depth_in_normalize() -> None:
    plain = {"name": "j", "tasks": [{"task_key": "b", "depends_on": [{"task_key": "a"}],
                                     "notebook_task": {"notebook_path": "/x"}}, {"task_key": "a",
                                                                                  "notebook_task": {"notebook_path": "/y"}}]}
    noisy = {"name": "j", "description": None, "schedule": None, "tasks": [
        {"task_key": "b", "depends_on": [{"task_key": "a", "outcome": None}],
         "notebook_task": {"notebook_path": "/x", "base_parameters": None, "source": None}},
        {"task_key": "a", "notebook_task": {"notebook_path": "/y"}, "new_cluster": None}]}
    for copy_ in (True, False):
        assert normalize_settings(noisy, copy=copy_) == normalize_settings(plain)
    assert noisy["tasks"][0]["depends_on"][0] == {"task_key": "a", "outcome": None}  # input untouched


@pytest.fixture
def applied(project: Project) -> Project:
    seed_source(project.test.client())
    seed_target(project.prod.client())
    assert project.run("export", "--branch", "main").code == 0
    assert project.run("apply", "--target", "prod", "--yes").code == 0
    return project


def test_live_nulls_plan_as_no_op_and_never_reach_state(applied: Project) -> None:
    p = applied
    for job in p.prod.workspace.jobs.jobs.values():  # every prod job, managed or not, now holds nulls
        job["settings"] = with_nulls(job["settings"])
    res = p.run("plan", "--target", "prod", "--detailed-exitcode")
    assert res.code == 0 and "0 to update" in res.output, res.output
    res = p.run("capture", "--target", "prod")
    assert res.code == 0 and "Nothing to capture" in res.output, res.output
    adhoc = jobs_by_name(p.prod)["Ad-hoc prod report"]["job_id"]
    res = p.run("import", "--target", "prod", "--job-id", str(adhoc))
    assert res.code == 0, res.output
    # From the source as well: a tagged job holding nulls exports as one that holds none.
    etl = jobs_by_name(p.test)["Daily sales ETL"]
    etl["settings"] = with_nulls({**etl["settings"], "tags": {**etl["settings"]["tags"], "PROD_MIGRATION": "true"}})
    before = p.state_files["daily-sales-etl.yml"]
    res = p.run("export", "--no-ack")
    assert res.code == 0, res.output
    assert p.state_files["daily-sales-etl.yml"] == before
    for name, text in p.state_files.items():
        assert not list(nulls(parse(text, name))), name
    assert p.run("plan", "--target", "prod", "--detailed-exitcode").code == 2  # the adoption only


def test_the_emulator_stores_no_null(test_ws) -> None:
    """As the service: a field sent as null is not set, and jobs/get never returns null."""
    w = test_ws.client()
    body = with_nulls({"name": "n", "tasks": [
        {"task_key": "a", "notebook_task": {"notebook_path": "/Workspace/dev/a"}},
        {"task_key": "b", "depends_on": [{"task_key": "a"}], "notebook_task": {"notebook_path": "/Workspace/dev/b"}}]})
    job_id = w.api_client.do("POST", "/api/2.2/jobs/create", body=body)["job_id"]
    got = w.api_client.do("GET", "/api/2.2/jobs/get", query={"job_id": job_id})
    assert not list(nulls(got))
