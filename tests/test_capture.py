"""capture and import: live prod -> state/ -> commit, proven by a no-op plan (two emulators, real SDK)."""

from __future__ import annotations

import copy
import datetime as dt
import json
from pathlib import Path

import pytest

from bricksync.edges.state import read_adoptions, state_body

from .conftest import Project, make_project


def jobs_by_name(ws) -> dict[str, dict]:
    return {j["settings"]["name"]: j for j in ws.workspace.jobs.jobs.values()}


def update(ws, job_id: int, **new_settings) -> None:
    ws.client().api_client.do("POST", "/api/2.2/jobs/update", body={"job_id": job_id, "new_settings": new_settings})


def ids(ws, kind: str) -> dict[str, str]:
    from bricksync.emulator.workspace import RESOURCES

    _, name_field = RESOURCES[kind]
    return {r[name_field]: ident for ident, r in ws.workspace.resources[kind].items()}


def source_requests(p: Project) -> int:
    return sum(p.test.faults.counts().values())


def hand_edit(ws, *, root: str, cluster: str) -> None:
    """The hand edits of the issue, in one workspace's terms: a notebook path, compute, a schedule, a task."""
    jobs = jobs_by_name(ws)
    etl = jobs["Daily sales ETL"]
    tasks = copy.deepcopy(etl["settings"]["tasks"])
    for t in tasks:
        if t["task_key"] == "transform":
            t["notebook_task"]["notebook_path"] = f"{root}/sales/transform_v2"
    tasks.append({"task_key": "audit", "job_cluster_key": "etl", "depends_on": [{"task_key": "publish"}],
                  "notebook_task": {"notebook_path": f"{root}/sales/audit"}})
    schedule = {**etl["settings"]["schedule"], "quartz_cron_expression": "0 15 3 * * ?"}
    update(ws, etl["job_id"], tasks=tasks, schedule=schedule)
    c360 = jobs["Customer 360 scoring"]
    tasks = copy.deepcopy(c360["settings"]["tasks"])
    for t in tasks:
        if t["task_key"] == "features":
            t["existing_cluster_id"] = ids(ws, "cluster")[cluster]
    update(ws, c360["job_id"], tasks=tasks)
    update(ws, jobs["ML training (git)"]["job_id"], timeout_seconds=3600)  # runs as a mapped principal


def test_capture_round_trip_makes_the_next_plan_a_no_op(applied: Project) -> None:
    p = applied
    before = p.state_files
    hand_edit(p.prod, root="/Workspace/prod", cluster="ml-gpu")
    res = p.run("plan", "--target", "prod", "--detailed-exitcode")
    assert res.code == 2 and "3 to update" in res.output
    res = p.run("drift", "--target", "prod", "--no-source")
    assert "accept `bricksync capture --target prod daily-sales-etl` · revert `bricksync apply --target prod`" \
        in res.output
    p.test.faults.reset_log()
    p.prod.faults.reset_log()
    res = p.run("capture", "--target", "prod")
    assert res.code == 0, res.output
    assert source_requests(p) == 0  # the source workspace is never contacted
    assert not [c for c in p.prod.faults.counts() if not c.startswith("GET ")]  # the target is only read
    repo = p.repo
    assert repo.active_branch.name == f"bricksync/capture-prod-{dt.datetime.now(dt.timezone.utc):%Y-%m-%d}"
    message = repo.head.commit.message
    assert "daily-sales-etl (Daily sales ETL, prod job" in message
    assert "tasks[transform].notebook_task.notebook_path" in message and "schedule.quartz_cron_expression" in message
    assert "tasks[features].existing_cluster_id" in message and "tasks[audit]" in message
    changed = sorted(repo.head.commit.stats.files)
    assert changed == ["state/jobs/customer-360-scoring.yml", "state/jobs/daily-sales-etl.yml",
                       "state/jobs/ml-training-git.yml"]
    after = p.state_files
    assert {k for k in before if before[k] != after[k]} == {"customer-360-scoring.yml", "daily-sales-etl.yml",
                                                            "ml-training-git.yml"}
    ml = after["ml-training-git.yml"].decode()
    assert "service_principal_name: 0f3c7f1e-8f4e-4a3a-b8a1-2d2f5e9c1a10" in ml and "timeout_seconds: 3600" in ml
    etl = after["daily-sales-etl.yml"].decode()
    assert "notebook_path: /Workspace/dev/sales/transform_v2" in etl and "0 15 3 * * ?" in etl
    assert "notebook_path: /Workspace/dev/sales/audit" in etl
    assert "existing_cluster_id: ${cluster:ml-gpu}" in after["customer-360-scoring.yml"].decode()
    assert "bricksync-key" not in etl and "managed-by" not in etl
    res = p.run("plan", "--target", "prod", "--detailed-exitcode")
    assert res.code == 0 and "0 to create, 0 to update, 0 orphans, 5 unchanged" in res.output, res.output
    assert p.run("validate").code == 0
    assert not repo.is_dirty(untracked_files=True)
    # Nothing drifted any more: a second capture writes and commits nothing.
    head = repo.head.commit.hexsha
    res = p.run("capture", "--target", "prod")
    assert res.code == 0 and "Nothing to capture" in res.output and repo.head.commit.hexsha == head


