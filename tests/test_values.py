"""Values that differ per environment and list-item overrides, end to end: two emulators, the real
SDK over HTTP, the CLI. The seeded sales ETL has a `catalog` job parameter: dev_sales in test,
prod_sales in prod (config_yaml's `values: {dev_sales: prod_sales}`)."""

from __future__ import annotations

import copy
import sys

import pytest

from bricksync.emulator.seed import seed_source, seed_target

from .conftest import Project
from .test_plan_apply import exported  # noqa: F401 - the fixture

ETL = "Daily sales ETL"
ACCT = "acct.dfs.core.windows.net"


def jobs_by_name(ws) -> dict[str, dict]:
    return {j["settings"]["name"]: j for j in ws.workspace.jobs.jobs.values()}


def live(ws, name: str) -> dict:
    """A job as the real SDK reads it back (settings as a dict)."""
    job = ws.client().jobs.get(jobs_by_name(ws)[name]["job_id"])
    return job.settings.as_dict()


def update(ws, name: str, **new_settings) -> None:
    ws.client().api_client.do("POST", "/api/2.2/jobs/update", body={
        "job_id": jobs_by_name(ws)[name]["job_id"], "new_settings": new_settings})


def edit_task(ws, name: str, task_key: str, edit) -> None:
    tasks = copy.deepcopy(jobs_by_name(ws)[name]["settings"]["tasks"])
    for t in tasks:
        if t["task_key"] == task_key:
            edit(t)
    update(ws, name, tasks=tasks)


def flat(text: str) -> str:
    return " ".join(text.split())


def set_config(p: Project, old: str, new: str) -> None:
    cfg = (p.root / "config" / "bricksync.yml").read_text()
    assert old in cfg
    p.write_config(cfg.replace(old, new))


def param(settings: dict, name: str) -> str | None:
    return next((x.get("default") for x in settings.get("parameters") or [] if x["name"] == name), None)


def test_the_catalog_and_the_git_branch_go_to_prod_rewritten_and_come_back_as_in_test(exported: Project) -> None:  # noqa: F811
    p = exported
    set_config(p, "values: {dev_sales: prod_sales}", "values: {dev_sales: prod_sales, main: release}")
    etl = p.state_files["daily-sales-etl.yml"].decode()
    assert "name: catalog\n    default: dev_sales" in etl and "prod_sales" not in etl  # state keeps test's
    res = p.run("plan", "--target", "prod")
    assert res.code == 0, res.output
    assert "+ parameters[catalog].default: prod_sales" in res.output  # the target's value is what plan shows
    assert "+ git_source.git_branch: release" in res.output
    assert p.run("apply", "--target", "prod", "--yes").code == 0
    assert param(live(p.prod, ETL), "catalog") == "prod_sales"
    assert live(p.prod, "ML training (git)")["git_source"]["git_branch"] == "release"
    assert param(live(p.test, ETL), "catalog") == "dev_sales"
    assert p.run("plan", "--target", "prod", "--detailed-exitcode").code == 0  # no perpetual diff

    # Hand edits in prod, written in prod's terms, come back in test's.
    edit_task(p.prod, ETL, "ingest", lambda t: t["notebook_task"].update(base_parameters={
        "source": "pos", "table": "prod_sales.pos_raw", "landing": f"abfss://landing@{ACCT}/prod_sales/pos"}))
    update(p.prod, "ML training (git)", timeout_seconds=3600)
    res = p.run("capture", "--target", "prod")
    assert res.code == 0, res.output
    etl = p.state_files["daily-sales-etl.yml"].decode()
    assert "table: dev_sales.pos_raw" in etl and f"landing: abfss://landing@{ACCT}/dev_sales/pos" in etl
    assert "default: dev_sales" in etl and "prod_sales" not in etl
    ml = p.state_files["ml-training-git.yml"].decode()
    assert "git_branch: main" in ml and "timeout_seconds: 3600" in ml
    res = p.run("plan", "--target", "prod", "--detailed-exitcode")
    assert res.code == 0, res.output


