"""bricksync capture / import: live target jobs -> state/ files -> a commit on a branch.

The other way to settle drift: accept the live job into git instead of reverting it. The
target is only read; the source workspace is never contacted. Each job goes through the
exact inverse of render (inverse.py); a job it cannot express exactly is refused with the
reason and its file left alone. Files are written in export's form (same bytes for the same
settings), only ours are committed, and a state file with uncommitted changes is never
overwritten. Import also records, per target, which live job each new file adopts, so apply
tags that job with its key instead of creating another.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import shlex
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from ..core.bulk import bulk_data
from ..core.errors import BricksyncError, Problem
from ..core.escape import commit_text
from ..core.inverse import invert_job, invert_permissions
from ..core.keys import assign_keys
from ..core.model import StateDoc, TargetConfig
from ..core.normalize import normalize_job, normalize_settings
from ..core.ownership import claimed_ids
from ..core.plan import field_changes
from ..core.references import Inventory, parse_placeholder, path_sites, reference_sites, rewrite_path
from ..core.render import managed_key, render
from ..core.schema import coerce_scalars, schema_table
from ..core.traps import bundle_fields, carry_write_only, export_fixups, write_only_values
from ..core.validate import validate_docs
from ..edges.config import Config
from ..edges.state import (
    GitRepo,
    StateStore,
    adoption_file,
    adoption_path,
    dirty_paths,
    parse_state,
    read_adoptions,
    render_state,
    state_body,
    write_adoptions,
    written_by,
)
from ..edges.statefiles import FileStore, files_in_use
from ..edges.workspace import ACL_READERS, Workspace
from .branchbase import Base, read_base

MESSAGE_JOBS = 200  # jobs listed in a commit message; the rest are counted
MESSAGE_FIELDS = 20  # fields listed per job


@dataclass
class CapturedJob:
    key: str
    name: str
    job_id: int
    status: str  # added | changed
    text: str
    fields: list[str] = field(default_factory=list)  # state fields that change
    notes: list[str] = field(default_factory=list)  # what was left out of state (issue 24's traps)


@dataclass
class CaptureResult:
    kind: str  # capture | import
    target: str
    captured: list[CapturedJob] = field(default_factory=list)
    refused: list[tuple[str, list[Problem]]] = field(default_factory=list)  # (key or name, reasons)
    unchanged: list[str] = field(default_factory=list)
    adopted: dict[str, int] = field(default_factory=dict)  # import: key -> target job ID
    base: Base | None = field(default=None, repr=False)  # state/ as the commit will find it
    branch: str | None = None
    commit: str | None = None
    pushed: bool = False
    notes: list[str] = field(default_factory=list)
    files: list = field(default_factory=list)  # [fileflow.CapturedFile]: hand edits of managed notebooks and files


def default_branch(kind: str, target: str) -> str:
    return f"bricksync/{kind}-{target}-{dt.datetime.now(dt.timezone.utc):%Y-%m-%d}"


def _read(cfg: Config, target: str, ws: Workspace, store: StateStore, branch: str | None
          ) -> tuple[Base, list[dict], object]:
    with bulk_data():
        base = read_base(store, cfg.state_dir, target, cfg.root, branch)
        live = ws.list_jobs()
    return base, live, ws.inventory()


def _managed(live: list[dict]) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for job in live:
        key = managed_key(job)
        if key:
            out.setdefault(key, []).append(job)
    return out


def promotable(job: dict, inventory: Inventory, kind: str, target: str,
               existing: dict | None = None) -> tuple[dict, list[str]]:
    """The live job as state may hold it, and what was left out: export's rules (core/traps.py)
    with the target's policies, since the target is the source here. Its bundle fields and what
    its cluster policies fixed (their defaults too where the state file applies them) would
    otherwise go from state into every other target, where another policy refuses them.
    `existing`: the state file's settings (capture); a value it sets stays."""
    # as export: the service's types; a top-level copy (the fixups replace what they change)
    settings = dict(coerce_scalars(job.get("settings") or {}, schema_table()))
    notes = export_fixups(settings, inventory.policies, inventory.by_id["policy"],
                          write_only_values(existing or {}), existing=existing, side=f"'{target}'", command=kind)
    return {**job, "settings": settings}, notes


