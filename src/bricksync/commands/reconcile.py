"""Plan for a target from state/ and the live workspace (shared by plan, apply and drift)."""

from __future__ import annotations

import logging
import marshal
import re
import time
from concurrent.futures import Future, ThreadPoolExecutor

from ..core.bulk import bulk_data
from ..core.errors import BricksyncError
from ..core.model import TargetConfig
from ..core.normalize import digest, normalize_job
from ..core.ownership import claimed_ids
from ..core.permissions import Identity
from ..core.plan import ORDER, Plan, Unchanged, build_plan, fingerprint, write_only_not_drift
from ..core.references import Inventory, path_sites
from ..core.render import managed_key, render
from ..core.schema import schema_table
from ..edges.config import Config
from ..edges.state import adoption_file, read_adoptions
from ..edges.statefiles import FileStore, files_in_use
from ..edges.trusted import home_folder
from ..edges.workspace import ACL_READERS, Unanswerable, Workspace
from ..edges.wsfiles import WorkspaceFiles
from .aclplan import apply_acls, to_read, wanted
from .desired import DesiredState, Summary
from .fileflow import plan_files_step, read_docs
from .ownercheck import refuse_foreign_owners
from .preflight import PathUse, path_uses, preflight, task_of
from .validate import checked, target_problems

log = logging.getLogger("bricksync.plan")


def connect_target(cfg: Config, target_name: str) -> Workspace:
    target = cfg.target(target_name)
    ws = Workspace.connect(target, label=target_name)
    ws.check_host(target.host, f"target '{target_name}'")
    ws.expected_identity = target.identity
    return ws


def plan_target(cfg: Config, target_name: str, ws: Workspace, desired: DesiredState, *,
                adopt: bool = False, on_page=None, refresh_acls: bool = False, strict_paths: bool = False,
                all_paths: bool = False, drift: bool = False) -> Plan:
    """Read the target's jobs a page at a time (digesting each managed one while the next page
    is on its way) while `desired` checks and renders state/ elsewhere; then compare digests
    and plan in full only the jobs that differ. `all_paths`: the path preflight covers the
    unchanged jobs too (drift), not only the ones to be written. `drift`: write-only values
    that differ from what bricksync last sent are said, not shown as changes (nothing reads them)."""
    # Reading every ACL (drift, --refresh-permissions): each managed job's read starts as its
    # page arrives, so the reads overlap the page fetch instead of following it.
    with bulk_data(), ThreadPoolExecutor(max_workers=ACL_READERS, thread_name_prefix="acl") as acl_pool:
        try:
            plan, unchanged_uses = _plan_target(cfg, target_name, ws, desired, adopt=adopt, on_page=on_page,
                                                refresh_acls=refresh_acls, acl_pool=acl_pool, all_paths=all_paths,
                                                drift=drift)
        finally:
            acl_pool.shutdown(wait=True, cancel_futures=True)  # a failed plan stops its reads
    # Do the paths the jobs use exist in the target? (see preflight.py; files the plan writes will)
    preflight(plan, ws, strict=strict_paths, unanswerable=(Unanswerable,), log=log.debug, extra=unchanged_uses)
    return plan



