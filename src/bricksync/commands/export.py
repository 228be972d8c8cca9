"""bricksync export: tagged source jobs -> state/ files -> a commit -> tags acknowledged.

Order is the safety: read and validate everything, then write files, then commit (and
push), and only then flip the selection tag, so a tag is never set to false for a job whose
state is not committed. A re-run after a crash anywhere converges without a second commit.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import stat
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from ..core.bulk import bulk_data
from ..core.errors import BricksyncError, Interrupted, Problem
from ..core.escape import commit_text, one_line
from ..core.normalize import digest, normalize_job
from ..edges.config import Config
from ..edges.state import GitRepo, StateStore, blob_id, parse_state
from ..edges.statefiles import FileStore
from ..edges.workspace import Workspace
from .desired import DesiredState
from .export_read import ExportedJob, ExportResult, build_export

__all__ = ["ExportResult", "ExportedJob", "build_export", "commit_message", "default_branch", "interrupted_export",
           "run_export"]

log = logging.getLogger("bricksync.export")
MESSAGE_JOBS = 200  # jobs listed by name in a commit message; the rest are counted


def default_branch() -> str:
    return f"bricksync/export-{dt.datetime.now(dt.timezone.utc):%Y-%m-%d}"


def _classify(result: ExportResult, store: StateStore, git: GitRepo | None) -> None:
    """added / changed / unchanged against HEAD (or the files on disk without git)."""
    blobs = git.committed_blobs(store.jobs_dir) if git else {}
    for job in result.exported:
        if git:
            before = blobs.get(git.key_of(store.path_for(job.key)))
            now = blob_id(job.text.encode())
        else:
            before, now = store.read_bytes(job.key), job.text.encode()
        job.status = "added" if before is None else "unchanged" if before == now else "changed"
    if result.files:
        files = FileStore(store.dir)
        blobs = git.committed_blobs(files.dir) if git and files.dir.is_dir() else {}
        for f in result.files:
            path = files.path_of(f.name)
            if git:
                before, now = blobs.get(git.key_of(path)), blob_id(f.data)
            else:
                before, now = (path.read_bytes() if path.is_file() else None), f.data
            f.status = "added" if before is None else "unchanged" if before == now else "changed"


def _has_changes(result: ExportResult) -> bool:
    return bool(result.changed or result.files_removed or any(f.status != "unchanged" for f in result.files))


def _staged_as(staged: os.PathLike, data: bytes) -> bool:
    """The staged file is a plain file of this text's size (a cheap check: a job listed twice
    across pages is staged twice, and only one of its texts is exported)."""
    try:
        st = os.lstat(staged)
    except FileNotFoundError:
        return False
    return stat.S_ISREG(st.st_mode) and st.st_size == len(data)


def _committed(result: ExportResult, store: StateStore, git: GitRepo) -> list[ExportedJob]:
    """The exported jobs whose state HEAD holds exactly."""
    blobs = git.committed_blobs(store.jobs_dir)
    return [j for j in result.exported if blobs.get(git.key_of(store.path_for(j.key))) == blob_id(j.text.encode())]


def _git_or_none(cfg: Config) -> GitRepo | None:
    try:
        return GitRepo(cfg.root)
    except BricksyncError:
        return None


def commit_message(result: ExportResult) -> str:
    added = [j for j in result.exported if j.status == "added"]
    changed = [j for j in result.exported if j.status == "changed"]
    lines = [f"bricksync export: {len(added)} added, {len(changed)} changed", ""]
    for title, jobs in (("Added", added), ("Changed", changed)):
        if jobs:
            lines.append(f"{title}:")
            lines.extend(f"- {commit_text(j.key)} ({commit_text(j.name)}, source job {j.job_id})"
                         for j in jobs[:MESSAGE_JOBS])
            if len(jobs) > MESSAGE_JOBS:
                lines.append(f"- ... and {len(jobs) - MESSAGE_JOBS} more (see the diff)")
    moved = {s: [f for f in result.files if f.status == s] for s in ("added", "changed")}
    if moved["added"] or moved["changed"] or result.files_removed:
        lines.append(f"Files: {len(moved['added'])} added, {len(moved['changed'])} changed, "
                     f"{len(result.files_removed)} removed (state/files/)")
    return "\n".join(lines).rstrip() + "\n"


def run_export(cfg: Config, ws: Workspace, *, branch: str | None = None, commit: bool = True,
               push: bool = False, acknowledge: bool | None = None, dry_run: bool = False,
               on_page=None, ack_parallelism: int | None = None, desired: DesiredState | None = None
               ) -> ExportResult:
    store = StateStore(cfg.state_dir)
    git = _git_or_none(cfg) if dry_run else GitRepo(cfg.root) if commit else None
    branch = branch or default_branch()
    staging = None if dry_run else store.open_staging()
    result: ExportResult | None = None
    try:
        result = build_export(cfg, ws, store, on_page, desired=desired, staging=staging,
                              branch=branch if commit else None)
        return _export(cfg, ws, store, git, branch, result=result, commit=commit, push=push, acknowledge=acknowledge,
                       dry_run=dry_run, ack_parallelism=ack_parallelism, staging=staging)
    except KeyboardInterrupt:
        if dry_run:
            raise
        raise Interrupted(interrupted_export(result, cfg.source.select.tag), result) from None
    finally:
        if staging is not None:
            store.clear_staging()


def interrupted_export(result: ExportResult | None, tag: str) -> str:
    """What an export stopped by Ctrl-C had done (the order is the safety: files, commit, push, tags)."""
    again = "Run the same `bricksync export` again to finish it"
    if result is None:
        return "interrupted while reading the source: nothing was written, committed or acknowledged."
    if result.commit is None:
        return ("interrupted before the commit: nothing committed, no selection tag changed; state files written "
                f"before the interrupt (if any) are left uncommitted (`git status`). {again}: it writes what is "
                "missing, then commits and acknowledges as this run would have.")
    done, total = len(result.acknowledged), len(result.exported)
    branch = one_line(result.branch or "?")
    pushed = "pushed" if result.pushed else "not pushed"
    return (f"interrupted after the commit: commit {result.commit[:12]} is on branch '{branch}' ({pushed}); "
            f"{done} of {total} exported job(s) have their selection tag {one_line(tag)} set to false, "
            f"{total - done} still carry it. {again} (same --branch/--push): it makes no second commit and "
            "acknowledges the rest.")


def _export(cfg: Config, ws: Workspace, store: StateStore, git: GitRepo | None, branch: str, *,
            result: ExportResult, commit: bool, push: bool, acknowledge: bool | None, dry_run: bool,
            ack_parallelism: int | None, staging: Path | None = None) -> ExportResult:
    ack = cfg.source.acknowledge if acknowledge is None else acknowledge
    _classify(result, store, git)
    _refuse_overwriting_uncommitted(result, store, git or _git_or_none(cfg))
    if git and commit and not dry_run and _has_changes(result):
        _switch(cfg, store, git, branch, result)
    if git and (_has_changes(result) or git.current_branch() == branch):
        result.branch = branch
    if dry_run:
        result.notes.append("dry run: nothing written, committed or acknowledged")
        return result
    started = time.perf_counter()
    for job in result.exported:
        data = job.text.encode()
        if store.read_bytes(job.key) != data:
            staged = staging / f"{job.job_id}.yml" if staging else None  # by job id: early keys are provisional
            if job.staged and staged and _staged_as(staged, data):
                store.move_in(job.key, staged, job.text)
            else:
                store.write(job.key, job.text)
    file_paths = _write_files(result, store)
    log.debug("export: state files written in %.2fs", time.perf_counter() - started)
    if git and commit and (result.exported or result.files_removed):
        to_commit = [store.path_for(j.key) for j in result.changed] + file_paths
        if to_commit:
            started = time.perf_counter()
            result.commit = git.commit(to_commit, commit_message(result))
            log.debug("export: %d files committed in %.2fs", len(to_commit), time.perf_counter() - started)
        if push and git.current_branch() == branch:
            git.push(branch)  # raises: nothing acknowledged when the push is refused
            result.pushed = True
        note = git.base_note(result.pushed)  # a first export into a repository with no commit
        if note:
            result.notes.append(note)
    if not ack:
        result.notes.append("acknowledge is off: selection tags left as they are")
        return result
    if not commit:
        result.notes.append("--no-commit: selection tags left as they are (acknowledged only after a commit)")
        return result
    tag = cfg.source.select.tag
    committed = _committed(result, store, git) if git is not None else []
    # Never acknowledge what is not committed, nor a job that changed since it was read (its
    # change is not in the commit; jobs/update would also overwrite tags added meanwhile): the
    # source is listed again (O(pages)) and only jobs still as read are acknowledged, with the
    # tags they have now. One jobs/update per job (the API has no batch).
    now = _current(ws, {j.job_id for j in committed}, tag) if committed else {}
    still = [j for j in committed if j.job_id in now and now[j.job_id][0] == j.digest]
    kept = {j.key for j in still}
    moved = [j for j in committed if j.key not in kept]
    if moved:
        result.notes.append(f"{len(moved)} job(s) changed in the source since they were read; left tagged for "
                            "the next export: " + ", ".join(j.key for j in moved[:50])
                            + (f" and {len(moved) - 50} more" if len(moved) > 50 else ""))
    _acknowledge(ws, result, still, now, tag, ack_parallelism or cfg.source.ack_parallelism)  # the flag wins
    return result


def _write_files(result: ExportResult, store: StateStore) -> list[Path]:
    """state/files/ as the export found them (source.files: referenced): the paths to commit."""
    files = FileStore(store.dir)
    out = []
    for f in result.files:
        if f.status != "unchanged":
            out.append(files.write(f.name, f.data))
    for gone in result.files_removed:
        Path(gone).unlink(missing_ok=True)
        out.append(Path(gone))
    return out


def _acknowledge(ws: Workspace, result: ExportResult, jobs: list[ExportedJob], now: dict[int, tuple[str, dict]],
                 tag: str, workers: int) -> None:
    """The selection tag set to "false" on `jobs` (with the tags each has `now`), `workers` calls at a time."""
    def ack(job: ExportedJob) -> None:
        ws.set_job_tags(job.job_id, {**now[job.job_id][1], tag: "false"})
        result.acknowledged.append(job.key)  # as each lands: an interrupted export says how many did

    with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="ack") as pool:
        list(pool.map(ack, jobs))
    result.acknowledged[:] = [j.key for j in jobs]  # in the order of the jobs, not of the answers


def _refuse_overwriting_uncommitted(result: ExportResult, store: StateStore, git: GitRepo | None) -> None:
    """A state file export would rewrite must hold no uncommitted work (a hand edit, staged
    or not): the export would destroy it. Checked before anything is written or switched."""
    if git is None:
        return
    to_write = [j for j in result.exported
                if result.on_disk.get(store.display(store.path_for(j.key))) != blob_id(j.text.encode())]
    hit = []
    if to_write:
        dirty = git.uncommitted(store.jobs_dir)
        hit = [store.display(store.path_for(j.key)) for j in to_write if git.key_of(store.path_for(j.key)) in dirty]
    files = FileStore(store.dir)
    if (result.files or result.files_removed) and files.dir.is_dir():  # a hand edit of a notebook in state/files/
        dirty = git.uncommitted(files.dir)
        hit += [files.display(files.path_of(f.name)) for f in result.files
                if f.status != "unchanged" and git.key_of(files.path_of(f.name)) in dirty]
        hit += [gone for gone in result.files_removed if git.key_of(Path(gone)) in dirty]
    if hit:
        raise BricksyncError([Problem("has uncommitted changes (staged or not) that export would overwrite; "
                                      "commit, stash or discard them (git stash / git checkout -- FILE), then "
                                      "export again. Nothing was written.", file=f) for f in hit])


def _switch(cfg: Config, store: StateStore, git: GitRepo, branch: str, result: ExportResult) -> None:
    # A branch only when there is something to commit; switched to before writing, so the
    # checkout never meets our own edits. Then compare again: the branch may have them.
    git.switch_to(branch)
    _classify(result, store, git)
    if cfg.source.permissions == "keep":
        _refuse_dropping_kept_permissions(result, store, branch)


def _refuse_dropping_kept_permissions(result: ExportResult, store: StateStore, branch: str) -> None:
    """source.permissions: keep took each file's `permissions:` from state/ as it was read; the
    branch export just switched to may hold others (a grant added in its pull request). Writing
    ours would drop them: refused, before anything is written. Only files that differ from the
    ones read are parsed (none when the branch was just made)."""
    problems = []
    for job in result.exported:
        file = store.display(store.path_for(job.key))
        now = store.read_bytes(job.key)
        if now is None or blob_id(now) == result.on_disk.get(file):
            continue
        kept = parse_state(job.text.encode(), file).permissions
        if parse_state(now, file).permissions != kept:
            problems.append(Problem(f"branch '{branch}' has other permissions in this file than state/ had when "
                                    "export read it (source.permissions: keep takes them from there); export from "
                                    f"'{branch}' or set source.permissions: read. Nothing was written.",
                                    file=file, job=job.name, field="permissions"))
    if problems:
        raise BricksyncError(problems)


def _current(ws: Workspace, job_ids: set[int], select_tag: str) -> dict[int, tuple[str, dict]]:
    """job id -> (digest, tags) of these jobs as the source has them now."""
    out = {}
    with bulk_data():
        for page in ws.job_pages():
            for job in page:
                if job["job_id"] in job_ids:
                    tags = dict((job.get("settings") or {}).get("tags") or {})
                    settings = normalize_job(job, drop_tags=(select_tag,), ordered=False, copy=False)
                    out[job["job_id"]] = (digest(settings), tags)
    return out
