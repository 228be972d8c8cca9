"""SQL queries, alerts, dashboards, notification destinations and budget policies: named in state,
mapped per target, resolved at plan time; an ID that cannot be named refuses the job. And only
the kinds the jobs in play reference are listed (emulator + real SDK)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bricksync.edges.workspace import Workspace
from bricksync.emulator import EmulatorServer, FaultRule
from bricksync.emulator.seed import create_compute, create_job

from .conftest import Project, make_project
from .idscan import id_shaped_fields

BUDGET_TEST, BUDGET_PROD = "5a1e2c3d-0000-4000-8000-00000000b0d1", "7c9e1f00-0000-4000-8000-00000000b0d2"


def config(prod_url: str, extra: str = "") -> str:
    return f"""\
source:
  profile: test
  notebook_root: /Workspace/dev
  budget_policies: {{finance-serverless: {BUDGET_TEST}}}
targets:
  prod:
    profile: prod
    host: {prod_url}
    path_rewrites: {{/Workspace/dev: /Workspace/prod}}
    compute:
      warehouses: {{dev-sql: prod-sql}}
    objects:
      queries: {{dev revenue: revenue}}
      destinations: {{dev-alerts-slack: alerts-slack}}
    budget_policies: {{finance-serverless: {BUDGET_PROD}}}
{extra}"""


def make_objects(w, side: str) -> dict[str, dict[str, str]]:
    """A warehouse, two queries, an alert, both kinds of dashboard and two destinations."""
    dev = side == "test"
    ids = create_compute(w, {"warehouse": ["dev-sql" if dev else "prod-sql"],
                             "destination": ["dev-alerts-slack" if dev else "alerts-slack", "finance-mail"]})
    wh = next(iter(ids["warehouse"].values()))
    post = w.api_client.do
    ids["query"] = {n: post("POST", "/api/2.0/sql/queries", body={"query": {
        "display_name": n, "warehouse_id": wh, "query_text": "SELECT 1"}})["id"]
        for n in (("dev revenue" if dev else "revenue"), "churn")}
    ids["alert"] = {"revenue drop": post("POST", "/api/2.0/sql/alerts", body={"alert": {
        "display_name": "revenue drop", "query_id": next(iter(ids["query"].values()))}})["id"]}
    ids["dashboard"] = {"Sales overview": post("POST", "/api/2.0/lakeview/dashboards", body={
        "display_name": "Sales overview", "warehouse_id": wh})["dashboard_id"]}
    ids["sql_dashboard"] = {"Finance (legacy)": post("POST", "/api/2.0/preview/sql/dashboards", body={
        "name": "Finance (legacy)"})["id"]}
    return ids


def reporting_job(ids: dict[str, dict[str, str]]) -> dict:
    wh = next(iter(ids["warehouse"].values()))
    slack = ids["destination"]["dev-alerts-slack"]
    mail = ids["destination"]["finance-mail"]
    return {
        "name": "Finance dashboards", "tags": {"PROD_MIGRATION": "true"},
        "budget_policy_id": BUDGET_TEST,
        "webhook_notifications": {"on_failure": [{"id": slack}], "on_duration_warning_threshold_exceeded": [
            {"id": mail}]},
        "tasks": [
            {"task_key": "query", "sql_task": {"warehouse_id": wh, "query": {"query_id": ids["query"]["dev revenue"]}},
             "webhook_notifications": {"on_start": [{"id": mail}]}},
            {"task_key": "alert", "sql_task": {"warehouse_id": wh, "alert": {
                "alert_id": ids["alert"]["revenue drop"], "subscriptions": [{"destination_id": slack},
                                                                            {"user_name": "cfo@example.com"}]}}},
            {"task_key": "legacy", "sql_task": {"warehouse_id": wh, "dashboard": {
                "dashboard_id": ids["sql_dashboard"]["Finance (legacy)"],
                "subscriptions": [{"destination_id": mail}]}}},
            {"task_key": "lakeview", "dashboard_task": {
                "dashboard_id": ids["dashboard"]["Sales overview"], "warehouse_id": wh,
                "subscription": {"subscribers": [{"destination_id": slack}, {"user_name": "ceo@example.com"}]}}},
            {"task_key": "per_query", "for_each_task": {"inputs": "[1, 2]", "task": {
                "task_key": "per_query_iteration",
                "sql_task": {"warehouse_id": wh, "query": {"query_id": ids["query"]["churn"]}}}}},
        ],
    }


@pytest.fixture
def sql_project(tmp_path: Path, test_ws: EmulatorServer, prod_ws: EmulatorServer,
                monkeypatch: pytest.MonkeyPatch) -> tuple[Project, dict, dict]:
    p = make_project(tmp_path, test_ws, prod_ws, monkeypatch, config=config(prod_ws.url))
    src, dst = make_objects(test_ws.client(), "test"), make_objects(prod_ws.client(), "prod")
    return p, src, dst


def test_every_object_reference_is_named_in_state_and_resolved_in_the_target(sql_project) -> None:
    p, src, dst = sql_project
    create_job(p.test.client(), reporting_job(src))
    res = p.run("export", "--branch", "main")
    assert res.code == 0, res.output
    text = p.state_files["finance-dashboards.yml"].decode()
    for ref in ("${query:dev revenue}", "${query:churn}", "${alert:revenue drop}", "${sql_dashboard:Finance (legacy)}",
                "${dashboard:Sales overview}", "${destination:dev-alerts-slack}", "${destination:finance-mail}",
                "${budget_policy:finance-serverless}", "${warehouse:dev-sql}"):
        assert ref in text, ref
    assert id_shaped_fields(text) == []
    res = p.run("apply", "--target", "prod", "--yes")
    assert res.code == 0, res.output
    job = next(j for j in p.prod.workspace.jobs.jobs.values() if j["settings"]["name"] == "Finance dashboards")
    s = job["settings"]
    tasks = {t["task_key"]: t for t in s["tasks"]}
    assert s["budget_policy_id"] == BUDGET_PROD
    assert s["webhook_notifications"]["on_failure"] == [{"id": dst["destination"]["alerts-slack"]}]
    assert s["webhook_notifications"]["on_duration_warning_threshold_exceeded"] == [
        {"id": dst["destination"]["finance-mail"]}]
    assert tasks["query"]["sql_task"]["query"]["query_id"] == dst["query"]["revenue"]  # mapped name
    assert tasks["query"]["webhook_notifications"]["on_start"] == [{"id": dst["destination"]["finance-mail"]}]
    assert tasks["alert"]["sql_task"]["alert"] == {"alert_id": dst["alert"]["revenue drop"], "subscriptions": [
        {"destination_id": dst["destination"]["alerts-slack"]}, {"user_name": "cfo@example.com"}]}
    assert tasks["legacy"]["sql_task"]["dashboard"]["dashboard_id"] == dst["sql_dashboard"]["Finance (legacy)"]
    assert tasks["lakeview"]["dashboard_task"]["dashboard_id"] == dst["dashboard"]["Sales overview"]
    assert tasks["lakeview"]["dashboard_task"]["warehouse_id"] == dst["warehouse"]["prod-sql"]
    assert tasks["lakeview"]["dashboard_task"]["subscription"]["subscribers"][0] == {
        "destination_id": dst["destination"]["alerts-slack"]}
    inner = tasks["per_query"]["for_each_task"]["task"]
    assert inner["sql_task"]["query"]["query_id"] == dst["query"]["churn"]
    res = p.run("plan", "--target", "prod", "--detailed-exitcode")
    assert res.code == 0 and "1 unchanged" in res.output, res.output


@pytest.mark.parametrize("case, field", [
    ("unknown destination", "webhook_notifications.on_failure[0].id"),
    ("ambiguous query", "tasks[query].sql_task.query.query_id"),
    ("unnamed budget policy", "budget_policy_id"),
    ("gpu node pool id", "tasks[gpu].gen_ai_compute_task.compute.gpu_node_pool_id"),
])
def test_an_id_that_cannot_be_named_refuses_the_job_naming_job_and_field(sql_project, case: str,
                                                                         field: str) -> None:
    p, src, _ = sql_project
    job = reporting_job(src)
    if case == "unknown destination":
        job["webhook_notifications"]["on_failure"] = [{"id": "0481e838-0a59-4eff-9541-a4ca6f149574"}]
    elif case == "ambiguous query":  # a second query with the same name: which one would prod get?
        p.test.client().api_client.do("POST", "/api/2.0/sql/queries", body={"query": {"display_name": "dev revenue"}})
    elif case == "unnamed budget policy":
        job["budget_policy_id"] = "11111111-2222-4333-8444-555555555555"
    else:
        job["tasks"].append({"task_key": "gpu", "gen_ai_compute_task": {
            "dl_runtime_image": "databricks/dl:1", "compute": {"num_gpus": 1, "gpu_node_pool_id": "np-0123456789"}}})
    create_job(p.test.client(), job)
    ok = create_job(p.test.client(), {"name": "Plain", "tags": {"PROD_MIGRATION": "true"}, "tasks": [
        {"task_key": "nb", "notebook_task": {"notebook_path": "/Workspace/dev/plain"}}]})
    res = p.run("export", "--branch", "main")
    assert res.code == 1
    assert "job 'Finance dashboards'" in res.output and f"field '{field}'" in res.output, res.output
    assert list(p.state_files) == ["plain.yml"] and ok  # the other job is exported


def test_plan_names_an_object_missing_in_the_target_and_the_config_key_to_map_it(sql_project) -> None:
    p, src, dst = sql_project
    create_job(p.test.client(), reporting_job(src))
    assert p.run("export", "--branch", "main").code == 0
    p.prod.client().api_client.do("DELETE", f"/api/2.0/lakeview/dashboards/{dst['dashboard']['Sales overview']}")
    res = p.run("plan", "--target", "prod")
    assert res.code == 1
    assert "no dashboard named 'Sales overview'" in res.output
    assert "targets.prod.objects.dashboards" in res.output and "tasks[lakeview].dashboard_task.dashboard_id" in res.output


def test_env_vars_map_objects_and_budget_policies(sql_project, monkeypatch: pytest.MonkeyPatch) -> None:
    p, src, dst = sql_project
    create_job(p.test.client(), reporting_job(src))
    assert p.run("export", "--branch", "main").code == 0
    p.prod.client().api_client.do("POST", "/api/2.0/sql/queries", body={"query": {"display_name": "revenue v2"}})
    monkeypatch.setenv("BRICKSYNC_PROD_QUERIES", "dev revenue=revenue v2")
    monkeypatch.setenv("BRICKSYNC_PROD_BUDGET_POLICIES", "finance-serverless=99999999-0000-4000-8000-000000000000")
    assert p.run("apply", "--target", "prod", "--yes").code == 0
    s = next(iter(p.prod.workspace.jobs.jobs.values()))["settings"]
    revenue_v2 = next(i for i, q in p.prod.workspace.resources["query"].items() if q["display_name"] == "revenue v2")
    assert revenue_v2 != dst["query"]["revenue"]
    assert {t["task_key"]: t for t in s["tasks"]}["query"]["sql_task"]["query"]["query_id"] == revenue_v2
    assert s["budget_policy_id"] == "99999999-0000-4000-8000-000000000000"


# --- listing: paging, and only what is needed -------------------------------------------

def test_each_object_kind_is_listed_completely_with_its_documented_paging(test_ws: EmulatorServer) -> None:
    w = test_ws.client()
    post = w.api_client.do
    for i in range(230):
        post("POST", "/api/2.0/sql/queries", body={"query": {"display_name": f"q{i}"}})
    for i in range(60):
        post("POST", "/api/2.0/preview/sql/dashboards", body={"name": f"d{i}"})
        post("POST", "/api/2.0/notification-destinations", body={"display_name": f"n{i}"})
    test_ws.faults.reset_log()
    inv = Workspace(w).inventory({"query", "sql_dashboard", "destination"})
    assert len(inv.by_id["query"]) == 230 and len(inv.by_id["sql_dashboard"]) == 60
    assert len(inv.by_id["destination"]) == 60 and inv.by_id["pipeline"] == {}
    counts = test_ws.faults.counts()
    assert counts["GET /api/2.0/sql/queries"] == 3  # 100 a page (the documented maximum)
    assert counts["GET /api/2.0/preview/sql/dashboards"] == 1  # 60 < 100 and `count` says so
    assert counts["GET /api/2.0/notification-destinations"] == 1
    assert set(counts) == {"GET /api/2.0/sql/queries", "GET /api/2.0/preview/sql/dashboards",
                           "GET /api/2.0/notification-destinations"}
    # The SDK's own iterators agree with the emulator's paging.
    assert len(list(w.queries.list(page_size=100))) == 230
    assert len(list(w.dashboards.list(page_size=25))) == 60
    assert len(list(w.notification_destinations.list())) == 60


LISTINGS = {"cluster": "GET /api/2.1/clusters/list", "pool": "GET /api/2.0/instance-pools/list",
            "policy": "GET /api/2.0/policies/clusters/list", "warehouse": "GET /api/2.0/sql/warehouses",
            "pipeline": "GET /api/2.0/pipelines", "query": "GET /api/2.0/sql/queries",
            "alert": "GET /api/2.0/sql/alerts", "dashboard": "GET /api/2.0/lakeview/dashboards",
            "sql_dashboard": "GET /api/2.0/preview/sql/dashboards",
            "destination": "GET /api/2.0/notification-destinations"}


def listed(server: EmulatorServer) -> set[str]:
    counts = server.faults.counts()
    return {kind for kind, endpoint in LISTINGS.items() if counts[endpoint]}


def test_only_referenced_kinds_are_listed_and_a_refused_unused_listing_fails_nothing(sql_project) -> None:
    p, src, _ = sql_project
    create_job(p.test.client(), {"name": "Plain", "tags": {"PROD_MIGRATION": "true"}, "tasks": [
        {"task_key": "nb", "notebook_task": {"notebook_path": "/Workspace/dev/plain"}}]})
    for server in (p.test, p.prod):  # this identity may list nothing but jobs
        for endpoint in LISTINGS.values():
            server.faults.add(FaultRule(method="GET", path=endpoint.split(" ")[1], status=403, count=None))
    p.test.faults.reset_log()
    assert p.run("export", "--branch", "main").code == 0
    assert listed(p.test) == set()
    p.prod.faults.reset_log()
    res = p.run("plan", "--target", "prod")
    assert res.code == 0 and "1 to create" in res.output, res.output
    assert listed(p.prod) == set()
    for server in (p.test, p.prod):
        server.faults.clear()
    create_job(p.test.client(), reporting_job(src))
    p.test.faults.reset_log()
    assert p.run("export", "--branch", "main").code == 0
    assert listed(p.test) == {"warehouse", "query", "alert", "dashboard", "sql_dashboard", "destination"}
    p.prod.faults.reset_log()
    assert p.run("plan", "--target", "prod").code == 0
    assert listed(p.prod) == {"warehouse", "query", "alert", "dashboard", "sql_dashboard", "destination"}
    # A needed kind that may not be listed is an error that says which and why.
    p.prod.faults.add(FaultRule(method="GET", path="/api/2.0/lakeview/dashboards", status=403, count=None))
    res = p.run("plan", "--target", "prod")
    assert res.code == 1 and "list AI/BI dashboards (needed: a job references one)" in res.output, res.output
    assert "PERMISSION_DENIED" in res.output


def test_the_state_scan_finds_raw_ids_where_they_hide() -> None:
    text = """# Managed by bricksync
