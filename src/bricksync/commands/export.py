"""bricksync export: tagged source jobs -> state/ files -> a commit -> tags acknowledged.

Order is the safety: read and validate everything, then write files, then commit (and
push), and only then flip the selection tag, so a tag is never set to false for a job whose
state is not committed. A re-run after a crash anywhere converges without a second commit.
"""

from __future__ import annotations

import datetime as dt
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from ..core.bulk import bulk_data
from ..core.errors import BricksyncError, Problem
from ..core.keys import assign_keys
from ..core.model import StateDoc
from ..core.normalize import digest, normalize_job
from ..core.permissions import from_api, to_state
from ..core.references import reference_sites
from ..core.snapshot import snapshot_job
from ..core.validate import validate_docs
from ..edges.config import Config
from ..edges.state import GitRepo, StateStore, blob_id, parse_state, render_state
from ..edges.workspace import ACL_READERS, Workspace

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

    @property
    def changed(self) -> list[ExportedJob]:
        return [j for j in self.exported if j.status != "unchanged"]


def default_branch() -> str:
    return f"bricksync/export-{dt.datetime.now(dt.timezone.utc):%Y-%m-%d}"


def read_selected(cfg: Config, ws: Workspace, on_page=None) -> tuple[list[dict], int]:
    """Jobs whose selection tag matches, read page by page (full task lists). And the count scanned."""
    selected, scanned = [], 0
    for page in ws.job_pages():
        scanned += len(page)
        selected.extend(j for j in page if cfg.source.select.matches((j.get("settings") or {}).get("tags")))
        if on_page:
            on_page(len(page))
    return sorted(selected, key=lambda j: j["job_id"]), scanned


def kinds_in(settings: list[dict]) -> set[str]:
    """Kinds of object these (source) job settings hold IDs of."""
    return {site.kind for s in settings for site in reference_sites(s)}


def build_export(cfg: Config, ws: Workspace, store: StateStore, on_page=None) -> ExportResult:
    """Read and transform everything; write nothing."""
    with bulk_data():  # not around rendering: ruamel makes cyclic garbage for every file
        docs, problems = store.read_all()
        if problems:
            raise BricksyncError(problems)
        selected, scanned = read_selected(cfg, ws, on_page)
    result = ExportResult(scanned=scanned)
    if not selected:
        return result
    # Only the kinds these jobs reference are listed (an identity may not be allowed to list the rest).
    inventory = ws.inventory(kinds_in([(j.get("settings") or {}) for j in selected]))
    for name, ident in cfg.source.budget_policies.items():  # account objects: named in the config
        inventory.add("budget_policy", ident, name)
    acls = read_acls(ws, [j["job_id"] for j in selected])
    known = {d.source_job_id: d.key for d in docs if d.source_job_id is not None}
    names = [(j["job_id"], (j.get("settings") or {}).get("name", "")) for j in selected]
    # A state file no source job owns yet (imported from the target) is claimed by the source
    # job of the same name rather than duplicated under a second key.
    keys = assign_keys(names, known, {d.key for d in docs}, {d.key for d in docs if d.source_job_id is None})
    job_keys = {**known, **keys}
    new_docs: dict[str, StateDoc] = {d.key: d for d in docs}
    candidates: list[tuple[dict, str, str]] = []
    for job in selected:
        key = keys[job["job_id"]]
        name = (job.get("settings") or {}).get("name", key)
        settings, job_problems = snapshot_job(
            job, key=key, notebook_root=cfg.source.notebook_root, select_tag=cfg.source.select.tag,
            inventory=inventory, job_keys=job_keys)
        acl = acls.get(job["job_id"])
        if isinstance(acl, Problem):
            job_problems = [*job_problems, Problem(acl.message, job=name, field="permissions")]
        if job_problems:
            result.rejected.append((name, job_problems))
            continue
        text = render_state(StateDoc(key=key, settings=settings or {}, source_job_id=job["job_id"],
                                     permissions=acl if isinstance(acl, list) else None))
        file = store.display(store.path_for(key))
        new_docs[key] = parse_state(text.encode(), file)  # exactly what a reader will see
        candidates.append((job, key, text))
    # Validate the state set as it will be after the export; a job whose file would not pass
    # `bricksync validate` is rejected now rather than committed broken.
    bad_files = {}
    for problem in validate_docs(list(new_docs.values())):
        bad_files.setdefault(problem.file, []).append(problem)
    for job, key, text in candidates:
        name = (job.get("settings") or {}).get("name", key)
        file_problems = bad_files.get(store.display(store.path_for(key)))
        if file_problems:
            result.rejected.append((name, file_problems))
            continue
        result.exported.append(ExportedJob(key=key, name=name, job_id=job["job_id"], status="",
                                           text=text, tags=dict((job.get("settings") or {}).get("tags") or {}),
                                           digest=digest(normalize_job(job, ordered=False, copy=False))))
    return result


def read_acls(ws: Workspace, job_ids: list[int]) -> dict[int, list[dict] | Problem]:
    """job id -> its direct permission entries in state form (one GET per job, ACL_READERS at a time),
    or the problem that stopped the read (that job is not exported; the others are)."""
    def one(job_id: int) -> list[dict] | Problem:
        try:
            return to_state(from_api(ws.job_permissions(job_id)))
        except BricksyncError as exc:
            return Problem(exc.render())

    with ThreadPoolExecutor(max_workers=ACL_READERS, thread_name_prefix="acl") as pool:
        return dict(zip(job_ids, pool.map(one, job_ids), strict=True))


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
               on_page=None, ack_parallelism: int | None = None) -> ExportResult:
    store = StateStore(cfg.state_dir)
    git = _git_or_none(cfg) if dry_run else GitRepo(cfg.root) if commit else None
    branch = branch or default_branch()
    result = build_export(cfg, ws, store, on_page)
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
    now = _current(ws, {j.job_id for j in committed}) if committed else {}
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
    to_write = [j for j in result.exported if store.read_bytes(j.key) != j.text.encode()]
    if not to_write:
        return
    dirty = git.uncommitted(store.jobs_dir)
    hit = [store.display(store.path_for(j.key)) for j in to_write if git.key_of(store.path_for(j.key)) in dirty]
    if hit:
        raise BricksyncError([Problem("has uncommitted changes (staged or not) that export would overwrite; "
                                      "commit, stash or discard them (git stash / git checkout -- FILE), then "
                                      "export again. Nothing was written.", file=f) for f in hit])


def _current(ws: Workspace, job_ids: set[int]) -> dict[int, tuple[str, dict]]:
    """job id -> (digest, tags) of these jobs as the source has them now."""
    out = {}
    with bulk_data():
        for page in ws.job_pages():
            for job in page:
                if job["job_id"] in job_ids:
                    tags = dict((job.get("settings") or {}).get("tags") or {})
                    out[job["job_id"]] = (digest(normalize_job(job, ordered=False, copy=False)), tags)
    return out