# long: plan's pipeline in order (pages, render, preflight, overlapped ACL reads); split, it would hand state along
def _plan_target(cfg: Config, target_name: str, ws: Workspace, desired: DesiredState, *, adopt: bool,
                 on_page, refresh_acls: bool, acl_pool: ThreadPoolExecutor,
                 all_paths: bool = False, drift: bool = False) -> tuple[Plan, list[PathUse]]:
    target = cfg.target(target_name)
    all_paths_asked = every_file = all_paths  # drift: preflight of every job, every managed file's content
    started = time.perf_counter()
    live: list[dict] = []  # a few fields of each job; the whole job is kept packed in `packed`
    packed: dict[int, bytes] = {}
    digests: dict[int, str] = {}  # live job id -> digest of its canonical settings
    requested = False
    acls = target.permissions != "ignore"
    with_files = files_in_use(cfg.source.files, cfg.state_dir)
    all_paths = all_paths or with_files  # which job uses which file: each document's rendered paths
    early: dict[int, Future] = {}  # job id -> its ACL read, started as its page arrived
    read_early = acls and refresh_acls
    with ThreadPoolExecutor(max_workers=3 if acls else 1, thread_name_prefix="inventory") as pool:
        pending_inventory = pool.submit(_inventory, ws, target, desired)
        # Permissions: who applies (for the lockout check) and the index of ACLs known to hold,
        # each one call, while the pages arrive.
        # Who bricksync is, asked once: it decides which tagged jobs are bricksync's (core/ownership.py)
        # and where its trusted records live (edges/trusted.py).
        pending_me = pool.submit(ws.me_cached)
        pending_owned = pool.submit(_records, ws, target_name)
        pending_index = pool.submit(ws.read_acl_index, target_name) if acls and not refresh_acls else None
        for page in ws.job_pages():
            for job in page:
                job_id = int(job["job_id"])
                if managed_key(job):
                    if read_early:
                        early[job_id] = acl_pool.submit(ws.job_permissions, job_id)
                    digests[job_id] = digest(normalize_job(job, ordered=False, copy=False))
                packed[job_id] = marshal.dumps(job)
                live.append(_outline(job))
            if not requested and pending_inventory.done():  # (the schema table is built while pages arrive)
                desired.request(schema_table(), target, pending_inventory.result(), paths=all_paths)
                requested = True
            if on_page:
                on_page(len(page))
        inventory = pending_inventory.result()
        identity = Identity.from_scim(pending_me.result())
        me = identity if target.permissions == "manage" else None
        (owned, owned_problem), sent = pending_owned.result()
        index = pending_index.result() if pending_index else {}
    claimed = claimed_ids(live, owned, ws.bricksync_identity())
    if not requested:
        desired.request(schema_table(), target, inventory, paths=all_paths)
    fetched = time.perf_counter()
    summaries = checked(desired)
    config_problems = target_problems(cfg, target_name, summaries)  # reported with the plan's own, all at once
    loaded = time.perf_counter()
    unchanged = _unchanged(summaries, [j for j in live if j["job_id"] not in claimed], digests, sent)
    docs = desired.docs({s.key for s in summaries} - {u.key for u in unchanged})
    # Every job but the unchanged ones is planned from its whole self.
    outline_only = {u.job_id for u in unchanged}
    live = [j if j["job_id"] in outline_only else marshal.loads(packed.pop(j["job_id"])) for j in live]
    del packed
    plan, problems = build_plan(docs, live, target, inventory, host=ws.host, adopt=adopt, unchanged=unchanged,
                                digests=digests, adopt_ids=read_adoptions(cfg.state_dir, target_name),
                                adopt_file=adoption_file(cfg.state_dir, target_name), claimed=claimed,
                                write_only=sent)
    if drift:
        write_only_not_drift(plan)
    plan.owned, plan.owned_problem = owned, owned_problem
    plan.warnings.extend(_record_warnings(ws, target_name, owned, owned_problem, live, claimed))
    log.debug("plan %s: %d live jobs read in %.2fs, state ready %.2fs later, %d of %d documents planned in "
              "full, plan built in %.2fs", target_name, len(live), fetched - started, loaded - fetched, len(docs),
              len(summaries), time.perf_counter() - loaded)
    if config_problems or problems:
        raise BricksyncError(config_problems + problems)
    if acls:
        want, acl_problems = wanted(summaries, target, me)
        if acl_problems:  # the service would refuse these: named now, before any write
            raise BricksyncError(acl_problems)
        ids = to_read(plan, want, index, refresh_acls)
        read_started = time.perf_counter()
        late = ws.job_permissions_many([i for i in ids if i not in early])
        live_acls = {i: early[i].result() if i in early else late[i] for i in ids}
        refused = apply_acls(plan, want, live_acls, index, target.permissions, me)
        if refused:  # owner changes the service would refuse: named now, before any write
            raise BricksyncError(refused)
        plan.actions.sort(key=lambda a: (ORDER[a.action], a.key))
        log.debug("plan %s: %d job ACLs read in %.2fs (%d vouched for by the index)", target_name, len(ids),
                  time.perf_counter() - read_started, len(want) - len(ids))
    refuse_foreign_owners(plan, ws, ws.bricksync_identity(), summaries, target)
    uses = _unchanged_uses(plan, summaries, docs, target, inventory) if all_paths else []
    if with_files:
        paths: dict[str, list[tuple[str, str, str]]] = {}
        for use in uses + path_uses(plan):
            paths.setdefault(use.key, []).append((use.job, use.field, use.path))
        plan_files_step(plan, WorkspaceFiles(ws), read_docs(cfg.state_dir), root=cfg.source.notebook_root,
                        target=target, uses=paths, adopt=adopt, every=every_file,
                        required=cfg.source.files == "referenced", exempt=FileStore(cfg.state_dir).not_copied())
    return plan, (uses if all_paths_asked else [])


