"""export: emulator + real SDK + a real git repository with a bare remote."""

from __future__ import annotations

import logging
import os
import re
import stat
import subprocess
from pathlib import Path

import git
import pytest

from bricksync.emulator.seed import create_compute, seed_source, seed_target

from .conftest import Project


def tags_of(project: Project) -> dict[str, dict]:
    return {j["settings"]["name"]: dict(j["settings"].get("tags", {}))
            for j in project.test.workspace.jobs.jobs.values()}


def snapshot(project: Project) -> tuple:
    repo = project.repo
    return (repo.head.commit.hexsha, sorted(h.name for h in repo.heads), project.state_files,
            repr(sorted(project.test.workspace.jobs.jobs.items())), repo.git.status("--porcelain"))


def add_job(project: Project, **settings) -> int:
    w = project.test.client()
    return int(w.api_client.do("POST", "/api/2.2/jobs/create", body=settings)["job_id"])



def create_fillers(w, count: int = 100) -> None:
    """`count` tagged jobs that reference nothing (a page of them renders before the next page)."""
    for i in range(count):
        w.api_client.do("POST", "/api/2.2/jobs/create", body={
            "name": f"Filler {i:03d}", "tags": {"PROD_MIGRATION": "true"},
            "tasks": [{"task_key": "t", "notebook_task": {"notebook_path": "/Workspace/dev/nb"}}]})


def render_early(project: Project, monkeypatch: pytest.MonkeyPatch, *, keep: bool = True,
                 latency_ms: int | None = 40) -> None:
    """Worker processes forced and one-job batches, so jobs render (and stage) while pages arrive;
    `keep`: no permission reads (a job is ready as soon as read); latency: state/'s index is in
    before the first page."""
    import bricksync.commands.export_read as export_read

    monkeypatch.setattr(export_read, "EARLY_BATCH", 1)
    monkeypatch.setenv("BRICKSYNC_STATE_WORKERS", "2")
    if keep:
        monkeypatch.setenv("BRICKSYNC_SOURCE_PERMISSIONS", "keep")
    if latency_ms is not None:
        project.test.latency_ms = latency_ms

def test_export_selects_tagged_jobs_resolves_ids_commits_and_acknowledges(project: Project) -> None:
    seed_source(project.test.client())
    res = project.run("export", "--push", "--branch", "export-1")
    assert res.code == 0, res.output
    files = project.state_files
    assert set(files) == {"daily-sales-etl.yml", "customer-360-scoring.yml", "finance-sql-reporting.yml",
                          "ml-training-git.yml", "nightly-orchestrator.yml"}  # "True" selects; untagged/false do not
    etl = files["daily-sales-etl.yml"].decode()
    for expected in ("instance_pool_id: ${pool:dev-pool}", "driver_instance_pool_id: ${pool:driver-pool}",
                     "policy_id: ${policy:job-policy}", "notebook_path: /Workspace/dev/sales/ingest",
                     "source_job_id: 1001"):
        assert expected in etl
    assert "PROD_MIGRATION" not in etl and "max_concurrent_runs" not in etl and "run_if" not in etl
    c360 = files["customer-360-scoring.yml"].decode()
    assert "existing_cluster_id: ${cluster:dev-shared}" in c360 and "${cluster:ml-gpu}" in c360
    sql = files["finance-sql-reporting.yml"].decode()
    assert sql.count("warehouse_id: ${warehouse:dev-sql}") == 2
    orch = files["nightly-orchestrator.yml"].decode()
    for expected in ("job_id: ${job:daily-sales-etl}", "job_id: ${job:customer-360-scoring}",
                     "pipeline_id: ${pipeline:sales-dlt}", "existing_cluster_id: ${cluster:dev-shared}"):
        assert expected in orch  # also inside for_each_task
    repo = project.repo
    assert repo.active_branch.name == "export-1"
    assert "5 added, 0 changed" in repo.head.commit.message and "daily-sales-etl" in repo.head.commit.message
    assert repo.git.ls_remote(str(project.remote), "export-1")  # pushed
    tags = tags_of(project)
    assert tags["Daily sales ETL"] == {"PROD_MIGRATION": "false", "team": "sales", "cost-center": "cc-4711"}
    assert tags["Finance SQL reporting"]["PROD_MIGRATION"] == "false"
    assert tags["Scratch experiment"] == {"owner": "alice"}