def test_capture_bytes_equal_an_export_of_the_same_settings(applied: Project) -> None:
    p = applied
    hand_edit(p.prod, root="/Workspace/prod", cluster="ml-gpu")
    assert p.run("capture", "--target", "prod", "--push").code == 0
    captured = p.state_files
    branch = p.repo.active_branch.name
    assert p.repo.git.ls_remote("origin", branch)  # --push pushed it
    # The same edits made in the source, exported: the very same bytes (git sees no change).
    hand_edit(p.test, root="/Workspace/dev", cluster="ml-gpu")
    managed = {j["settings"]["name"] for j in p.prod.workspace.jobs.jobs.values()
               if "bricksync-key" in (j["settings"].get("tags") or {})}
    for job in jobs_by_name(p.test).values():
        tags = job["settings"].get("tags") or {}
        if job["settings"]["name"] in managed:
            update(p.test, job["job_id"], tags={**tags, "PROD_MIGRATION": "true"})
    for name, data in captured.items():  # each file says which command wrote it
        if name in ("customer-360-scoring.yml", "daily-sales-etl.yml", "ml-training-git.yml"):
            assert data.startswith(b"# yaml-language-server: $schema=../../schemas/state.schema.json\n"
                                   b"# Managed by bricksync: desired settings of one Databricks job.\n"
                                   b"# Written by `bricksync capture --target prod` from the live job"), name
        else:
            assert b"# Written by `bricksync export`" in data, name
    res = p.run("export", "--no-ack", "--no-commit")
    assert res.code == 0, res.output
    exported = p.state_files
    assert {k: state_body(v) for k, v in exported.items()} == {k: state_body(v) for k, v in captured.items()}
    assert all(b"# Written by `bricksync export`" in v for v in exported.values())  # it wrote them now


def test_capture_of_given_keys_only(applied: Project) -> None:
    p = applied
    hand_edit(p.prod, root="/Workspace/prod", cluster="ml-gpu")
    before = p.state_files
    res = p.run("capture", "--target", "prod", "customer-360-scoring")
    assert res.code == 0, res.output
    after = p.state_files
    assert {k for k in before if before[k] != after[k]} == {"customer-360-scoring.yml"}
    res = p.run("capture", "--target", "prod", "no-such-key")
    assert res.code == 1 and "no state file for this key" in res.output


# --- refusals: each case the inverse cannot express exactly ----------------------------------

def _edit_task(ws, job_name: str, task_key: str, edit) -> None:
    job = jobs_by_name(ws)[job_name]
    tasks = copy.deepcopy(job["settings"]["tasks"])
    for t in tasks:
        if t["task_key"] == task_key:
            edit(t)
    update(ws, job["job_id"], tasks=tasks)


def _refused(p: Project, reason: str, key: str = "daily-sales-etl") -> None:
    before = p.state_files
    head = p.repo.head.commit.hexsha
    res = p.run("capture", "--target", "prod")
    assert res.code == 1, res.output
    assert reason in " ".join(res.output.split()), res.output
    assert f"{key}:" in res.output
    assert p.state_files[f"{key}.yml"] == before[f"{key}.yml"]  # never written approximately
    assert p.repo.head.commit.hexsha == head or key not in p.repo.head.commit.message


def test_refuses_a_path_outside_every_rewrite(applied: Project) -> None:
    _edit_task(applied.prod, "Daily sales ETL", "transform",
               lambda t: t["notebook_task"].update(notebook_path="/Shared/hotfix/transform"))
    _refused(applied, "is outside every path rewrite target")


