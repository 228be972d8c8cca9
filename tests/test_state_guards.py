"""Issue 14.2-4 and 10: state/ that is missing, misnamed, linked or empty is an error naming
it (never "no state"); prune has limits; export never overwrites uncommitted work or writes
through a link; a conflict is not success."""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path

import pytest

from .conftest import Project
from .test_plan_apply import prod_jobs

JOBS = "state/jobs"


def world(p: Project) -> tuple:
    return (json.dumps(p.prod.workspace.jobs.jobs, sort_keys=True), p.repo.head.commit.hexsha,
            json.dumps(p.test.workspace.jobs.jobs, sort_keys=True))


def applied(p: Project) -> Project:
    res = p.run("apply", "--target", "prod", "--yes")
    assert res.code == 0, res.output
    return p


# --- 2: a missing state_dir, odd file names -----------------------------------------------

@pytest.mark.parametrize("command", [["validate"], ["plan", "--target", "prod"],
                                     ["apply", "--target", "prod", "--yes", "--prune"],
                                     ["drift", "--target", "prod", "--no-source"], ["export"]])
def test_missing_state_dir_is_an_error(exported: Project, command: list[str]) -> None:
    p = applied(exported)
    p.write_config(p.root.joinpath("config/bricksync.yml").read_text().replace("state_dir: state",
                                                                                "state_dir: stat"))
    before = world(p)
    res = p.run(*command)
    assert res.code == 1, res.output
    assert "stat" in res.output and "does not exist" in res.output
    assert world(p) == before and not (p.root / "stat").exists()


@pytest.mark.parametrize("name", ["daily-sales-etl.YML", "daily-sales-etl.yaml", "daily-sales-etl.Yml",
                                  "daily-sales-etl.yml.bak", "daily-sales-etl", "README.md"])
def test_a_file_bricksync_would_not_read_is_an_error_not_an_orphan(exported: Project, name: str) -> None:
    p = applied(exported)
    (p.root / JOBS / "daily-sales-etl.yml").rename(p.root / JOBS / name)
    before = world(p)
    for command in (["validate"], ["apply", "--target", "prod", "--yes", "--prune", "--allow-mass-delete"]):
        res = p.run(*command)
        assert res.code == 1, res.output
        assert f"{JOBS}/{name}" in res.output and "not a state file name" in res.output
    assert world(p) == before


# --- 2: prune limits ----------------------------------------------------------------------

@pytest.mark.parametrize("flags,code", [
    ([], 1), (["--allow-mass-delete"], 1), (["--allow-empty-state"], 1),
    (["--allow-empty-state", "--allow-mass-delete"], 0)])
def test_empty_state_dir_prunes_only_with_both_flags(exported: Project, flags: list[str],
                                                     code: int) -> None:
    p = applied(exported)
    for path in (p.root / JOBS).glob("*.yml"):
        path.unlink()
    before = world(p)
    res = p.run("apply", "--target", "prod", "--yes", "--prune", *flags)
    assert res.code == code, res.output
    if code:
        assert world(p) == before
        assert ("--allow-empty-state" in res.output) == ("--allow-empty-state" not in flags)
    else:
        assert set(prod_jobs(p)) == {"Ad-hoc prod report"}  # the unmanaged job stays


@pytest.mark.parametrize("removed,percent,flags,code", [
    (1, None, [], 0),                       # 1 of 5 = 20%: at the default limit
    (2, None, [], 1),                       # 40%
    (2, None, ["--allow-mass-delete"], 0),
    (2, 40, [], 0),                         # the limit raised in the config
    (2, 0, [], 1),                          # ... or lowered to nothing
    (4, 50, [], 1),
])
def test_prune_refuses_to_delete_more_than_a_share(exported: Project, removed: int, percent: int | None,
                                                   flags: list[str], code: int) -> None:
    p = applied(exported)
    if percent is not None:
        p.write_config(p.root.joinpath("config/bricksync.yml").read_text().replace(
            "prune: false", f"prune: false\n    max_prune_percent: {percent}"))
    for key in ["nightly-orchestrator", "finance-sql-reporting", "ml-training-git", "customer-360-scoring"][:removed]:
        (p.root / JOBS / f"{key}.yml").unlink()
    before = world(p)
    res = p.run("apply", "--target", "prod", "--yes", "--prune", *flags)
    assert res.code == code, res.output
    if code:
        assert world(p) == before and "max_prune_percent" in res.output
    else:
        assert len(prod_jobs(p)) == 6 - removed


@pytest.mark.parametrize("value", ["many", "150", -1, True])
def test_max_prune_percent_must_be_a_percentage(exported: Project, value: object) -> None:
    p = exported
    p.write_config(p.root.joinpath("config/bricksync.yml").read_text().replace(
        "prune: false", f"prune: false\n    max_prune_percent: {json.dumps(value)}"))
    res = p.run("validate")
    assert res.code == 1 and "targets.prod.max_prune_percent" in res.output and "percentage" in res.output