def test_second_export_changes_no_byte_and_makes_no_commit(project: Project) -> None:
    seed_source(project.test.client())
    assert project.run("export", "--no-ack").code == 0
    before = (project.repo.head.commit.hexsha, project.state_files)
    res = project.run("export", "--no-ack")
    assert res.code == 0 and "Nothing new to commit" in res.output
    assert (project.repo.head.commit.hexsha, project.state_files) == before
    umask = os.umask(0)
    os.umask(umask)
    for path in (project.root / "state" / "jobs").glob("*.yml"):  # readable like any file the user writes
        assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask


def test_renamed_job_keeps_its_key_and_file(project: Project) -> None:
    ids = seed_source(project.test.client())
    assert project.run("export", "--no-ack").code == 0
    w = project.test.client()
    w.api_client.do("POST", "/api/2.2/jobs/update", body={"job_id": ids["Daily sales ETL"],
                                                          "new_settings": {"name": "Daily sales ETL v2"}})
    assert project.run("export", "--no-ack").code == 0
    text = project.state_files["daily-sales-etl.yml"].decode()
    assert "name: Daily sales ETL v2" in text and "daily-sales-etl-v2.yml" not in project.state_files
    assert "1 changed" in project.repo.head.commit.message


def test_slug_collisions_resolve_deterministically(project: Project) -> None:
    ids = create_compute(project.test.client(), {"cluster": ["c"]})["cluster"]
    a = add_job(project, name="Sales!", tags={"PROD_MIGRATION": "TRUE"},
                tasks=[{"task_key": "t", "existing_cluster_id": ids["c"], "notebook_task": {"notebook_path": "/dev/a"}}])
    b = add_job(project, name="sales", tags={"PROD_MIGRATION": "true"},
                tasks=[{"task_key": "t", "existing_cluster_id": ids["c"], "notebook_task": {"notebook_path": "/dev/b"}}])
    assert project.run("export", "--no-ack").code == 0
    assert set(project.state_files) == {f"sales-{a}.yml", f"sales-{b}.yml"}


def test_path_outside_the_root_rejects_that_job_only(project: Project) -> None:
    seed_source(project.test.client())
    add_job(project, name="Sneaky", tags={"PROD_MIGRATION": "true"}, tasks=[
        {"task_key": "ok", "notebook_task": {"notebook_path": "/Workspace/dev/fine"}},
        {"task_key": "bad", "notebook_task": {"notebook_path": "/Workspace/dev/../Users/alice/scratch"}}])
    res = project.run("export", "--no-ack")
    assert res.code == 1
    assert "Sneaky" in res.output and "tasks[bad].notebook_task.notebook_path" in res.output
    assert "outside the notebook root" in res.output
    assert "sneaky.yml" not in project.state_files and "daily-sales-etl.yml" in project.state_files


@pytest.mark.parametrize("problem", ["missing", "ambiguous"])
def test_unresolvable_or_ambiguous_ids_are_errors_naming_job_and_task(project: Project, problem: str) -> None:
    w = project.test.client()
    ids = create_compute(w, {"cluster": ["shared"], "warehouse": ["wh"]})
    if problem == "ambiguous":
        create_compute(w, {"warehouse": ["wh"]})
    wid = ids["warehouse"]["wh"]
    add_job(project, name="Reporting", tags={"PROD_MIGRATION": "true"}, tasks=[
        {"task_key": "q", "sql_task": {"warehouse_id": ids["warehouse"]["wh"], "query": {"query_id": "1"}}}])
    if problem == "missing":  # the service checks IDs on create, so the warehouse goes afterwards
        w.api_client.do("DELETE", f"/api/2.0/sql/warehouses/{wid}")
    res = project.run("export", "--no-ack")
    assert res.code == 1
    assert "Reporting" in res.output and "tasks[q].sql_task.warehouse_id" in res.output
    assert ("does not exist" in res.output) if problem == "missing" else ("shared by several" in res.output)
    assert wid[:6] in res.output
    assert project.state_files == {}


def test_run_job_task_target_must_be_exported_or_in_state(project: Project) -> None:
    other = add_job(project, name="Untagged target", tasks=[{"task_key": "t", "notebook_task": {"notebook_path": "/dev/x"}}])
    add_job(project, name="Caller", tags={"PROD_MIGRATION": "true"},
            tasks=[{"task_key": "call", "run_job_task": {"job_id": other}}])
    res = project.run("export", "--no-ack")
    assert res.code == 1 and "tasks[call].run_job_task.job_id" in res.output and "tag it too" in res.output


