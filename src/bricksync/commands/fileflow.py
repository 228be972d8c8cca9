"""state/files/ in plan, apply and drift: the file actions of a Plan, and writing them.

Files are a managed kind of their own beside jobs, in the same Plan (plan.files), reports, exit
codes and guards. Each state file is rendered for the target (its source path, notebook_root +
its name, through the target's path_rewrites) and matched to the live object at that path.

The target's files index (edges/wsfiles.py, one file per target) records, per path, the hash of
what bricksync wrote and the object's server-set object_id (and for workspace files modified_at):
a no-op plan lists each folder in use once and reads no content; `drift` reads every managed
object's content (by folder archive). An index entry vouches only for the exact content state/
has now: whenever state's content differs from what the index recorded, the live content is read
and compared, so an index edited by hand can cost reads, never hide a change git asks for. (An
index edited to claim state's new content before its apply could; the index is read and written
in one place, WorkspaceFiles.read_index/write_index, to move onto the trusted store of issue 25.2.)
"""

from __future__ import annotations

import logging
import posixpath
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from ..core.errors import BricksyncError, Problem
from ..core.filecheck import content_checks, use_checks
from ..core.fileplan import FileAction, Indexed, LiveObject, Wanted, plan_files, to_read
from ..core.files import (
    FILE,
    NOTEBOOK,
    FileDoc,
    ObjectKind,
    below,
    content_hash,
    content_problems,
    relative,
    run_targets,
    secret_lines,
    source_path,
    state_name,
)
from ..core.model import TargetConfig
from ..core.plan import Plan
from ..core.references import canonical_path, rewrite_path
from ..edges.statefiles import FileStore
from ..edges.wsfiles import READERS, WorkspaceFiles

log = logging.getLogger("bricksync.files")


def target_path(rel: str, root: str, target: TargetConfig) -> str:
    return rewrite_path(source_path(rel, root), target.path_rewrites)


def job_uses(docs: Iterable[FileDoc], root: str, target: TargetConfig,
             paths_by_key: Mapping[str, Iterable[str]]) -> dict[str, set[str]]:
    """rel -> keys of the jobs that use it: through a path of their settings (a directory: all
    below it), or a %run of a notebook they use, transitively."""
    by_rel = {d.rel: d for d in docs}
    by_target = {canonical_path(target_path(rel, root, target)): rel for rel in by_rel}
    folders = below(by_target)
    out: dict[str, set[str]] = {rel: set() for rel in by_rel}
    for key, paths in paths_by_key.items():
        todo = []
        for path in paths:
            canon = canonical_path(path)
            if canon in by_target:
                todo.append(by_target[canon])
            todo += [by_target[c] for c in folders.get(canon.rstrip("/"), ())]
        seen: set[str] = set()
        while todo:
            rel = todo.pop()
            if rel in seen or rel not in by_rel:
                continue
            seen.add(rel)
            out[rel].add(key)
            doc = by_rel[rel]
            if doc.kind.object_type == NOTEBOOK:
                todo += [r for t in run_targets(source_path(rel, root), doc.data) if (r := relative(t, root))]
    return out


def read_docs(state_dir: Path) -> list[FileDoc]:
    docs, problems = FileStore(state_dir).read_all()
    if problems:
        raise BricksyncError(problems)
    return docs