def test_refuses_a_run_job_of_an_unmanaged_job(applied: Project) -> None:
    p = applied
    adhoc = jobs_by_name(p.prod)["Ad-hoc prod report"]["job_id"]
    _edit_task(p.prod, "Nightly orchestrator", "sales", lambda t: t["run_job_task"].update(job_id=adhoc))
    _refused(p, f"runs job {adhoc}, which bricksync does not manage", key="nightly-orchestrator")


def test_refuses_a_live_value_that_an_override_sets(applied: Project) -> None:
    p = applied
    cfg = (p.root / "config" / "bricksync.yml").read_text()
    p.write_config(cfg.replace("overrides: {}", 'overrides: {"*": {schedule.pause_status: PAUSED}}'))
    assert p.run("apply", "--target", "prod", "--yes").code == 0
    etl = jobs_by_name(p.prod)["Daily sales ETL"]
    update(p.prod, etl["job_id"], schedule={**etl["settings"]["schedule"], "pause_status": "UNPAUSED"})
    _refused(p, "differs from the target's override schedule.pause_status = 'PAUSED'")
    # A drift elsewhere in a job under the override is captured, and keeps the source's own value.
    update(p.prod, etl["job_id"], schedule={**etl["settings"]["schedule"], "pause_status": "PAUSED",
                                            "quartz_cron_expression": "0 0 4 * * ?"})
    assert p.run("capture", "--target", "prod").code == 0
    text = p.state_files["daily-sales-etl.yml"].decode()
    # the source's value (UNPAUSED, the server default: not written), not the override's PAUSED
    assert "0 0 4 * * ?" in text and "pause_status" not in text
    assert p.run("plan", "--target", "prod", "--detailed-exitcode").code == 0


def test_a_star_override_applies_where_plan_applies_it_in_every_command(applied: Project) -> None:
    """Issue 22.1: the README's own `"*": {schedule.pause_status: PAUSED}` skips a job without a
    schedule in plan; capture and import skip it too (they refused every such job)."""
    p = applied
    cfg = (p.root / "config" / "bricksync.yml").read_text()
    p.write_config(cfg.replace("overrides: {}", 'overrides: {"*": {schedule.pause_status: PAUSED}}'))
    assert p.run("apply", "--target", "prod", "--yes").code == 0
    jobs = jobs_by_name(p.prod)
    assert jobs["Daily sales ETL"]["settings"]["schedule"]["pause_status"] == "PAUSED"
    assert "schedule" not in jobs["Customer 360 scoring"]["settings"]
    update(p.prod, jobs["Customer 360 scoring"]["job_id"], timeout_seconds=1800)  # no schedule: drifted
    res = p.run("capture", "--target", "prod")
    assert res.code == 0, res.output
    assert "timeout_seconds: 1800" in p.state_files["customer-360-scoring.yml"].decode()
    scheduled = int(p.prod.client().api_client.do("POST", "/api/2.2/jobs/create", body={
        "name": "Legacy nightly", "schedule": {"quartz_cron_expression": "0 0 1 * * ?", "timezone_id": "UTC",
                                               "pause_status": "PAUSED"},
        "tasks": [{"task_key": "main", "notebook_task": {"notebook_path": "/Workspace/prod/ops/nightly"}}]})["job_id"])
    adhoc = jobs["Ad-hoc prod report"]["job_id"]  # no schedule
    res = p.run("import", "--target", "prod", "--job-id", str(adhoc), "--job-id", str(scheduled))
    assert res.code == 0, res.output
    nightly = p.state_files["legacy-nightly.yml"].decode()
    assert "0 0 1 * * ?" in nightly and "pause_status" not in nightly  # the override's value is not the job's
    assert "schedule" not in p.state_files["ad-hoc-prod-report.yml"].decode()
    assert p.run("apply", "--target", "prod", "--yes").code == 0
    res = p.run("plan", "--target", "prod", "--detailed-exitcode")
    assert res.code == 0, res.output


def test_refuses_through_a_non_injective_compute_map(applied: Project) -> None:
    p = applied
    cfg = (p.root / "config" / "bricksync.yml").read_text()
    p.write_config(cfg.replace("clusters: {dev-shared: prod-shared}", "clusters: {dev-shared: prod-shared, "
                                                                      "old-shared: prod-shared}"))
    _edit_task(p.prod, "Customer 360 scoring", "features", lambda t: t.update(max_retries=1))
    _refused(p, "cluster 'prod-shared' is the mapping of several names (dev-shared, old-shared)",
             key="customer-360-scoring")