# long: one pass per key, each refusal named beside the check that makes it
def build_capture(cfg: Config, target_name: str, ws: Workspace, keys: list[str] | None = None, *,
                  branch: str | None = None) -> CaptureResult:
    """Managed jobs whose live settings differ from their state file (all, or `keys`), inverted:
    the files as `branch` (the one the commit goes on) has them. Reads the target; writes nothing."""
    target = cfg.target(target_name)
    store = StateStore(cfg.state_dir)
    base, live, inventory = _read(cfg, target_name, ws, store, branch)
    docs = base.docs
    result = CaptureResult("capture", target_name, base=base)
    by_key = {d.key: d for d in docs}
    # Only bricksync's own jobs (core/ownership.py): a job that merely carries a key is never captured.
    claimed = claimed_ids(live, ws.read_owned(target_name), ws.bricksync_identity())
    managed = _managed([j for j in live if int(j["job_id"]) not in claimed])
    job_ids = _adopting(base.adoptions, live, managed)
    job_ids.update({k: int(jobs[0]["job_id"]) for k, jobs in managed.items() if len(jobs) == 1})
    job_keys = {v: k for k, v in job_ids.items()}
    wanted = sorted(set(keys)) if keys else sorted(by_key)
    # Permissions are compared only where the target manages them and the file lists them (as plan).
    acl_ids = [int(managed[k][0]["job_id"]) for k in wanted if k in by_key and len(managed.get(k, [])) == 1
               and by_key[k].permissions is not None] if target.permissions != "ignore" else []
    acls = _read_acls(ws, acl_ids)
    new_docs = dict(by_key)
    for key in wanted:
        doc, jobs = by_key.get(key), managed.get(key, [])
        if doc is None:
            why = "no state file for this key" + (" (an orphan in the target: restore its file from git history, "
                                                  "or delete the job with apply --prune)" if jobs else "")
            result.refused.append((key, [Problem(why, file=store.display(store.path_for(key)))]))
            continue
        if len(jobs) != 1:
            if keys or jobs:  # all keys: a job not created yet is apply's business, not drift
                why = "no job in the target carries this key (apply creates it)" if not jobs else \
                    f"{len(jobs)} target jobs carry this key ({', '.join(str(j['job_id']) for j in jobs)})"
                result.refused.append((key, [Problem(why, file=doc.file)]))
            continue
        job, notes = promotable(jobs[0], inventory, "capture", target_name, doc.settings)
        name = str(doc.settings.get("name", key))
        rendered, problems = render(doc, target, inventory, job_ids)
        same = not problems and normalize_settings(rendered, ordered=False) == normalize_job(job, ordered=False)
        perms, acl_problems = doc.permissions, []
        acl = acls.get(int(job["job_id"]))
        if isinstance(acl, Problem):
            acl_problems = [acl.message]
        elif acl is not None:
            perms, acl_problems = invert_permissions(acl, target, doc.permissions)
        if same and not acl_problems and perms == doc.permissions:
            result.unchanged.append(key)
            if held_out := bundle_fields(jobs[0].get("settings") or {}):  # drift shows them; only apply settles
                result.notes.append(f"{key}: differs from its state file only in {', '.join(held_out)}, fields "
                                    f"state never holds (a bundle's): `bricksync apply --target "
                                    f"{shlex.quote(target_name)}` settles it (it sends the job without them)")
            continue
        settings: dict | None = doc.settings
        if not same:
            settings, problems = invert_job(job, key=key, target=target, inventory=inventory, job_keys=job_keys,
                                            job_ids=job_ids, existing=doc.settings)
            if settings is not None:  # what the file sets that the API never returns stays (traps.py)
                carry_write_only(settings, write_only_values(doc.settings))
        problems = list(problems if not same else []) + [
            Problem(m, job=name, field="permissions") for m in acl_problems]
        if problems:
            result.refused.append((key, [_in_file(p, doc.file) for p in problems]))
            continue
        new = StateDoc(key=key, settings=settings or {}, source_job_id=doc.source_job_id, permissions=perms)
        text = render_state(new, written_by("capture", target_name))
        new_docs[key] = parse_state(text.encode(), store.display(store.path_for(key)))
        fields = _fields(doc.settings, settings or {}) + (["permissions"] if perms != doc.permissions else [])
        result.captured.append(CapturedJob(key, str((settings or {}).get("name", key)), int(job["job_id"]),
                                           "changed", text, fields, notes))
    _drop_invalid(result, new_docs, store)
    if files_in_use(cfg.source.files, cfg.state_dir):
        _capture_files(cfg, result, ws, docs, target, keys, branch)
    return result


