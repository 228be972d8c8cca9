"""plan and apply: the seeded corpus goes test -> export -> apply -> prod (emulator + real SDK)."""

from __future__ import annotations

import copy
import json

import pytest

from bricksync.core.normalize import normalize_job
from bricksync.emulator import FaultRule
from bricksync.emulator.seed import SP_PROD

from .conftest import Project, on_a_terminal


def prod_jobs(project: Project) -> dict[str, dict]:
    return {j["settings"]["name"]: j for j in project.prod.workspace.jobs.jobs.values()}


def ids(project: Project, kind: str) -> dict[str, str]:
    from bricksync.emulator.workspace import RESOURCES

    _, name_field = RESOURCES[kind]
    return {r[name_field]: ident for ident, r in project.prod.workspace.resources[kind].items()}


def test_apply_creates_the_expected_rendering_field_by_field(exported: Project) -> None:
    p = exported
    res = p.run("apply", "--target", "prod", "--yes")
    assert res.code == 0, res.output
    jobs = prod_jobs(p)
    assert len(jobs) == 6  # 5 managed + the unmanaged one
    clusters, pools, policies = ids(p, "cluster"), ids(p, "pool"), ids(p, "policy")
    etl = jobs["Daily sales ETL"]["settings"]
    assert etl["tags"] == {"team": "sales", "cost-center": "cc-4711", "bricksync-key": "daily-sales-etl",
                           "managed-by": "bricksync"}
    cluster = etl["job_clusters"][0]["new_cluster"]
    assert cluster["instance_pool_id"] == pools["prod-pool"]  # mapped name
    assert cluster["driver_instance_pool_id"] == pools["driver-pool"]  # same name
    assert cluster["policy_id"] == policies["job-policy"]
    assert {t["notebook_task"]["notebook_path"] for t in etl["tasks"]} == {
        "/Workspace/prod/sales/ingest", "/Workspace/prod/sales/transform", "/Workspace/prod/sales/publish"}
    assert etl["schedule"]["quartz_cron_expression"] == "0 0 2 * * ?"
    c360 = {t["task_key"]: t for t in jobs["Customer 360 scoring"]["settings"]["tasks"]}
    assert c360["features"]["existing_cluster_id"] == clusters["prod-shared"]
    assert c360["score"]["existing_cluster_id"] == clusters["ml-gpu"]
    assert c360["score"]["spark_python_task"]["python_file"] == "/Workspace/prod/c360/score.py"
    assert c360["score"]["libraries"][1]["whl"] == "/Workspace/prod/libs/c360-1.4.0-py3-none-any.whl"
    sql = {t["task_key"]: t for t in jobs["Finance SQL reporting"]["settings"]["tasks"]}
    assert sql["refresh_report"]["sql_task"]["warehouse_id"] == ids(p, "warehouse")["prod-sql"]
    assert sql["dbt_models"]["dbt_task"]["project_directory"] == "/Workspace/prod/finance/dbt"
    ml = jobs["ML training (git)"]["settings"]
    assert ml["run_as"] == {"service_principal_name": SP_PROD}  # principal mapping
    assert ml["tasks"][0]["notebook_task"]["notebook_path"] in ("notebooks/train", "notebooks/evaluate")
    orch = {t["task_key"]: t for t in jobs["Nightly orchestrator"]["settings"]["tasks"]}
    assert orch["sales"]["run_job_task"]["job_id"] == jobs["Daily sales ETL"]["job_id"]
    assert orch["crm"]["run_job_task"]["job_id"] == jobs["Customer 360 scoring"]["job_id"]
    assert orch["dlt"]["pipeline_task"]["pipeline_id"] == ids(p, "pipeline")["sales-dlt"]
    inner = orch["per_region"]["for_each_task"]["task"]
    assert inner["existing_cluster_id"] == clusters["prod-shared"]
    assert inner["notebook_task"]["notebook_path"] == "/Workspace/prod/regions/refresh"


def test_second_plan_is_empty_and_exit_codes_follow_terraform(exported: Project) -> None:
    p = exported
    res = p.run("plan", "--target", "prod", "--detailed-exitcode")
    assert res.code == 2 and "5 to create" in res.output
    assert p.run("apply", "--target", "prod", "--yes").code == 0
    res = p.run("plan", "--target", "prod", "--detailed-exitcode")
    assert res.code == 0 and "0 to create, 0 to update, 0 orphans, 5 unchanged" in res.output
    res = p.run("apply", "--target", "prod", "--yes")
    assert res.code == 0 and "Nothing to apply" in res.output