# long: the plan step in order (render, list folders, read what the index cannot vouch for, decide)
def plan_files_step(plan: Plan, files: WorkspaceFiles, docs: list[FileDoc], *, root: str, target: TargetConfig,
                    uses: Mapping[str, list[tuple[str, str, str]]], adopt: bool = False, every: bool = False,
                    required: bool = False, exempt: Iterable[str] = ()) -> None:
    """Fill plan.files (and plan.files_index_dirty), once state/files/ passed the offline checks.
    `uses`: job key -> (job name, field, target path) of its rendered paths. `every`: read every
    managed object (drift)."""
    problems = content_checks(docs) + use_checks(docs, uses, rewrite_path(root, target.path_rewrites),
                                                 required=required,
                                                 exempt=[rewrite_path(p, target.path_rewrites) for p in exempt])
    if problems:
        raise BricksyncError(problems)
    used_by = job_uses(docs, root, target, {k: [p for _, _, p in rows] for k, rows in uses.items()})
    for doc in docs:
        doc.jobs = sorted(used_by.get(doc.rel, ()))
    wanted = [Wanted(target_path(d.rel, root, target), d) for d in docs]
    raw_index = files.read_index(target.name)
    distrust = files.index_trust(target.name)
    if distrust:  # it may say which objects are bricksync's, never that content is unchanged or gone
        every = True
        plan.warnings.append(f"the files index of '{target.name}' is not trusted ({distrust}): every managed "
                             "object's content is read, and none is offered for deletion")
    by_canon = {canonical_path(w.path): w.path for w in wanted}
    index: dict[str, Indexed] = {by_canon.get(canonical_path(p), p): e for p, e in raw_index.items()}
    folders = {posixpath.dirname(p) for p in list(by_canon.values()) + list(index)}
    live: dict[str, LiveObject] = {}
    for entries in files.list_folders(folders).values():
        for obj in entries or []:
            canon = canonical_path(obj.path)
            live[by_canon.get(canon, canon)] = obj
    for path in list(index):  # an index entry in spelling of its own (an orphan): look it up as listed
        canon = canonical_path(path)
        if path not in live and canon in live:
            live[path] = live[canon]
    read = to_read(wanted, live, index, every=every)
    doc_at = {w.path: w.doc for w in wanted}
    kinds = {p: _live_kind(live[p], doc_at[p]) for p in read}
    contents = files.read_contents(dict(kinds)) if kinds else {}
    plan.files = plan_files(wanted, live, index, contents, adopt=adopt)
    if distrust:
        plan.files = [f for f in plan.files if f.action != "orphan"]
    plan.files_index_dirty = any(f.action == "no-op" and (f.path not in index or index[f.path].sha != f.sha)
                                 for f in plan.files)
    log.debug("files plan %s: %d files, %d folders listed, %d contents read", target.name, len(docs),
              len(folders), len(contents))


def _live_kind(obj: LiveObject, doc: FileDoc) -> ObjectKind:
    """How to read the live object: as the kind state has, when the target has that kind."""
    if obj.object_type == doc.kind.object_type:
        return doc.kind
    return ObjectKind(FILE) if obj.object_type == FILE else ObjectKind(NOTEBOOK, obj.language or "PYTHON", "SOURCE")


# --- apply -------------------------------------------------------------------------------------

@dataclass
class FileOutcome:
    path: str
    action: str
    ok: bool
    detail: str
    jobs: list[str] = field(default_factory=list)


# long: mkdirs, imports, deletes and the index, in the order apply needs them
def write_files(plan: Plan, files: WorkspaceFiles, data_of: Callable[[FileAction], bytes], *,
                prune: bool = False) -> tuple[list[FileOutcome], set[str]]:
    """Write the plan's file actions before any job (folders first), delete managed orphans with
    prune, record the result in the index. Returns the outcomes and the keys of jobs whose files
    failed (apply skips those jobs; the others go ahead)."""
    writes = [f for f in plan.files if f.writes]
    deletes = [f for f in plan.files if f.action == "orphan"] if prune else []
    if not writes and not deletes and not plan.files_index_dirty:
        return [], set()
    outcomes: list[FileOutcome] = []
    failed_folders: dict[str, str] = {}
    for folder in sorted({posixpath.dirname(f.path) for f in writes}):
        try:
            files.mkdirs(folder)
        except BricksyncError as exc:
            failed_folders[folder] = exc.render()

    def write(f: FileAction) -> FileOutcome:
        folder = posixpath.dirname(f.path)
        if folder in failed_folders:
            return FileOutcome(f.path, f.action, False, f"folder not created: {failed_folders[folder]}", f.jobs)
        try:
            data = data_of(f)
            files.write(f.path, data, ObjectKind(f.object_type, f.language, f.fmt), overwrite=f.action != "create")
        except BricksyncError as exc:
            return FileOutcome(f.path, f.action, False, exc.render(), f.jobs)
        return FileOutcome(f.path, f.action, True, f"written ({f.size:,} bytes)", f.jobs)

    def delete(f: FileAction) -> FileOutcome:
        try:
            files.delete(f.path)
        except BricksyncError as exc:
            return FileOutcome(f.path, "delete", False, exc.render())
        return FileOutcome(f.path, "delete", True, "deleted (prune)")

    with ThreadPoolExecutor(max_workers=READERS, thread_name_prefix="files-write") as pool:
        outcomes += list(pool.map(write, writes))
        outcomes += list(pool.map(delete, deletes))
    failed_jobs = {k for o in outcomes if not o.ok and o.action != "delete" for k in o.jobs}
    _record(plan, files, outcomes)
    return outcomes, failed_jobs


