"""export's first half: read the tagged source jobs and turn them into state file texts,
checked as `bricksync validate` would check them. Writes nothing.

Built to stay near the cost of fetching the pages (issue 15): each selected job is reduced to
its canonical JSON as its page arrives (the page is dropped), its permission read starts at
once, and batches of jobs whose snapshot can already be made are rendered in worker
processes while later pages still arrive.
"""

from __future__ import annotations

import functools
import logging
import time
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path

from ..core.bulk import bulk_data
from ..core.errors import BricksyncError, Problem
from ..core.keys import assign_keys
from ..core.permissions import from_api, to_state
from ..core.references import Inventory
from ..core.schema import schema_table
from ..core.validate import check_across
from ..edges.config import Config
from ..edges.state import StateStore
from ..edges.workspace import ACL_READERS, LISTINGS, Workspace
from .branchbase import branch_keys
from .desired import DesiredState, IndexEntry
from .export_work import EARLY_BATCH, Snapshot, SnapshotContext, SnapshotItem, Snapshotter, SourceJob, read_source_job

log = logging.getLogger("bricksync.export")


@dataclass
class ExportedJob:
    key: str
    name: str
    job_id: int
    status: str  # added | changed | unchanged
    text: str
    tags: dict[str, str]
    digest: str = ""  # of the job as read: acknowledged only if it is still the same
    staged: bool = False  # its text is in the staging folder (a rename puts it in place)


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
    # source.files: referenced (files_export.py): state/files/ to write, to remove, and what is not copied
    files: list = field(default_factory=list)  # [ExportedFile]
    files_removed: list[str] = field(default_factory=list)
    files_skipped: list[tuple[str, str, str]] = field(default_factory=list)  # (path, job, why)

    @property
    def changed(self) -> list[ExportedJob]:
        return [j for j in self.exported if j.status != "unchanged"]


def build_export(cfg: Config, ws: Workspace, store: StateStore, on_page=None,
                 desired: DesiredState | None = None, staging: Path | None = None, *,
                 with_files: bool = True, branch: str | None = None) -> ExportResult:
    """Read and transform everything; write no state file. `desired`: state/ opened (and being
    parsed in worker processes) before the SDK was imported; else it is read here. `staging`:
    a folder where worker processes write the texts that changed (see StateStore.staging_dir).
    `branch`: the one the commit goes on; the keys its state files hold are in use too."""
    own = desired is None
    desired = desired or DesiredState(store.dir, workers=0)
    try:
        result = _build(cfg, ws, store, desired, on_page, staging, branch_keys(cfg.root, store, branch))
        if with_files and cfg.source.files == "referenced" and result.exported:
            from ..edges.statefiles import FileStore
            from ..edges.wsfiles import WorkspaceFiles
            from .files_export import attach_files

            attach_files(result, WorkspaceFiles(ws), cfg.source.notebook_root, FileStore(store.dir), store)
        return result
    finally:
        if own:
            desired.close()


def _build(cfg: Config, ws: Workspace, store: StateStore, desired: DesiredState, on_page,
           staging: Path | None, on_branch: tuple[dict[int, str], set[str], set[str]]) -> ExportResult:
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=4, thread_name_prefix="export") as side, \
            ThreadPoolExecutor(max_workers=ACL_READERS, thread_name_prefix="acl") as acl_pool:
        pipeline = _Pipeline(cfg, ws, store, side.submit(desired.index), side,
                             acl_pool if cfg.source.permissions == "read" else None, staging, on_branch)
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
    # By file, not by key: a file renamed by hand still holding a job's key stays in the set, so
    # the job's new <key>.yml is refused as a second file with that key (not committed beside it).
    links = {e.links.file: e.links for e in entries}
    links.update((item.file, s.links) for item, s in zip(items, snapshots, strict=True) if s.links is not None)
    across: dict[str, list[Problem]] = {}
    for problem in check_across(list(links.values())):
        across.setdefault(problem.file or "", []).append(problem)
    checked = []
    for item, snap in zip(items, snapshots, strict=True):
        if snap.text is None:
            result.rejected.append((item.job.name or item.key, snap.problems))
        else:
            checked.append((item, snap, snap.problems + across.get(item.file, [])))
    _trap_notes(result, [(item, snap) for item, snap, found in checked if not found])
    for item, snap, found in checked:
        if found:
            result.rejected.append((item.job.name or item.key, found))
        else:
            result.exported.append(ExportedJob(key=item.key, name=item.job.name or item.key, job_id=item.job.job_id,
                                               status="", text=snap.text or "", tags=item.job.tags,
                                               digest=item.job.digest, staged=snap.staged))
    return result