def test_hand_edit_shows_as_an_update_by_task_key_and_apply_reverts_it(exported: Project) -> None:
    p = exported
    p.run("apply", "--target", "prod", "--yes")
    etl = prod_jobs(p)["Daily sales ETL"]
    original = normalize_job(etl)
    w = p.prod.client()
    tasks = copy.deepcopy(etl["settings"]["tasks"])
    for t in tasks:
        if t["task_key"] == "transform":
            t["notebook_task"]["notebook_path"] = "/Workspace/prod/sales/hotfix"
    w.api_client.do("POST", "/api/2.2/jobs/update", body={"job_id": etl["job_id"], "new_settings": {
        "tasks": tasks, "max_concurrent_runs": 3}})
    res = p.run("plan", "--target", "prod", "--json", "plan.json")
    assert "tasks[transform].notebook_task.notebook_path: /Workspace/prod/sales/hotfix → " \
           "/Workspace/prod/sales/transform" in res.output
    report = json.loads((p.root / "plan.json").read_text())
    job = next(j for j in report["jobs"] if j["key"] == "daily-sales-etl")
    assert job["action"] == "update" and {c["path"] for c in job["changes"]} == {
        "tasks[transform].notebook_task.notebook_path", "max_concurrent_runs"}
    assert p.run("apply", "--target", "prod", "--yes").code == 0
    assert normalize_job(prod_jobs(p)["Daily sales ETL"]) == original
    assert prod_jobs(p)["Daily sales ETL"]["job_id"] == etl["job_id"]  # updated in place, not recreated


def test_unmanaged_prod_job_is_untouched_byte_for_byte(exported: Project) -> None:
    p = exported
    w = p.prod.client()
    # An unmanaged job that has the same name as a managed one.
    w.api_client.do("POST", "/api/2.2/jobs/create", body={"name": "Daily sales ETL", "tags": {"owner": "ops"}})
    before = {jid: json.dumps(j, sort_keys=True) for jid, j in p.prod.workspace.jobs.jobs.items()}
    res = p.run("apply", "--target", "prod", "--yes")
    assert res.code == 0 and "unmanaged job with this name exists" in res.output
    for jid, text in before.items():
        assert json.dumps(p.prod.workspace.jobs.jobs[jid], sort_keys=True) == text
    p.run("apply", "--target", "prod", "--yes", "--prune")
    for jid, text in before.items():
        assert json.dumps(p.prod.workspace.jobs.jobs[jid], sort_keys=True) == text


def test_adopt_takes_over_a_namesake(exported: Project) -> None:
    p = exported
    w = p.prod.client()
    adopted = w.api_client.do("POST", "/api/2.2/jobs/create", body={"name": "Daily sales ETL"})["job_id"]
    res = p.run("apply", "--target", "prod", "--yes", "--adopt")
    assert res.code == 0, res.output
    jobs = [j for j in p.prod.workspace.jobs.jobs.values() if j["settings"]["name"] == "Daily sales ETL"]
    assert len(jobs) == 1 and jobs[0]["job_id"] == adopted
    assert jobs[0]["settings"]["tags"]["bricksync-key"] == "daily-sales-etl"


def test_orphan_is_deleted_only_with_prune(exported: Project) -> None:
    p = exported
    p.run("apply", "--target", "prod", "--yes")
    (p.root / "state" / "jobs" / "finance-sql-reporting.yml").unlink()
    res = p.run("apply", "--target", "prod", "--yes")
    assert "orphan" in res.output and "Finance SQL reporting" in prod_jobs(p)
    res = p.run("apply", "--target", "prod", "--yes", "--prune")
    assert res.code == 0 and "Will delete (prune): finance-sql-reporting" in res.output
    assert "Finance SQL reporting" not in prod_jobs(p) and "Ad-hoc prod report" in prod_jobs(p)


def test_lost_create_response_makes_no_duplicate(exported: Project) -> None:
    p = exported
    p.prod.faults.add(FaultRule("POST", "/api/2.2/jobs/create", 503, after=True, drop=True, count=2))
    p.prod.faults.add(FaultRule("POST", "/api/2.2/jobs/create", 500, after=True, count=1))
    res = p.run("apply", "--target", "prod", "--yes", "--parallelism", "1")
    assert res.code == 0, res.output
    assert "found by key, not sent again" in res.output
    names = [j["settings"]["name"] for j in p.prod.workspace.jobs.jobs.values()]
    assert len(names) == len(set(names)) == 6
    assert p.run("plan", "--target", "prod", "--detailed-exitcode").code == 0


def test_conflicting_keys_are_reported_and_left_alone(exported: Project) -> None:
    p = exported
    p.run("apply", "--target", "prod", "--yes")
    etl = prod_jobs(p)["Daily sales ETL"]
    dup = copy.deepcopy(etl["settings"])
    dup["name"] = "Daily sales ETL (copy)"
    p.prod.client().api_client.do("POST", "/api/2.2/jobs/create", body=dup)
    res = p.run("plan", "--target", "prod", "--detailed-exitcode")
    assert res.code == 2 and "conflict" in res.output and "Delete the extra ones" in res.output


def test_missing_compute_mapping_fails_the_plan_and_writes_nothing(exported: Project) -> None:
    p = exported
    p.prod.client().api_client.do("POST", "/api/2.0/policies/clusters/delete",
                                  body={"policy_id": ids(p, "policy")["job-policy"]})
    before = json.dumps(p.prod.workspace.jobs.jobs, sort_keys=True)
    res = p.run("apply", "--target", "prod", "--yes")
    assert res.code == 1
    assert "no policy named 'job-policy'" in res.output and "targets.prod.compute.policies" in res.output
    assert "daily-sales-etl.yml" in res.output and "customer-360-scoring.yml" in res.output  # every error listed
    assert json.dumps(p.prod.workspace.jobs.jobs, sort_keys=True) == before