def test_a_150_task_job_is_exported_whole(project: Project) -> None:
    add_job(project, name="Wide", tags={"PROD_MIGRATION": "true"}, tasks=[
        {"task_key": f"t{i:03d}", "notebook_task": {"notebook_path": f"/Workspace/dev/w/{i}"}} for i in range(150)])
    assert project.run("export", "--no-ack").code == 0
    text = project.state_files["wide.yml"].decode()
    assert text.count("- task_key: t") == 150 and "t149" in text


def test_tag_flips_only_after_commit_and_stays_when_push_is_refused(project: Project) -> None:
    seed_source(project.test.client())
    hook = project.remote / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\necho refusing >&2\nexit 1\n")
    hook.chmod(0o755)
    res = project.run("export", "--push")
    assert res.code == 1 and "push" in res.output
    assert project.repo.head.commit.message.startswith("bricksync export")  # committed locally
    assert tags_of(project)["Daily sales ETL"]["PROD_MIGRATION"] == "true"  # not acknowledged
    hook.unlink()
    res = project.run("export", "--push")  # the re-run finishes the job without a second commit
    assert res.code == 0, res.output
    assert "Nothing new to commit" in res.output
    assert tags_of(project)["Daily sales ETL"] == {"PROD_MIGRATION": "false", "team": "sales",
                                                   "cost-center": "cc-4711"}


def test_no_commit_writes_files_but_never_acknowledges(project: Project) -> None:
    seed_source(project.test.client())
    res = project.run("export", "--no-commit")
    assert res.code == 0 and "daily-sales-etl.yml" in project.state_files
    assert tags_of(project)["Daily sales ETL"]["PROD_MIGRATION"] == "true"
    assert project.repo.active_branch.name == "main"


def test_dry_run_changes_nothing(project: Project) -> None:
    seed_source(project.test.client())
    before = snapshot(project)
    res = project.run("export", "--dry-run", "--push")
    assert res.code == 0 and "would be added" in res.output and "Would acknowledge" in res.output
    assert snapshot(project) == before


def test_other_uncommitted_work_is_left_alone(project: Project) -> None:
    seed_source(project.test.client())
    (project.root / "notes.txt").write_text("mine")
    (project.root / "config" / "bricksync.yml").open("a").write("# local tweak\n")
    subprocess.run(["git", "add", "notes.txt"], cwd=project.root, check=True)
    assert project.run("export", "--no-ack").code == 0
    changed = project.repo.head.commit.stats.files
    assert all(path.startswith("state/jobs/") for path in changed)
    status = project.repo.git.status("--porcelain")
    assert "A  notes.txt" in status and " M config/bricksync.yml" in status


def test_a_large_export_lists_changes_first_and_counts_the_rest(project: Project) -> None:
    for i in range(60):
        add_job(project, name=f"job {i:02d}", tags={"PROD_MIGRATION": "true"},
                tasks=[{"task_key": "t", "notebook_task": {"notebook_path": f"/Workspace/dev/j/{i}"}}])
    assert project.run("export", "--no-ack").code == 0
    add_job(project, name="job 60", tags={"PROD_MIGRATION": "true"},
            tasks=[{"task_key": "t", "notebook_task": {"notebook_path": "/Workspace/dev/j/60"}}])
    res = project.run("export", "--no-ack")
    assert res.code == 0, res.output
    assert re.search(r"added\s+job-60", res.output)  # the change is listed ...
    assert "60 more unchanged" in res.output and not re.search(r"unchanged\s+job-00", res.output)  # ... the rest counted
    assert len(project.state_files) == 61


