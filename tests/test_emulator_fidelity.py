"""The emulator behaves like the real Jobs service (issue 16, point 3): it fills on read what
real GETs carry and nothing more, drops unknown fields, refuses what the API refuses with
400 INVALID_PARAMETER_VALUE, serves the 2.0/2.1 endpoints older clients call (offset paging
included), and gives every process its own ID space. Real SDK over HTTP."""

from __future__ import annotations

import subprocess
import sys

import pytest
from databricks.sdk.errors import InvalidParameterValue

from bricksync.emulator import EmulatorServer

from .conftest import TOKEN, wait_for_port


def nb(key: str = "t", **extra) -> dict:
    return {"task_key": key, "notebook_task": {"notebook_path": "/Workspace/dev/x"}, **extra}


def create(server: EmulatorServer, **settings) -> int:
    return int(server.client().api_client.do("POST", "/api/2.2/jobs/create", body=settings)["job_id"])


def get(server: EmulatorServer, job_id: int, version: str = "2.2") -> dict:
    return server.client().api_client.do("GET", f"/api/{version}/jobs/get", query={"job_id": job_id})


@pytest.mark.parametrize("settings,message", [
    ({"schedule": {"quartz_cron_expression": "0 0 * * * ?", "timezone_id": "UTC"},
      "continuous": {"pause_status": "UNPAUSED"}}, "Only one of schedule, trigger and continuous"),
    ({"trigger": {"periodic": {"interval": 1, "unit": "HOURS"}}, "continuous": {}}, "Only one of"),
    ({"max_concurrent_runs": 1001}, "max_concurrent_runs must be between 0 and 1000"),
    ({"max_concurrent_runs": -1}, "max_concurrent_runs"),
    ({"tags": {f"k{i}": "v" for i in range(26)}}, "at most 25 tags"),
    ({"name": "x" * 4097}, "at most 4096 bytes"),
    ({"name": "é" * 2049}, "at most 4096 bytes"),  # bytes in UTF-8, not characters
    ({"tasks": [nb(run_if="SOMETIMES")]}, "Invalid value 'SOMETIMES' for tasks[0].run_if"),
    ({"tasks": [{"task_key": "t", "notebook_task": {"base_parameters": {"a": "b"}}}]},
     "notebook_task.notebook_path is required"),
    ({"tasks": [{"task_key": "t", "spark_python_task": {}}]}, "spark_python_task.python_file is required"),
    ({"schedule": {"timezone_id": "UTC"}}, "quartz_cron_expression"),
    ({"tasks": [nb(), nb()]}, "Task key t is not unique"),
    # fields the API requires (the SDK's dataclass fields without a default), at any depth
    ({"git_source": {"git_url": "https://x/y"}}, "git_source.git_provider is required"),
    ({"parameters": [{"name": "p"}]}, "parameters[0].default is required"),
    ({"queue": {}}, "queue.enabled is required"),
    ({"health": {"rules": [{"metric": "RUN_DURATION_SECONDS", "op": "GREATER_THAN"}]}},
     "health.rules[0].value is required"),
    ({"tasks": [nb(depends_on=[{"outcome": "true"}])]}, "tasks[0].depends_on[0].task_key is required"),
])
def test_bodies_the_api_refuses_are_refused(test_ws: EmulatorServer, settings: dict, message: str) -> None:
    with pytest.raises(InvalidParameterValue) as exc:
        create(test_ws, **{"name": "bad", "tasks": [nb()], **settings})
    assert message in str(exc.value)
    assert test_ws.workspace.jobs.jobs == {}
    # the limits themselves are accepted
    create(test_ws, name="x" * 4096, max_concurrent_runs=1000, tags={f"k{i}": "v" for i in range(25)}, tasks=[nb()],
           parameters=[{"name": "p", "default": ""}])  # an empty default is a default


def test_git_provider_is_matched_without_case(test_ws: EmulatorServer) -> None:
    job_id = create(test_ws, name="g", git_source={"git_url": "https://x/y", "git_provider": "github",
                                                   "git_branch": "main"}, tasks=[nb()])
    assert get(test_ws, job_id)["settings"]["git_source"]["git_provider"] == "github"
    with pytest.raises(InvalidParameterValue):
        create(test_ws, name="g", git_source={"git_url": "https://x/y", "git_provider": "svn"}, tasks=[nb()])


def test_reset_and_update_are_validated_too(test_ws: EmulatorServer) -> None:
    job_id = create(test_ws, name="j", tasks=[nb()], schedule={"quartz_cron_expression": "0 0 * * * ?",
                                                                "timezone_id": "UTC"})
    w = test_ws.client()
    with pytest.raises(InvalidParameterValue):
        w.api_client.do("POST", "/api/2.2/jobs/update", body={"job_id": job_id, "new_settings": {
            "continuous": {"pause_status": "PAUSED"}}})
    with pytest.raises(InvalidParameterValue):
        w.api_client.do("POST", "/api/2.2/jobs/reset", body={"job_id": job_id, "new_settings": {
            "name": "j", "max_concurrent_runs": 5000}})
    assert get(test_ws, job_id)["settings"]["schedule"]["timezone_id"] == "UTC"  # nothing changed


