"""Realistic sample workspaces for the demo and tests, created through the real SDK client.

The source ("test") workspace holds the job shapes teams really run: multi-task ETL on job
clusters from pools under a policy, existing clusters, SQL and dbt on a warehouse, wheels and
libraries, for_each, run_job chains, a DLT pipeline task, git-sourced notebooks, schedules,
triggers, parameters (a catalog that differs per workspace), notifications and run_as. The target ("prod") holds the matching
compute (some under other names: config maps them) and one unmanaged job of its own.
"""

from __future__ import annotations

from typing import Any

SOURCE_COMPUTE = {
    "cluster": ["dev-shared", "ml-gpu"],
    "pool": ["dev-pool", "driver-pool"],
    "policy": ["job-policy"],
    "warehouse": ["dev-sql"],
    "pipeline": ["sales-dlt"],
    "destination": ["crm-oncall-webhook"],
}
TARGET_COMPUTE = {
    "cluster": ["prod-shared", "ml-gpu"],
    "pool": ["prod-pool", "driver-pool"],
    "policy": ["job-policy"],
    "warehouse": ["prod-sql"],
    "pipeline": ["sales-dlt"],
    "destination": ["crm-oncall-webhook"],
}
# What config/bricksync.yml maps (source name -> target name); the rest keep their names.
COMPUTE_MAPPING = {
    "clusters": {"dev-shared": "prod-shared"},
    "instance_pools": {"dev-pool": "prod-pool"},
    "warehouses": {"dev-sql": "prod-sql"},
}
# Values that differ per workspace (targets.prod.values): the catalog the sales jobs write to.
VALUE_MAPPING = {"dev_sales": "prod_sales"}
SPARK = "15.4.x-scala2.12"
NODE = "Standard_DS3_v2"
TAG = {"PROD_MIGRATION": "true"}
SP_PROD = "6f1c0b7e-2d4a-4c1e-9a53-0c2f6b1d8e77"


def create_compute(w: Any, names: dict[str, list[str]]) -> dict[str, dict[str, str]]:
    """Create compute by name; returns kind -> name -> id."""
    ids: dict[str, dict[str, str]] = {k: {} for k in names}
    for name in names.get("cluster", []):
        ids["cluster"][name] = w.api_client.do("POST", "/api/2.1/clusters/create", body={
            "cluster_name": name, "spark_version": SPARK, "node_type_id": NODE, "num_workers": 2})["cluster_id"]
    for name in names.get("pool", []):
        ids["pool"][name] = w.instance_pools.create(instance_pool_name=name, node_type_id=NODE).instance_pool_id
    for name in names.get("policy", []):
        ids["policy"][name] = w.cluster_policies.create(
            name=name, definition='{"spark_version": {"type": "unlimited"}}').policy_id
    for name in names.get("warehouse", []):
        ids["warehouse"][name] = w.api_client.do("POST", "/api/2.0/sql/warehouses", body={
            "name": name, "cluster_size": "Small", "max_num_clusters": 1})["id"]
    for name in names.get("pipeline", []):
        ids["pipeline"][name] = w.api_client.do("POST", "/api/2.0/pipelines", body={
            "name": name, "catalog": "main", "target": "sales"})["pipeline_id"]
    for name in names.get("destination", []):  # a notification destination (webhook_notifications)
        ids["destination"][name] = w.api_client.do("POST", "/api/2.0/notification-destinations", body={
            "display_name": name, "config": {"generic_webhook": {"url": f"https://hooks.example.com/{name}"}}})["id"]
    # SQL objects by name (sql_task.query/alert/dashboard, dashboard_task): the documented create calls.
    for kind, path, body, id_field in (
            ("query", "/api/2.0/sql/queries", lambda n: {"query": {"display_name": n, "query_text": "SELECT 1"}}, "id"),
            ("alert", "/api/2.0/sql/alerts", lambda n: {"alert": {"display_name": n}}, "id"),
            ("alert_v2", "/api/2.0/alerts", lambda n: {"display_name": n, "query_text": "SELECT 1"}, "id"),
            ("dashboard", "/api/2.0/lakeview/dashboards", lambda n: {"display_name": n}, "dashboard_id"),
            ("sql_dashboard", "/api/2.0/preview/sql/dashboards", lambda n: {"name": n}, "id")):
        for name in names.get(kind, []):
            ids[kind][name] = w.api_client.do("POST", path, body=body(name))[id_field]
    return ids


def create_job(w: Any, settings: dict) -> int:
    return int(w.api_client.do("POST", "/api/2.2/jobs/create", body=settings)["job_id"])