def _record_warnings(ws: Workspace, target_name: str, owned: dict[str, int], problem: str, live: list[dict],
                     claimed: set[int]) -> list[str]:
    """Why the jobs bricksync adopted (or all of them) show as claims, when the record says nothing."""
    me = ws.bricksync_identity()
    if problem:
        return [f"bricksync's record of its jobs could not be read ({problem}): only the jobs {me} created count "
                "as bricksync's. A read-only identity needs CAN READ on that folder (README: Databricks "
                "permissions of the read-only identity)"]
    tagged = [j for j in live if managed_key(j)]
    if owned or not tagged or len(claimed) < len(tagged):
        return []
    # No record and not one tagged job is this identity's: a first apply under a new identity, or a typo.
    return [f"none of the {len(tagged)} jobs carrying a bricksync-key is bricksync's: {me} created none of them and "
            f"has no record of its jobs in {home_folder(me)}. Unless it is new to this target, check who the "
            f"credentials are or the spelling of targets.{target_name}.identity"]


def _records(ws: Workspace, target: str) -> tuple[tuple[dict[str, int], str], dict[str, dict]]:
    """bricksync's trusted records a plan reads: its jobs, and what it last sent of the write-only
    fields (no read shows them: core/traps.py). One task: the second read is not tried against a
    workspace the first found unreachable (a plan that cannot connect gives up within its budget)."""
    owned = ws.owned_record(target)
    return owned, ws.read_write_only_index(target)


def _unchanged_uses(plan: Plan, summaries: list[Summary], docs: list, target: TargetConfig,
                    inventory: Inventory) -> list[PathUse]:
    """Path uses of the jobs the plan leaves alone (written ones come with their settings)."""
    by_key = {s.key: s for s in summaries}
    full = {d.key: d for d in docs}
    out = []
    for action in plan.actions:
        if action.action != "no-op":
            continue
        if action.key in full:  # planned in full (e.g. it runs other jobs): render it again for its paths
            settings, _ = render(full[action.key], target, inventory, {})
            found = [(site.location, str(site.value)) for site in path_sites(settings)]
        else:
            found = list(by_key[action.key].paths) if action.key in by_key else []
        out += [PathUse(action.key, action.name, task_of(where), path, where, action.file) for where, path in found]
    return out


def _inventory(ws: Workspace, target: TargetConfig, desired: DesiredState) -> Inventory:
    """The target's objects of the kinds state/ (or an override) references, and nothing else:
    a kind no job uses is not listed, so a listing the identity may not make fails no plan."""
    kinds = desired.kinds()
    for values in target.overrides.values():
        kinds |= {m[1] for m in _OVERRIDE_REF_RE.finditer(repr(values))}
    return ws.inventory(kinds)


_OVERRIDE_REF_RE = re.compile(r"\$\{(\w+):")


def _outline(job: dict) -> dict:
    """What planning needs of a job that turns out unchanged: 10,000 whole jobs held as dicts
    cost ~200 MB; packed with marshal, a fifth of that."""
    settings = job.get("settings") or {}
    return {"job_id": int(job["job_id"]), "creator_user_name": job.get("creator_user_name"),
            "settings": {"name": settings.get("name"), "tags": settings.get("tags") or {}}}


def _unchanged(summaries: list[Summary], live: list[dict], digests: dict[int, str],
               sent: dict[str, dict]) -> list[Unchanged]:
    """Documents whose one live job has the same digest, and whose write-only values are what
    bricksync last sent (or were never recorded: unknown): no-ops, without sending them here."""
    by_key: dict[str, list[int]] = {}
    for job in live:
        key = managed_key(job)
        if key:
            by_key.setdefault(key, []).append(int(job["job_id"]))
    out = []
    for s in summaries:
        ids = by_key.get(s.key, [])
        entry = sent.get(str(ids[0])) if len(ids) == 1 else None
        if entry is not None and entry.get("digest") != s.write_only:
            continue  # a write-only value changed: planned in full (core/plan.py shows it)
        if s.digest is not None and len(ids) == 1 and digests.get(ids[0]) == s.digest:
            out.append(Unchanged(s.key, s.links.name or s.key, s.links.file, ids[0]))
    return out


def live_fingerprint(plan: Plan, ws: Workspace) -> str:
    """Recompute a saved plan's fingerprint from the workspace as it is now."""
    live = ws.list_jobs()
    adopted = set(plan.watched)
    claimed = claimed_ids(live, ws.read_owned(plan.target), ws.bricksync_identity())
    watched = [j for j in live if (managed_key(j) and int(j["job_id"]) not in claimed) or int(j["job_id"]) in adopted]
    return fingerprint(watched)
