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


# The body of a public deploy script (`databricks jobs create --json '...'`, legacy-CLI style, code
# corpus): booleans as strings, which the service takes; paths moved under the dev root, and a few
# numbers made strings too (the service parses those as well).
LEGACY_CLI_JOB = {
    "name": "ingest-process-pipeline",
    "email_notifications": {"no_alert_for_skipped_runs": "false"},
    "webhook_notifications": {}, "timeout_seconds": 0, "max_concurrent_runs": 1,
    "tasks": [
        {"task_key": "ingest-data", "run_if": "ALL_SUCCESS",
         "notebook_task": {"notebook_path": "/Workspace/dev/exercise/data_ingestion", "source": "WORKSPACE"},
         "job_cluster_key": "ingest-process-pipeline-cluster", "timeout_seconds": 0, "email_notifications": {},
         "notification_settings": {"no_alert_for_skipped_runs": "false", "no_alert_for_canceled_runs": "false",
                                   "alert_on_last_attempt": "false"}},
        {"task_key": "process-data-2014", "depends_on": [{"task_key": "ingest-data"}], "run_if": "ALL_SUCCESS",
         "notebook_task": {"notebook_path": "/Workspace/dev/exercise/data-analysis",
                           "base_parameters": {"year": "2014"}, "source": "WORKSPACE"},
         "job_cluster_key": "ingest-process-pipeline-cluster", "timeout_seconds": "3600", "max_retries": "2"},
    ],
    "job_clusters": [{"job_cluster_key": "ingest-process-pipeline-cluster", "new_cluster": {
        "cluster_name": "", "spark_version": "14.0.x-scala2.12",
        "spark_conf": {"spark.databricks.delta.preview.enabled": "true", "spark.master": "local[*, 4]"},
        "azure_attributes": {"first_on_demand": "1", "availability": "ON_DEMAND_AZURE", "spot_bid_max_price": "-1"},
        "node_type_id": "Standard_DS3_v2", "custom_tags": {"ResourceClass": "SingleNode"},
        "enable_elastic_disk": "true", "data_security_mode": "SINGLE_USER", "runtime_engine": "STANDARD",
        "num_workers": "0"}}],
    "format": "MULTI_TASK",
    "tags": {"PROD_MIGRATION": "true"},
}


def test_booleans_and_integers_sent_as_strings_are_taken_and_exported_typed(project: Project) -> None:
    """Issue 22.4: the service parses "false" / "3600" into the field's type and jobs/get returns
    that; export takes such a job (it refused it: "expected true or false"), and writes the types
    the API has, also from a workspace that holds the strings themselves."""
    p = project
    w = p.test.client()
    job_id = w.api_client.do("POST", "/api/2.2/jobs/create", body=LEGACY_CLI_JOB)["job_id"]
    got = w.api_client.do("GET", "/api/2.2/jobs/get", query={"job_id": job_id})["settings"]
    cluster = got["job_clusters"][0]["new_cluster"]
    assert cluster["enable_elastic_disk"] is True and cluster["num_workers"] == 0
    assert cluster["azure_attributes"] == {"first_on_demand": 1, "availability": "ON_DEMAND_AZURE",
                                           "spot_bid_max_price": -1.0}
    assert got["email_notifications"]["no_alert_for_skipped_runs"] is False
    assert got["tasks"][1]["timeout_seconds"] == 3600 and got["tasks"][1]["max_retries"] == 2
    assert got["job_clusters"][0]["new_cluster"]["spark_conf"]["spark.databricks.delta.preview.enabled"] == "true"
    for bad in ({"enable_elastic_disk": "True"}, {"num_workers": "four"}):
        body = copy.deepcopy(LEGACY_CLI_JOB)
        body["job_clusters"][0]["new_cluster"].update(bad)
        with pytest.raises(Exception, match="Invalid value"):
            w.api_client.do("POST", "/api/2.2/jobs/create", body=body)
    # Another emulator keeps the strings as sent: export types them all the same.
    raw = copy.deepcopy(LEGACY_CLI_JOB)
    raw["name"] = "as another emulator holds it"
    raw["queue"] = {"enabled": True}  # what the 2.2 create above stored (a job without it does not queue)
    p.test.workspace.jobs.jobs[job_id + 1] = {**copy.deepcopy(p.test.workspace.jobs.jobs[job_id]),
                                              "job_id": job_id + 1, "settings": raw}
    res = p.run("export", "--no-ack")
    assert res.code == 0, res.output
    texts = {k: v.decode() for k, v in p.state_files.items()}
    assert set(texts) == {"ingest-process-pipeline.yml", "as-another-emulator-holds-it.yml"}
    bodies = {k: t.split("\njob:\n", 1)[1] for k, t in texts.items()}
    assert bodies["as-another-emulator-holds-it.yml"].replace("as another emulator holds it", "ingest-process-pipeline") \
        == bodies["ingest-process-pipeline.yml"]
    text = texts["ingest-process-pipeline.yml"]
    assert "enable_elastic_disk: true" in text and "timeout_seconds: 3600" in text and "max_retries: 2" in text
    assert "num_workers: 0" in text and "no_alert" not in text  # "false" everywhere: the defaults, dropped
    assert "first_on_demand: 1" in text and "spot_bid_max_price" not in text  # "-1": the default, dropped
    assert "spark.databricks.delta.preview.enabled: 'true'" in text  # a string map value stays a string