# long: a data table (the seeded jobs), not logic
def source_jobs(ids: dict[str, dict[str, str]], root: str = "/Workspace/dev") -> list[dict]:
    """The source jobs, in creation order; `run_job_task` targets are filled in by seed_source."""
    nb = f"{root}/sales"
    return [
        {
            "name": "Daily sales ETL",
            "description": "Ingest POS files, build the sales mart, publish to BI.",
            "tags": {**TAG, "team": "sales", "cost-center": "cc-4711"},
            "schedule": {"quartz_cron_expression": "0 0 2 * * ?", "timezone_id": "Europe/Amsterdam",
                         "pause_status": "UNPAUSED"},
            "email_notifications": {"on_failure": ["data-oncall@example.com"]},
            "max_concurrent_runs": 1,
            "timeout_seconds": 7200,
            # the catalog differs per workspace: targets.prod.values rewrites dev_sales to prod_sales
            "parameters": [{"name": "run_date", "default": "{{job.start_time.iso_date}}"},
                           {"name": "catalog", "default": "dev_sales"}],
            "job_clusters": [{"job_cluster_key": "etl", "new_cluster": {
                "spark_version": SPARK, "instance_pool_id": ids["pool"]["dev-pool"],
                "driver_instance_pool_id": ids["pool"]["driver-pool"], "policy_id": ids["policy"]["job-policy"],
                "apply_policy_default_values": True, "num_workers": 4,
                "spark_conf": {"spark.sql.shuffle.partitions": "64"}, "custom_tags": {"team": "sales"}}}],
            "tasks": [
                {"task_key": "ingest", "job_cluster_key": "etl",
                 "notebook_task": {"notebook_path": f"{nb}/ingest", "base_parameters": {"source": "pos"}}},
                {"task_key": "transform", "job_cluster_key": "etl", "depends_on": [{"task_key": "ingest"}],
                 "notebook_task": {"notebook_path": f"{nb}/transform"}, "max_retries": 2,
                 "min_retry_interval_millis": 60000},
                {"task_key": "publish", "job_cluster_key": "etl",
                 "depends_on": [{"task_key": "transform"}, {"task_key": "ingest"}],
                 "notebook_task": {"notebook_path": f"{nb}/publish"}, "run_if": "ALL_SUCCESS"},
            ],
        },
        {
            "name": "Customer 360 scoring",
            "tags": {**TAG, "team": "crm"},
            "tasks": [
                {"task_key": "features", "existing_cluster_id": ids["cluster"]["dev-shared"],
                 "notebook_task": {"notebook_path": f"{root}/c360/features"}},
                {"task_key": "score", "existing_cluster_id": ids["cluster"]["ml-gpu"],
                 "depends_on": [{"task_key": "features"}],
                 "spark_python_task": {"python_file": f"{root}/c360/score.py", "parameters": ["--model", "v7"]},
                 "libraries": [{"pypi": {"package": "scikit-learn==1.5.2"}},
                               {"whl": f"{root}/libs/c360-1.4.0-py3-none-any.whl"}]},
                {"task_key": "export", "depends_on": [{"task_key": "score"}],
                 "new_cluster": {"spark_version": SPARK, "node_type_id": NODE, "num_workers": 1,
                                 "policy_id": ids["policy"]["job-policy"]},
                 "python_wheel_task": {"package_name": "c360", "entry_point": "export"},
                 "libraries": [{"whl": f"{root}/libs/c360-1.4.0-py3-none-any.whl"}]},
            ],
            "webhook_notifications": {"on_failure": [{"id": ids["destination"]["crm-oncall-webhook"]}]},
        },
        {
            "name": "Finance SQL reporting",
            "tags": {"PROD_MIGRATION": "True", "team": "finance"},
            "trigger": {"pause_status": "UNPAUSED", "periodic": {"interval": 4, "unit": "HOURS"}},
            "tasks": [
                {"task_key": "refresh_report",
                 "sql_task": {"warehouse_id": ids["warehouse"]["dev-sql"],
                              "file": {"path": f"{root}/finance/report.sql"}}},
                {"task_key": "dbt_models", "depends_on": [{"task_key": "refresh_report"}],
                 "dbt_task": {"commands": ["dbt deps", "dbt run --select finance"],
                              "project_directory": f"{root}/finance/dbt",
                              "warehouse_id": ids["warehouse"]["dev-sql"], "schema": "finance"},
                 "environment_key": "dbt"},
            ],
            "environments": [{"environment_key": "dbt", "spec": {"client": "1", "dependencies": ["dbt-databricks"]}}],
        },
        {
            "name": "ML training (git)",
            "tags": {**TAG, "team": "ml"},
            "git_source": {"git_url": "https://github.com/example/ml-pipelines", "git_provider": "gitHub",
                           "git_branch": "main"},
            "run_as": {"service_principal_name": "0f3c7f1e-8f4e-4a3a-b8a1-2d2f5e9c1a10"},
            "tasks": [
                {"task_key": "train", "existing_cluster_id": ids["cluster"]["ml-gpu"],
                 "notebook_task": {"notebook_path": "notebooks/train"}},
                {"task_key": "evaluate", "existing_cluster_id": ids["cluster"]["ml-gpu"],
                 "depends_on": [{"task_key": "train"}], "notebook_task": {"notebook_path": "notebooks/evaluate"}},
            ],
        },
        {
            "name": "Nightly orchestrator",
            "tags": {**TAG, "team": "platform"},
            "schedule": {"quartz_cron_expression": "0 30 1 * * ?", "timezone_id": "UTC", "pause_status": "PAUSED"},
            "tasks": [
                {"task_key": "sales", "run_job_task": {"job_id": 0}},
                {"task_key": "crm", "run_job_task": {"job_id": 0}, "depends_on": [{"task_key": "sales"}]},
                {"task_key": "dlt", "pipeline_task": {"pipeline_id": ids["pipeline"]["sales-dlt"]},
                 "depends_on": [{"task_key": "sales"}]},
                {"task_key": "per_region", "depends_on": [{"task_key": "dlt"}],
                 "for_each_task": {"inputs": '["emea", "amer", "apac"]', "concurrency": 2, "task": {
                     "task_key": "per_region_iteration", "existing_cluster_id": ids["cluster"]["dev-shared"],
                     "notebook_task": {"notebook_path": f"{root}/regions/refresh",
                                       "base_parameters": {"region": "{{input}}"}}}}},
            ],
        },
        {
            "name": "Scratch experiment",  # not tagged: never exported
            "tags": {"owner": "alice"},
            "tasks": [{"task_key": "explore", "existing_cluster_id": ids["cluster"]["dev-shared"],
                       "notebook_task": {"notebook_path": "/Users/alice@example.com/scratch"}}],
        },
        {
            "name": "Already promoted",  # acknowledged long ago
            "tags": {"PROD_MIGRATION": "false"},
            "tasks": [{"task_key": "noop", "existing_cluster_id": ids["cluster"]["dev-shared"],
                       "notebook_task": {"notebook_path": f"{root}/misc/noop"}}],
        },
    ]


