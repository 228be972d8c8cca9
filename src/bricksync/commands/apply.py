"""Execute a Plan through the workspace module: creates, then updates, then (with prune) deletes.

Creates run in dependency order (a job that runs another is created after it, so its
`${job:KEY}` can be filled in), each layer with bounded parallelism. Every create carries
its ownership tags in the same call, and a create whose response was lost is looked up by
key before it is sent again, so a re-run or a retry never makes a duplicate.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..core.errors import (
    ApplyCancelled,
    BricksyncError,
    Interrupted,
    LockReleaseError,
    PlanFileError,
    Problem,
    StalePlanError,
)
from ..core.escape import one_line
from ..core.fileplan import FileAction
from ..core.ownership import new_owned
from ..core.plan import Action, ActionKind, Plan, adopted_twice
from ..core.render import KEY_TAG, fill_jobs, pending_jobs
from ..core.traps import write_only_entry
from ..edges.lock import ApplyLock, lock_place
from ..edges.statefiles import FileStore
from ..edges.workspace import Workspace
from ..edges.wsfiles import WorkspaceFiles
from .aclplan import new_index
from .fileflow import data_reader, write_files

_FILES_FAILED = "skipped: the notebooks or files it runs were not written (see the file rows)"

if TYPE_CHECKING:
    from ..core.model import TargetConfig
    from ..edges.config import Config
    from .desired import DesiredState

log = logging.getLogger("bricksync.apply")


@dataclass
class Outcome:
    key: str
    action: str
    name: str
    job_id: int | None
    ok: bool
    detail: str = ""


@dataclass
class ApplyResult:
    outcomes: list[Outcome] = field(default_factory=list)
    # Filled by run_apply (the whole apply step); execute_plan fills only the outcomes.
    plan: Plan | None = None
    applied: bool = True  # False: nothing to write or delete (the plan was empty, or held only conflicts)
    conflicts: list[Action] = field(default_factory=list)  # keys several jobs carry: not applied
    elapsed: float = 0.0  # seconds spent writing
    api_calls: int = 0  # every workspace call of the step, reads included
    lock_lost: str | None = None  # the lock stopped being this run's during the apply: why (an error)

    @property
    def failed(self) -> list[Outcome]:
        return [o for o in self.outcomes if not o.ok]


def create_layers(creates: list[Action]) -> list[list[Action]]:
    """Creates grouped so that every job comes after the jobs it runs (Kahn's algorithm)."""
    by_key = {a.key: a for a in creates}
    deps = {a.key: {d for d in pending_jobs(a.settings or {}) if d in by_key} for a in creates}
    layers: list[list[Action]] = []
    done: set[str] = set()
    while len(done) < len(creates):
        ready = sorted(k for k in deps if k not in done and deps[k] <= done)
        if not ready:
            cycle = sorted(set(deps) - done)
            raise BricksyncError(Problem(f"run_job_task references form a cycle among {', '.join(cycle)}"))
        layers.append([by_key[k] for k in ready])
        done.update(ready)
    return layers


def _tagged(jobs: Iterable[dict], key: str, me: str) -> list[int]:
    """Jobs carrying the key that this identity created: a job someone else tagged with the key
    beforehand is not the one just created (core/ownership.py), and must not be recorded as it."""
    return [int(j["job_id"]) for j in jobs if ((j.get("settings") or {}).get("tags") or {}).get(KEY_TAG) == key
            and str(j.get("creator_user_name") or "").lower() == me.lower()]


def find_by_key(ws: Workspace, settings: dict, key: str) -> int | None:
    """The job carrying this key, after a create whose response was lost. By the tag alone:
    the name sent (overrides may rename a job; a nameless job is named by the service) only
    narrows a first, cheap look-up. When that finds nothing, every job is listed (one call per
    100 jobs): a create is sent again only once the key is known to be nowhere."""
    name, me = settings.get("name"), ws.identity()
    if isinstance(name, str) and name.strip():
        matches = _tagged(ws.jobs_named(name), key, me)
        if matches:
            return min(matches)
    matches = _tagged(ws.job_outlines(), key, me)
    return min(matches) if matches else None


# long: create/update/delete are closures sharing one pool, result and id table; split, they would pass all three
def execute_plan(plan: Plan, ws: Workspace, *, parallelism: int = 8, prune: bool = False,
                 known_job_ids: dict[str, int] | None = None,
                 on_done: Callable[[Outcome], None] | None = None,
                 file_data: Callable[[FileAction], bytes] | None = None) -> ApplyResult:
    """`file_data`: the bytes of a file action (state/files/); the plan's files are written first."""
    result = ApplyResult()
    job_ids = dict(known_job_ids or {})
    for action in plan.actions:
        if action.job_id is not None and action.action in ("update", "adopt", "no-op"):
            job_ids[action.key] = action.job_id

    def guarded(step: Callable[[Action], Outcome]) -> Callable[[Action], Outcome]:
        """One action's unexpected failure is its failed outcome: the others still run and the
        result table is always printed (a bare traceback would hide what was done)."""
        def run(action: Action) -> Outcome:
            try:
                return step(action)
            except Exception as exc:  # reported per action, never swallowed
                kind = "delete" if step is delete else action.action
                return record(Outcome(action.key, kind, action.name, action.job_id, False,
                                      f"{type(exc).__name__}: {str(exc).splitlines()[0][:300] if str(exc) else ''}"))
        return run

    def record(outcome: Outcome) -> Outcome:
        result.outcomes.append(outcome)
        if on_done:
            on_done(outcome)
        return outcome

    def create(action: Action) -> Outcome:
        if action.key in file_failed:
            return record(Outcome(action.key, "create", action.name, None, False, _FILES_FAILED))
        settings = fill_jobs(action.settings or {}, job_ids)
        missing = pending_jobs(settings)
        if missing:
            return record(Outcome(action.key, "create", action.name, None, False,
                                  f"skipped: job(s) it runs were not created: {', '.join(missing)}"))
        try:
            job_id, recovered = ws.create_job(settings, lambda: find_by_key(ws, settings, action.key))
        except BricksyncError as exc:
            return record(Outcome(action.key, "create", action.name, None, False, exc.render()))
        job_ids[action.key] = job_id
        detail = "created (response lost; found by key, not sent again)" if recovered else "created"
        failed = set_acl(action, job_id)
        if failed:
            return record(Outcome(action.key, "create", action.name, job_id, False, f"{detail}; {failed}"))
        return record(Outcome(action.key, "create", action.name, job_id, True,
                              detail + ("; permissions set" if action.acl is not None else "")))

    def set_acl(action: Action, job_id: int) -> str:
        """The job's permission call, after its create/update; '' when done or none is needed."""
        if action.acl is None:
            return ""
        try:
            ws.set_job_permissions(job_id, action.acl, replace=action.acl_replace)
        except BricksyncError as exc:
            return f"permissions not set: {exc.render()}"
        return ""

    def update(action: Action) -> Outcome:
        job_id = int(action.job_id or 0)
        if action.key in file_failed:
            return record(Outcome(action.key, action.action, action.name, action.job_id, False, _FILES_FAILED))
        first = set_acl(action, job_id) if action.acl_first else ""  # a foreign owner gives the job up first
        if first:
            return record(Outcome(action.key, action.action, action.name, action.job_id, False,
                                  f"{first}; settings not sent (the job keeps its foreign owner)"))
        if action.settings is not None:  # None: only the permissions changed
            settings = fill_jobs(action.settings, job_ids)
            missing = pending_jobs(settings)
            if missing:
                return record(Outcome(action.key, action.action, action.name, action.job_id, False,
                                      f"skipped: job(s) it runs were not created: {', '.join(missing)}"))
            try:
                ws.reset_job(job_id, settings)
            except BricksyncError as exc:
                return record(Outcome(action.key, action.action, action.name, action.job_id, False, exc.render()))
        failed = "" if action.acl_first else set_acl(action, job_id)
        if failed:
            return record(Outcome(action.key, action.action, action.name, action.job_id, False, failed))
        acl = sum(c.path.startswith("permissions[") for c in action.changes)
        detail = f"{len(action.changes) - acl} field(s) changed" if action.settings is not None else ""
        if action.acl is not None:
            detail += (", " if detail else "") + f"{acl} permission(s) changed ({'PUT' if action.acl_replace else 'PATCH'})"
        return record(Outcome(action.key, action.action, action.name, action.job_id, True, detail))

    def delete(action: Action) -> Outcome:
        try:
            ws.delete_job(int(action.job_id or 0))
        except BricksyncError as exc:
            return record(Outcome(action.key, "delete", action.name, action.job_id, False, exc.render()))
        return record(Outcome(action.key, "delete", action.name, action.job_id, True, "deleted (prune)"))

    file_failed: set[str] = set()  # jobs whose files could not be written: not created or updated
    try:  # Ctrl-C: no new call is started; the ones in flight end (the pool waits for them), then the account
        if plan.files and file_data is not None:  # what the jobs run is in place before the jobs
            done, file_failed = write_files(plan, WorkspaceFiles(ws), file_data, prune=prune)
            for o in done:
                record(Outcome(o.path, f"file {o.action}", "", None, o.ok, o.detail))
        unrecorded = record_adopts(plan, ws)  # before an adopt tags a job, the record names it
        for a in plan.of("adopt") if unrecorded else []:
            record(Outcome(a.key, "adopt", a.name, a.job_id, False, f"not sent: {unrecorded}"))
        with ThreadPoolExecutor(max_workers=max(1, parallelism), thread_name_prefix="apply") as pool:
            for layer in create_layers(plan.of("create")):
                list(pool.map(guarded(create), layer))
            list(pool.map(guarded(update), [a for a in plan.actions if a.action == "update"
                                            or (a.action == "adopt" and not unrecorded)]))
            if prune:
                list(pool.map(guarded(delete), plan.of("orphan")))
    except KeyboardInterrupt:
        raise Interrupted(interrupted_apply(plan, result.outcomes, prune=prune), result) from None
    write_index(plan, ws, result)
    write_owned(plan, ws, result)
    write_sent(plan, ws, result)
    return result


DONE = {"create": "created", "update": "updated", "adopt": "adopted", "delete": "deleted"}


def interrupted_apply(plan: Plan, outcomes: list[Outcome], *, prune: bool) -> str:
    """What an apply stopped by Ctrl-C wrote, and what it did not."""
    outcomes = list(outcomes)  # (the workers have stopped: a copy to count from)
    done: dict[str, list[str]] = {}
    for o in outcomes:
        done.setdefault(DONE.get(o.action, o.action) if o.ok else "failed", []).append(o.key)
    seen = {o.key for o in outcomes}
    todo = [a.key for a in plan.actions if (a.writes or (prune and a.action == ActionKind.ORPHAN)) and a.key not in seen]

    def some(keys: list[str]) -> str:
        shown = ", ".join(one_line(k) for k in keys[:10])
        return shown + (f" and {len(keys) - 10} more" if len(keys) > 10 else "")

    written = "; ".join(f"{len(keys)} {kind} ({some(keys)})" for kind, keys in sorted(done.items())) or "nothing"
    left = f"{len(todo)} change(s) not written ({some(todo)})" if todo else "no change left unwritten"
    return (f"interrupted during apply to '{one_line(plan.target)}': written: {written}; {left}. Calls in flight were "
            "let finish, none cut half-way. Run `bricksync apply` for this target again to finish it: it plans anew "
            "from what is live (a job created here carries its key: no duplicate).")


def write_index(plan: Plan, ws: Workspace, result: ApplyResult | None = None) -> None:
    """Record which jobs' ACLs now hold (aclplan.py), so the next plan need not read them."""
    if not (plan.acl_index_dirty or any(a.acl is not None for a in plan.actions)):
        return
    ok = {o.key: o.job_id for o in (result.outcomes if result else []) if o.ok and o.action != "delete"}
    try:
        ws.write_acl_index(plan.target, new_index(plan, ok))
    except BricksyncError as exc:  # only costs the next plan some reads
        log.warning("permissions index not written: %s", exc.render())


def record_adopts(plan: Plan, ws: Workspace) -> str:
    """Write the record with the jobs about to be adopted first; why it could not be ("" when it was
    or there is no adopt). A job adopted before its record write failed would be an untrusted claim
    of its key, and the next apply would create that key's job a second time."""
    adopts = {a.key: int(a.job_id) for a in plan.of("adopt") if a.job_id is not None}
    if not adopts:
        return ""
    try:
        ws.write_owned(plan.target, {**plan.owned, **adopts})
    except BricksyncError as exc:
        return f"the record of bricksync's jobs could not be written first ({exc.render()}); adopt again once it can"
    # What the record now says. An adopt that fails keeps its entry: its answer may have been lost after
    # the tag was set, and an entry for a job that carries no key is never read (core/ownership.py).
    plan.owned = {**plan.owned, **adopts}
    return ""


def write_sent(plan: Plan, ws: Workspace, result: ApplyResult) -> None:
    """Record the write-only values each successful create/update sent (core/traps.py: no read
    shows them), so the next plan sees a change to them alone. Read again here, under the lock:
    a saved plan carries only what it sends."""
    ok = {o.key: o.job_id for o in result.outcomes if o.ok and o.action in ("create", "update", "adopt")}
    written = {str(ok[a.key]): write_only_entry(a.write_only) for a in plan.actions
               if a.writes and a.write_only is not None and a.settings is not None and ok.get(a.key) is not None}
    deleted = {str(o.job_id) for o in result.outcomes if o.ok and o.action == "delete"}
    if not written and not deleted:
        return
    try:
        old = ws.read_write_only_index(plan.target)
        ws.write_write_only_index(plan.target, updated_sent(old, written, deleted))
    except BricksyncError as exc:  # the next change to a write-only value alone goes unseen until it is
        log.warning("the record of write-only values sent was not written: %s. A change to a trigger's condition "
                    "or apply_policy_default_values alone is not planned until it is", exc.render())


def updated_sent(old: dict[str, dict], written: dict[str, dict], deleted: set[str]) -> dict[str, dict]:
    """The write-only index after an apply: the jobs written now, the others as they were, the
    jobs deleted left out."""
    return {k: v for k, v in {**old, **written}.items() if k not in deleted}


def write_owned(plan: Plan, ws: Workspace, result: ApplyResult | None = None) -> None:
    """Record the jobs bricksync created or adopted (core/ownership.py) where only its identity
    may write; written when it changed."""
    done = {(o.key, o.action): o.job_id for o in (result.outcomes if result else []) if o.ok}
    owned = new_owned(plan.actions, plan.owned, done)
    if owned == plan.owned:
        return
    try:
        ws.write_owned(plan.target, owned)
    except BricksyncError as exc:  # jobs bricksync created stay its own (creator); adopted ones need the record
        log.warning("the record of bricksync's jobs was not written: %s. Jobs adopted now are shown as untrusted "
                    "claims until it is (adopt them again with --adopt)", exc.render())


# --- the whole apply step (what `bricksync apply` does; the CLI and Project both call it) ------------

Confirm = Callable[[Plan, list[Action], list[Action]], bool]  # (plan, writes, deletes) -> go ahead?
Progress = Callable[[str], AbstractContextManager]  # label -> context giving advance(n) (ui.progress)


def no_progress(label: str) -> AbstractContextManager:
    return nullcontext(None)


def run_apply(cfg: Config, target: str, *, plan: Plan | None = None, desired: DesiredState | None = None,
              source: str | None = None, prune: bool = False, adopt: bool = False, parallelism: int = 8,
              refresh_acls: bool = False, strict_paths: bool = False, allow_empty_state: bool = False,
              allow_mass_delete: bool = False, confirm: Confirm | None = None,
              on_plan: Callable[[Plan], None] | None = None, progress: Progress = no_progress) -> ApplyResult:
    """Apply a saved `plan` (checked: same target, same host, target unchanged since) or plan from
    `desired` now and apply that, holding the target's lock throughout (its lease renewed in the
    background; once it is lost no new write is sent). Prune guards run before the first write;
    `confirm` (None: go ahead) is asked only when there is something to write or delete. `source`
    names the plan file in messages. A lock that cannot be released after the work is done raises
    LockReleaseError carrying the result."""
    from .reconcile import connect_target

    where = f"{source}: " if source else ""
    if plan is not None and plan.target != target:
        raise PlanFileError(f"{where}the plan is for target '{plan.target}', not '{target}'")
    prune = prune or cfg.target(target).prune
    ws = connect_target(cfg, target)
    if plan is not None and plan.host != ws.host:
        raise PlanFileError(f"{where}the plan was made against {plan.host}, not {ws.host}")
    _check_identity(ws, cfg.target(target))
    lock = ApplyLock(ws, target, place=lock_place(target, cfg.target(target).identity))
    lock.acquire("apply")
    try:
        with lock.heartbeat():
            ws.write_gate = lock.check
            result = _apply_locked(cfg, target, ws, plan, desired, where, prune=prune,
                                   adopt=adopt, parallelism=parallelism, refresh_acls=refresh_acls,
                                   strict_paths=strict_paths, allow_empty_state=allow_empty_state,
                                   allow_mass_delete=allow_mass_delete, confirm=confirm, on_plan=on_plan,
                                   progress=progress)
    except BaseException as exc:  # the run's own failure stays the error; a lock left behind is added to it
        ws.write_gate = None
        _release_after_failure(lock, exc)
        raise
    ws.write_gate = None
    _release(lock, result)
    return result


def _apply_locked(cfg: Config, target: str, ws: Workspace, plan: Plan | None, desired: DesiredState | None,
                  where: str, *, prune: bool, adopt: bool, parallelism: int, refresh_acls: bool, strict_paths: bool,
                  allow_empty_state: bool, allow_mass_delete: bool, confirm: Confirm | None,
                  on_plan: Callable[[Plan], None] | None, progress: Progress) -> ApplyResult:
    """What run_apply does under the lock: plan (or check the saved plan), guard, confirm, write."""
    target_cfg = cfg.target(target)
    the_plan = _checked_or_new_plan(cfg, target, ws, plan, desired, where, adopt=adopt, progress=progress,
                                    refresh_acls=refresh_acls, strict_paths=strict_paths)
    if on_plan:
        on_plan(the_plan)
    writes = [a for a in the_plan.actions if a.writes]
    deletes = the_plan.of(ActionKind.ORPHAN) if prune else []
    file_work = any(f.writes or (prune and f.action == "orphan") for f in the_plan.files)
    if prune:  # before the first write: an empty or gutted state/ must not empty the target
        from ..core.guards import check_file_prune, check_prune

        check_prune(the_plan, allow_empty_state=allow_empty_state, allow_mass_delete=allow_mass_delete,
                    max_percent=target_cfg.max_prune_percent)
        check_file_prune(the_plan, allow_empty_state=allow_empty_state, allow_mass_delete=allow_mass_delete,
                         max_percent=target_cfg.max_prune_percent)
    conflicts = the_plan.of(ActionKind.CONFLICT)
    if not writes and not deletes and not file_work:
        write_index(the_plan, ws)  # ACLs read and found holding: the next plan need not read them
        write_owned(the_plan, ws)
        return ApplyResult(plan=the_plan, applied=False, conflicts=conflicts, api_calls=ws.stats.total)
    if confirm is not None and not confirm(the_plan, writes, deletes):
        raise ApplyCancelled("apply cancelled")
    started = time.perf_counter()
    result = execute_plan(the_plan, ws, parallelism=parallelism, prune=prune,
                          file_data=data_reader(FileStore(cfg.state_dir)))
    result.elapsed = time.perf_counter() - started
    result.plan, result.conflicts, result.api_calls = the_plan, conflicts, ws.stats.total
    return result


def _unlock_hint(lock: ApplyLock) -> str:
    record = lock.record
    if lock.claim_left:  # a claim on our token blocks the takeover an expired lease would allow
        expiry = " (it does not free itself: a claim was left beside it)"
    else:
        expiry = f"; its lease expires by itself at {record.expires_at}" if record and record.expires_at else ""
    return (f"No other apply can run on '{lock.target}' while it stays{expiry}. To clear it now: "
            f"bricksync unlock --target {lock.target}")


def _release(lock: ApplyLock, result: ApplyResult) -> None:
    """After the work: release (only if still ours). A failure does not hide what was written: it is
    raised with the result, for the table to be shown first."""
    try:
        released = lock.release()
    except BricksyncError as exc:
        did = "wrote its changes" if result.applied else "had nothing to write"
        raise LockReleaseError(Problem(f"apply to '{lock.target}' {did}, but its lock could not be released: "
                                       f"{exc.render()}. {_unlock_hint(lock)}"), result) from None
    if lock.lost is not None:
        result.lock_lost = lock.lost_problem().message
    elif not released.released:  # the heartbeat had not noticed: say so, the writes may have overlapped
        result.lock_lost = (f"the apply lock of '{lock.target}' was not this run's any more at the end: "
                            f"{released.note}. Another run may have applied meanwhile: run `bricksync apply "
                            f"--target {lock.target}` again once it is done")


def _release_after_failure(lock: ApplyLock, exc: BaseException) -> None:
    try:
        lock.release()
    except BricksyncError as failed:
        note = f"the target's lock was not released either: {failed.render()}. {_unlock_hint(lock)}"
        if isinstance(exc, BricksyncError):
            exc.problems.append(Problem(note))
        elif isinstance(exc, Interrupted):
            exc.message += f" Also, {note}"
        else:
            log.error("%s", note)


def _check_identity(ws: Workspace, target: TargetConfig) -> None:
    """Apply writes jobs and bricksync's records as the identity the config names, or not at all."""
    # Exactly, case included: the records' folder is /Users/<identity> as spelled (edges/trusted.py), and a
    # plan judged by the config's spelling must have read the folder apply writes.
    if target.identity and ws.identity() != target.identity:
        case = " (spell it as the workspace does: the home folder's path is the name as is)" \
            if ws.identity().lower() == target.identity.lower() else ""
        raise BricksyncError(Problem(
            f"the credentials for target '{one_line(target.name)}' are {one_line(ws.identity())}, but "
            f"targets.{one_line(target.name)}.identity says {one_line(target.identity)}{case}: apply writes only as "
            "that identity (its jobs and its home folder's records are what bricksync trusts). Use its credentials, "
            "or change the identity in a reviewed commit and adopt the jobs again (README: plan and apply)",
            field=f"targets.{target.name}.identity"))


def _checked_or_new_plan(cfg: Config, target: str, ws: Workspace, plan: Plan | None, desired: DesiredState | None,
                         where: str, *, adopt: bool, progress: Progress, refresh_acls: bool,
                         strict_paths: bool) -> Plan:
    """Under the lock: a saved plan still matching the live target, or a fresh plan."""
    from .reconcile import live_fingerprint, plan_target

    if plan is not None:
        if live_fingerprint(plan, ws) != plan.fingerprint:
            raise StalePlanError(f"{where}the target changed since this plan was made (stale plan); run plan again")
        twice = adopted_twice(plan)  # a plan file from elsewhere (or edited): never one job adopted twice
        if twice:
            raise BricksyncError(twice)
        owned, problem = ws.owned_record(target)
        if not problem and owned != plan.owned:  # claims and managed jobs were told apart by another record
            raise StalePlanError(f"{where}bricksync's record of its jobs changed since this plan was made (or the "
                                 "plan's identity could not read it); run plan again")
        _refuse_unread_record(problem)
        return plan
    if desired is None:
        raise BricksyncError("apply needs a saved plan or the state to plan from")
    with progress(f"Reading {target} jobs") as advance:
        fresh = plan_target(cfg, target, ws, desired, adopt=adopt, on_page=advance,
                            refresh_acls=refresh_acls, strict_paths=strict_paths)
    _refuse_unread_record(fresh.owned_problem)
    return fresh


def _refuse_unread_record(problem: str) -> None:
    """Apply never writes on a plan made without bricksync's record of its jobs: the jobs it adopted
    would be claims, each created again (references moved to the copy), and the record rewritten
    without them. Plan only warns (a read-only identity may lack CAN READ on the folder)."""
    if problem:
        raise BricksyncError(Problem(
            f"bricksync's record of its jobs could not be read ({problem}): apply writes nothing without it (the "
            "jobs it adopted would be created again). Fix or restore the file, or delete it and adopt those jobs "
            "again (apply --adopt); README: Where the records live"))