def test_unknown_fields_are_dropped_at_every_depth(test_ws: EmulatorServer) -> None:
    job_id = create(test_ws, name="u", bogus_top=1, tasks=[nb(git_source_info="x", new_cluster={
        "spark_version": "15.4", "num_workers": 1, "not_a_cluster_field": True})])
    settings = get(test_ws, job_id)["settings"]
    task = settings["tasks"][0]
    assert "bogus_top" not in settings and "git_source_info" not in task
    assert task["new_cluster"] == {"spark_version": "15.4", "num_workers": 1}


def test_reads_carry_what_real_gets_carry_and_nothing_invented(test_ws: EmulatorServer) -> None:
    wid = test_ws.client().api_client.do("POST", "/api/2.0/sql/warehouses", body={"name": "w"})["id"]
    job_id = create(test_ws, name="r", format="SINGLE_TASK", git_source={
        "git_url": "https://x/y", "git_provider": "gitHub", "git_branch": "main"}, tasks=[
        {"task_key": "q", "sql_task": {"warehouse_id": wid, "file": {"path": "q.sql"}}},
        {"task_key": "f", "for_each_task": {"inputs": "[1]", "task": nb("inner", new_cluster={
            "spark_version": "15.4", "num_workers": 1, "data_security_mode": "NONE"})}}])
    job = get(test_ws, job_id)
    assert job["run_as_owner"] is True and job["run_as_user_name"] == job["creator_user_name"]
    s = job["settings"]
    assert s["format"] == "MULTI_TASK"  # ignored on write, always MULTI_TASK
    tasks = {t["task_key"]: t for t in s["tasks"]}
    assert tasks["q"]["sql_task"]["file"]["source"] == "GIT"
    inner = tasks["f"]["for_each_task"]["task"]
    for task in (tasks["q"], inner):
        assert (task["webhook_notifications"], task["notification_settings"], task["email_notifications"]) == ({}, {}, {})
    assert inner["notebook_task"]["source"] == "GIT"
    assert inner["new_cluster"] == {"spark_version": "15.4", "num_workers": 1, "data_security_mode": "NONE"}
    other = create(test_ws, name="sp", tasks=[nb()],
                   run_as={"service_principal_name": "6f1c0b7e-2d4a-4c1e-9a53-0c2f6b1d8e77"})
    assert get(test_ws, other)["run_as_owner"] is False


def test_jobs_are_served_at_2_0_and_2_1_with_offset_paging(test_ws: EmulatorServer) -> None:
    ids = [create(test_ws, name=f"j{i}", tasks=[nb(f"t{k}") for k in range(120 if i == 0 else 1)]) for i in range(45)]
    w = test_ws.client()
    for version in ("2.0", "2.1"):
        seen, offset = [], 0
        while True:  # what the legacy databricks-cli's `jobs list --all` does
            page = w.api_client.do("GET", f"/api/{version}/jobs/list", query={"offset": offset, "limit": 20})
            seen += [j["job_id"] for j in page.get("jobs", [])]
            offset += len(page.get("jobs", []))
            if not page["has_more"]:
                break
        assert seen == ids
        assert len(get(test_ws, ids[0], version)["settings"]["tasks"]) == 120  # no 100-task pages before 2.2
    assert len(get(test_ws, ids[0])["settings"]["tasks"]) == 100
    assert w.api_client.do("GET", "/api/2.0/jobs/list", query={"offset": 40, "limit": 20})["has_more"] is False


def test_clusters_list_at_2_0(test_ws: EmulatorServer) -> None:
    w = test_ws.client()
    cid = w.api_client.do("POST", "/api/2.1/clusters/create", body={"cluster_name": "c", "spark_version": "15.4"})
    clusters = w.api_client.do("GET", "/api/2.0/clusters/list")["clusters"]
    assert [c["cluster_id"] for c in clusters] == [cid["cluster_id"]]


def test_every_emulator_has_its_own_id_space() -> None:
    with EmulatorServer("a", token=TOKEN) as a, EmulatorServer("a", token=TOKEN) as b:
        ja, jb = create(a, name="x", tasks=[nb()]), create(b, name="x", tasks=[nb()])
        assert ja != jb and len(str(ja)) == 15
        ca = a.client().api_client.do("POST", "/api/2.1/clusters/create", body={"cluster_name": "c"})
        cb = b.client().api_client.do("POST", "/api/2.1/clusters/create", body={"cluster_name": "c"})
        assert ca != cb
    with EmulatorServer("fixed", token=TOKEN, id_base=5000) as fixed:
        assert create(fixed, name="x", tasks=[nb()]) == 5000


def test_emulator_serve_id_base_flag(tmp_path) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "bricksync.cli", "emulator", "serve", "--port", str(port),
                             "--id-base", "777000"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        from databricks.sdk import WorkspaceClient

        wait_for_port(port, proc)
        w = WorkspaceClient(host=f"http://127.0.0.1:{port}", token="dapi-emulator-token", auth_type="pat")
        job = w.api_client.do("POST", "/api/2.2/jobs/create", body={"name": "x", "tasks": [nb()]})
        assert job["job_id"] == 777000
    finally:
        proc.terminate()
        proc.wait(timeout=10)
