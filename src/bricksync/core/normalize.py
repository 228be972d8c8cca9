"""API job settings <-> the canonical document kept in state/ and compared in plans. Pure.

Canonical means: server-set and read-only fields gone, values equal to the service's
defaults dropped, lists with identity sorted by it, keys in one fixed order. The same
function normalizes exported source jobs and live target jobs, so a job created from a
state file and read back normalizes to the same document (no perpetual diff).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from . import defaults as _defaults
from .traps import without_trigger_write_only

# The server defaults and read-only fields live in one table, with their sources: defaults.py.
READ_ONLY = _defaults.READ_ONLY

FIRST_KEYS = ("name", "task_key", "job_cluster_key", "description")
LAST_KEYS = ("job_clusters", "tasks")


def _ordered(value: Any) -> Any:
    """Dicts with a fixed key order (identity keys first, big lists last, else alphabetical)."""
    if isinstance(value, dict):
        def rank(key: str) -> tuple[int, int, str]:
            if key in FIRST_KEYS:
                return (0, FIRST_KEYS.index(key), key)
            if key in LAST_KEYS:
                return (2, LAST_KEYS.index(key), key)
            return (1, 0, key)
        return {k: _ordered(value[k]) for k in sorted(value, key=rank)}
    if isinstance(value, list):
        return [_ordered(v) for v in value]
    return value


def _drop_empty(obj: dict) -> None:
    for key in [k for k, v in obj.items() if v is None or v == []]:
        del obj[key]


def _normalize_cluster(cluster: dict) -> dict:
    # copy-on-write (see normalize_settings(copy=False)): strip_defaults returns new containers
    cluster = _defaults.strip_defaults(cluster, "cluster")
    for field in _defaults.WRITE_ONLY_CLUSTER:
        cluster.pop(field, None)
    _drop_empty(cluster)
    return cluster


# The lists in webhook_notifications come back sorted by destination id: the Terraform provider
# sorts them before comparing (terraform-provider-databricks jobs/resource_job.go
# sortWebhookNotifications: on_start, on_failure, on_success, on_duration_warning_threshold_exceeded,
# on_streaming_backlog_exceeded, job and task level). Sorted here too, any order in state is equal.
def _sort_webhooks(obj: dict) -> None:
    hooks = obj.get("webhook_notifications")
    if not isinstance(hooks, dict):
        return
    out = dict(hooks)
    for event, items in hooks.items():
        if isinstance(items, list) and all(isinstance(i, dict) for i in items):
            out[event] = sorted(items, key=lambda i: str(i.get("id", "")))
    obj["webhook_notifications"] = out


# JobEnvironment.spec.client: "Use ``environment_version`` instead" (SDK compute.Environment): the
# same version under two names (databricks/bundle-examples#109, databricks/cli#3554 moved to
# environment_version; databricks/cli#5936 reads `client` as a fallback for it). One spelling here.
def _environments(environments: Any) -> Any:
    if not isinstance(environments, list):
        return environments
    out = []
    for env in environments:
        spec = env.get("spec") if isinstance(env, dict) else None
        if isinstance(spec, dict) and "client" in spec and spec.get("environment_version") in (None, spec["client"]):
            spec = {k: v for k, v in spec.items() if k != "client"}
            spec["environment_version"] = env["spec"]["client"]
            env = {**env, "spec": spec}
        out.append(env)
    return out


def _normalize_task(task: dict, git: bool, place: str = "task") -> dict:
    task = _defaults.strip_defaults(task, place, git=git)
    _sort_webhooks(task)
    if isinstance(task.get("depends_on"), list):
        task["depends_on"] = sorted(task["depends_on"], key=lambda d: str(d.get("task_key", "")))
    if isinstance(task.get("new_cluster"), dict):
        task["new_cluster"] = _normalize_cluster(task["new_cluster"])
    for_each = task.get("for_each_task")
    if isinstance(for_each, dict) and isinstance(for_each.get("task"), dict):
        task["for_each_task"] = {**for_each, "task": _normalize_task(for_each["task"], git, "inner_task")}
    _drop_empty(task)
    return task


def clone(value: Any) -> Any:
    """A deep copy of JSON-shaped data, several times faster than copy.deepcopy."""
    if isinstance(value, dict):
        return {k: clone(v) for k, v in value.items()}
    if isinstance(value, list):
        return [clone(v) for v in value]
    return value


def _clone_present(value: Any) -> Any:
    """clone() without the mapping entries that hold JSON null."""
    if isinstance(value, dict):
        return {k: _clone_present(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_clone_present(v) for v in value]
    return value


_ABSENT = object()


def _present(value: Any) -> Any:
    """`value` without the mapping entries that hold JSON null, at any depth; copy-on-write: the
    very same object when it holds none (the common case, so digesting live jobs stays cheap)."""
    kind = value.__class__
    if kind is not dict and kind is not list:
        return value
    out = value
    for key, item in (value.items() if kind is dict else enumerate(value)):
        if item is None and kind is dict:
            kept = _ABSENT
        elif item.__class__ is dict or item.__class__ is list:
            kept = _present(item)
            if kept is item:
                continue
        else:
            continue
        if out is value:
            out = kind(value)
        if kept is _ABSENT:
            del out[key]
        else:
            out[key] = kept
    return out


def normalize_settings(settings: dict, *, drop_tags: tuple[str, ...] = (), ordered: bool = True,
                       copy: bool = True) -> dict:
    """Canonical form of job settings (input untouched). `drop_tags` are removed from tags.
    `ordered=False` skips the key ordering, which only matters for output (== ignores order).
    `copy=False` skips the deep copy: the result then shares the parts normalizing leaves
    alone with `settings` (every changed container is a new one), so it is only for reading
    (comparing, hashing): the main process digests 10,000 live jobs this way.

    A field holding JSON null is absent, at every depth (`depends_on[].outcome: null`,
    `notebook_task.base_parameters: null`): the Jobs API reads null as "not set", and some
    workspaces' emulators return it, which would otherwise plan as a change that never goes away."""
    s = _clone_present(settings) if copy else dict(_present(settings))
    for key in READ_ONLY:
        s.pop(key, None)
    s = _defaults.strip_defaults(s, "job")
    s = without_trigger_write_only(s)  # never returned: never compared (traps.py)
    _sort_webhooks(s)
    if "environments" in s:
        s["environments"] = _environments(s["environments"])
    git = "git_source" in s
    tasks = [_normalize_task(t, git) for t in s.get("tasks") or [] if isinstance(t, dict)]
    if tasks:
        s["tasks"] = sorted(tasks, key=lambda t: str(t.get("task_key", "")))
    clusters = [{**jc, "new_cluster": _normalize_cluster(jc["new_cluster"])}
                if isinstance(jc.get("new_cluster"), dict) else jc
                for jc in s.get("job_clusters") or [] if isinstance(jc, dict)]
    if clusters:
        s["job_clusters"] = sorted(clusters, key=lambda c: str(c.get("job_cluster_key", "")))
    if isinstance(s.get("tags"), dict):
        dropped = {t.lower() for t in drop_tags}
        s["tags"] = {k: s["tags"][k] for k in sorted(s["tags"]) if k.lower() not in dropped}
        if not s["tags"]:
            del s["tags"]
    _drop_empty(s)
    return _ordered(s) if ordered else s