# --- 4: links and other non-regular entries -----------------------------------------------

def _outside(p: Project) -> Path:
    out = p.root.parent / "outside.yml"
    out.write_text((p.root / JOBS / "daily-sales-etl.yml").read_text())
    return out


def _file_link_outside(p: Project) -> str:
    target = _outside(p)
    (p.root / JOBS / "daily-sales-etl.yml").unlink()
    (p.root / JOBS / "daily-sales-etl.yml").symlink_to(target)
    return f"{JOBS}/daily-sales-etl.yml"


def _link_to_dev_zero(p: Project) -> str:
    (p.root / JOBS / "zero.yml").symlink_to("/dev/zero")
    return f"{JOBS}/zero.yml"


def _link_inside(p: Project) -> str:
    (p.root / JOBS / "copy.yml").symlink_to("daily-sales-etl.yml")
    return f"{JOBS}/copy.yml"


def _dangling_link(p: Project) -> str:
    (p.root / JOBS / "gone.yml").symlink_to("/nonexistent/gone.yml")
    return f"{JOBS}/gone.yml"


def _fifo(p: Project) -> str:
    os.mkfifo(p.root / JOBS / "pipe.yml")
    return f"{JOBS}/pipe.yml"


def _directory(p: Project) -> str:
    (p.root / JOBS / "sub.yml").mkdir()
    return f"{JOBS}/sub.yml"


def _jobs_dir_link(p: Project) -> str:
    elsewhere = p.root.parent / "elsewhere"
    (p.root / JOBS).rename(elsewhere)
    (p.root / JOBS).symlink_to(elsewhere)
    return JOBS


def _state_dir_link(p: Project) -> str:
    elsewhere = p.root.parent / "elsewhere-state"
    (p.root / "state").rename(elsewhere)
    (p.root / "state").symlink_to(elsewhere)
    return "state"


LINKS = {"file-link-outside": _file_link_outside, "link-to-dev-zero": _link_to_dev_zero, "link-inside": _link_inside,
         "dangling-link": _dangling_link, "fifo": _fifo, "directory": _directory, "jobs-dir-link": _jobs_dir_link,
         "state-dir-link": _state_dir_link}


@pytest.mark.parametrize("case", LINKS)
def test_links_and_non_regular_files_are_errors_naming_them(exported: Project, case: str) -> None:
    p = applied(exported)
    named = LINKS[case](p)
    before = world(p)
    # In a separate process (with a timeout) where a regression would hang or exhaust memory.
    run = p.run_process if case in ("fifo", "link-to-dev-zero") else p.run
    for command in (["validate"], ["apply", "--target", "prod", "--yes", "--prune", "--allow-mass-delete"],
                    ["export"]):
        res = run(*command)
        assert res.code == 1, (command, res.output)
        assert f"{named}:" in res.output or f"{named} " in res.output, res.output
        assert "symbolic link" in res.output or "not a regular file" in res.output or "directory" in res.output
        assert "Traceback" not in res.output
    assert world(p) == before


def test_export_never_writes_through_a_link(exported: Project) -> None:
    p = exported
    outside = _outside(p)
    original = outside.read_text()
    link = p.root / JOBS / "daily-sales-etl.yml"
    link.unlink()
    link.symlink_to(outside)
    p.repo.git.add("-A")
    p.repo.git.commit("-m", "a link")
    w = p.test.client()
    etl = next(j for j in p.test.workspace.jobs.jobs.values() if j["settings"]["name"] == "Daily sales ETL")
    w.api_client.do("POST", "/api/2.2/jobs/update", body={"job_id": etl["job_id"], "new_settings": {
        "max_concurrent_runs": 3, "tags": {**etl["settings"]["tags"], "PROD_MIGRATION": "true"}}})
    before = world(p)
    res = p.run("export", "--branch", "main")
    assert res.code == 1 and f"{JOBS}/daily-sales-etl.yml" in res.output and "symbolic link" in res.output
    assert outside.read_text() == original and link.is_symlink()
    assert world(p) == before


# --- 3: export and uncommitted work ---------------------------------------------------------

def _retag(p: Project, name: str, **changes: object) -> None:
    job = next(j for j in p.test.workspace.jobs.jobs.values() if j["settings"]["name"] == name)
    p.test.client().api_client.do("POST", "/api/2.2/jobs/update", body={"job_id": job["job_id"], "new_settings": {
        **changes, "tags": {**job["settings"]["tags"], "PROD_MIGRATION": "true"}}})