TRAP_NOTES = 50  # jobs named in the export summary's notes on what was left out; the rest counted


def _trap_notes(result: ExportResult, done: list[tuple[SnapshotItem, Snapshot]]) -> None:
    """The summary's lines on what export left out or cannot see, per job (issue 24)."""
    noted = [(item, snap) for item, snap in done if snap.notes]
    for item, snap in noted[:TRAP_NOTES]:
        result.notes.extend(f"{item.job.name or item.key}: {note}" for note in snap.notes)
    if len(noted) > TRAP_NOTES:
        result.notes.append(f"... and {len(noted) - TRAP_NOTES} more job(s) with such notes")


@dataclass(frozen=True)
class _StateView:
    """What the pipeline needs of state/'s index."""

    known: dict[int, str]  # source job id -> key
    taken: set[str]  # every key in use
    claimable: set[str]  # keys of files no source job owns yet (imported from the target)
    by_file: dict[str, IndexEntry]


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
                 side: ThreadPoolExecutor, acl_pool: ThreadPoolExecutor | None, staging: Path | None,
                 on_branch: tuple[dict[int, str], set[str], set[str]] = ({}, set(), set())):
        self.cfg, self.ws, self.store, self.index, self.side, self.acl_pool = cfg, ws, store, index, side, acl_pool
        self.staging = str(staging) if staging is not None else None
        self.on_branch = on_branch  # what the branch the commit goes on holds otherwise than HEAD
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
        ctx = SnapshotContext(self.cfg.source.notebook_root, self.inventory, {}, self.schema, self.staging)
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
        ctx = SnapshotContext(self.cfg.source.notebook_root, self.inventory, {**self._state.known, **keys}, self.schema)
        done = {item.job.job_id: snap for item, snap in self.snapshotter.finish(todo, ctx)
                if item.key == keys[item.job.job_id]}
        order = sorted(items)
        return [items[i] for i in order], [done[i] for i in order]

    def close(self) -> None:
        """Stop what is still queued (after an error: not 10,000 reads before it is reported)."""
        for future in [*self.acls.values(), *self.listings.values()]:
            future.cancel()
        self.snapshotter.close()

    @functools.cached_property
    def _state(self) -> _StateView:
        entries = self.entries()
        # The branch's keys are in use too: a job named like one of its files gets another key (the
        # branch's file is never overwritten by another job); a job whose file is only there keeps it.
        known, taken, unowned = self.on_branch
        here = {e.source_job_id: e.key for e in entries if e.source_job_id is not None}
        return _StateView(known={**known, **here}, taken={e.key for e in entries} | taken,
                          claimable=({e.key for e in entries if e.source_job_id is None} | unowned)
                          - set(here.values()) - set(known.values()),
                          by_file={e.links.file: e for e in entries})

    def _keys(self, jobs: list[SourceJob]) -> dict[int, str]:
        # A state file no source job owns yet (imported from the target) is claimed by the source
        # job of the same name rather than duplicated under a second key.
        view = self._state
        return assign_keys([(j.job_id, j.name) for j in jobs], view.known, view.taken, view.claimable)

    def _item(self, job: SourceJob, key: str) -> SnapshotItem:
        file = self.store.display(self.store.path_for(key))
        entry = self._state.by_file.get(file)
        if self.acl_pool is not None:
            acl = self.acls[job.job_id].result()
        else:  # source.permissions: keep
            acl = entry.permissions if entry else None
        return SnapshotItem(key=key, file=file, job=job, permissions=None if isinstance(acl, Problem) else acl,
                            problem=acl.message if isinstance(acl, Problem) else None,
                            on_disk=entry.blob if entry else None, carried=entry.write_only if entry else None)

    def _merge(self, kinds: set[str]) -> None:
        for kind in kinds:
            listed = self.listings[kind].result()
            self.inventory.by_id[kind] = listed.by_id[kind]
            self.inventory.by_name[kind] = listed.by_name[kind]
            if kind == "policy":
                self.inventory.policies = listed.policies


def _read_acl(ws: Workspace, job_id: int) -> list[dict] | Problem:
    """A job's direct permission entries in state form, or the problem that stopped the read
    (that job is not exported; the others are)."""
    try:
        return to_state(from_api(ws.job_permissions(job_id)))
    except BricksyncError as exc:
        return Problem(exc.render())