def test_alert_task_alerts_are_named_through_the_alerts_v2_api(project: Project) -> None:
    """Issue 22.4: alert_task is a task type (the emulator refused it); alert_task.alert_id is an
    alerts v2 ID (/api/2.0/alerts), exported as ${alert_v2:NAME} and resolved per target (export
    refused it). capture and import name it the same way."""
    from bricksync.emulator.seed import create_compute

    p = project
    cfg = (p.root / "config" / "bricksync.yml").read_text()
    p.write_config(cfg.replace("    overrides: {}", "    objects: {alerts_v2: {dev revenue drop: revenue drop}}\n"
                                                    "    overrides: {}"))
    src = create_compute(p.test.client(), {"alert_v2": ["dev revenue drop"], "warehouse": ["dev-sql"]})
    dst = create_compute(p.prod.client(), {"alert_v2": ["revenue drop", "dev revenue drop"],
                                            "warehouse": ["prod-sql"]})
    body = {"name": "Revenue alert", "tags": {"PROD_MIGRATION": "true"}, "tasks": [
        {"task_key": "evaluate", "alert_task": {"alert_id": src["alert_v2"]["dev revenue drop"],
                                                "warehouse_id": src["warehouse"]["dev-sql"],
                                                "subscribers": [{"user_name": "oncall@example.com"}]}},
        {"task_key": "file", "depends_on": [{"task_key": "evaluate"}],
         "alert_task": {"workspace_path": "/Workspace/dev/alerts/revenue.dbalert.json",
                        "warehouse_id": src["warehouse"]["dev-sql"]}}]}
    w = p.test.client()
    w.api_client.do("POST", "/api/2.2/jobs/create", body=body)
    for ws, root in ((p.test, "/Workspace/dev"), (p.prod, "/Workspace/prod")):
        ws.workspace.mkdirs(f"{root}/alerts")
        ws.workspace.import_object({"path": f"{root}/alerts/revenue.dbalert.json", "format": "AUTO"})
    with pytest.raises(Exception, match="exactly one of alert_id and workspace_path"):
        w.api_client.do("POST", "/api/2.2/jobs/create", body={"name": "x", "tasks": [
            {"task_key": "a", "alert_task": {"warehouse_id": src["warehouse"]["dev-sql"]}}]})
    res = p.run("export", "--branch", "main")
    assert res.code == 0, res.output
    text = p.state_files["revenue-alert.yml"].decode()
    assert "alert_id: ${alert_v2:dev revenue drop}" in text and "warehouse_id: ${warehouse:dev-sql}" in text
    assert p.run("apply", "--target", "prod", "--yes").code == 0
    prod_job = jobs_by_name(p.prod)["Revenue alert"]["settings"]
    by_key = {t["task_key"]: t for t in prod_job["tasks"]}
    assert by_key["evaluate"]["alert_task"]["alert_id"] == dst["alert_v2"]["revenue drop"]  # mapped, then resolved
    assert by_key["file"]["alert_task"]["workspace_path"] == "/Workspace/prod/alerts/revenue.dbalert.json"
    assert p.run("plan", "--target", "prod", "--detailed-exitcode").code == 0
    # The way back: a prod edit captured names the alert through the inverse mapping.
    prod_id = jobs_by_name(p.prod)["Revenue alert"]["job_id"]
    p.prod.client().api_client.do("POST", "/api/2.2/jobs/update", body={"job_id": prod_id, "new_settings": {
        "timeout_seconds": 600}})
    res = p.run("capture", "--target", "prod")
    assert res.code == 0, res.output
    assert "alert_id: ${alert_v2:dev revenue drop}" in p.state_files["revenue-alert.yml"].decode()
    assert p.run("plan", "--target", "prod", "--detailed-exitcode").code == 0
