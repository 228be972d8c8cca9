"""The emulator against the real databricks-sdk over HTTP (issue: foundation)."""

from __future__ import annotations

import base64
import json
import socket
import subprocess
import sys

import pytest
from databricks.sdk import WorkspaceClient
from databricks.sdk.core import Config
from databricks.sdk.errors import (
    InternalError,
    InvalidParameterValue,
    NotFound,
    PermissionDenied,
    TooManyRequests,
    Unauthenticated,
)
from databricks.sdk.service.jobs import JobAccessControlRequest, JobPermissionLevel, JobSettings
from databricks.sdk.service.workspace import ImportFormat, Language

from bricksync.emulator import EmulatorServer, FaultRule
from bricksync.emulator.seed import seed_source, seed_target

from .conftest import TOKEN, wait_for_port


def nb_task(key: str, path: str = "/Workspace/dev/x", **extra) -> dict:
    return {"task_key": key, "notebook_task": {"notebook_path": path}, **extra}


def create(w: WorkspaceClient, **settings) -> int:
    return int(w.api_client.do("POST", "/api/2.2/jobs/create", body=settings)["job_id"])


def test_lists_250_jobs_through_paging(test_ws: EmulatorServer) -> None:
    w = test_ws.client()
    for i in range(250):
        create(w, name=f"job {i:03d}", tasks=[nb_task("t")])
    test_ws.faults.reset_log()
    jobs = list(w.jobs.list(limit=100, expand_tasks=True))
    assert len(jobs) == 250
    assert len({j.job_id for j in jobs}) == 250
    assert test_ws.faults.counts()["GET /api/2.2/jobs/list"] == 3
    assert jobs[0].settings.tasks[0].task_key == "t"
    with pytest.raises(InvalidParameterValue):
        list(w.jobs.list(limit=101))


def test_reads_a_250_task_job_whole_through_task_paging(test_ws: EmulatorServer) -> None:
    w = test_ws.client()
    job_id = create(w, name="big", tasks=[nb_task(f"t{i:03d}") for i in range(250)],
                    job_clusters=[{"job_cluster_key": "c", "new_cluster": {"spark_version": "15.4", "num_workers": 1}}])
    test_ws.faults.reset_log()
    job = w.jobs.get(job_id)
    assert [t.task_key for t in job.settings.tasks] == [f"t{i:03d}" for i in range(250)]
    assert len(job.settings.job_clusters) == 1
    assert test_ws.faults.counts()["GET /api/2.2/jobs/get"] == 3
    raw = w.api_client.do("GET", "/api/2.2/jobs/get", query={"job_id": job_id})
    assert len(raw["settings"]["tasks"]) == 100 and raw["has_more"] is True and raw["next_page_token"]
    page2 = w.api_client.do("GET", "/api/2.2/jobs/get", query={"job_id": job_id, "page_token": raw["next_page_token"]})
    assert "job_clusters" not in page2["settings"] and "name" not in page2["settings"]
    listed = w.api_client.do("GET", "/api/2.2/jobs/list", query={"expand_tasks": "true", "limit": 10})["jobs"][0]
    assert len(listed["settings"]["tasks"]) == 100 and listed["has_more"] is True


def test_defaults_come_back_exactly_as_the_service_fills_them(test_ws: EmulatorServer) -> None:
    w = test_ws.client()
    job_id = create(w, name="d", tasks=[
        nb_task("b", depends_on=[{"task_key": "c"}, {"task_key": "a"}],
                new_cluster={"spark_version": "15.4", "num_workers": 1, "apply_policy_default_values": True}),
        nb_task("a"), nb_task("c")])
    raw = w.api_client.do("GET", "/api/2.2/jobs/get", query={"job_id": job_id})
    s = raw["settings"]
    assert s["email_notifications"] == {} and s["webhook_notifications"] == {}
    assert (s["timeout_seconds"], s["max_concurrent_runs"], s["format"]) == (0, 1, "MULTI_TASK")
    assert s["queue"] == {"enabled": True}
    task = next(t for t in s["tasks"] if t["task_key"] == "b")
    assert (task["run_if"], task["timeout_seconds"], task["email_notifications"]) == ("ALL_SUCCESS", 0, {})
    assert (task["webhook_notifications"], task["notification_settings"]) == ({}, {})
    assert task["notebook_task"]["source"] == "WORKSPACE"
    assert [d["task_key"] for d in task["depends_on"]] == ["a", "c"]
    cluster = task["new_cluster"]
    # accepted, never returned; and nothing invented (access mode, disks, cloud blocks vary by workspace)
    assert cluster == {"spark_version": "15.4", "num_workers": 1}
    assert {"job_id", "creator_user_name", "run_as_user_name", "created_time"} <= set(raw)
    assert raw["run_as_owner"] is True
    git_job = create(w, name="g", git_source={"git_url": "https://x/y", "git_provider": "gitHub", "git_branch": "m"},
                     tasks=[nb_task("a", "nb/a")])
    assert w.jobs.get(git_job).settings.tasks[0].notebook_task.source.value == "GIT"


