"""Execute a Plan through the workspace module: creates, then updates, then (with prune) deletes.

Creates run in dependency order (a job that runs another is created after it, so its
`${job:KEY}` can be filled in), each layer with bounded parallelism. Every create carries
its ownership tags in the same call, and a create whose response was lost is looked up by
key before it is sent again, so a re-run or a retry never makes a duplicate.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from .errors import BricksyncError, Problem
from .plan import Action, Plan
from .render import KEY_TAG, fill_jobs, pending_jobs
from .workspace import Workspace


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


def _tagged(jobs: Iterable[dict], key: str) -> list[int]:
    return [int(j["job_id"]) for j in jobs if ((j.get("settings") or {}).get("tags") or {}).get(KEY_TAG) == key]


def find_by_key(ws: Workspace, settings: dict, key: str) -> int | None:
    """The job carrying this key, after a create whose response was lost. By the tag alone:
    the name sent (overrides may rename a job; a nameless job is named by the service) only
    narrows a first, cheap look-up. When that finds nothing, every job is listed (one call per
    100 jobs): a create is sent again only once the key is known to be nowhere."""
    name = settings.get("name")
    if isinstance(name, str) and name.strip():
        matches = _tagged(ws.jobs_named(name), key)
        if matches:
            return min(matches)
    matches = _tagged(ws.job_outlines(), key)
    return min(matches) if matches else None


def execute_plan(plan: Plan, ws: Workspace, *, parallelism: int = 8, prune: bool = False,
                 known_job_ids: dict[str, int] | None = None,
                 on_done: Callable[[Outcome], None] | None = None) -> ApplyResult:
    result = ApplyResult()
    job_ids = dict(known_job_ids or {})
    for action in plan.actions:
        if action.job_id is not None and action.action in ("update", "adopt", "no-op"):
            job_ids[action.key] = action.job_id

    def record(outcome: Outcome) -> Outcome:
        result.outcomes.append(outcome)
        if on_done:
            on_done(outcome)
        return outcome

    def create(action: Action) -> Outcome:
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
        return record(Outcome(action.key, "create", action.name, job_id, True,
                              "created (response lost; found by key, not sent again)" if recovered else "created"))

    def update(action: Action) -> Outcome:
        settings = fill_jobs(action.settings or {}, job_ids)
        missing = pending_jobs(settings)
        if missing:
            return record(Outcome(action.key, action.action, action.name, action.job_id, False,
                                  f"skipped: job(s) it runs were not created: {', '.join(missing)}"))
        try:
            ws.reset_job(int(action.job_id or 0), settings)
        except BricksyncError as exc:
            return record(Outcome(action.key, action.action, action.name, action.job_id, False, exc.render()))
        return record(Outcome(action.key, action.action, action.name, action.job_id, True,
                              f"{len(action.changes)} field(s) changed"))

    def delete(action: Action) -> Outcome:
        try:
            ws.delete_job(int(action.job_id or 0))
        except BricksyncError as exc:
            return record(Outcome(action.key, "delete", action.name, action.job_id, False, exc.render()))
        return record(Outcome(action.key, "delete", action.name, action.job_id, True, "deleted (prune)"))

    with ThreadPoolExecutor(max_workers=max(1, parallelism), thread_name_prefix="apply") as pool:
        for layer in create_layers(plan.of("create")):
            list(pool.map(create, layer))
        list(pool.map(update, [a for a in plan.actions if a.action in ("update", "adopt")]))
        if prune:
            list(pool.map(delete, plan.of("orphan")))
    return result
