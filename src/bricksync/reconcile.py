"""Plan for a target from state/ and the live workspace (shared by plan, apply and drift)."""

from __future__ import annotations

import logging
import marshal
import time
from concurrent.futures import ThreadPoolExecutor

from .bulk import bulk_data
from .config import Config
from .desired import DesiredState, Summary
from .errors import BricksyncError, Problem
from .normalize import digest, normalize_job
from .overrides import check_overrides
from .plan import Plan, Unchanged, build_plan, fingerprint
from .render import managed_key
from .schema import schema_table
from .validate import check_across
from .workspace import Workspace

log = logging.getLogger("bricksync.plan")


def checked(desired: DesiredState) -> list[Summary]:
    """Every document's summary once all of them passed every check (else all problems)."""
    summaries, problems = desired.summaries()
    problems = problems + check_across([s.links for s in summaries])
    if problems:
        raise BricksyncError(problems)
    return summaries


def validate_state(desired: DesiredState, cfg: Config | None = None) -> int:
    """Offline checks of state/ and, with `cfg`, of every target's overrides (as paths and
    types, then applied to each document): the number of valid documents."""
    desired.request(schema_table(), None, None)
    summaries = checked(desired)
    if cfg is not None:
        problems = []
        for target in cfg.targets.values():
            found = target_problems(cfg, target.name, summaries)
            if not found:
                desired.request(schema_table(), target, None)
                found = desired.summaries()[1]
            problems.extend(found)
        if problems:
            raise BricksyncError(problems)
    return len(summaries)


def target_problems(cfg: Config, target_name: str, summaries: list[Summary]) -> list[Problem]:
    """A target's overrides checked against the schema and the state keys (once per target)."""
    target = cfg.target(target_name)
    return check_overrides(target_name, target.overrides, schema_table(), {s.key for s in summaries},
                           str(cfg.path))


def connect_target(cfg: Config, target_name: str) -> Workspace:
    target = cfg.target(target_name)
    ws = Workspace.connect(target, label=target_name)
    ws.check_host(target.host, f"target '{target_name}'")
    return ws


def plan_target(cfg: Config, target_name: str, ws: Workspace, desired: DesiredState, *,
                adopt: bool = False, on_page=None) -> Plan:
    """Read the target's jobs a page at a time (digesting each managed one while the next page
    is on its way) while `desired` checks and renders state/ elsewhere; then compare digests
    and plan in full only the jobs that differ."""
    with bulk_data():
        return _plan_target(cfg, target_name, ws, desired, adopt=adopt, on_page=on_page)


def _plan_target(cfg: Config, target_name: str, ws: Workspace, desired: DesiredState, *, adopt: bool,
                 on_page) -> Plan:
    target = cfg.target(target_name)
    started = time.perf_counter()
    live: list[dict] = []  # a few fields of each job; the whole job is kept packed in `packed`
    packed: dict[int, bytes] = {}
    digests: dict[int, str] = {}  # live job id -> digest of its canonical settings
    requested = False
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="inventory") as pool:
        pending_inventory = pool.submit(ws.inventory)
        for page in ws.job_pages():
            for job in page:
                job_id = int(job["job_id"])
                if managed_key(job):
                    digests[job_id] = digest(normalize_job(job, ordered=False, copy=False))
                packed[job_id] = marshal.dumps(job)
                live.append(_outline(job))
            if not requested and pending_inventory.done():  # (the schema table is built while pages arrive)
                desired.request(schema_table(), target, pending_inventory.result())
                requested = True
            if on_page:
                on_page(len(page))
        inventory = pending_inventory.result()
    if not requested:
        desired.request(schema_table(), target, inventory)
    fetched = time.perf_counter()
    summaries = checked(desired)
    config_problems = target_problems(cfg, target_name, summaries)  # reported with the plan's own, all at once
    loaded = time.perf_counter()
    unchanged = _unchanged(summaries, live, digests)
    docs = desired.docs({s.key for s in summaries} - {u.key for u in unchanged})
    # Every job but the unchanged ones is planned from its whole self.
    outline_only = {u.job_id for u in unchanged}
    live = [j if j["job_id"] in outline_only else marshal.loads(packed.pop(j["job_id"])) for j in live]
    del packed
    plan, problems = build_plan(docs, live, target, inventory, host=ws.host, adopt=adopt, unchanged=unchanged,
                                digests=digests)
    log.debug("plan %s: %d live jobs read in %.2fs, state ready %.2fs later, %d of %d documents planned in "
              "full, plan built in %.2fs", target_name, len(live), fetched - started, loaded - fetched, len(docs),
              len(summaries), time.perf_counter() - loaded)
    if config_problems or problems:
        raise BricksyncError(config_problems + problems)
    return plan


def _outline(job: dict) -> dict:
    """What planning needs of a job that turns out unchanged: 10,000 whole jobs held as dicts
    cost ~200 MB; packed with marshal, a fifth of that."""
    settings = job.get("settings") or {}
    return {"job_id": int(job["job_id"]), "creator_user_name": job.get("creator_user_name"),
            "settings": {"name": settings.get("name"), "tags": settings.get("tags") or {}}}


def _unchanged(summaries: list[Summary], live: list[dict], digests: dict[int, str]) -> list[Unchanged]:
    """Documents whose one live job has the same digest: no-ops, without sending them here."""
    by_key: dict[str, list[int]] = {}
    for job in live:
        key = managed_key(job)
        if key:
            by_key.setdefault(key, []).append(int(job["job_id"]))
    out = []
    for s in summaries:
        ids = by_key.get(s.key, [])
        if s.digest is not None and len(ids) == 1 and digests.get(ids[0]) == s.digest:
            out.append(Unchanged(s.key, s.links.name or s.key, s.links.file, ids[0]))
    return out


def live_fingerprint(plan: Plan, ws: Workspace) -> str:
    """Recompute a saved plan's fingerprint from the workspace as it is now."""
    live = ws.list_jobs()
    adopted = set(plan.watched)
    watched = [j for j in live if managed_key(j) or int(j["job_id"]) in adopted]
    return fingerprint(watched)