def normalize_job(job: dict, *, drop_tags: tuple[str, ...] = (), ordered: bool = True, copy: bool = True) -> dict:
    """A jobs/get or jobs/list entry -> canonical settings. A `run_as` naming the job's own
    creator is the service's default (run as owner) and is dropped like any default; a job
    without `queue` does not queue (`queue: {enabled: false}`)."""
    settings = dict(job.get("settings") or {})
    if runs_as_creator(settings.get("run_as"), job.get("creator_user_name")):
        del settings["run_as"]
    if "queue" not in settings:
        # A job read without `queue` does not queue: "For jobs created with the 2.0 and 2.1 versions
        # of the Jobs API, queueing is not enabled by default" (docs: Updating from Jobs API 2.1 to
        # 2.2), and such jobs come back without the field (real-api-defaults.md RAD 10: one jobs/list
        # page with `queue` on its newest job only). State's missing `queue` means enabled (the 2.2
        # default, defaults.JOB), so this one is spelled out.
        settings["queue"] = {"enabled": False}
    return normalize_settings(settings, drop_tags=drop_tags, ordered=ordered, copy=copy)


def runs_as_creator(run_as: Any, creator: Any) -> bool:
    """True when run_as names the job's creator: what the service does with no run_as."""
    return isinstance(run_as, dict) and len(run_as) == 1 and creator is not None and \
        next(iter(run_as.values())) == creator


def digest(canonical: dict) -> str:
    """A short hash of a canonical document: equal digests mean equal documents. Lets the
    processes that render state/ and the one that reads the workspace compare 10,000 jobs
    without sending them to each other. (Unequal digests are checked again with ==: 1 and
    1.0 hash apart but compare equal.)"""
    return digest_json(canonical_json(canonical))


def canonical_json(canonical: dict) -> str:
    """A canonical document as compact JSON with sorted keys: what digest() hashes, and a
    compact way to hold 10,000 of them (export keeps this text instead of the dicts)."""
    return json.dumps(canonical, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def digest_json(text: str) -> str:
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


def ordered(value: Any) -> Any:
    """A canonical document's keys in the order state files show them (normalize_settings(ordered=True))."""
    return _ordered(value)