def seed_source(w: Any, root: str = "/Workspace/dev") -> dict[str, int]:
    """Seed a source workspace; returns job name -> job id."""
    ids = create_compute(w, SOURCE_COMPUTE)
    jobs: dict[str, int] = {}
    for settings in source_jobs(ids, root):
        if settings["name"] == "Nightly orchestrator":
            settings["tasks"][0]["run_job_task"]["job_id"] = jobs["Daily sales ETL"]
            settings["tasks"][1]["run_job_task"]["job_id"] = jobs["Customer 360 scoring"]
        jobs[settings["name"]] = create_job(w, settings)
    return jobs


def seed_target(w: Any) -> dict[str, int]:
    """Seed a target (prod) workspace: compute, and one unmanaged job bricksync must not touch."""
    ids = create_compute(w, TARGET_COMPUTE)
    unmanaged = {
        "name": "Ad-hoc prod report", "tags": {"owner": "ops"},
        "tasks": [{"task_key": "report", "existing_cluster_id": ids["cluster"]["prod-shared"],
                   "notebook_task": {"notebook_path": "/Workspace/prod/ops/adhoc"}}],
    }
    return {unmanaged["name"]: create_job(w, unmanaged)}


def deploy_paths(w: Any, root: str = "/Workspace/prod") -> list[str]:
    """Put in a workspace every notebook, file and folder the seeded jobs use under `root` (what a
    team's code deployment does before bricksync promotes jobs); returns the paths."""
    import base64

    from ..core.references import path_sites

    fake = {kind: {n: "0" for n in names} for kind, names in SOURCE_COMPUTE.items()}
    paths = sorted({str(site.value) for job in source_jobs(fake, root) for site in path_sites(job)
                    if str(site.value).startswith(root + "/")})
    for path in paths:
        folder, leaf = path.rsplit("/", 1)
        if "." not in leaf and path.endswith("/dbt"):  # a dbt project is a folder
            w.api_client.do("POST", "/api/2.0/workspace/mkdirs", body={"path": path})
            continue
        w.api_client.do("POST", "/api/2.0/workspace/mkdirs", body={"path": folder})
        kind = {"format": "AUTO"} if "." in leaf else {"format": "SOURCE", "language": "PYTHON"}
        w.api_client.do("POST", "/api/2.0/workspace/import", body={
            "path": path, "content": base64.b64encode(b"# seeded\n").decode(), "overwrite": True, **kind})
    return paths


def config_yaml(source_profile: str = "test", target_profile: str = "prod", target_host: str = "") -> str:
    """A config/bricksync.yml for the seeded pair."""
    mapping = "\n".join(
        f"      {kind}: {{{', '.join(f'{a}: {b}' for a, b in pairs.items())}}}"
        for kind, pairs in COMPUTE_MAPPING.items())
    host = f"    host: {target_host}\n" if target_host else ""
    return f"""\
# bricksync configuration (demo): a test workspace promotes to prod.
source:
  profile: {source_profile}
  select: {{tag: PROD_MIGRATION, value: "true"}}
  notebook_root: /Workspace/dev
  acknowledge: true
state_dir: state
targets:
  prod:
    profile: {target_profile}
{host}    path_rewrites: {{/Workspace/dev: /Workspace/prod}}
    values: {{{', '.join(f'{a}: {b}' for a, b in VALUE_MAPPING.items())}}}
    compute:
{mapping}
    run_as:
      0f3c7f1e-8f4e-4a3a-b8a1-2d2f5e9c1a10: {SP_PROD}
    overrides: {{}}
    prune: false
"""