def test_refuses_a_literal_secret(applied: Project) -> None:
    _edit_task(applied.prod, "Daily sales ETL", "ingest",
               lambda t: t["notebook_task"]["base_parameters"].update(password="hunter2-literal"))
    _refused(applied, "refusing to write a literal value under a key named like a secret")


def test_refuses_to_overwrite_uncommitted_changes(applied: Project) -> None:
    p = applied
    hand_edit(p.prod, root="/Workspace/prod", cluster="ml-gpu")
    path = p.root / "state" / "jobs" / "daily-sales-etl.yml"
    edited = path.read_bytes() + b"# my unfinished edit\n"
    path.write_bytes(edited)
    res = p.run("capture", "--target", "prod")
    assert res.code == 1 and "has uncommitted changes" in res.output
    assert path.read_bytes() == edited
    assert sorted(p.repo.head.commit.stats.files) == ["state/jobs/customer-360-scoring.yml",
                                                      "state/jobs/ml-training-git.yml"]


# --- import -----------------------------------------------------------------------------------

N_IMPORT = 50


def _imported_jobs(ids_: dict[str, dict[str, str]], root: str, tags: dict[str, str]) -> list[dict]:
    """50 jobs; every job but each fifth runs the one before it (chains of five)."""
    out = []
    for i in range(N_IMPORT):
        tasks = [{"task_key": "main", "existing_cluster_id": ids_["cluster"][("prod-shared" if "prod" in root
                                                                             else "dev-shared")],
                  "notebook_task": {"notebook_path": f"{root}/legacy/job_{i:02d}"}}]
        if i % 5:
            tasks.append({"task_key": "previous", "depends_on": [{"task_key": "main"}],
                          "run_job_task": {"job_id": -1}})
        out.append({"name": f"Legacy job {i:02d}", "tags": {"team": "legacy", **tags}, "max_concurrent_runs": 2,
                    "schedule": {"quartz_cron_expression": f"0 {i} 5 * * ?", "timezone_id": "UTC"},
                    "tasks": tasks})
    return out


def _create_chain(ws, jobs: list[dict]) -> list[int]:
    made: list[int] = []
    for settings in jobs:
        for t in settings["tasks"]:
            if "run_job_task" in t:
                t["run_job_task"]["job_id"] = made[-1]
        made.append(int(ws.client().api_client.do("POST", "/api/2.2/jobs/create", body=settings)["job_id"]))
    return made