def _capture_files(cfg: Config, result: CaptureResult, ws: Workspace, docs: list[StateDoc], target: TargetConfig,
                   keys: list[str] | None, branch: str | None) -> None:
    """Managed notebooks and files edited in the target: their live content into state/files/, compared
    with state/files/ as `branch` (the one the commit goes on) has it, as the state files are."""
    from ..edges.wsfiles import WorkspaceFiles
    from .branchbase import branch_files
    from .fileflow import capture_files

    paths = {d.key: [rewrite_path(str(s.value), target.path_rewrites) for s in path_sites(d.settings)] for d in docs}
    result.files, refused = capture_files(WorkspaceFiles(ws), branch_files(cfg.root, cfg.state_dir, branch),
                                          root=cfg.source.notebook_root,
                                          target=target, keys=set(keys) if keys else None, paths_by_key=paths)
    result.refused.extend(refused)


def _adopting(recorded: dict[str, int], live: list[dict], managed: dict[str, list[dict]]) -> dict[str, int]:
    """key -> ID of the jobs `import` recorded that apply has not adopted yet (plan counts them too)."""
    unmanaged = {int(j["job_id"]) for j in live if not managed_key(j)}
    return {k: v for k, v in recorded.items() if k not in managed and v in unmanaged}


def select_unmanaged(live: list[dict], *, all_jobs: bool, pattern: str | None, job_ids: list[int],
                     tagged: Callable[[dict], Problem] | None = None) -> list[dict]:
    """The unmanaged jobs an import takes. An asked-for ID that is missing or tagged is an error
    (`tagged`: what to say of a tagged one, by whether bricksync trusts it: tagged_problem)."""
    by_id = {int(j["job_id"]): j for j in live}
    problems = []
    for jid in job_ids:
        if jid not in by_id:
            problems.append(Problem(f"job {jid} does not exist in the target"))
        elif managed_key(by_id[jid]):
            problems.append(tagged(by_id[jid]) if tagged else
                            Problem(f"job {jid} is already managed (key {managed_key(by_id[jid])}): use capture"))
    if problems:
        raise BricksyncError(problems)
    out = []
    for job in live:
        if managed_key(job):
            continue
        name = str((job.get("settings") or {}).get("name", ""))
        if all_jobs or int(job["job_id"]) in job_ids or (
                pattern is not None and fnmatch.fnmatchcase(name.lower(), pattern.lower())):
            out.append(job)
    return sorted(out, key=lambda j: int(j["job_id"]))


def tagged_problem(ws: Workspace, target: str, live: list[dict], docs: list[StateDoc]) -> Callable[[dict], Problem]:
    """What import says of an asked-for job that carries a key: bricksync's own is capture's; a claim
    (core/ownership.py) is no job of bricksync's, and import, which takes only untagged jobs, refuses
    it too: apply --adopt takes it into the state file with its key (only when no trusted job has that
    key: core/plan.py), or its tag removed it is an ordinary unmanaged job to import."""
    owned, why = ws.owned_record(target)
    claimed = claimed_ids(live, owned, ws.bricksync_identity())
    trusted = {managed_key(j) for j in live if managed_key(j) and int(j["job_id"]) not in claimed}
    files = {d.key: d.file for d in docs}
    t = shlex.quote(target)

    def problem(job: dict) -> Problem:
        jid, key = int(job["job_id"]), str(managed_key(job))
        if jid not in claimed:
            return Problem(f"job {jid} is already managed (key {key}): use capture")
        untag = f"remove its bricksync-key tag in '{target}' and import it again (it then gets a key of its own)"
        if key in files and key not in trusted:
            how = (f"to manage it as {files[key]}, `bricksync apply --target {t} --adopt` adopts it (check who owns "
                   f"it first: apply gives it that file's settings); to import it as it is, {untag}")
        elif key in trusted:
            how = f"bricksync's own job with that key is another one; to import this one, {untag}"
        else:
            how = f"no state file has that key; to import it, {untag}"
        unread = f" (the record of bricksync's jobs could not be read: {why})" if why else ""
        return Problem(f"job {jid} carries bricksync-key={key}, but bricksync neither created nor adopted it "
                       f"(an untrusted claim){unread}: import takes only untagged jobs; {how}")
    return problem


