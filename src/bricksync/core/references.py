"""Where job settings point at workspace things: compute and job IDs, and workspace paths.

Pure. One walker for each, used in both directions: export (IDs -> `${kind:NAME}`, paths
checked against the notebook root) and render (names -> target IDs, paths rewritten).
"""

from __future__ import annotations

import functools
import posixpath
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from .errors import did_you_mean
from .objectrefs import JOB_REFS, JOB_REFUSED, TASK_REFS, TASK_REFUSED, table_sites
from .paths import PathSite, is_workspace_path, path_sites

__all__ = ["PathSite", "is_workspace_path", "path_sites"]  # re-exported: callers import paths from here

# The one list of reference kinds: every pattern below is built from it.
KINDS = ("cluster", "pool", "policy", "warehouse", "job", "pipeline",
         "query", "alert", "alert_v2", "dashboard", "sql_dashboard", "destination", "budget_policy")
_KIND_ALT = "|".join(map(re.escape, KINDS))
PLACEHOLDER_RE = re.compile(rf"^\$\{{({_KIND_ALT}):([^}}]+)\}}$")
ANY_PLACEHOLDER_RE = re.compile(r"\$\{[^}]*\}")
# Only `${kind:` with a known kind is bricksync's; `${HOME}`, `${var.x}`, `${run_date}` are not.
# A literal that looks like ours is written with one more `$`: `$${cluster:x}` means `${cluster:x}`.
REFERENCE_START_RE = re.compile(rf"(?<!\$)\$\{{(?:{_KIND_ALT}):")
_ESCAPED_RE = re.compile(rf"(\$+)(\{{(?:{_KIND_ALT}):)")
_UNESCAPE_RE = re.compile(rf"\$(\$+\{{(?:{_KIND_ALT}):)")


def escape_literal(value: str) -> str:
    """A source value as a state file keeps it: `${cluster:x}` (not a reference there) -> `$${cluster:x}`."""
    return _ESCAPED_RE.sub(r"$\1\2", value) if "${" in value else value


def unescape_literal(value: str) -> str:
    """The value a state file's string stands for in a workspace: `$${cluster:x}` -> `${cluster:x}`."""
    return _UNESCAPE_RE.sub(r"\1", value) if "${" in value else value


def has_reference(value: str) -> bool:
    """Does this string contain a bricksync reference (an unescaped `${kind:`)?"""
    return "${" in value and REFERENCE_START_RE.search(value) is not None


def map_strings(value: Any, fn) -> Any:
    """Every string value (not keys) of a settings tree through `fn`, in place; returns the tree."""
    if isinstance(value, dict):
        for k, v in value.items():
            if isinstance(v, str):
                value[k] = fn(v)
            elif isinstance(v, (dict, list)):
                map_strings(v, fn)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            if isinstance(v, str):
                value[i] = fn(v)
            elif isinstance(v, (dict, list)):
                map_strings(v, fn)
    return value


def placeholder(kind: str, name: str) -> str:
    return f"${{{kind}:{name}}}"


def parse_placeholder(value: Any) -> tuple[str, str] | None:
    match = PLACEHOLDER_RE.match(value) if isinstance(value, str) else None
    return (match[1], match[2]) if match else None


@dataclass
class Site:
    """One reference inside settings: container[field] holds an ID (or a placeholder)."""

    location: str  # readable path, e.g. tasks[ingest].existing_cluster_id
    container: dict
    field: str
    kind: str

    @property
    def value(self) -> Any:
        return self.container[self.field]

    def set(self, value: Any) -> None:
        self.container[self.field] = value


def _cluster_sites(cluster: Any, where: str) -> Iterator[Site]:
    if not isinstance(cluster, dict):
        return
    for fld, kind in (("instance_pool_id", "pool"), ("driver_instance_pool_id", "pool"), ("policy_id", "policy")):
        if fld in cluster:
            yield Site(f"{where}.{fld}", cluster, fld, kind)


def _task_sites(task: dict, where: str) -> Iterator[Site]:
    if "existing_cluster_id" in task:
        yield Site(f"{where}.existing_cluster_id", task, "existing_cluster_id", "cluster")
    yield from _cluster_sites(task.get("new_cluster"), f"{where}.new_cluster")
    for kind_field in ("sql_task", "dbt_task"):
        sub = task.get(kind_field)
        if isinstance(sub, dict) and "warehouse_id" in sub:
            yield Site(f"{where}.{kind_field}.warehouse_id", sub, "warehouse_id", "warehouse")
    run_job = task.get("run_job_task")
    if isinstance(run_job, dict) and "job_id" in run_job:
        yield Site(f"{where}.run_job_task.job_id", run_job, "job_id", "job")
    pipeline = task.get("pipeline_task")
    if isinstance(pipeline, dict) and "pipeline_id" in pipeline:
        yield Site(f"{where}.pipeline_task.pipeline_id", pipeline, "pipeline_id", "pipeline")
    for location, container, fld, kind in table_sites(task, where, TASK_REFS):  # see objectrefs.py
        yield Site(location, container, fld, kind)
    inner = (task.get("for_each_task") or {}).get("task") if isinstance(task.get("for_each_task"), dict) else None
    if isinstance(inner, dict):
        yield from _task_sites(inner, f"{where}.for_each_task.task")