@pytest.mark.parametrize("how", ["unstaged", "staged", "staged-then-edited", "untracked-new-file"])
@pytest.mark.parametrize("source_changed", [True, False])
def test_export_refuses_to_overwrite_uncommitted_work(exported: Project, how: str,
                                                      source_changed: bool) -> None:
    p = exported
    path = p.root / JOBS / "daily-sales-etl.yml"
    if how == "untracked-new-file":  # a hand-written file where export is about to add a job
        text = path.read_text()
        p.repo.git.rm("-q", str(path))
        p.repo.git.commit("-qm", "drop it")
        path.write_text(text.replace("timeout_seconds: 7200", "timeout_seconds: 60"))
    else:
        path.write_text(path.read_text().replace("timeout_seconds: 7200", "timeout_seconds: 60"))
        if how.startswith("staged"):
            p.repo.git.add(str(path))
        if how == "staged-then-edited":
            path.write_text(path.read_text() + "# more\n")
    hand = path.read_bytes()
    _retag(p, "Daily sales ETL", **({"max_concurrent_runs": 3} if source_changed else {}))
    before = world(p)
    status = p.repo.git.status("--porcelain")
    res = p.run("export", "--branch", "main")
    assert res.code == 1, res.output
    assert f"{JOBS}/daily-sales-etl.yml" in res.output and "uncommitted changes" in res.output
    assert path.read_bytes() == hand and world(p) == before and p.repo.git.status("--porcelain") == status


def test_uncommitted_work_on_a_file_export_leaves_alone_is_no_obstacle(exported: Project) -> None:
    p = exported
    other = p.root / JOBS / "finance-sql-reporting.yml"
    other.write_text(other.read_text() + "# a note\n")
    _retag(p, "Daily sales ETL", max_concurrent_runs=3)
    res = p.run("export", "--branch", "main")
    assert res.code == 0, res.output
    assert other.read_text().endswith("# a note\n") and "max_concurrent_runs: 3" in \
        (p.root / JOBS / "daily-sales-etl.yml").read_text()


# --- 10: a conflict is not success ------------------------------------------------------------

@pytest.mark.parametrize("also_update", [False, True])
def test_apply_exits_1_while_a_key_is_in_conflict(exported: Project, also_update: bool) -> None:
    p = applied(exported)
    etl = prod_jobs(p)["Daily sales ETL"]
    dup = copy.deepcopy(etl["settings"])
    dup["name"] = "Daily sales ETL (copy)"
    p.prod.client().api_client.do("POST", "/api/2.2/jobs/create", body=dup)
    if also_update:
        path = p.root / JOBS / "finance-sql-reporting.yml"
        path.write_text(path.read_text().replace("name: Finance SQL reporting", "name: Finance SQL reports"))
    res = p.run("apply", "--target", "prod", "--yes")
    assert res.code == 1, res.output
    assert "in conflict" in res.output and "daily-sales-etl" in res.output
    assert "Nothing to apply" not in res.output
    assert ("Finance SQL reports" in prod_jobs(p)) == also_update  # the rest is still applied
    assert p.run("plan", "--target", "prod", "--detailed-exitcode").code == 2


def test_a_staged_file_that_cannot_be_renamed_across_filesystems_is_written(tmp_path, monkeypatch) -> None:
    """state/jobs on another filesystem than state/ (a mount point): no rename crosses it (EXDEV);
    the state file is then written from the text, atomically, and the export goes on."""
    import errno

    from bricksync.edges import state as state_mod

    store = state_mod.StateStore(tmp_path / "state")
    store.jobs_dir.mkdir(parents=True)
    run = store.open_staging()
    assert run is not None
    state_mod.stage_file(str(run), 7, "bricksync:\n  key: job-a\n")
    replace = os.replace

    def no_crossing(src, dst):
        if str(src).startswith(str(store.staging_dir)):
            raise OSError(errno.EXDEV, "Invalid cross-device link")
        return replace(src, dst)

    monkeypatch.setattr(state_mod.os, "replace", no_crossing)
    path = store.move_in("job-a", run / "7.yml", "bricksync:\n  key: job-a\n")
    assert path.read_text() == "bricksync:\n  key: job-a\n"
    monkeypatch.undo()
    monkeypatch.setattr(state_mod.os, "replace", lambda src, dst: (_ for _ in ()).throw(OSError(errno.EIO, "I/O")))
    with pytest.raises(OSError, match="I/O"):  # any other failure is not hidden
        store.move_in("job-a", run / "7.yml", "x")


def test_a_staging_folder_another_user_left_is_a_clear_error(tmp_path, monkeypatch) -> None:
    """A staging folder a `sudo` run left cannot be removed: the error names it and says how to
    remove it (it holds no state), instead of a raw PermissionError."""
    from bricksync.core.errors import BricksyncError
    from bricksync.edges import state as state_mod

    store = state_mod.StateStore(tmp_path / "state")
    store.jobs_dir.mkdir(parents=True)
    (store.staging_dir / "run-x").mkdir(parents=True)

    def denied(path, *args, **kwargs):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(state_mod.shutil, "rmtree", denied)
    with pytest.raises(BricksyncError) as err:
        store.open_staging()
    text = err.value.render()
    assert ".bricksync-staging" in text and "rm -rf" in text and "another user" in text
