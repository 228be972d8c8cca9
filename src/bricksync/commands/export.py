"""bricksync export: tagged source jobs -> state/ files -> a commit -> tags acknowledged.

Order is the safety: read and validate everything, then write files, then commit (and
push), and only then flip the selection tag, so a tag is never set to false for a job whose
state is not committed. A re-run after a crash anywhere converges without a second commit.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import time
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field

from ..core.bulk import bulk_data
from ..core.errors import BricksyncError, Problem
from ..core.keys import assign_keys
from ..core.normalize import digest, normalize_job
from ..core.permissions import from_api, to_state
from ..core.references import Inventory
from ..core.schema import schema_table
from ..core.validate import check_across
from ..edges.config import Config
from ..edges.state import GitRepo, StateStore, blob_id
from ..edges.workspace import ACL_READERS, LISTINGS, Workspace
from .desired import DesiredState, IndexEntry
from .export_work import EARLY_BATCH, Snapshot, SnapshotContext, SnapshotItem, Snapshotter, SourceJob, read_source_job

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
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=4, thread_name_prefix="export") as side, \
            ThreadPoolExecutor(max_workers=ACL_READERS, thread_name_prefix="acl") as acl_pool:
        pipeline = _Pipeline(cfg, ws, store, side.submit(desired.index), side,
                             acl_pool if cfg.source.permissions == "read" else None)
        try:
            scanned = 0
            with bulk_data():
                for page in ws.job_pages():
                    scanned += len(page)
                    for job in page:
                        if cfg.source.select.matches((job.get("settings") or {}).get("tags")):
                            pipeline.add(read_source_job(job, cfg.source.select.tag))
                    pipeline.dispatch()
                    if on_page:
                        on_page(len(page))
            log.debug("export: %d jobs read in %.2fs", scanned, time.perf_counter() - started)
            entries = pipeline.entries()
            result = ExportResult(scanned=scanned, on_disk={e.links.file: e.blob for e in entries})
            if not pipeline.jobs:
                return result
            items, snapshots = pipeline.finish()
        finally:
            pipeline.close()
    log.debug("export: %d state files rendered and checked at %.2fs", len(items), time.perf_counter() - started)
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


class _Pipeline:
    """Selected jobs -> snapshots, rendered while later pages still arrive (issue 15: export at
    the page floor). A job goes to the workers as soon as everything its snapshot needs is
    known: state/'s index (its key), the listings of the kinds it references (each started when
    a page first shows the kind: only referenced kinds are listed, as an identity may not be
    allowed to list the rest), its permissions. Jobs that run other jobs wait for every key.
    Keys are final only once every name is known: a job rendered under a key that turns out
    different (two new jobs named alike) is rendered again, so the result is exactly that of
    rendering everything at the end."""

    def __init__(self, cfg: Config, ws: Workspace, store: StateStore, index: Future,
                 side: ThreadPoolExecutor, acl_pool: ThreadPoolExecutor | None):
        self.cfg, self.ws, self.store, self.index, self.side, self.acl_pool = cfg, ws, store, index, side, acl_pool
        self.jobs: list[SourceJob] = []
        self.waiting: list[SourceJob] = []
        self.listings: dict[str, Future] = {}
        self.acls: dict[int, Future] = {}
        self.inventory = Inventory()
        for name, ident in cfg.source.budget_policies.items():  # account objects: named in the config
            self.inventory.add("budget_policy", ident, name)
        self.early: dict[int, SnapshotItem] = {}  # job id -> the item sent to render early
        self.snapshotter = Snapshotter()
        self.schema = schema_table()

    def add(self, job: SourceJob) -> None:
        self.jobs.append(job)
        self.waiting.append(job)
        for kind in job.kinds:
            if kind in LISTINGS and kind not in self.listings:
                self.listings[kind] = self.side.submit(self.ws.inventory, {kind})
        if self.acl_pool is not None:
            self.acls[job.job_id] = self.acl_pool.submit(_read_acl, self.ws, job.job_id)

    def entries(self) -> list[IndexEntry]:
        entries, problems = self.index.result()
        if problems:
            raise BricksyncError(problems)
        return entries

    def dispatch(self) -> None:
        """Send the jobs whose snapshot can be made now, once there are enough for a batch."""
        if not self.index.done() or self.index.exception() or len(self.waiting) < EARLY_BATCH:
            return
        listed = {kind for kind, future in self.listings.items() if future.done() and not future.exception()}
        ready = [j for j in self.waiting if "job" not in j.kinds and all(k in listed for k in j.kinds if k in LISTINGS)
                 and (self.acl_pool is None or self.acls[j.job_id].done())]
        if len(ready) < EARLY_BATCH:
            return
        keys = self._keys(ready)
        items = [self._item(job, keys[job.job_id]) for job in ready]
        self._merge(listed)
        ctx = SnapshotContext(self.cfg.source.notebook_root, self.inventory, {}, self.schema)
        if self.snapshotter.send(items, ctx, expected=len(self.jobs)):
            self.early.update((item.job.job_id, item) for item in items)
            sent = {job.job_id for job in ready}
            self.waiting = [j for j in self.waiting if j.job_id not in sent]

    def finish(self) -> tuple[list[SnapshotItem], list[Snapshot]]:
        """Every job's item (final key) and snapshot, in job id order."""
        while self.acl_pool is not None:  # permission reads outlast the pages: keep sending as they land
            pending = [self.acls[j.job_id] for j in self.waiting if not self.acls[j.job_id].done()]
            if not pending:
                break
            wait(pending[:EARLY_BATCH])
            self.dispatch()
        self._merge(set(self.listings))  # raises what a listing raised
        keys = self._keys(self.jobs)
        items = {job.job_id: self._item(job, keys[job.job_id]) for job in self.jobs}
        # Rendered early under another key (a later job took its name): rendered again.
        again = [item.job for job_id, item in self.early.items() if item.key != keys[job_id]]
        todo = [items[job.job_id] for job in [*self.waiting, *again]]
        log.debug("export: %d jobs sent to render while pages arrived, %d of them again", len(self.early), len(again))
        ctx = SnapshotContext(self.cfg.source.notebook_root, self.inventory, {**self._state[0], **keys}, self.schema)
        done = {item.job.job_id: snap for item, snap in self.snapshotter.finish(todo, ctx)
                if item.key == keys[item.job.job_id]}
        order = sorted(items)
        return [items[i] for i in order], [done[i] for i in order]

    def close(self) -> None:
        self.snapshotter.close()

    @functools.cached_property
    def _state(self) -> tuple[dict[int, str], set[str], set[str], dict[str, list[dict] | None]]:
        """From state/'s index: source job id -> key, keys taken, keys claimable, key -> permissions."""
        entries = self.entries()
        return ({e.source_job_id: e.key for e in entries if e.source_job_id is not None}, {e.key for e in entries},
                {e.key for e in entries if e.source_job_id is None}, {e.key: e.permissions for e in entries})

    def _keys(self, jobs: list[SourceJob]) -> dict[int, str]:
        # A state file no source job owns yet (imported from the target) is claimed by the source
        # job of the same name rather than duplicated under a second key.
        known, taken, claimable, _ = self._state
        return assign_keys([(j.job_id, j.name) for j in jobs], known, taken, claimable)

    def _item(self, job: SourceJob, key: str) -> SnapshotItem:
        if self.acl_pool is not None:
            acl = self.acls[job.job_id].result()
        else:  # source.permissions: keep
            acl = self._state[3].get(key)
        return SnapshotItem(key=key, file=self.store.display(self.store.path_for(key)), job=job,
                            permissions=None if isinstance(acl, Problem) else acl,
                            problem=acl.message if isinstance(acl, Problem) else None)

    def _merge(self, kinds: set[str]) -> None:
        for kind in kinds:
            listed = self.listings[kind].result()
            self.inventory.by_id[kind] = listed.by_id[kind]
            self.inventory.by_name[kind] = listed.by_name[kind]


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
    started = time.perf_counter()
    for job in result.exported:
        if store.read_bytes(job.key) != job.text.encode():
            store.write(job.key, job.text)
    log.debug("export: state files written in %.2fs", time.perf_counter() - started)
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