def _record(plan: Plan, files: WorkspaceFiles, outcomes: list[FileOutcome]) -> None:
    """The index after apply: what it held, the objects written now (with their server-set object_id
    and modified_at, one listing per folder written), no-ops seen holding, deleted ones dropped."""
    index = files.read_index(plan.target)
    written = {o.path for o in outcomes if o.ok and o.action != "delete"}
    gone = {canonical_path(o.path) for o in outcomes if o.ok and o.action == "delete"}
    by_path = {f.path: f for f in plan.files}
    keep = {p: e for p, e in index.items() if canonical_path(p) not in gone}
    listed = files.list_folders({posixpath.dirname(p) for p in written | {f.path for f in plan.files
                                                                             if f.action == "no-op"}})
    live = {canonical_path(o.path): o for entries in listed.values() for o in entries or []}
    for path, f in by_path.items():
        if path not in written and f.action != "no-op":
            continue
        obj = live.get(canonical_path(path))
        if obj is not None:
            keep = {p: e for p, e in keep.items() if canonical_path(p) != canonical_path(path)}
            keep[path] = Indexed(f.sha, obj.object_id, obj.modified_at)
    try:
        files.write_index(plan.target, keep)
    except BricksyncError as exc:  # the next plan sees these objects as not written by bricksync
        log.warning("files index not written: %s", exc.render())


def data_reader(store: FileStore) -> Callable[[FileAction], bytes]:
    """The bytes to write for a file action, read from state/files/ and checked against the hash the
    plan was made with (a saved plan applied after state/files/ changed is refused for that file)."""
    def read(f: FileAction) -> bytes:
        data = store.read(f.name)
        if content_hash(data) != f.sha:
            raise BricksyncError(Problem("changed since the plan was made: plan again before applying it",
                                         file=f.file))
        return data
    return read


# --- capture: a hand edit of a managed object in the target, back into state/files/ ----------------

@dataclass
class CapturedFile:
    name: str  # below state/files/ (the target path rewritten back to the source path's name)
    path: str  # in the target
    data: bytes
    file: str  # as shown


# long: read, compare and check each managed object in one pass
def capture_files(files: WorkspaceFiles, docs: list[FileDoc], *, root: str, target: TargetConfig,
                  keys: set[str] | None, paths_by_key: Mapping[str, Iterable[str]]
                  ) -> tuple[list[CapturedFile], list[tuple[str, list[Problem]]]]:
    """Managed objects (in the files index) whose live content differs from state/files/: their live
    content under the same state file name. Refused (with the reason): an object whose kind or language
    changed in the target, content with a credential, content over the import limit."""
    used = job_uses(docs, root, target, paths_by_key) if keys else {}
    chosen = [d for d in docs if keys is None or used.get(d.rel, set()) & keys]
    index = {canonical_path(p) for p in files.read_index(target.name)}
    wanted = [(target_path(d.rel, root, target), d) for d in chosen]
    wanted = [(p, d) for p, d in wanted if canonical_path(p) in index]
    live: dict[str, LiveObject] = {}
    for entries in files.list_folders({posixpath.dirname(p) for p, _ in wanted}).values():
        live.update({canonical_path(o.path): o for o in entries or []})
    present = {p: d for p, d in wanted if canonical_path(p) in live}
    contents = files.read_contents({p: d.kind for p, d in present.items()})
    captured, refused = [], []
    for path, doc in sorted(present.items()):
        obj, data = live[canonical_path(path)], contents[path]
        if data == doc.data:
            continue
        if obj.object_type != doc.kind.object_type or (obj.language and obj.language != doc.kind.language):
            refused.append((path, [Problem(f"{path} is a {obj.object_type.lower()} "
                                           f"{(obj.language or '').lower()} in the target, not a {doc.kind.describe()}: "
                                           "not captured (change it in the source and export)", file=doc.file)]))
            continue
        problems = [Problem(f"line {n}: {why}: not captured", file=doc.file) for n, why in secret_lines(data)]
        problems += [Problem(m, file=doc.file) for m in content_problems(FileDoc(doc.rel, doc.kind, data))]
        if problems:
            refused.append((path, problems))
            continue
        captured.append(CapturedFile(state_name(doc.rel, doc.kind), path, data, doc.file))
    return captured, refused