def test_create_reset_update_delete_semantics(test_ws: EmulatorServer) -> None:
    w = test_ws.client()
    job_id = create(w, name="j", tags={"a": "1", "b": "2"}, run_as={"user_name": "owner@example.com"},
                    tasks=[nb_task("x"), nb_task("y")])
    w.api_client.do("POST", "/api/2.2/jobs/update", body={
        "job_id": job_id, "new_settings": {"tasks": [nb_task("y", "/Workspace/dev/new"), nb_task("z")],
                                           "tags": {"c": "3"}}, "fields_to_remove": ["tasks/x"]})
    s = w.api_client.do("GET", "/api/2.2/jobs/get", query={"job_id": job_id})["settings"]
    assert sorted(t["task_key"] for t in s["tasks"]) == ["y", "z"]
    assert next(t for t in s["tasks"] if t["task_key"] == "y")["notebook_task"]["notebook_path"] == "/Workspace/dev/new"
    assert s["tags"] == {"c": "3"}  # tags replaced whole
    w.jobs.reset(job_id, JobSettings.from_dict({"name": "j2", "tasks": [nb_task("only")]}))
    s = w.api_client.do("GET", "/api/2.2/jobs/get", query={"job_id": job_id})["settings"]
    assert s["name"] == "j2" and [t["task_key"] for t in s["tasks"]] == ["only"] and "tags" not in s
    assert s["run_as"] == {"user_name": "owner@example.com"}  # reset without run_as keeps it
    w.jobs.delete(job_id)
    with pytest.raises(NotFound, match=f"Job {job_id} does not exist"):
        w.jobs.get(job_id)


@pytest.mark.parametrize("settings,match", [
    ({"tasks": [nb_task("a"), nb_task("a")]}, "not unique"),
    ({"tasks": [nb_task("a", depends_on=[{"task_key": "nope"}])]}, "depends on"),
    ({"tags": {f"k{i}": "v" for i in range(26)}}, "at most 25 tags"),
    ({"tags": {"k" * 128: "v"}}, "Tag key"),
    ({"tasks": [nb_task(f"t{i}") for i in range(1001)]}, "at most 1000 tasks"),
    ({"tasks": [{"task_key": "a"}]}, "exactly one task type"),
    ({"tasks": [nb_task("a", existing_cluster_id="0000-missing")]}, "does not exist"),
    ({"tasks": [nb_task("a", depends_on=[{"task_key": "b"}]), nb_task("b", depends_on=[{"task_key": "a"}])]}, "cycle"),
])
def test_invalid_settings_are_rejected_with_the_documented_error(test_ws: EmulatorServer, settings: dict,
                                                                 match: str) -> None:
    with pytest.raises(InvalidParameterValue, match=match):
        create(test_ws.client(), name="bad", **settings)
    assert test_ws.workspace.jobs.jobs == {}


def test_auth_errors_map_to_sdk_exceptions() -> None:
    with EmulatorServer("auth", token=TOKEN, readonly_tokens=("dapi-readonly",)) as emu:
        bad = WorkspaceClient(host=emu.url, token="dapi-wrong", auth_type="pat")
        with pytest.raises(Unauthenticated):
            list(bad.jobs.list())
        ro = WorkspaceClient(host=emu.url, token="dapi-readonly", auth_type="pat")
        assert list(ro.jobs.list()) == []
        with pytest.raises(PermissionDenied):
            create(ro, name="x")


def test_throttling_surfaces_as_too_many_requests_when_retries_run_out(test_ws: EmulatorServer) -> None:
    test_ws.faults.add(FaultRule("GET", "/api/2.2/jobs/list", 429, count=None, retry_after=1))
    w = WorkspaceClient(config=Config(host=test_ws.url, token=TOKEN, auth_type="pat", retry_timeout_seconds=1))
    with pytest.raises(TimeoutError) as info:
        list(w.jobs.list())
    assert isinstance(info.value.__cause__, TooManyRequests)