# long: keys, inversion, permissions and the refusals of one batch, in the order they depend on each other
def build_import(cfg: Config, target_name: str, ws: Workspace, *, all_jobs: bool = False,
                 pattern: str | None = None, job_ids: list[int] | None = None,
                 branch: str | None = None) -> CaptureResult:
    """Unmanaged target jobs -> new state documents and their adoption record, against state/ as
    `branch` (the one the commit goes on) has it. Writes nothing."""
    target = cfg.target(target_name)
    store = StateStore(cfg.state_dir)
    base, live, inventory = _read(cfg, target_name, ws, store, branch)
    docs = base.docs
    result = CaptureResult("import", target_name, base=base)
    asked = set(job_ids or [])
    # Whose a tagged job is costs the record and the identity: read only when one was asked for.
    tagged = tagged_problem(ws, target_name, live, docs) if any(
        managed_key(j) and int(j["job_id"]) in asked for j in live) else None
    chosen = select_unmanaged(live, all_jobs=all_jobs, pattern=pattern, job_ids=list(job_ids or []), tagged=tagged)
    by_key = {d.key: d for d in docs}
    managed = _managed(live)
    # A job imported before (not applied yet: in either adoption record) keeps its key; other keys
    # are new, as export makes them, and none is in use: not a state file's (here or on the branch),
    # not an adoption record's, not a key a target job carries (its file deleted: an orphan the
    # import would otherwise rewrite with this job's settings).
    known = {jid: key for jid, key in base.recorded.items() if key not in managed}
    names = [(int(j["job_id"]), str((j.get("settings") or {}).get("name", ""))) for j in chosen]
    keys = assign_keys(names, known, base.keys_in_use | set(managed))
    ids = _adopting(base.adoptions, live, managed)
    ids.update({k: int(jobs[0]["job_id"]) for k, jobs in managed.items() if len(jobs) == 1})
    ids.update({keys[int(j["job_id"])]: int(j["job_id"]) for j in chosen})
    job_keys = {v: k for k, v in ids.items()}
    inverted: dict[str, tuple[dict, dict]] = {}
    acls = _read_acls(ws, [int(j["job_id"]) for j in chosen])  # as export reads the source's
    permissions: dict[str, list[dict] | None] = {}
    trap_notes: dict[str, list[str]] = {}
    for job in chosen:
        key = keys[int(job["job_id"])]
        name = str((job.get("settings") or {}).get("name", key))
        job, trap_notes[key] = promotable(job, inventory, "import", target_name)
        settings, problems = invert_job(job, key=key, target=target, inventory=inventory, job_keys=job_keys,
                                        job_ids=ids)
        acl = acls.get(int(job["job_id"]))
        perms, acl_problems = (None, [acl.message]) if isinstance(acl, Problem) else \
            invert_permissions(acl or {}, target, None)
        if acl_problems and target.permissions == "ignore":
            perms, acl_problems = None, []  # not managed in this target: the file does not list them
        problems = [*problems, *(Problem(m, job=name, field="permissions") for m in acl_problems)]
        if problems:
            result.refused.append((key, [_in_file(p, store.display(store.path_for(key))) for p in problems]))
        else:
            inverted[key] = (job, settings or {})
            permissions[key] = perms
    # A state file not applied yet with the same name would create a second job beside this one
    # (one recorded for adoption adopts its own job instead).
    adopting = _adopting(base.adoptions, live, managed)
    pending = {str(d.settings.get("name", "")).lower(): d for d in docs if d.key not in managed
               and d.key not in adopting}
    for key in sorted(inverted):
        name = str(inverted[key][1].get("name", "")).lower()
        if name in pending and pending[name].key != key:
            del inverted[key]
            result.refused.append((key, [Problem(
                f"state file {pending[name].file} (not applied yet) has the same name: apply would create a second "
                f"job beside this one; adopt it into that file instead (apply --adopt)")]))
    _refuse_runners_of_refused(result, inverted, {keys[int(j["job_id"])] for j in chosen})
    new_docs = dict(by_key)
    for key, (job, settings) in sorted(inverted.items()):
        text = render_state(StateDoc(key=key, settings=settings, permissions=permissions[key]),
                            written_by("import", target_name))
        new_docs[key] = parse_state(text.encode(), store.display(store.path_for(key)))
        old = by_key.get(key)
        result.captured.append(CapturedJob(key, str(settings.get("name", key)), int(job["job_id"]),
                                           "changed" if old else "added", text,
                                           _fields(old.settings if old else {}, settings), trap_notes[key]))
    _drop_invalid(result, new_docs, store)
    result.adopted = {j.key: j.job_id for j in result.captured}
    return result