def test_import_reads_prod_values_back_as_test_values(exported: Project) -> None:  # noqa: F811
    p = exported
    set_config(p, "values: {dev_sales: prod_sales}",
               f'values: {{dev_sales: prod_sales, "abfss://raw@{ACCT}/dev": "abfss://raw@{ACCT}/prod"}}')
    assert p.run("apply", "--target", "prod", "--yes").code == 0
    job_id = int(p.prod.client().api_client.do("POST", "/api/2.2/jobs/create", body={
        "name": "Legacy loader", "parameters": [{"name": "catalog", "default": "prod_sales"}],
        "tasks": [{"task_key": "load", "spark_python_task": {
            "python_file": "/Workspace/prod/legacy/load.py",
            "parameters": ["--in", f"abfss://raw@{ACCT}/prod/pos", "--out=prod_sales.pos"]}}]})["job_id"])
    res = p.run("import", "--target", "prod", "--job-id", str(job_id))
    assert res.code == 0, res.output
    text = p.state_files["legacy-loader.yml"].decode()
    assert "default: dev_sales" in text and f"abfss://raw@{ACCT}/dev/pos" in text and "--out=dev_sales.pos" in text
    assert p.run("apply", "--target", "prod", "--yes").code == 0
    assert p.run("plan", "--target", "prod", "--detailed-exitcode").code == 0


def test_a_test_value_that_already_holds_the_prod_value_fails_the_plan(exported: Project) -> None:  # noqa: F811
    p = exported
    path = p.root / "state" / "jobs" / "daily-sales-etl.yml"
    path.write_text(path.read_text().replace("default: dev_sales", "default: prod_sales.archive"))
    before = {j: copy.deepcopy(v) for j, v in p.prod.workspace.jobs.jobs.items()}
    for command in (("validate",), ("plan", "--target", "prod"), ("apply", "--target", "prod", "--yes")):
        res = p.run(*command)
        assert res.code == 1, res.output
        out = flat(res.output)
        assert "state/jobs/daily-sales-etl.yml" in out and "parameters[catalog].default" in out, command
        assert "already holds 'prod_sales', what targets.prod.values rewrites 'dev_sales' to" in out, command
    assert p.prod.workspace.jobs.jobs == before  # nothing written


def test_an_ambiguous_mapping_is_refused_naming_both(exported: Project) -> None:  # noqa: F811
    p = exported
    set_config(p, "values: {dev_sales: prod_sales}", "values: {dev_sales: prod_sales, qa_sales: prod_sales}")
    for command in (("validate",), ("plan", "--target", "prod"), ("capture", "--target", "prod")):
        res = p.run(*command)
        assert res.code == 1, res.output
        assert "'dev_sales' and 'qa_sales' both map to 'prod_sales'" in flat(res.output), command
        assert "targets.prod.values" in res.output


