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

# Fields of a job (outside `settings`) or of settings that the server sets or that only
# page responses carry.
READ_ONLY = {"job_id", "creator_user_name", "run_as_user_name", "created_time", "has_more",
             "next_page_token", "effective_budget_policy_id", "effective_usage_policy_id", "trigger_state",
             "deployment"}

JOB_DEFAULTS: dict[str, Any] = {
    "name": "Untitled",  # jobs/create: "An optional name for the job. The default value is Untitled."
    "email_notifications": {},
    "webhook_notifications": {},
    "notification_settings": {},
    "timeout_seconds": 0,
    "max_concurrent_runs": 1,
    "format": "MULTI_TASK",
    "queue": {"enabled": True},
}
TASK_DEFAULTS: dict[str, Any] = {
    "run_if": "ALL_SUCCESS",
    "timeout_seconds": 0,
    "email_notifications": {},
    "webhook_notifications": {},
    "notification_settings": {},
    "disable_auto_optimization": False,
}
CLUSTER_DEFAULTS: dict[str, Any] = {
    "data_security_mode": "SINGLE_USER",
    "enable_elastic_disk": False,
}
# Cloud attribute blocks the service fills in when a cluster spec has none.
DEFAULT_CLOUD_ATTRIBUTES: dict[str, list[dict]] = {
    "azure_attributes": [{"availability": "ON_DEMAND_AZURE", "first_on_demand": 1, "spot_bid_max_price": -1}],
    "aws_attributes": [{"availability": "SPOT_WITH_FALLBACK", "first_on_demand": 1, "zone_id": "auto"}],
    "gcp_attributes": [{"availability": "ON_DEMAND_GCP"}],
}
SOURCED_TASKS = ("notebook_task", "spark_python_task", "dbt_task")
TASK_TYPES_WITH_INNER = ("for_each_task",)

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


def _drop_defaults(obj: dict, defaults: dict[str, Any]) -> None:
    for key, default in defaults.items():
        if key in obj and obj[key] == default:
            del obj[key]


def _drop_empty(obj: dict) -> None:
    for key in [k for k, v in obj.items() if v is None or v == []]:
        del obj[key]


def _normalize_cluster(cluster: dict) -> dict:
    cluster = dict(cluster)  # copy-on-write: see normalize_settings(copy=False)
    cluster.pop("apply_policy_default_values", None)
    _drop_defaults(cluster, CLUSTER_DEFAULTS)
    for attr, defaults in DEFAULT_CLOUD_ATTRIBUTES.items():
        if cluster.get(attr) in defaults:
            del cluster[attr]
    for field in ("custom_tags", "spark_conf", "spark_env_vars"):
        if cluster.get(field) == {}:
            del cluster[field]
    _drop_empty(cluster)
    return cluster


def _normalize_task(task: dict, git: bool) -> dict:
    task = dict(task)
    _drop_defaults(task, TASK_DEFAULTS)
    for kind in SOURCED_TASKS:
        sub = task.get(kind)
        if isinstance(sub, dict) and sub.get("source") == ("GIT" if git else "WORKSPACE"):
            task[kind] = {k: v for k, v in sub.items() if k != "source"}
    if isinstance(task.get("depends_on"), list):
        task["depends_on"] = sorted(task["depends_on"], key=lambda d: str(d.get("task_key", "")))
    if isinstance(task.get("new_cluster"), dict):
        task["new_cluster"] = _normalize_cluster(task["new_cluster"])
    for_each = task.get("for_each_task")
    if isinstance(for_each, dict) and isinstance(for_each.get("task"), dict):
        task["for_each_task"] = {**for_each, "task": _normalize_task(for_each["task"], git)}
    _drop_empty(task)
    return task


def clone(value: Any) -> Any:
    """A deep copy of JSON-shaped data, several times faster than copy.deepcopy."""
    if isinstance(value, dict):
        return {k: clone(v) for k, v in value.items()}
    if isinstance(value, list):
        return [clone(v) for v in value]
    return value


def normalize_settings(settings: dict, *, drop_tags: tuple[str, ...] = (), ordered: bool = True,
                       copy: bool = True) -> dict:
    """Canonical form of job settings (input untouched). `drop_tags` are removed from tags.
    `ordered=False` skips the key ordering, which only matters for output (== ignores order).
    `copy=False` skips the deep copy: the result then shares the parts normalizing leaves
    alone with `settings` (every changed container is a new one), so it is only for reading
    (comparing, hashing): the main process digests 10,000 live jobs this way."""
    s = clone(settings) if copy else dict(settings)
    for key in READ_ONLY:
        s.pop(key, None)
    _drop_defaults(s, JOB_DEFAULTS)
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
    creator is the service's default (run as owner) and is dropped like any default."""
    settings = dict(job.get("settings") or {})
    if runs_as_creator(settings.get("run_as"), job.get("creator_user_name")):
        del settings["run_as"]
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
    text = json.dumps(canonical, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()
