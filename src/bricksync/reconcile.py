"""Plan for a target from state/ and the live workspace (shared by plan, apply and drift)."""

from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor

from .config import Config
from .errors import BricksyncError
from .normalize import normalize_job
from .plan import Plan, build_plan, fingerprint
from .render import managed_key
from .state import StateDoc, StateStore
from .validate import validate_docs
from .workspace import Workspace

log = logging.getLogger("bricksync.plan")


def load_state(cfg: Config) -> list[StateDoc]:
    """Every state document, validated; all problems reported at once."""
    store = StateStore(cfg.state_dir)
    docs, problems = store.read_all(check=True)
    found = problems + validate_docs(docs, each_checked=True)
    if found:  # parse the files with problems again, keeping line numbers for the messages
        bad = {p.file for p in found}
        docs = [store.reread_with_lines(d) if d.file in bad else d for d in docs]
        unreadable = [p for p in problems if not any(d.file == p.file for d in docs)]
        found = unreadable + validate_docs(docs)
    if found:
        raise BricksyncError(found)
    return docs


def connect_target(cfg: Config, target_name: str) -> Workspace:
    target = cfg.target(target_name)
    ws = Workspace.connect(target, label=target_name)
    ws.check_host(target.host, f"target '{target_name}'")
    return ws


def plan_target(cfg: Config, target_name: str, ws: Workspace, docs: list[StateDoc] | None = None, *,
                adopt: bool = False, on_page=None) -> Plan:
    target = cfg.target(target_name)
    started = time.perf_counter()
    # Parse state/ while the target's pages arrive: the two overlap (one waits on the network).
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="state") as pool:
        pending = pool.submit(load_state, cfg) if docs is None else None
        live: list[dict] = []
        normalized: dict[int, dict] = {}
        for page in ws.job_pages():  # the next page is on its way while this one is normalized
            live.extend(page)
            for job in page:
                if managed_key(job):
                    normalized[int(job["job_id"])] = normalize_job(job, ordered=False)
            if on_page:
                on_page(len(page))
        inventory = ws.inventory()
        fetched = time.perf_counter()
        docs = pending.result() if pending is not None else docs
    loaded = time.perf_counter()
    plan, problems = build_plan(docs, live, target, inventory, host=ws.host, adopt=adopt, normalized=normalized)
    log.debug("plan %s: %d live jobs read in %.2fs, state ready %.2fs later, plan built in %.2fs", target_name,
              len(live), fetched - started, loaded - fetched, time.perf_counter() - loaded)
    if problems:
        raise BricksyncError(problems)
    return plan


def live_fingerprint(plan: Plan, ws: Workspace) -> str:
    """Recompute a saved plan's fingerprint from the workspace as it is now."""
    live = ws.list_jobs()
    adopted = set(plan.watched)
    watched = [j for j in live if managed_key(j) or int(j["job_id"]) in adopted]
    return fingerprint(watched)