def _tasks(settings: dict) -> Iterator[tuple[str, dict]]:
    for i, task in enumerate(settings.get("tasks") or []):
        if isinstance(task, dict):
            yield f"tasks[{task.get('task_key', i)}]", task


def reference_sites(settings: dict) -> Iterator[Site]:
    """Every reference to a workspace object (compute, jobs, SQL objects, destinations...) in job settings."""
    for location, container, fld, kind in table_sites(settings, "", JOB_REFS):
        yield Site(location, container, fld, kind)
    for i, jc in enumerate(settings.get("job_clusters") or []):
        if isinstance(jc, dict):
            where = f"job_clusters[{jc.get('job_cluster_key', i)}].new_cluster"
            yield from _cluster_sites(jc.get("new_cluster"), where)
    for where, task in _tasks(settings):
        yield from _task_sites(task, where)


def refused_sites(settings: dict) -> Iterator[tuple[str, str]]:
    """(location, what) of every ID bricksync cannot name: export refuses the job."""
    for location, _, _, what in table_sites(settings, "", JOB_REFUSED):
        yield location, what
    for where, task in _tasks(settings):
        yield from _task_refused(task, where)


def _task_refused(task: dict, where: str) -> Iterator[tuple[str, str]]:
    for location, _, _, what in table_sites(task, where, TASK_REFUSED):
        yield location, what
    inner = task.get("for_each_task", {}).get("task") if isinstance(task.get("for_each_task"), dict) else None
    if isinstance(inner, dict):
        yield from _task_refused(inner, f"{where}.for_each_task.task")


def referenced_kinds(settings: dict) -> set[str]:
    """Kinds named by `${kind:NAME}` placeholders at reference sites (what a plan must list)."""
    out = set()
    for site in reference_sites(settings):
        ref = parse_placeholder(site.value)
        if ref:
            out.add(ref[0])
    return out


# --- workspace paths: the table and its walker live in paths.py ------------------------------

@functools.lru_cache(maxsize=1 << 16)  # jobs share notebook folders: rendering 10,000 asks again and again
def canonical_path(path: str) -> str:
    """`/Workspace/a/../b` and `/b` name the same object: compare them in one spelling."""
    norm = posixpath.normpath(path)
    if norm == "/Workspace" or norm.startswith("/Workspace/"):
        norm = norm[len("/Workspace"):] or "/"
    return norm


def is_under(path: str, root: str) -> bool:
    p, r = canonical_path(path), canonical_path(root).rstrip("/")
    return p == r or p.startswith(r + "/")


def rewrite_path(path: str, rewrites: dict[str, str]) -> str:
    """Longest matching prefix wins; prefixes match whole path segments, in either spelling
    (`/Workspace/dev/x` and `/dev/x` are one notebook)."""
    return _rewrite_path(path, tuple(rewrites.items()))


@functools.lru_cache(maxsize=1 << 16)
def _rewrite_path(path: str, pairs: tuple[tuple[str, str], ...]) -> str:
    rewrites = dict(pairs)
    canon = canonical_path(path)
    for prefix in sorted(rewrites, key=lambda p: len(canonical_path(p)), reverse=True):
        p = canonical_path(prefix).rstrip("/")
        if canon == p or canon.startswith(p + "/"):
            return rewrites[prefix].rstrip("/") + canon[len(p):]
    return path


@dataclass
class Inventory:
    """A workspace's referable things: IDs and names, per kind (pure data)."""

    by_id: dict[str, dict[str, str]] = field(default_factory=lambda: {k: {} for k in KINDS})
    by_name: dict[str, dict[str, list[str]]] = field(default_factory=lambda: {k: {} for k in KINDS})
    # cluster policy ID -> its definition (attribute path -> rule; traps.parse_policy): what the
    # policy fixes or fills in a job cluster spec (issue 24.2)
    policies: dict[str, dict[str, dict]] = field(default_factory=dict)

    def add(self, kind: str, ident: Any, name: str) -> None:
        self.by_id[kind][str(ident)] = name
        self.by_name[kind].setdefault(name, []).append(str(ident))

    def name_of(self, kind: str, ident: Any) -> tuple[str | None, str | None]:
        """(name, error) for an ID: unknown IDs and names shared by several resources are errors."""
        name = self.by_id[kind].get(str(ident))
        if name is None:
            return None, f"{kind} ID {ident} does not exist in the workspace"
        if len(self.by_name[kind].get(name, [])) > 1:
            ids = ", ".join(self.by_name[kind][name])
            return None, f"{kind} name '{name}' is shared by several {kind}s ({ids}): rename them"
        return name, None

    def id_of(self, kind: str, name: str) -> tuple[str | None, str | None]:
        ids = self.by_name[kind].get(name, [])
        if not ids:
            close = did_you_mean(name, self.by_name[kind])
            return None, f"no {kind} named '{name}' in the workspace{close}"
        if len(ids) > 1:
            return None, f"{kind} name '{name}' is shared by several {kind}s ({', '.join(ids)})"
        return ids[0], None
