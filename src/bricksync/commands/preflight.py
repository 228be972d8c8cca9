"""Preflight in the target: does every workspace path a job about to be written uses exist there?

Checked: the rewritten notebook, Python file, SQL file, dbt project, library (whl/jar/egg/
requirements) and environment dependency paths of the jobs the plan creates, updates or adopts
(`references.path_sites`: GIT-sourced task paths are relative to the repository and skipped).
plan and apply do not check no-op jobs: apply sends nothing for them, and the PR-time plan of
an unchanged target stays O(pages). drift checks every job in state/ (the scheduled check is
where a notebook deleted in prod under an unchanged job is caught); jobs share folders, so that
costs one listing per folder in use (40 for the benchmark's 10,000 jobs).

Cost: one `workspace/list` per distinct folder, or one `workspace/get-status` per distinct path,
whichever is fewer calls for this plan (jobs share folders, so usually the listing). A missing
path is a warning (an error with --strict-paths); a target that cannot answer (no permission,
no such API) is one warning for the whole plan, never a failure.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from typing import Protocol

from ..core.errors import BricksyncError, Problem
from ..core.plan import Plan
from ..core.references import canonical_path, path_sites

PARALLEL = 8


@dataclass(frozen=True)
class PathUse:
    key: str
    job: str
    task: str  # task_key, or "" for a job-level path (environments)
    path: str
    field: str
    file: str | None = None

    def message(self) -> str:
        where = f"task '{self.task}'" if self.task else "job-level"
        return f"job '{self.job}' ({self.key}), {where}: {self.path} does not exist in the target ({self.field})"


class PathChecker(Protocol):
    def folder_entries(self, folder: str) -> list[str] | None: ...
    def path_exists(self, path: str) -> bool: ...


def task_of(location: str) -> str:
    """The task key in a field path like `tasks[ingest].notebook_task.notebook_path` ("" at job level)."""
    return location.split("]", 1)[0][len("tasks["):] if location.startswith("tasks[") else ""


def path_uses(plan: Plan) -> list[PathUse]:
    """Workspace paths of the jobs the plan writes, as they will be sent."""
    out = []
    for action in plan.actions:
        if not action.writes or not action.settings:
            continue
        for site in path_sites(action.settings):
            out.append(PathUse(action.key, action.name, task_of(site.location), str(site.value), site.location,
                               action.file))
    return out


def _placed(plan: Plan) -> set[str]:
    """Paths the plan's file actions put (or keep) in place, and every folder above them."""
    out: set[str] = set()
    for f in plan.files:
        if f.action in ("create", "update", "adopt", "no-op"):
            path = canonical_path(f.path)
            while path not in out and path not in ("", "/"):
                out.add(path)
                path = posixpath.dirname(path)
    return out


def missing_paths(paths: set[str], checker: PathChecker, *, parallel: int = PARALLEL) -> set[str]:
    """The paths (as given) that do not exist. Raises what the checker raises when it cannot tell."""
    by_folder: dict[str, list[str]] = {}  # one folder in either spelling (/Workspace/x or /x)
    for path in sorted(paths):
        by_folder.setdefault(canonical_path(posixpath.dirname(posixpath.normpath(path))), []).append(path)
    with ThreadPoolExecutor(max_workers=parallel, thread_name_prefix="preflight") as pool:
        if len(by_folder) < len(paths):  # fewer calls: list each folder once
            folders = [posixpath.dirname(posixpath.normpath(members[0])) for members in by_folder.values()]
            missing = set()
            for members, entries in zip(by_folder.values(), pool.map(checker.folder_entries, folders), strict=True):
                present = {canonical_path(p) for p in entries or []}
                missing |= {p for p in members if canonical_path(p) not in present}
            return missing
        ordered = sorted(paths)
        return {p for p, ok in zip(ordered, pool.map(checker.path_exists, ordered), strict=True) if not ok}


def preflight(plan: Plan, checker: PathChecker, *, strict: bool = False,
              unanswerable: tuple[type[BaseException], ...] = (), log: Callable[[str], None] | None = None,
              extra: list[PathUse] | None = None) -> None:
    """Add a warning per missing path (and `plan.missing_paths`); with `strict`, raise instead.
    `extra`: further uses to check (drift: the jobs the plan leaves alone)."""
    placed = _placed(plan)
    uses = [u for u in path_uses(plan) + list(extra or []) if canonical_path(u.path) not in placed]
    if not uses:
        return
    try:
        missing = missing_paths({u.path for u in uses}, checker)
    except unanswerable as exc:
        plan.warnings.append(f"could not check that {len({u.path for u in uses})} workspace path(s) exist in the "
                             f"target: {exc}")
        return
    found = [u for u in uses if u.path in missing]
    if log:
        log(f"preflight: {len(uses)} path uses, {len(missing)} missing")
    if strict and found:
        raise BricksyncError([Problem(f"{u.path} does not exist in the target (--strict-paths)", file=u.file,
                                      job=u.job, field=u.field) for u in found])
    for use in found:
        plan.warnings.append(use.message())
        plan.missing_paths.append({k: v for k, v in asdict(use).items() if k != "file"})