def test_stale_plan_file_is_refused_and_a_fresh_one_applies(exported: Project) -> None:
    p = exported
    assert p.run("plan", "--target", "prod", "--out", "prod.plan").code == 0
    assert p.run("apply", "--target", "prod", "prod.plan").code == 0
    assert len(prod_jobs(p)) == 6
    (p.root / "state" / "jobs" / "daily-sales-etl.yml").write_text(
        (p.root / "state" / "jobs" / "daily-sales-etl.yml").read_text().replace("timeout_seconds: 7200",
                                                                               "timeout_seconds: 3600"))
    assert p.run("plan", "--target", "prod", "--out", "prod.plan").code == 0
    w = p.prod.client()
    etl = prod_jobs(p)["Customer 360 scoring"]
    w.api_client.do("POST", "/api/2.2/jobs/update", body={"job_id": etl["job_id"],
                                                          "new_settings": {"max_concurrent_runs": 4}})
    before = json.dumps(p.prod.workspace.jobs.jobs, sort_keys=True)
    res = p.run("apply", "--target", "prod", "prod.plan")
    assert res.code == 1 and "stale plan" in res.output
    assert json.dumps(p.prod.workspace.jobs.jobs, sort_keys=True) == before


def test_apply_without_a_terminal_needs_yes_or_a_plan(exported: Project) -> None:
    res = exported.run_process("apply", "--target", "prod")
    assert res.code == 1 and "pass --yes" in res.output
    assert len(prod_jobs(exported)) == 1


def test_target_host_guard(exported: Project) -> None:
    p = exported
    cfg = (p.root / "config" / "bricksync.yml").read_text().replace(p.prod.url, "https://adb-222.azuredatabricks.net")
    p.write_config(cfg)
    res = p.run("plan", "--target", "prod")
    assert res.code == 1 and "refusing to continue" in res.output and "adb-222" in res.output


def test_overrides_and_env_mappings(exported: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    p = exported
    cfg = (p.root / "config" / "bricksync.yml").read_text().replace(
        "overrides: {}", "overrides:\n      '*': {schedule.pause_status: PAUSED}\n      "
                         "customer-360-scoring: {max_concurrent_runs: 3}")
    p.write_config(cfg)
    p.prod.client().api_client.do("POST", "/api/2.1/clusters/create", body={
        "cluster_name": "prod-gpu", "spark_version": "15.4", "num_workers": 1})
    monkeypatch.setenv("BRICKSYNC_PROD_CLUSTERS", "ml-gpu=prod-gpu")
    assert p.run("apply", "--target", "prod", "--yes").code == 0
    jobs = prod_jobs(p)
    assert jobs["Daily sales ETL"]["settings"]["schedule"]["pause_status"] == "PAUSED"
    assert jobs["Customer 360 scoring"]["settings"]["max_concurrent_runs"] == 3
    score = next(t for t in jobs["Customer 360 scoring"]["settings"]["tasks"] if t["task_key"] == "score")
    assert score["existing_cluster_id"] == ids(p, "cluster")["prod-gpu"]
    assert p.run("plan", "--target", "prod", "--detailed-exitcode").code == 0


def test_apply_lock_blocks_a_second_apply_and_unlock_clears_it(exported: Project) -> None:
    p = exported
    from bricksync.edges.lock import ApplyLock
    from bricksync.edges.workspace import Workspace

    lock = ApplyLock(Workspace(p.prod.client(), "prod"), "prod")
    lock.acquire("another apply")
    res = p.run("apply", "--target", "prod", "--yes")
    assert res.code == 1 and "is locked by" in res.output and "bricksync unlock --target prod" in res.output
    assert "(pid " in res.output and "another apply" in res.output and "lease until" in res.output
    assert len(prod_jobs(p)) == 1
    assert "Released the lock" in p.run("unlock", "--target", "prod", "--yes").output
    assert p.run("apply", "--target", "prod", "--yes").code == 0
    assert lock.read() is None  # released after the apply


def _apply_on_a_terminal(project: Project, answer: str) -> tuple[int, str]:
    """`bricksync apply` with its stdin on a pseudo-terminal, answering the confirmation prompt."""
    return on_a_terminal(project.root, answer, "apply", "--target", "prod")


def test_apply_asks_on_a_terminal_and_only_yes_applies(exported: Project) -> None:
    code, out = _apply_on_a_terminal(exported, "y")
    assert code == 1 and "Only 'yes' will be accepted" in out and "apply cancelled" in out
    assert len(prod_jobs(exported)) == 1
    code, out = _apply_on_a_terminal(exported, "yes")
    assert code == 0, out
    assert len(prod_jobs(exported)) == 6