def test_the_pipeline_variable_adds_over_the_file(exported: Project, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    p = exported
    assert p.run("apply", "--target", "prod", "--yes").code == 0
    monkeypatch.setenv("BRICKSYNC_PROD_VALUES", "dev_sales=prod_sales_eu")
    res = p.run("plan", "--target", "prod", "--detailed-exitcode")
    assert res.code == 2, res.output
    assert "~ parameters[catalog].default: prod_sales → prod_sales_eu" in res.output


def test_list_item_overrides_in_plan_apply_capture_and_import(exported: Project) -> None:  # noqa: F811
    p = exported
    set_config(p, "overrides: {}", """overrides:
      "*":
        tasks[ingest].max_retries: 3
      daily-sales-etl: {"tasks[transform].timeout_seconds": 600, "parameters[run_date].default": "2024-01-01"}""")
    res = p.run("plan", "--target", "prod")
    assert res.code == 0, res.output
    out = flat(res.output)
    assert "+ tasks[transform].timeout_seconds: 600" in out and "+ parameters[run_date].default: 2024-01-01" in out
    assert "+ tasks[ingest].max_retries: 3" in out
    assert p.run("validate").code == 0
    assert p.run("apply", "--target", "prod", "--yes").code == 0
    etl = live(p.prod, ETL)
    tasks = {t["task_key"]: t for t in etl["tasks"]}
    assert tasks["transform"]["timeout_seconds"] == 600 and tasks["ingest"]["max_retries"] == 3
    assert "timeout_seconds" not in tasks["publish"] or tasks["publish"]["timeout_seconds"] == 0
    assert param(etl, "run_date") == "2024-01-01" and param(etl, "catalog") == "prod_sales"  # the rest of the list
    assert p.run("plan", "--target", "prod", "--detailed-exitcode").code == 0

    # A drift elsewhere is captured; the overridden fields keep the document's own values.
    update(p.prod, ETL, max_concurrent_runs=2)
    edit_task(p.prod, "Customer 360 scoring", "features", lambda t: t.update(timeout_seconds=1800))  # no ingest task
    res = p.run("capture", "--target", "prod")
    assert res.code == 0, res.output
    etl_text = p.state_files["daily-sales-etl.yml"].decode()
    assert "max_concurrent_runs: 2" in etl_text and "2024-01-01" not in etl_text and "max_retries: 3" not in etl_text
    assert "{{job.start_time.iso_date}}" in etl_text and "timeout_seconds: 600" not in etl_text
    assert "timeout_seconds: 1800" in p.state_files["customer-360-scoring.yml"].decode()
    assert p.run("plan", "--target", "prod", "--detailed-exitcode").code == 0

    # The live value set back to the service's default differs from the override: refused, said so.
    edit_task(p.prod, ETL, "transform", lambda t: t.update(timeout_seconds=0))
    res = p.run("capture", "--target", "prod")
    assert res.code == 1
    assert "live value 0 (the default) differs from the target's override tasks[transform].timeout_seconds = 600" \
        in flat(res.output)

    # import: the "*" override applies only where the job has an `ingest` task.
    made = [int(p.prod.client().api_client.do("POST", "/api/2.2/jobs/create", body={
        "name": name, "tasks": [{"task_key": key, "max_retries": 3,
                                 "notebook_task": {"notebook_path": f"/Workspace/prod/legacy/{key}"}}]})["job_id"])
            for name, key in (("Legacy ingest", "ingest"), ("Legacy other", "other"))]
    res = p.run("import", "--target", "prod", *[a for j in made for a in ("--job-id", str(j))])
    assert res.code == 0, res.output
    assert "max_retries" not in p.state_files["legacy-ingest.yml"].decode()  # the override's
    assert "max_retries: 3" in p.state_files["legacy-other.yml"].decode()  # the job's own


def test_an_override_naming_a_missing_item_is_an_error_naming_target_and_override(exported: Project) -> None:  # noqa: F811
    p = exported
    set_config(p, "overrides: {}", "overrides: {daily-sales-etl: {'tasks[ingst].timeout_seconds': 600}}")
    before = {j: copy.deepcopy(v) for j, v in p.prod.workspace.jobs.jobs.items()}
    for command in (("validate",), ("plan", "--target", "prod"), ("apply", "--target", "prod", "--yes")):
        res = p.run(*command)
        assert res.code == 1, res.output
        out = flat(res.output)
        assert "targets.prod.overrides.daily-sales-etl: tasks[ingst]: no item of tasks is named 'ingst'" in out, command
        assert "did you mean 'ingest'" in out and "tasks[ingst].timeout_seconds" in out
    assert p.prod.workspace.jobs.jobs == before


@pytest.mark.skipif(sys.platform == "win32", reason="the demo's subprocess output")
def test_the_demo_plan_shows_the_catalog_per_target(project: Project) -> None:
    res = project.run_process("demo", timeout=120)
    assert res.code == 0, res.output[-3000:]
    assert "+ parameters[catalog].default: prod_sales" in res.output
    assert "'Daily sales ETL' parameter catalog: dev_sales in test (and in state/), prod_sales in prod" in res.output


def test_a_branch_in_test_and_a_tag_in_prod_is_an_override(exported: Project) -> None:  # noqa: F811
    """The README's case: the field changes, not only its value."""
    p = exported
    set_config(p, "overrides: {}", 'overrides: {"*": {git_source.git_branch: null, git_source.git_tag: v2.3.0}}')
    res = p.run("plan", "--target", "prod")
    assert res.code == 0, res.output
    assert "+ git_source.git_tag: v2.3.0" in res.output and "git_source.git_branch" not in res.output
    assert p.run("apply", "--target", "prod", "--yes").code == 0
    git = live(p.prod, "ML training (git)")["git_source"]
    assert git["git_tag"] == "v2.3.0" and "git_branch" not in git
    assert "git_source" not in live(p.prod, ETL)  # "*" only where the job has a git_source
    update(p.prod, "ML training (git)", timeout_seconds=3600)
    assert p.run("capture", "--target", "prod").code == 0
    ml = p.state_files["ml-training-git.yml"].decode()
    assert "git_branch: main" in ml and "v2.3.0" not in ml and "timeout_seconds: 3600" in ml
    assert p.run("plan", "--target", "prod", "--detailed-exitcode").code == 0


def test_every_kind_of_task_parameter_both_ways(project: Project) -> None:
    """SQL parameters, dbt catalog/schema/commands, wheel named parameters, jar parameters and the
    parameters a run_job_task passes on: rendered for prod, and captured back as test's."""
    p = project
    ids = seed_source(p.test.client())
    seed_target(p.prod.client())
    w = p.test.client()
    wh = next(x.id for x in w.warehouses.list() if x.name == "dev-sql")
    cluster = next(c.cluster_id for c in w.clusters.list() if c.cluster_name == "dev-shared")
    w.api_client.do("POST", "/api/2.2/jobs/create", body={
        "name": "Values everywhere", "tags": {"PROD_MIGRATION": "true"}, "tasks": [
            {"task_key": "sql", "sql_task": {"warehouse_id": wh, "file": {"path": "/Workspace/dev/finance/report.sql"},
                                             "parameters": {"catalog": "dev_sales", "since": "2024-01-01"}}},
            {"task_key": "dbt", "dbt_task": {"commands": ["dbt run --vars '{catalog: dev_sales}'"],
                                             "project_directory": "/Workspace/dev/finance/dbt", "warehouse_id": wh,
                                             "catalog": "dev_sales", "schema": "mart_dev"}},
            {"task_key": "wheel", "existing_cluster_id": cluster, "python_wheel_task": {
                "package_name": "sales", "entry_point": "main", "named_parameters": {"catalog": "dev_sales"}}},
            {"task_key": "jar", "existing_cluster_id": cluster, "spark_jar_task": {
                "main_class_name": "com.example.Load", "parameters": ["--catalog", "dev_sales"]}},
            {"task_key": "run", "run_job_task": {"job_id": ids[ETL], "job_parameters": {"catalog": "dev_sales"}}}]})
    assert p.run("export", "--branch", "main").code == 0
    set_config(p, "values: {dev_sales: prod_sales}", "values: {dev_sales: prod_sales, mart_dev: mart_prod}")
    assert p.run("apply", "--target", "prod", "--yes").code == 0
    tasks = {t["task_key"]: t for t in live(p.prod, "Values everywhere")["tasks"]}
    assert tasks["sql"]["sql_task"]["parameters"] == {"catalog": "prod_sales", "since": "2024-01-01"}
    assert tasks["dbt"]["dbt_task"]["catalog"] == "prod_sales" and tasks["dbt"]["dbt_task"]["schema"] == "mart_prod"
    assert tasks["dbt"]["dbt_task"]["commands"] == ["dbt run --vars '{catalog: prod_sales}'"]
    assert tasks["wheel"]["python_wheel_task"]["named_parameters"] == {"catalog": "prod_sales"}
    assert tasks["jar"]["spark_jar_task"]["parameters"] == ["--catalog", "prod_sales"]
    assert tasks["run"]["run_job_task"]["job_parameters"] == {"catalog": "prod_sales"}
    assert p.run("plan", "--target", "prod", "--detailed-exitcode").code == 0

    edit_task(p.prod, "Values everywhere", "sql", lambda t: t["sql_task"]["parameters"].update(catalog="prod_sales_v2",
                                                                                               table="prod_sales.t"))
    edit_task(p.prod, "Values everywhere", "dbt", lambda t: t["dbt_task"].update(schema="mart_prod"))
    res = p.run("capture", "--target", "prod")
    assert res.code == 0, res.output
    text = p.state_files["values-everywhere.yml"].decode()
    assert "table: dev_sales.t" in text and "catalog: prod_sales_v2" in text  # a whole other word: as it is
    assert "schema: mart_dev" in text and "prod_sales." not in text and "'{catalog: dev_sales}'" in text
    assert p.run("plan", "--target", "prod", "--detailed-exitcode").code == 0