def _read_acls(ws: Workspace, job_ids: list[int]) -> dict[int, dict | Problem]:
    """job id -> its ACL response, or the problem that stopped the read (that job is refused)."""
    def one(job_id: int) -> dict | Problem:
        try:
            return ws.job_permissions(job_id)
        except BricksyncError as exc:
            return Problem(exc.render())

    if not job_ids:
        return {}
    with ThreadPoolExecutor(max_workers=ACL_READERS, thread_name_prefix="acl") as pool:
        return dict(zip(job_ids, pool.map(one, job_ids), strict=True))


def _refuse_runners_of_refused(result: CaptureResult, inverted: dict[str, tuple[dict, dict]],
                               batch: set[str]) -> None:
    """A job that runs an imported job whose import was refused would point at nothing."""
    changed = True
    while changed:
        changed = False
        for key in sorted(inverted):
            missing = sorted({ref[1] for site in reference_sites(inverted[key][1])
                              if site.kind == "job" and (ref := parse_placeholder(site.value))
                              and ref[1] in batch and ref[1] not in inverted})
            if missing:
                del inverted[key]
                result.refused.append((key, [Problem(f"runs {', '.join(missing)}, whose import was refused")]))
                changed = True


def _drop_invalid(result: CaptureResult, new_docs: dict[str, StateDoc], store: StateStore) -> None:
    """Refuse the documents `bricksync validate` would reject (checked as the whole set will be)."""
    bad: dict[str | None, list[Problem]] = {}
    for problem in validate_docs(list(new_docs.values())):
        bad.setdefault(problem.file, []).append(problem)
    keep = []
    for job in result.captured:
        problems = bad.get(store.display(store.path_for(job.key)))
        if problems:
            result.refused.append((job.key, problems))
        else:
            keep.append(job)
    result.captured = keep


def _fields(before: dict, after: dict) -> list[str]:
    if not before:  # a new file: its top-level fields
        return sorted(after)
    return sorted({c.path for c in field_changes(before, after) if c.path})


def _in_file(problem: Problem, file: str) -> Problem:
    return Problem(problem.message, file=problem.file or file, line=problem.line, job=problem.job,
                   field=problem.field)


def commit_message(result: CaptureResult) -> str:
    verb = "captured from" if result.kind == "capture" else "imported from"
    added = sum(1 for j in result.captured if j.status == "added")
    lines = [f"bricksync {result.kind}: {len(result.captured)} job(s) {verb} {commit_text(result.target)} "
             f"({added} added, {len(result.captured) - added} changed)", ""]
    for job in result.captured[:MESSAGE_JOBS]:
        lines.append(f"- {commit_text(job.key)} ({commit_text(job.name)}, {commit_text(result.target)} job "
                     f"{job.job_id}, {job.status}):")
        lines.extend(f"    {commit_text(f)}" for f in job.fields[:MESSAGE_FIELDS])
        if len(job.fields) > MESSAGE_FIELDS:
            lines.append(f"    ... and {len(job.fields) - MESSAGE_FIELDS} more fields")
    if len(result.captured) > MESSAGE_JOBS:
        lines.append(f"- ... and {len(result.captured) - MESSAGE_JOBS} more jobs (see the diff)")
    if result.files:
        lines.append(f"Files captured from {result.target} ({len(result.files)}):")
        lines.extend(f"- state/files/{commit_text(f.name)} ({commit_text(f.path)})" for f in result.files[:MESSAGE_JOBS])
    if result.adopted:
        lines += ["", f"Apply adopts these {len(result.adopted)} job(s) in place "
                      f"(state/adopt/{adoption_path(Path('.'), result.target).name})."]
    return "\n".join(lines).rstrip() + "\n"


def _drop_unchanged(result: CaptureResult, store: StateStore) -> None:
    """Unchanged bytes are nothing to write (a capture of a reformatted file may be), nor is a
    file whose only change would be the header naming the command. Compared with the files of the
    branch the commit goes on."""
    still = []
    for job in result.captured:
        now = result.base.read_bytes(store, job.key) if result.base else store.read_bytes(job.key)
        if now is not None and state_body(now) == state_body(job.text.encode()):
            result.unchanged.append(job.key)
        else:
            still.append(job)
    result.captured = still