def test_sdk_retries_through_injected_429_and_503(test_ws: EmulatorServer) -> None:
    test_ws.faults.add(FaultRule("GET", "/api/2.2/jobs/list", 429, count=2, retry_after=0))
    test_ws.faults.add(FaultRule("POST", "/api/2.2/jobs/create", 503, count=1))
    w = test_ws.client()
    job_id = create(w, name="after-503")
    assert [j.job_id for j in w.jobs.list()] == [job_id]
    assert test_ws.faults.faults_injected() == 3


def test_a_fault_after_the_handler_leaves_the_job_created(test_ws: EmulatorServer) -> None:
    test_ws.faults.add(FaultRule("POST", "/api/2.2/jobs/create", 500, after=True))
    w = test_ws.client()
    with pytest.raises(InternalError):  # a plain 500 is not retried: the SDK raises at once
        create(w, name="lost")
    assert [j["settings"]["name"] for j in test_ws.workspace.jobs.jobs.values()] == ["lost"]


def test_every_seeded_job_round_trips_through_the_sdk_dataclasses(test_ws: EmulatorServer,
                                                                  prod_ws: EmulatorServer) -> None:
    seed_source(test_ws.client())
    seed_target(prod_ws.client())
    for emu in (test_ws, prod_ws):
        w = emu.client()
        for job in w.api_client.do("GET", "/api/2.2/jobs/list", query={"expand_tasks": "true", "limit": 100})["jobs"]:
            full = w.api_client.do("GET", "/api/2.2/jobs/get", query={"job_id": job["job_id"]})
            assert JobSettings.from_dict(full["settings"]).as_dict() == full["settings"]


def test_compute_permissions_workspace_and_identity(test_ws: EmulatorServer) -> None:
    w = test_ws.client()
    pool = w.instance_pools.create(instance_pool_name="p", node_type_id="n").instance_pool_id
    assert w.instance_pools.get(pool).instance_pool_name == "p"
    policy = w.cluster_policies.create(name="pol", definition="{}").policy_id
    assert [p.name for p in w.cluster_policies.list()] == ["pol"]
    wh = w.api_client.do("POST", "/api/2.0/sql/warehouses", body={"name": "wh", "cluster_size": "Small"})["id"]
    assert w.warehouses.get(wh).name == "wh"
    assert [p.name for p in w.pipelines.list_pipelines()] == []
    w.cluster_policies.delete(policy)
    with pytest.raises(NotFound):
        w.cluster_policies.get(policy)
    job_id = create(w, name="perm")
    test_ws.workspace.add_principals(groups=["data-eng"])
    w.jobs.update_permissions(str(job_id), access_control_list=[
        JobAccessControlRequest(group_name="data-eng", permission_level=JobPermissionLevel.CAN_MANAGE_RUN)])
    acl = w.jobs.get_permissions(str(job_id)).access_control_list
    assert {(a.group_name or a.user_name) for a in acl} == {"data-eng", "bricksync@example.com", "admins"}
    w.workspace.mkdirs("/Workspace/dev/sales")
    w.workspace.import_("/Workspace/dev/sales/ingest", content=base64.b64encode(b"print(1)").decode(),
                        format=ImportFormat.SOURCE, language=Language.PYTHON)
    assert w.workspace.get_status("/dev/sales/ingest").object_type.value == "NOTEBOOK"
    with pytest.raises(NotFound):
        w.workspace.get_status("/Workspace/dev/missing")
    assert w.current_user.me().user_name == "bricksync@example.com"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_emulator_serve_command_with_state_file(tmp_path) -> None:
    port, state = _free_port(), tmp_path / "ws.json"
    cmd = [sys.executable, "-m", "bricksync.cli", "emulator", "serve", "--port", str(port), "--token", TOKEN,
           "--state", str(state), "--latency-ms", "1", "--fault", "GET /api/2.2/jobs/get 404 count=1"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        wait_for_port(port, proc)
        w = WorkspaceClient(host=f"http://127.0.0.1:{port}", token=TOKEN, auth_type="pat")
        job_id = create(w, name="persisted")
        with pytest.raises(NotFound):  # the injected fault
            w.jobs.get(job_id)
        assert w.jobs.get(job_id).settings.name == "persisted"
    finally:
        proc.send_signal(2)
        proc.communicate(timeout=30)  # reads the pipes: a full one cannot hold the server up
    assert json.loads(state.read_text())["jobs"][0]["settings"]["name"] == "persisted"