def test_import_of_50_unmanaged_jobs_adopts_them_in_place(applied: Project, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    p = applied
    prod_ids = _create_chain(p.prod, _imported_jobs({"cluster": ids(p.prod, "cluster")}, "/Workspace/prod", {}))
    others = {jid: json.dumps(j, sort_keys=True) for jid, j in p.prod.workspace.jobs.jobs.items()
              if int(jid) not in prod_ids}
    count = len(p.prod.workspace.jobs.jobs)
    p.test.faults.reset_log()
    res = p.run("import", "--target", "prod", "--name", "legacy JOB *")
    assert res.code == 0, res.output
    assert source_requests(p) == 0
    assert p.repo.active_branch.name.startswith("bricksync/import-prod-")
    message = p.repo.head.commit.message
    assert f"bricksync import: {N_IMPORT} job(s) imported from prod" in message
    assert f"- legacy-job-07 (Legacy job 07, prod job {prod_ids[7]}, added):\n    max_concurrent_runs\n    name\n" \
        in message
    assert sorted(p.repo.head.commit.stats.files) == sorted(
        ["state/adopt/prod.yml"] + [f"state/jobs/legacy-job-{i:02d}.yml" for i in range(N_IMPORT)])
    files = {k: v for k, v in p.state_files.items() if k.startswith("legacy-job-")}
    assert len(files) == N_IMPORT
    assert "run_job_task: {job_id: ${job:legacy-job-00}}" in files["legacy-job-01.yml"].decode() or \
        "job_id: ${job:legacy-job-00}" in files["legacy-job-01.yml"].decode()
    assert "notebook_path: /Workspace/dev/legacy/job_07" in files["legacy-job-07.yml"].decode()
    assert read_adoptions(p.root / "state", "prod") == {f"legacy-job-{i:02d}": prod_ids[i] for i in range(N_IMPORT)}
    assert p.run("validate").code == 0
    head = p.repo.head.commit.hexsha  # importing again before apply: same keys, nothing new
    res = p.run("import", "--target", "prod", "--name", "legacy JOB *")
    assert res.code == 0 and "Nothing to import" in res.output and p.repo.head.commit.hexsha == head
    res = p.run("plan", "--target", "prod", "--detailed-exitcode")
    assert res.code == 2 and f"0 to create, 0 to update, {N_IMPORT} to adopt, 0 orphans" in res.output, res.output
    assert p.run("apply", "--target", "prod", "--yes").code == 0
    assert len(p.prod.workspace.jobs.jobs) == count  # adopted in place: no job created, none duplicated
    for i, jid in enumerate(prod_ids):
        tags = p.prod.workspace.jobs.jobs[jid]["settings"]["tags"]
        assert tags["bricksync-key"] == f"legacy-job-{i:02d}"
    for jid, text in others.items():  # other jobs (managed and unmanaged) untouched
        assert json.dumps(p.prod.workspace.jobs.jobs[jid], sort_keys=True) == text
    res = p.run("plan", "--target", "prod", "--detailed-exitcode")
    assert res.code == 0 and f"0 to create, 0 to update, 0 orphans, {N_IMPORT + 5} unchanged" in res.output

    # Byte for byte what an export of the same jobs from a source workspace writes (but for the
    # source_job_id line, which only an export knows).
    _create_chain(p.test, _imported_jobs({"cluster": ids(p.test, "cluster")}, "/Workspace/dev",
                                         {"PROD_MIGRATION": "true"}))
    (tmp_path / "other").mkdir()
    other = make_project(tmp_path / "other", p.test, p.prod, monkeypatch)
    res = other.run("export", "--branch", "main", "--no-ack")
    assert res.code == 0, res.output
    exported = {k: v for k, v in other.state_files.items() if k.startswith("legacy-job-")}
    assert len(exported) == N_IMPORT
    for name, data in exported.items():
        without_id = b"".join(line for line in data.splitlines(keepends=True) if b"source_job_id:" not in line)
        assert state_body(without_id) == state_body(files[name]), name
        assert files[name].startswith(b"# yaml-language-server: $schema=../../schemas/state.schema.json\n"
                                      b"# Managed by bricksync: desired settings of one Databricks job.\n"
                                      b"# Written by `bricksync import --target prod` from a job of that target")


def test_import_refuses_a_job_that_runs_an_unimported_job(applied: Project) -> None:
    p = applied
    adhoc = jobs_by_name(p.prod)["Ad-hoc prod report"]["job_id"]
    chain = _imported_jobs({"cluster": ids(p.prod, "cluster")}, "/Workspace/prod", {})[:3]
    made = _create_chain(p.prod, chain)
    res = p.run("import", "--target", "prod", "--job-id", str(made[1]), "--job-id", str(made[2]))
    # job 01 runs job 00, which is not imported; job 02 runs job 01, whose import is refused.
    assert res.code == 1
    text = " ".join(res.output.split())
    assert f"runs job {made[0]}, which bricksync does not manage" in text
    assert "runs legacy-job-01, whose import was refused" in text
    assert not any(k.startswith("legacy-job") for k in p.state_files)
    res = p.run("import", "--target", "prod", "--job-id", str(adhoc), "--dry-run")
    assert res.code == 0 and "would be added" in res.output and "ad-hoc-prod-report.yml" not in p.state_files
    res = p.run("import", "--target", "prod", "--job-id", str(jobs_by_name(p.prod)["Daily sales ETL"]["job_id"]))
    assert res.code == 1 and "is already managed (key daily-sales-etl): use capture" in res.output
    res = p.run("import", "--target", "prod")  # no selection: a usage error (exit 1, as every error)
    assert res.code == 1 and "give exactly one of --all, --name PATTERN, --job-id ID" in res.output


def test_import_refuses_a_job_a_pending_state_file_would_duplicate(applied: Project) -> None:
    p = applied
    adhoc = jobs_by_name(p.prod)["Ad-hoc prod report"]["job_id"]
    pending = p.root / "state" / "jobs" / "adhoc.yml"
    pending.write_text("bricksync: {key: adhoc}\njob: {name: Ad-hoc prod report}\n")
    p.repo.git.add(str(pending))
    p.repo.git.commit("-m", "a state file not applied yet")
    res = p.run("import", "--target", "prod", "--job-id", str(adhoc))
    assert res.code == 1 and "(not applied yet) has the same name" in " ".join(res.output.split())
    assert "ad-hoc-prod-report.yml" not in p.state_files
    assert not (p.root / "state" / "adopt").exists()


# --- permissions (issue 11's `permissions:` through the inverse principal mapping) -------------

def test_capture_and_import_carry_permissions_through_the_inverse_mapping(tmp_path: Path, test_ws, prod_ws,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    from .test_permissions import PERMS, config, direct, prod_id, source_job

    p = make_project(tmp_path, test_ws, prod_ws, monkeypatch, config(prod_ws.url))
    test_ws.workspace.add_principals(users=["alice@example.com", "bob@example.com", "carol@example.com"],
                                     groups=["data-eng"])
    prod_ws.workspace.add_principals(users=["alice.prod@example.com", "bob@example.com", "carol@example.com"],
                                     groups=["data-eng-prod", "ops"])
    acl = [{"user_name": "alice@example.com", "permission_level": "IS_OWNER"},
           {"group_name": "data-eng", "permission_level": "CAN_VIEW"},
           {"user_name": "bricksync@example.com", "permission_level": "CAN_MANAGE"}]
    src_id = source_job(p, "Perm job", acl)
    assert p.run("export", "--branch", "main").code == 0
    assert p.run("apply", "--target", "prod", "--yes").code == 0
    job_id = prod_id(p, "perm-job")
    # Hand edits in prod: a mapped group raised, a user with no source counterpart added.
    p.prod.client().api_client.do("PATCH", f"{PERMS}/{job_id}", body={"access_control_list": [
        {"group_name": "data-eng-prod", "permission_level": "CAN_MANAGE_RUN"},
        {"user_name": "carol@example.com", "permission_level": "CAN_VIEW"}]})
    assert p.run("plan", "--target", "prod", "--detailed-exitcode", "--refresh-permissions").code == 2
    p.test.faults.reset_log()
    res = p.run("capture", "--target", "prod")
    assert res.code == 0, res.output
    assert source_requests(p) == 0
    text = p.state_files["perm-job.yml"].decode()
    assert "- user_name: alice@example.com\n  level: IS_OWNER\n" in text  # mapped back
    assert "- group_name: data-eng\n  level: CAN_MANAGE_RUN\n" in text and "carol@example.com\n  level: CAN_VIEW" in text
    assert "ops" not in text  # what permissions_add grants every job is not the job's own
    assert "permissions" in p.repo.head.commit.message
    res = p.run("plan", "--target", "prod", "--detailed-exitcode", "--refresh-permissions")
    assert res.code == 0, res.output
    # The same grants made in the source export to the very same bytes (but for the header naming export).
    captured = p.state_files
    w = p.test.client()
    w.api_client.do("PATCH", f"{PERMS}/{src_id}", body={"access_control_list": [
        {"group_name": "data-eng", "permission_level": "CAN_MANAGE_RUN"},
        {"user_name": "carol@example.com", "permission_level": "CAN_VIEW"}]})
    w.api_client.do("POST", "/api/2.2/jobs/update", body={"job_id": src_id, "new_settings": {
        "tags": {"PROD_MIGRATION": "true"}}})
    assert p.run("export", "--no-ack", "--no-commit").code == 0
    exported = p.state_files
    assert {k: state_body(v) for k, v in exported.items()} == {k: state_body(v) for k, v in captured.items()}
    # A grant below what permissions_add gives every job cannot come from any state file: refused.
    p.prod.client().api_client.do("PATCH", f"{PERMS}/{job_id}", body={"access_control_list": [
        {"group_name": "ops", "permission_level": "CAN_VIEW"}]})
    res = p.run("capture", "--target", "prod")
    assert res.code == 1 and "below the CAN_MANAGE_RUN that targets.prod.permissions_add grants" in \
        " ".join(res.output.split()), res.output
    assert p.state_files == exported
    # Import: an unmanaged prod job's grants come back in source names; adopted, the plan is a no-op.
    made = int(p.prod.client().api_client.do("POST", "/api/2.2/jobs/create", body={
        "name": "Legacy perms", "tasks": [{"task_key": "t", "notebook_task": {
            "notebook_path": "/Workspace/prod/x"}}]})["job_id"])
    p.prod.client().api_client.do("PUT", f"{PERMS}/{made}", body={"access_control_list": [
        {"user_name": "alice.prod@example.com", "permission_level": "IS_OWNER"},
        {"user_name": "bricksync@example.com", "permission_level": "CAN_MANAGE"},
        {"group_name": "ops", "permission_level": "CAN_MANAGE_RUN"}]})
    res = p.run("import", "--target", "prod", "--job-id", str(made))
    assert res.code == 0, res.output
    text = p.state_files["legacy-perms.yml"].decode()
    assert "permissions:\n- user_name: alice@example.com\n  level: IS_OWNER\n- user_name: bricksync@example.com\n" \
           "  level: CAN_MANAGE\njob:" in text
    # the ops grant by hand above still differs for perm-job: restore it, then apply adopts the import.
    p.prod.client().api_client.do("PATCH", f"{PERMS}/{job_id}", body={"access_control_list": [
        {"group_name": "ops", "permission_level": "CAN_MANAGE_RUN"}]})
    assert p.run("apply", "--target", "prod", "--yes", "--refresh-permissions").code == 0
    assert direct(p.prod, made)["user_name:alice.prod@example.com"] == "IS_OWNER"
    res = p.run("plan", "--target", "prod", "--detailed-exitcode", "--refresh-permissions")
    assert res.code == 0 and "0 to create, 0 to update" in res.output, res.output


def test_assign_keys_claims_an_imported_key_once() -> None:
    from bricksync.core.keys import assign_keys

    jobs = [(7, "Legacy report"), (8, "Other")]
    assert assign_keys(jobs, {}, {"legacy-report"}) == {7: "legacy-report-7", 8: "other"}  # owned: suffixed
    assert assign_keys(jobs, {}, {"legacy-report"}, {"legacy-report"}) == {7: "legacy-report", 8: "other"}
    two = [(7, "Legacy report"), (9, "legacy-report")]  # two new jobs, one slug: neither may take it
    assert assign_keys(two, {}, {"legacy-report"}, {"legacy-report"}) == {7: "legacy-report-7",
                                                                            9: "legacy-report-9"}


def test_export_of_a_source_job_named_like_an_imported_one_updates_it_in_place(applied: Project) -> None:
    """Import takes an unmanaged prod job under management; later the same job is tagged in the
    test workspace and exported: it takes over the imported key (no second key, no second prod job)."""
    p = applied
    prod_cluster, test_cluster = ids(p.prod, "cluster")["prod-shared"], ids(p.test, "cluster")["dev-shared"]
    body = {"name": "Legacy report", "max_concurrent_runs": 2,
            "tasks": [{"task_key": "main", "existing_cluster_id": prod_cluster,
                       "notebook_task": {"notebook_path": "/Workspace/prod/legacy/report"}}]}
    prod_id = int(p.prod.client().api_client.do("POST", "/api/2.2/jobs/create", body=body)["job_id"])
    assert p.run("import", "--target", "prod", "--job-id", str(prod_id)).code == 0
    assert p.run("apply", "--target", "prod", "--yes").code == 0
    count = len(p.prod.workspace.jobs.jobs)
    source = {**body, "max_concurrent_runs": 3, "tags": {"PROD_MIGRATION": "true"},
              "tasks": [{**body["tasks"][0], "existing_cluster_id": test_cluster,
                         "notebook_task": {"notebook_path": "/Workspace/dev/legacy/report"}}]}
    source_id = int(p.test.client().api_client.do("POST", "/api/2.2/jobs/create", body=source)["job_id"])
    res = p.run("export", "--branch", "main")
    assert res.code == 0, res.output
    assert not [f for f in p.state_files if f.startswith("legacy-report-")], sorted(p.state_files)
    text = p.state_files["legacy-report.yml"].decode()
    assert f"source_job_id: {source_id}" in text and "max_concurrent_runs: 3" in text
    res = p.run("plan", "--target", "prod", "--detailed-exitcode")
    assert res.code == 2 and "0 to create, 1 to update" in res.output, res.output
    assert p.run("apply", "--target", "prod", "--yes").code == 0
    assert len(p.prod.workspace.jobs.jobs) == count  # updated in place, never duplicated
    assert p.prod.workspace.jobs.jobs[prod_id]["settings"]["max_concurrent_runs"] == 3