TRAP_NOTES = 50  # jobs named in the summary's notes on what was left out (as export's); the rest counted


def _trap_notes(result: CaptureResult) -> None:
    """The summary's lines on what was left out of state, per job written (as export's, issue 24)."""
    noted = [j for j in result.captured if j.notes]
    for job in noted[:TRAP_NOTES]:
        result.notes.extend(f"{job.name}: {note}" for note in job.notes)
    if len(noted) > TRAP_NOTES:
        result.notes.append(f"... and {len(noted) - TRAP_NOTES} more job(s) with such notes")


def _refuse_taking_recorded(result: CaptureResult, cfg: Config) -> None:
    """Never overwrite an adoption entry: a key recorded for another job, or a job recorded under
    another key, in the record the commit will hold (keys are allocated so that neither happens)."""
    recorded = result.base.adoptions if result.base else read_adoptions(cfg.state_dir, result.target)
    owner = {v: k for k, v in recorded.items()}
    problems = [Problem(f"key '{j.key}' would record job {j.job_id} for adoption, but the record has "
                        f"'{owner.get(j.job_id, j.key)}': job {recorded.get(j.key, j.job_id)} there; nothing written",
                        file=adoption_file(cfg.state_dir, result.target), field=f"adopt.{j.key}")
                for j in result.captured if result.kind == "import"
                and (recorded.get(j.key, j.job_id) != j.job_id or owner.get(j.job_id, j.key) != j.key)]
    if problems:
        raise BricksyncError(problems)


def write_result(cfg: Config, result: CaptureResult, *, branch: str | None = None, commit: bool = True,
                 push: bool = False, dry_run: bool = False) -> CaptureResult:
    """Write the files (never one with uncommitted changes), commit them on a branch, push."""
    store = StateStore(cfg.state_dir)
    branch = branch or (result.base.for_branch if result.base else None) or default_branch(result.kind,
                                                                                              result.target)
    try:
        git: GitRepo | None = GitRepo(cfg.root)
    except BricksyncError:
        if commit and not dry_run:
            raise
        git = None  # no repository: nothing to commit, nothing can be uncommitted
    _drop_unchanged(result, store)
    _refuse_taking_recorded(result, cfg)
    adopt_file = adoption_path(cfg.state_dir, result.target)
    if git is not None and result.captured:
        paths = [store.path_for(j.key) for j in result.captured] + ([adopt_file] if result.adopted else [])
        dirty = dirty_paths(git, paths)
        if adopt_file in dirty:
            raise BricksyncError(Problem("has uncommitted changes: commit or discard them first",
                                         file=store.display(adopt_file)))
        for job in [j for j in result.captured if store.path_for(j.key) in dirty]:
            result.captured.remove(job)
            result.refused.append((job.key, [Problem("has uncommitted changes: not overwritten (commit or discard "
                                                     "them, then run again)", file=store.display(store.path_for(job.key)))]))
    if result.kind == "import":
        result.adopted = {j.key: j.job_id for j in result.captured}
    files = FileStore(cfg.state_dir)
    if git is not None and result.files and files.dir.is_dir():
        dirty_files = git.uncommitted(files.dir)
        for f in [f for f in result.files if git.key_of(files.path_of(f.name)) in dirty_files]:
            result.files.remove(f)
            result.refused.append((f.path, [Problem("has uncommitted changes: not overwritten (commit or discard "
                                                    "them, then run again)", file=f.file)]))
    _trap_notes(result)
    if not result.captured and not result.files:
        return result
    if dry_run:
        result.notes.append("dry run: nothing written or committed")
        return result
    if git is not None and commit:
        git.switch_to(branch)
        result.branch = branch
        if result.base is not None and result.base.branch == branch:
            result.notes.append(f"branch '{branch}' existed (an earlier run): committed on top of it, its files "
                                "and adoption records kept")
    paths = [store.write(j.key, j.text) for j in result.captured]
    paths += [files.write(f.name, f.data) for f in result.files]
    if result.adopted:
        recorded = read_adoptions(cfg.state_dir, result.target)
        paths.append(write_adoptions(cfg.state_dir, result.target, {**recorded, **result.adopted}))
    if git is not None and commit:
        result.commit = git.commit(paths, commit_message(result))
        if push:
            git.push(branch)
            result.pushed = True
        note = git.base_note(result.pushed)  # the repository had no commit before this one
        if note:
            result.notes.append(note)
    return result
