"""bricksync export: tagged source jobs -> state/ files -> a commit -> tags acknowledged.

Order is the safety: read and validate everything, then write files, then commit (and
push), and only then flip the selection tag, so a tag is never set to false for a job whose
state is not committed. A re-run after a crash anywhere converges without a second commit.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

from ..core.bulk import bulk_data
from ..core.errors import BricksyncError, Problem
from ..core.keys import assign_keys
from ..core.normalize import digest, normalize_job
from ..core.permissions import from_api, to_state
from ..core.schema import schema_table
from ..core.validate import check_across
from ..edges.config import Config
from ..edges.state import GitRepo, StateStore, blob_id
from ..edges.workspace import ACL_READERS, Workspace
from .desired import DesiredState
from .export_work import SnapshotContext, SnapshotItem, SourceJob, read_source_job, snapshot_all

log = logging.getLogger("bricksync.export")
MESSAGE_JOBS = 200  # jobs listed by name in a commit message; the rest are counted


@dataclass
class ExportedJob:
    key: str
    name: str
    job_id: int
    status: str  # added | changed | unchanged
    text: str
    tags: dict[str, str]
    digest: str = ""  # of the job as read: acknowledged only if it is still the same


@dataclass
class ExportResult:
    exported: list[ExportedJob] = field(default_factory=list)
    rejected: list[tuple[str, list[Problem]]] = field(default_factory=list)
    branch: str | None = None
    commit: str | None = None
    pushed: bool = False
    acknowledged: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    scanned: int = 0
    host: str = ""  # the source workspace read (set by Project.export)
    on_disk: dict[str, str] = field(default_factory=dict, repr=False)  # file -> blob id of state/ as read

    @property
    def changed(self) -> list[ExportedJob]:
        return [j for j in self.exported if j.status != "unchanged"]


def default_branch() -> str:
    return f"bricksync/export-{dt.datetime.now(dt.timezone.utc):%Y-%m-%d}"


def build_export(cfg: Config, ws: Workspace, store: StateStore, on_page=None,
                 desired: DesiredState | None = None) -> ExportResult:
    """Read and transform everything; write nothing. `desired`: state/ opened (and being parsed
    in worker processes) before the SDK was imported; else it is read here."""
    own = desired is None
    desired = desired or DesiredState(store.dir, workers=0)
    try:
        return _build(cfg, ws, store, desired, on_page)
    finally:
        if own:
            desired.close()


def _build(cfg: Config, ws: Workspace, store: StateStore, desired: DesiredState, on_page) -> ExportResult:
    read_permissions = cfg.source.permissions == "read"
    with ThreadPoolExecutor(max_workers=ACL_READERS, thread_name_prefix="acl") as pool:
        pending_index = pool.submit(desired.index)  # parsed meanwhile (in workers for a big state/)
        started = time.perf_counter()
        jobs, scanned, pending_acls = _read_selected(cfg, ws, pool if read_permissions else None, on_page)
        log.debug("export: %d pages' jobs read in %.2fs", scanned, time.perf_counter() - started)
        entries, problems = pending_index.result()
        if problems:
            raise BricksyncError(problems)
        result = ExportResult(scanned=scanned, on_disk={e.links.file: e.blob for e in entries})
        if not jobs:
            return result
        # Only the kinds these jobs reference are listed (an identity may not be allowed to list the rest).
        inventory = ws.inventory(set().union(*(j.kinds for j in jobs)))
        acls = {job_id: future.result() for job_id, future in pending_acls.items()}
        log.debug("export: inventory and %d permission reads done at %.2fs", len(acls), time.perf_counter() - started)
    for name, ident in cfg.source.budget_policies.items():  # account objects: named in the config
        inventory.add("budget_policy", ident, name)
    known = {e.source_job_id: e.key for e in entries if e.source_job_id is not None}
    # A state file no source job owns yet (imported from the target) is claimed by the source
    # job of the same name rather than duplicated under a second key.
    keys = assign_keys([(j.job_id, j.name) for j in jobs], known, {e.key for e in entries},
                       {e.key for e in entries if e.source_job_id is None})
    existing = {e.key: e for e in entries}
    items = [_item(job, keys[job.job_id], store, acls.get(job.job_id) if read_permissions else
                   existing[keys[job.job_id]].permissions if keys[job.job_id] in existing else None)
             for job in jobs]
    context = SnapshotContext(cfg.source.notebook_root, inventory, {**known, **keys}, schema_table())
    started = time.perf_counter()
    snapshots = snapshot_all(items, context)
    log.debug("export: %d state files rendered and checked in %.2fs", len(items), time.perf_counter() - started)
    # Checked across the state set as it will be after the export: a job whose file would not
    # pass `bricksync validate` is rejected now rather than committed broken.
    links = {e.key: e.links for e in entries}
    links.update((s.key, s.links) for s in snapshots if s.links is not None)
    across: dict[str, list[Problem]] = {}
    for problem in check_across(list(links.values())):
        across.setdefault(problem.file or "", []).append(problem)
    checked = []
    for item, snap in zip(items, snapshots, strict=True):
        if snap.text is None:
            result.rejected.append((item.job.name or item.key, snap.problems))
        else:
            checked.append((item, snap, snap.problems + across.get(item.file, [])))
    for item, snap, found in checked:
        if found:
            result.rejected.append((item.job.name or item.key, found))
        else:
            result.exported.append(ExportedJob(key=item.key, name=item.job.name or item.key, job_id=item.job.job_id,
                                               status="", text=snap.text or "", tags=item.job.tags,
                                               digest=item.job.digest))
    return result


def _item(job: SourceJob, key: str, store: StateStore, acl: list[dict] | Problem | None) -> SnapshotItem:
    return SnapshotItem(key=key, file=store.display(store.path_for(key)), job=job,
                        permissions=None if isinstance(acl, Problem) else acl,
                        problem=acl.message if isinstance(acl, Problem) else None)


def _read_selected(cfg: Config, ws: Workspace, acl_pool: ThreadPoolExecutor | None, on_page=None
                   ) -> tuple[list[SourceJob], int, dict[int, Future]]:
    """The jobs whose selection tag matches, each reduced to a SourceJob as its page arrives
    (the page is then dropped), with its permission read started at once (when `acl_pool`), so
    those reads overlap the page fetch. And the number of jobs scanned."""
    selected: list[SourceJob] = []
    pending: dict[int, Future] = {}
    scanned = 0
    tag = cfg.source.select.tag
    with bulk_data():
        for page in ws.job_pages():
            scanned += len(page)
            for job in page:
                if cfg.source.select.matches((job.get("settings") or {}).get("tags")):
                    selected.append(read_source_job(job, tag))
                    if acl_pool is not None:
                        pending[job["job_id"]] = acl_pool.submit(_read_acl, ws, job["job_id"])
            if on_page:
                on_page(len(page))
    return sorted(selected, key=lambda j: j.job_id), scanned, pending


def _read_acl(ws: Workspace, job_id: int) -> list[dict] | Problem:
    """A job's direct permission entries in state form, or the problem that stopped the read
    (that job is not exported; the others are)."""
    try:
        return to_state(from_api(ws.job_permissions(job_id)))
    except BricksyncError as exc:
        return Problem(exc.render())


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
            lines.extend(f"- {j.key} ({j.name}, source job {j.job_id})" for j in jobs[:MESSAGE_JOBS])
            if len(jobs) > MESSAGE_JOBS:
                lines.append(f"- ... and {len(jobs) - MESSAGE_JOBS} more (see the diff)")
    return "\n".join(lines).rstrip() + "\n"


def run_export(cfg: Config, ws: Workspace, *, branch: str | None = None, commit: bool = True,
               push: bool = False, acknowledge: bool | None = None, dry_run: bool = False,
               on_page=None, ack_parallelism: int | None = None, desired: DesiredState | None = None
               ) -> ExportResult:
    store = StateStore(cfg.state_dir)
    git = _git_or_none(cfg) if dry_run else GitRepo(cfg.root) if commit else None
    branch = branch or default_branch()
    result = build_export(cfg, ws, store, on_page, desired=desired)
    ack = cfg.source.acknowledge if acknowledge is None else acknowledge
    _classify(result, store, git)
    _refuse_overwriting_uncommitted(result, store, git or _git_or_none(cfg))
    if git and commit and not dry_run and result.changed:
        # A branch only when there is something to commit; switched to before writing, so the
        # checkout never meets our own edits. Then compare again: the branch may have them.
        git.switch_to(branch)
        _classify(result, store, git)
    if git and (result.changed or git.current_branch() == branch):
        result.branch = branch
    if dry_run:
        result.notes.append("dry run: nothing written, committed or acknowledged")
        return result
    for job in result.exported:
        if store.read_bytes(job.key) != job.text.encode():
            store.write(job.key, job.text)
    if git and commit and result.exported:
        to_commit = [store.path_for(j.key) for j in result.changed]
        if to_commit:
            result.commit = git.commit(to_commit, commit_message(result))
        if push and git.current_branch() == branch:
            git.push(branch)  # raises: nothing acknowledged when the push is refused
            result.pushed = True
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
    workers = ack_parallelism or cfg.source.ack_parallelism  # the flag wins over the config
    with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="ack") as pool:
        list(pool.map(lambda j: ws.set_job_tags(j.job_id, {**now[j.job_id][1], tag: "false"}), still))
    result.acknowledged.extend(j.key for j in still)
    return result


def _refuse_overwriting_uncommitted(result: ExportResult, store: StateStore, git: GitRepo | None) -> None:
    """A state file export would rewrite must hold no uncommitted work (a hand edit, staged
    or not): the export would destroy it. Checked before anything is written or switched."""
    if git is None:
        return
    to_write = [j for j in result.exported
                if result.on_disk.get(store.display(store.path_for(j.key))) != blob_id(j.text.encode())]
    if not to_write:
        return
    dirty = git.uncommitted(store.jobs_dir)
    hit = [store.display(store.path_for(j.key)) for j in to_write if git.key_of(store.path_for(j.key)) in dirty]
    if hit:
        raise BricksyncError([Problem("has uncommitted changes (staged or not) that export would overwrite; "
                                      "commit, stash or discard them (git stash / git checkout -- FILE), then "
                                      "export again. Nothing was written.", file=f) for f in hit])


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