bricksync: {key: k, source_job_id: 1001}
job:
  name: n
  budget_policy_id: 5a1e2c3d-0000-4000-8000-00000000b0d1
  webhook_notifications: {on_failure: [{id: '${destination:ok}'}], on_start: [{id: 0481e838-0a59-4eff-9541-a4ca6f149574}]}
  tasks:
    - task_key: a
      existing_cluster_id: 0101-123456-abcdefgh
      dashboard_task: {dashboard_id: 01ef0123456789abcdef0123456789ab, warehouse_id: '${warehouse:w}'}
      run_job_task: {job_id: 1234567890}
"""
    found = id_shaped_fields(text)
    assert {str(v) for _, v in found} == {
        "5a1e2c3d-0000-4000-8000-00000000b0d1", "0481e838-0a59-4eff-9541-a4ca6f149574", "0101-123456-abcdefgh",
        "01ef0123456789abcdef0123456789ab", "1234567890"}
    assert "webhook_notifications.on_start[0].id" in {f for f, _ in found}


def test_config_objects_and_budget_policies_with_env_overrides_and_did_you_mean() -> None:
    from bricksync.core.errors import BricksyncError
    from bricksync.edges.config import parse_config

    text = config("https://prod.example").encode()
    cfg = parse_config(text, Path("config/bricksync.yml"), env={
        "BRICKSYNC_PROD_DESTINATIONS": "pager=prod-pager", "BRICKSYNC_PROD_SQL_DASHBOARDS": "a=b",
        "BRICKSYNC_SOURCE_BUDGET_POLICIES": "ml=1234"})
    prod = cfg.target("prod")
    assert prod.objects["destinations"] == {"dev-alerts-slack": "alerts-slack", "pager": "prod-pager"}
    assert prod.compute_name("sql_dashboard", "a") == "b" and prod.compute_name("dashboard", "a") == "a"
    assert cfg.source.budget_policies == {"finance-serverless": BUDGET_TEST, "ml": "1234"}
    with pytest.raises(BricksyncError) as info:
        parse_config(text.replace(b"queries:", b"querys:"), Path("config/bricksync.yml"), env={})
    assert "targets.prod.objects.querys" in str(info.value) and "did you mean 'queries'" in str(info.value)


@pytest.mark.parametrize("workers", [0, 2])
def test_state_workers_report_the_kinds_state_references_before_the_plan_request(sql_project,
                                                                                  workers: int) -> None:
    from bricksync.commands.desired import DesiredState
    from bricksync.core.references import Inventory
    from bricksync.core.schema import schema_table

    p, src, _ = sql_project
    create_job(p.test.client(), reporting_job(src))
    assert p.run("export", "--branch", "main").code == 0
    with DesiredState(p.root / "state", workers=workers) as desired:
        assert desired.kinds() == {"warehouse", "query", "alert", "dashboard", "sql_dashboard", "destination",
                                   "budget_policy"}
        desired.request(schema_table(), None, Inventory())  # the protocol goes on as before
        summaries, problems = desired.summaries()
    assert problems == [] and [s.key for s in summaries] == ["finance-dashboards"]


def _build(path: str, value: str) -> dict:
    """{'a': {'b': [{'c': value}]}} for 'a.b[].c'."""
    head, _, rest = path.partition(".")
    inner: object = _build(rest, value) if rest else value
    return {head[:-2]: [inner]} if head.endswith("[]") else {head: inner}


def _merge(a: dict, b: dict) -> dict:
    for k, v in b.items():
        if k in a and isinstance(a[k], dict) and isinstance(v, dict):
            _merge(a[k], v)
        elif k in a and isinstance(a[k], list) and isinstance(v, list):
            _merge(a[k][0], v[0])
        else:
            a[k] = v
    return a


def test_every_row_of_the_reference_tables_is_found_at_job_task_and_for_each_level() -> None:
    from bricksync.core.objectrefs import JOB_REFS, JOB_REFUSED, TASK_REFS, TASK_REFUSED
    from bricksync.core.references import reference_sites, refused_sites

    task: dict = {"task_key": "t"}
    for path, _ in TASK_REFS + TASK_REFUSED:
        _merge(task, _build(path, "X"))
    settings: dict = {"tasks": [task, {"task_key": "loop", "for_each_task": {"task": {**task, "task_key": "i"}}}]}
    for path, _ in JOB_REFS + JOB_REFUSED:
        _merge(settings, _build(path, "X"))
    found = {(s.location, s.kind) for s in reference_sites(settings)}
    flat = lambda p: p.replace("[]", "[0]")  # noqa: E731
    for path, kind in TASK_REFS:
        assert (f"tasks[t].{flat(path)}", kind) in found
        assert (f"tasks[loop].for_each_task.task.{flat(path)}", kind) in found
    for path, kind in JOB_REFS:
        assert (flat(path), kind) in found
    refused = {where for where, _ in refused_sites(settings)}
    assert refused == {flat(p) for p, _ in JOB_REFUSED} | {f"tasks[t].{flat(p)}" for p, _ in TASK_REFUSED} | {
        f"tasks[loop].for_each_task.task.{flat(p)}" for p, _ in TASK_REFUSED}
