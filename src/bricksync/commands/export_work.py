"""Export's per-job work, apart from any workspace call: run in this process or in worker
processes (it never imports databricks-sdk), and written so that what crosses a process
boundary is small (JSON text in, YAML text and findings out).

A source job is reduced to a `SourceJob` as soon as its page arrives (the page itself is
dropped: 10,000 raw jobs are most of what export used to hold). Once keys, the source
inventory and permissions are known, `snapshot_many` turns each into its state file text,
checked as `bricksync validate` would check the file.
"""

from __future__ import annotations

import json
import multiprocessing
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass

from ..core.errors import BricksyncError, Problem
from ..core.keys import KEY_RE
from ..core.model import StateDoc
from ..core.normalize import canonical_json, digest_json, normalize_job, normalize_settings, ordered
from ..core.references import Inventory, reference_sites
from ..core.schema import SchemaTable, coerce_scalars
from ..core.snapshot import snapshot_settings
from ..core.traps import export_fixups, export_write_only
from ..core.validate import DocLinks, validate_doc
from ..edges.state import blob_id, parse_state, render_state, stage_file
from .desired import background, start_method, worker_count


@dataclass(frozen=True)
class SourceJob:
    """A selected source job as export keeps it while the other pages arrive."""

    job_id: int
    name: str
    tags: dict[str, str]
    canonical: str  # canonical_json of its normalized settings, selection tag dropped
    digest: str  # of the same: acknowledged only if the job still has it
    kinds: frozenset[str]  # reference kinds its settings hold IDs of (what the inventory must list)


def read_source_job(job: dict, select_tag: str) -> SourceJob:
    settings = job.get("settings") or {}
    canonical = normalize_job(job, drop_tags=(select_tag,), ordered=False, copy=False)
    text = canonical_json(canonical)
    return SourceJob(job_id=job["job_id"], name=settings.get("name", str(job["job_id"])),
                     tags=dict(settings.get("tags") or {}), canonical=text, digest=digest_json(text),
                     kinds=frozenset(site.kind for site in reference_sites(canonical)))


@dataclass(frozen=True)
class SnapshotContext:
    """What every job's snapshot needs, the same for all (sent once per batch to a worker)."""

    notebook_root: str
    inventory: Inventory
    job_keys: dict[int, str]  # source job id -> key
    schema: SchemaTable
    staging: str | None = None  # write each changed, valid text there (see StateStore.staging_dir)


@dataclass(frozen=True)
class SnapshotItem:
    key: str
    file: str  # the state file as messages name it
    job: SourceJob
    permissions: list[dict] | None  # direct grants in state form; None: no `permissions:`
    problem: str | None = None  # why the permissions could not be read
    on_disk: str | None = None  # blob id of the file state/ has now (None: no file)
    carried: dict | None = None  # write-only values the file sets (the API never returns them)


@dataclass(frozen=True)
class Snapshot:
    key: str
    text: str | None  # the state file; None when the job is rejected
    problems: list[Problem]
    links: DocLinks | None  # for the checks across files
    staged: bool = False  # the text was written to the staging folder
    notes: tuple[str, ...] = ()  # what export left out or cannot see (issue 24's traps)


def snapshot_one(item: SnapshotItem, ctx: SnapshotContext) -> Snapshot:
    job = item.job
    canonical = json.loads(job.canonical)
    typed = coerce_scalars(canonical, ctx.schema)  # "false" where the API has a boolean: the service took it
    canonical = normalize_settings(typed) if typed is not canonical else ordered(canonical)  # ("false": a default)
    notes = export_fixups(canonical, ctx.inventory.policies, ctx.inventory.by_id["policy"], item.carried)
    settings, problems = snapshot_settings(canonical, name=job.name,
                                           notebook_root=ctx.notebook_root, inventory=ctx.inventory,
                                           job_keys=ctx.job_keys)
    if settings is not None:
        notes += export_write_only(settings, item.carried or {})
        settings = ordered(settings)
    if item.problem is not None:
        problems = [*problems, Problem(item.problem, job=job.name, field="permissions")]
    if problems:
        return Snapshot(item.key, None, problems, None)
    text = render_state(StateDoc(key=item.key, settings=settings or {}, source_job_id=job.job_id,
                                 permissions=item.permissions))
    data = text.encode()
    doc = parse_state(data, item.file)  # exactly what a reader of the file will see
    problems = validate_doc(doc, ctx.schema)
    staged = bool(ctx.staging and not problems and KEY_RE.fullmatch(item.key) and item.on_disk != blob_id(data))
    if staged:
        try:
            stage_file(ctx.staging or "", job.job_id, text)
        except OSError:  # staging only saves time: the main process writes this file itself
            staged = False
    return Snapshot(item.key, text, problems, DocLinks.of(doc), staged, tuple(notes))


def snapshot_many(items: list[SnapshotItem], ctx: SnapshotContext) -> list[Snapshot]:
    """A batch (a worker process's unit of work)."""
    return [snapshot_one(item, ctx) for item in items]


EARLY_BATCH = 250  # jobs ready to render before a batch goes to the workers while pages still arrive
BATCHES_PER_WORKER = 4  # at the end: a few batches each, so a slow one does not leave the other worker idle


def _pool(workers: int) -> ProcessPoolExecutor:
    return ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context(start_method()),
                               initializer=background)


class Snapshotter:
    """Renders snapshots in worker processes (CPU only; they never import databricks-sdk):
    batches sent while pages still arrive, the rest at the end. With too few jobs for the
    processes to pay (the same threshold and BRICKSYNC_STATE_WORKERS as reading state/),
    everything is rendered here, at the end."""

    def __init__(self) -> None:
        self._pool: ProcessPoolExecutor | None = None
        self._sent: list[tuple[list[SnapshotItem], Future]] = []

    def send(self, items: list[SnapshotItem], ctx: SnapshotContext, expected: int) -> bool:
        """Start rendering `items` in the workers (`expected`: jobs in this export so far);
        False when the export is too small for worker processes (render them at the end)."""
        if self._pool is None:
            workers = worker_count(expected)
            if workers < 2:
                return False
            self._pool = _pool(workers)
        self._sent.append((items, self._pool.submit(snapshot_many, items, ctx)))
        return True

    def finish(self, items: list[SnapshotItem], ctx: SnapshotContext) -> list[tuple[SnapshotItem, Snapshot]]:
        """Render `items` too and return every (item, snapshot) sent or rendered, in no order."""
        workers = worker_count(len(items) + sum(len(i) for i, _ in self._sent))
        if items and self._pool is None and workers >= 2:
            self._pool = _pool(workers)
        if items and self._pool is not None:
            size = -(-len(items) // (max(2, workers) * BATCHES_PER_WORKER))
            for i in range(0, len(items), size):
                self._sent.append((items[i:i + size], self._pool.submit(snapshot_many, items[i:i + size], ctx)))
            items = []
        out = list(zip(items, snapshot_many(items, ctx), strict=True))
        try:
            for batch, future in self._sent:
                out.extend(zip(batch, future.result(), strict=True))
        except BrokenProcessPool:  # killed (out of memory, a signal): nothing was written yet
            raise BricksyncError("a process rendering state files died; nothing was written "
                                 "(BRICKSYNC_STATE_WORKERS=0 renders them in this process)") from None
        return out

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
            self._pool = None