def test_a_job_edited_while_exporting_is_not_acknowledged_and_keeps_its_new_tag(
        project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    """Someone edits a tagged job after export read it but before the ack: its change is not in
    the commit, so the tag stays true (the next export takes it) and no tag added meanwhile is lost."""
    import bricksync.commands.export as export

    ids = seed_source(project.test.client())
    etl = ids["Daily sales ETL"]
    read = export.build_export

    def read_then_someone_edits(*args, **kwargs):
        result = read(*args, **kwargs)
        w = project.test.client()
        tags = w.api_client.do("GET", "/api/2.2/jobs/get", query={"job_id": etl})["settings"]["tags"]
        w.api_client.do("POST", "/api/2.2/jobs/update", body={"job_id": etl, "new_settings": {
            "tags": {**tags, "reviewed": "yes"}}})
        return result

    monkeypatch.setattr(export, "build_export", read_then_someone_edits)
    res = project.run("export", "--branch", "main")
    assert res.code == 0, res.output
    assert "changed in the source since they were read" in res.output and "daily-sales-etl" in res.output
    tags = tags_of(project)
    assert tags["Daily sales ETL"]["PROD_MIGRATION"] == "true" and tags["Daily sales ETL"]["reviewed"] == "yes"
    assert tags["Finance SQL reporting"]["PROD_MIGRATION"] == "false"  # the others are acknowledged
    monkeypatch.setattr(export, "build_export", read)
    res = project.run("export", "--branch", "main")  # the next export takes the edit and acknowledges it
    assert res.code == 0 and "reviewed: 'yes'" in project.state_files["daily-sales-etl.yml"].decode()
    assert tags_of(project)["Daily sales ETL"] == {"PROD_MIGRATION": "false", "team": "sales",
                                                   "cost-center": "cc-4711", "reviewed": "yes"}


def test_worker_processes_write_the_same_files_and_reject_the_same_jobs(
        project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    """A big export renders and checks its state files in worker processes, sending batches while
    later pages still arrive (issue 15). Forced here on the sample jobs with one-job batches: the
    files, the rejections and the output are those of one process rendering everything at the end,
    including two new jobs named alike on different pages (the first was sent under the key the
    second then made ambiguous, and is rendered again)."""
    import bricksync.commands.export_read as export_read

    w = project.test.client()
    seed_source(w)

    def create(name: str, path: str = "/Workspace/dev/nb") -> None:
        w.api_client.do("POST", "/api/2.2/jobs/create", body={
            "name": name, "tags": {"PROD_MIGRATION": "true"},
            "tasks": [{"task_key": "t", "notebook_task": {"notebook_path": path}}]})

    create("Outside", "/Users/someone/nb")  # rejected: outside the notebook root
    create("Twin")
    for i in range(100):  # a page of other jobs between the twins
        create(f"Filler {i:03d}")
    create("Twin")
    monkeypatch.setattr(export_read, "EARLY_BATCH", 1)
    monkeypatch.setenv("BRICKSYNC_SOURCE_PERMISSIONS", "keep")  # ready as soon as read ...
    project.test.latency_ms = 40  # ... and state/'s index is in before the first page
    monkeypatch.setattr(logging.getLogger("bricksync.export"), "level", logging.DEBUG)  # its counts below
    runs, sent = {}, []
    for workers in ("0", "2"):
        monkeypatch.setenv("BRICKSYNC_STATE_WORKERS", workers)
        for path in (project.root / "state" / "jobs").glob("*.yml"):
            path.unlink()
        res = project.run("export", "--no-commit")
        assert res.code == 1 and "Outside" in res.output and "outside the notebook root" in res.output, res.output
        sent += re.findall(r"export: \d+ jobs sent to render while pages arrived, \d+ of them again", res.output)
        runs[workers] = (project.state_files, re.sub(r"(?m)^DEBUG .*\n", "", res.output))  # (timings)
    assert runs["0"] == runs["2"]
    files = runs["2"][0]
    assert len(files) >= 105 and "${job:" in "".join(t.decode() for t in files.values())
    assert "twin.yml" not in files and len([f for f in files if f.startswith("twin-")]) == 2
    assert sent[0].startswith("export: 0 jobs")  # one process: all at the end
    assert re.match(r"export: 10\d jobs sent .*, 2 of them again", sent[1])  # the twins, sent under "twin"


def test_staging_left_by_a_crash_is_cleared_and_a_link_there_is_not_followed(
        project: Project, monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Export's workers write changed texts into state/.bricksync-staging while pages arrive and
    renames put them in place. What a killed export left there is removed, never followed; the
    folder is gone after a run; a state file naming a key with a path in it is never staged."""

    w = project.test.client()
    seed_source(w)
    outside = tmp_path_factory.mktemp("outside")
    (outside / "keep.txt").write_text("not bricksync's")
    staging = project.root / "state" / ".bricksync-staging"
    staging.symlink_to(outside, target_is_directory=True)
    etl = next(j for j in w.jobs.list() if j.settings.name == "Daily sales ETL")
    evil = project.root / "state" / "jobs" / "evil.yml"  # claims the ETL job under a key with a path in it
    evil.write_text(f"bricksync:\n  key: ../../../escaped\n  source_job_id: {etl.job_id}\njob:\n  name: x\n")
    create_fillers(w)  # page 1: rendered (and staged) while page 2 arrives
    render_early(project, monkeypatch)
    from bricksync.edges.state import StateStore

    moved: list[str] = []
    move_in = StateStore.move_in
    monkeypatch.setattr(StateStore, "move_in",
                        lambda self, key, staged, text: moved.append(key) or move_in(self, key, staged, text))
    res = project.run("export", "--no-commit")
    assert res.code == 1 and "Daily sales ETL" in res.output and "key '../../../escaped'" in res.output, res.output
    assert "filler-000" in moved and (project.root / "state" / "jobs" / "filler-000.yml").is_file()  # staged, renamed
    assert (outside / "keep.txt").read_text() == "not bricksync's" and os.listdir(outside) == ["keep.txt"]
    assert not os.path.lexists(staging)
    assert not [p for p in project.root.parent.rglob("escaped*")]
    assert "customer-360-scoring.yml" in project.state_files  # the others are exported


def test_a_big_commit_packs_its_blobs_and_commits_exactly_its_files(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Export commits of many files let git write their blobs into one pack (bulk check-in),
    not one loose object file each; the commit still holds exactly those files, other staged
    work stays staged, and git finds the repository sound."""
    from bricksync.edges.state import BULK_CHECKIN_FROM, GitRepo

    repo = tmp_path / "repo"
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@x", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@x"}

    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=repo, env=env, check=True, capture_output=True, text=True).stdout

    repo.mkdir()
    git("init", "-q", "-b", "main")
    git("commit", "-q", "--allow-empty", "-m", "init")
    (repo / "other.txt").write_text("staged, not ours\n")
    git("add", "other.txt")
    jobs = repo / "state" / "jobs"
    jobs.mkdir(parents=True)
    paths = []
    for i in range(BULK_CHECKIN_FROM + 5):
        path = jobs / f"job-{i:04d}.yml"
        path.write_text(f"bricksync:\n  key: job-{i:04d}\njob:\n  name: job {i}\n")
        paths.append(path)
    for name, value in env.items():
        if name.startswith("GIT_"):
            monkeypatch.setenv(name, value)
    GitRepo(repo).commit(paths, "bricksync export: many\n")
    assert git("show", "--name-only", "--format=", "HEAD").split() == [f"state/jobs/{p.name}" for p in paths]
    assert git("status", "--porcelain").strip() == "A  other.txt"
    counts = dict(line.split(": ") for line in git("count-objects", "-v").splitlines())  # loose: init, trees, commit
    assert int(counts["in-pack"]) >= len(paths) and int(counts["count"]) < 10
    git("fsck", "--strict")
    assert git("show", "HEAD:state/jobs/job-0007.yml") == "bricksync:\n  key: job-0007\njob:\n  name: job 7\n"


def test_a_staged_text_is_never_taken_for_another_job_sent_early_under_the_same_key(
        project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    """Jobs sent to render early get their keys from their own batch: two batches can name the
    same key for different jobs (twins "Foo" on one page -> foo-<id>; a later page's job named
    "foo-<id>" -> the same key). The one whose key stays must get its own text, never the other's
    staged file (found in review: the later write won and was renamed into place)."""
    import bricksync.commands.export_read as export_read

    w = project.test.client()

    def create(name: str) -> int:
        return int(w.api_client.do("POST", "/api/2.2/jobs/create", body={
            "name": name, "tags": {"PROD_MIGRATION": "true"},
            "tasks": [{"task_key": "t", "notebook_task": {"notebook_path": "/Workspace/dev/nb"}}]})["job_id"])

    for i in range(100):  # page 1: state/'s index is in before page 2
        create(f"Filler {i:03d}")
    create("Foo")
    twin = create("Foo")
    for i in range(98):  # page 2 ends here: the twins go in one batch, as foo-<id> each
        create(f"Middle {i:03d}")
    squatter = create(f"foo-{twin}")  # page 3: its own batch, also under foo-<twin>
    monkeypatch.setattr(export_read, "EARLY_BATCH", 1)
    monkeypatch.setenv("BRICKSYNC_STATE_WORKERS", "2")
    monkeypatch.setenv("BRICKSYNC_SOURCE_PERMISSIONS", "keep")
    project.test.latency_ms = 40
    res = project.run("export", "--no-commit")
    assert res.code == 0, res.output
    files = project.state_files
    assert f"source_job_id: {twin}\n" in files[f"foo-{twin}.yml"].decode()
    assert f"source_job_id: {squatter}\n" in files[f"foo-{twin}-{squatter}.yml"].decode()
    ids = re.findall(r"source_job_id: (\d+)", "".join(t.decode() for t in files.values()))
    assert len(ids) == len(set(ids)) == 201


@pytest.mark.parametrize("fault", ["listing", "page"])
def test_a_failure_while_jobs_render_early_writes_commits_and_acknowledges_nothing(
        project: Project, monkeypatch: pytest.MonkeyPatch, fault: str) -> None:
    """Worker processes stage texts while pages arrive; a listing refused mid-way (403) or a page
    that fails ends the export with a clear error and nothing written, staged, committed or
    acknowledged."""
    import bricksync.commands.export_read as export_read
    from bricksync.emulator.faults import FaultRule

    w = project.test.client()
    create_fillers(w, 150)  # page 1 renders early (staged) before page 2 and the listing's answer
    seed_source(w)  # page 2: jobs that reference warehouses
    monkeypatch.setattr(export_read, "EARLY_BATCH", 1)
    monkeypatch.setenv("BRICKSYNC_STATE_WORKERS", "2")
    project.test.latency_ms = 40
    if fault == "listing":
        project.test.faults.add(FaultRule("GET", "/api/2.0/sql/warehouses", 403, count=None))
    else:
        project.test.faults.add(FaultRule("GET", "/api/2.2/jobs/list", 403, count=None, skip=1))
    before = snapshot(project)
    res = project.run("export")
    assert res.code != 0 and "Traceback" not in res.output, res.output
    what = "list SQL warehouses" if fault == "listing" else "list jobs in the"
    assert what in res.output and "PERMISSION_DENIED" in res.output, res.output  # what failed, and why
    assert snapshot(project) == before
    assert not os.path.lexists(project.root / "state" / ".bricksync-staging")


def test_a_permission_read_that_fails_rejects_that_job_alone(project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    """source.permissions: read, worker processes rendering early: one job's ACL read refused
    -> that job is rejected (named, field permissions), its file untouched, its tag left; the others
    are exported and acknowledged."""
    import bricksync.commands.export_read as export_read
    from bricksync.emulator.faults import FaultRule

    w = project.test.client()
    seed_source(w)
    etl = next(j for j in w.jobs.list() if j.settings.name == "Daily sales ETL")
    monkeypatch.setattr(export_read, "EARLY_BATCH", 1)
    monkeypatch.setenv("BRICKSYNC_STATE_WORKERS", "2")
    project.test.faults.add(FaultRule("GET", f"/api/2.0/permissions/jobs/{etl.job_id}", 403, count=None))
    res = project.run("export", "--branch", "main")
    assert res.code == 1, res.output
    assert "Daily sales ETL" in res.output and "permissions" in res.output, res.output
    files = project.state_files
    assert "daily-sales-etl.yml" not in files and "customer-360-scoring.yml" in files
    tags = tags_of(project)
    assert tags["Daily sales ETL"]["PROD_MIGRATION"] != "false"
    assert tags["Customer 360 scoring"]["PROD_MIGRATION"] == "false"
    assert not os.path.lexists(project.root / "state" / ".bricksync-staging")
    assert project.repo.git.status("--porcelain") == ""


@pytest.mark.parametrize("planted", ["hard link", "symlink", "file"])
def test_a_staged_text_never_goes_through_an_entry_already_there(tmp_path, planted: str) -> None:
    """stage_file replaces whatever its name holds (a job listed twice across pages, or an entry
    planted in the staging folder): a hard link to a file elsewhere is not truncated nor written,
    a link not followed."""
    from bricksync.edges.state import stage_file

    staging, outside = tmp_path / "staging", tmp_path / "outside.txt"
    staging.mkdir()
    outside.write_text("not bricksync's")
    entry = staging / "42.yml"
    if planted == "hard link":
        os.link(outside, entry)
    elif planted == "symlink":
        entry.symlink_to(outside)
    else:
        entry.write_text("an older text")
    stage_file(str(staging), 42, "the text\n")
    assert outside.read_text() == "not bricksync's"
    assert not entry.is_symlink() and entry.read_text() == "the text\n" and os.stat(entry).st_nlink == 1


@pytest.mark.parametrize("left", ["file", "fifo", "folder with links", "state_dir is a link"])
def test_whatever_holds_the_staging_name_is_removed_never_followed(
        project: Project, monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory, left: str) -> None:
    """state/.bricksync-staging as a file, a FIFO (never opened: it would block), a folder holding
    links out (removed, their targets untouched); a state_dir that is itself a link: an error
    naming it, nothing written through it. Worker processes forced, git left clean."""
    import shutil

    import bricksync.commands.export_read as export_read

    seed_source(project.test.client())
    monkeypatch.setattr(export_read, "EARLY_BATCH", 1)
    monkeypatch.setenv("BRICKSYNC_STATE_WORKERS", "2")
    outside = tmp_path_factory.mktemp("outside")
    (outside / "keep.txt").write_text("not bricksync's")
    state = project.root / "state"
    staging = state / ".bricksync-staging"
    if left == "file":
        staging.write_text("x")
    elif left == "fifo":
        os.mkfifo(staging)
    elif left == "folder with links":
        staging.mkdir()
        (staging / "daily-sales-etl.yml").symlink_to(outside / "keep.txt")
        (staging / "1001.yml").symlink_to(outside / "keep.txt")
        (staging / "out").symlink_to(outside, target_is_directory=True)
    else:
        shutil.copytree(state, outside / "state", symlinks=True)
        shutil.rmtree(state)
        state.symlink_to(outside / "state", target_is_directory=True)
    res = project.run("export", "--branch", "main")
    assert (outside / "keep.txt").read_text() == "not bricksync's"
    if left == "state_dir is a link":
        assert res.code == 1 and "symbolic link" in res.output and "state" in res.output, res.output
        assert not os.path.lexists(outside / "state" / ".bricksync-staging")
        assert not list((outside / "state" / "jobs").glob("*.yml"))
        return
    assert res.code == 0, res.output
    assert sorted(os.listdir(outside)) == ["keep.txt"]
    assert not os.path.lexists(staging) and "daily-sales-etl.yml" in project.state_files
    assert project.repo.git.status("--porcelain") == ""


@pytest.mark.parametrize("files", [5, 205])
def test_a_big_commit_keeps_clean_filters_hooks_and_diffs(tmp_path, monkeypatch: pytest.MonkeyPatch,
                                                          files: int) -> None:
    """Bulk check-in (200+ files: `git -c core.bigFileThreshold=1 add`) changes nothing but where
    the blobs go: a clean filter from .gitattributes still runs, the pre-commit hook still runs,
    and text diffs of the committed files stay text diffs (the threshold is not left in the config)."""
    from bricksync.edges.state import GitRepo

    repo = tmp_path / "repo"
    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@x", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@x"}
    for name, value in env.items():
        monkeypatch.setenv(name, value)

    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, text=True).stdout

    repo.mkdir()
    git("init", "-q", "-b", "main")
    git("config", "filter.shout.clean", "tr a-z A-Z")
    git("config", "filter.shout.smudge", "cat")
    (repo / ".gitattributes").write_text("*.yml filter=shout\n")
    hook = repo / ".git" / "hooks" / "pre-commit"
    hook.write_text("#!/bin/sh\necho ran >> \"$(git rev-parse --git-dir)/hook-ran\"\n")
    hook.chmod(0o755)
    git("add", ".gitattributes")
    git("commit", "-q", "-m", "init")
    (repo / ".git" / "hook-ran").unlink()
    jobs = repo / "state" / "jobs"
    jobs.mkdir(parents=True)
    paths = []
    for i in range(files):
        paths.append(jobs / f"job-{i:04d}.yml")
        paths[-1].write_text(f"key: job-{i:04d}\nname: job {i}\n")
    GitRepo(repo).commit(paths, "bricksync export\n")
    assert git("show", "HEAD:state/jobs/job-0003.yml") == "KEY: JOB-0003\nNAME: JOB 3\n"  # cleaned
    assert (repo / ".git" / "hook-ran").read_text() == "ran\n"
    assert "bigfilethreshold" not in git("config", "--list").lower()
    (repo / "state" / "jobs" / "job-0003.yml").write_text("key: job-0003\nname: job three\n")
    diff = git("diff", "HEAD", "--", "state/jobs/job-0003.yml")
    assert "-NAME: JOB 3" in diff and "+NAME: JOB THREE" in diff and "Binary" not in diff


def test_a_staging_folder_gone_while_workers_write_costs_time_not_the_export(
        project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    """The staging folder removed under the workers (a second export started by mistake clears
    it): their writes fail, the main process writes those files itself, the export succeeds; none
    of its texts lands in the other export's folder (where the other could take it for its own)."""
    from bricksync.edges.state import StateStore

    w = project.test.client()
    create_fillers(w)  # page 1: rendered (and staged) while page 2 arrives
    seed_source(w)
    render_early(project, monkeypatch)
    open_staging, clear_staging = StateStore.open_staging, StateStore.clear_staging
    other: list = []

    def cleared_by_another_export(self: StateStore):
        path = open_staging(self)
        other.append(open_staging(self))  # the other export's own folder (ours is removed)
        assert other[0] != path and not os.path.exists(path)
        return path

    def clear(self: StateStore) -> None:
        if other:  # the run's end (not the clearing before each start)
            other.append(sorted(os.listdir(other[0])))
        clear_staging(self)

    monkeypatch.setattr(StateStore, "open_staging", cleared_by_another_export)
    monkeypatch.setattr(StateStore, "clear_staging", clear)
    res = project.run("export", "--branch", "main")
    assert res.code == 0, res.output
    assert other[1] == []  # our workers wrote nothing into the other's folder
    files = project.state_files
    assert len(files) == 105 and "filler-000.yml" in files and "daily-sales-etl.yml" in files
    assert project.repo.git.status("--porcelain") == ""


def test_what_a_killed_export_left_in_staging_is_no_change_to_git(project: Project) -> None:
    """An export killed between staging and renaming leaves texts in state/.bricksync-staging:
    git neither shows them nor adds them (`git add -A`) before the next export removes them."""
    from bricksync.edges.state import StateStore

    store = StateStore(project.root / "state")
    run = store.open_staging()
    assert run is not None
    (run / "1001.yml").write_text("bricksync:\n  key: left\n")
    assert project.repo.git.status("--porcelain", "--untracked-files=all") == ""
    project.repo.git.add("-A")
    assert project.repo.git.status("--porcelain") == ""
    store.clear_staging()
    assert not os.path.lexists(store.staging_dir)


@pytest.mark.parametrize("flag", ["--dry-run", "--no-commit"])
def test_dry_run_stages_nothing_and_no_commit_leaves_no_staging(
        project: Project, monkeypatch: pytest.MonkeyPatch, flag: str) -> None:

    w = project.test.client()
    create_fillers(w)  # page 1: rendered (and staged) while page 2 arrives
    seed_source(w)
    render_early(project, monkeypatch)
    before = snapshot(project)
    res = project.run("export", flag)
    assert res.code == 0, res.output
    assert not os.path.lexists(project.root / "state" / ".bricksync-staging")
    if flag == "--dry-run":
        assert snapshot(project) == before
    else:
        assert len(project.state_files) == 105 and project.repo.head.commit.hexsha == before[0]
        assert snapshot(project)[3] == before[3]  # the source jobs as they were: no tag acknowledged


def _without_history(p: Project, tmp_path: Path) -> git.Repo:
    """The project's files in a repository with no commit yet (a new user's `git init`), its
    origin an empty bare repository; the files themselves staged, not committed."""
    import shutil

    shutil.rmtree(p.root / ".git")
    repo = git.Repo.init(p.root, initial_branch="trunk")
    repo.git.add("config")
    bare = tmp_path / "empty-origin.git"
    git.Repo.init(bare, bare=True)
    repo.create_remote("origin", str(bare))
    return repo


def test_first_export_into_a_repository_without_commits_gets_a_base_on_the_default_branch(
        project: Project, tmp_path: Path) -> None:
    """Issue 22.5: the export branch starts from a commit on the default branch, so a pull request
    can be opened (it was the root commit, and the default branch did not exist)."""
    p = project
    seed_source(p.test.client())
    repo = _without_history(p, tmp_path)
    res = p.run("export", "--push")
    assert res.code == 0, res.output
    branch = repo.active_branch.name
    assert branch.startswith("bricksync/export-")
    base = repo.heads["trunk"].commit
    assert not base.parents and not list(base.tree.traverse())  # an empty first commit on the default branch
    assert list(repo.head.commit.parents) == [base]
    assert "'trunk' got an empty first commit as the base" in " ".join(res.output.split())
    remote = git.Repo(tmp_path / "empty-origin.git")
    assert {h.name for h in remote.heads} == {"trunk", branch}  # both pushed: the PR has its base
    assert "config/bricksync.yml" in repo.git.diff("--cached", "--name-only")  # staged work stays staged
    # A second export goes on as usual: no second base.
    res = p.run("export", "--branch", "bricksync/export-again")
    assert res.code == 0 and "empty first commit" not in res.output
    assert repo.heads["trunk"].commit == base


def test_import_into_a_repository_without_commits_gets_a_base_too(project: Project,
                                                                           tmp_path: Path) -> None:
    """capture and import commit through the same GitRepo.switch_to as export."""
    p = project
    seed_target(p.prod.client())
    repo = _without_history(p, tmp_path)
    res = p.run("import", "--target", "prod", "--all")
    assert res.code == 0, res.output
    assert repo.active_branch.name.startswith("bricksync/import-prod-")
    assert list(repo.head.commit.parents) == [repo.heads["trunk"].commit]
    assert "push it too (git push -u origin trunk)" in " ".join(res.output.split())
