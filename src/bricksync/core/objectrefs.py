"""Where job settings point at workspace objects other than compute: one table, read by one walker.

Pure. Each row is a dotted path (`[]` walks a list) and the reference kind its value names.
Sources: the Jobs API 2.2 JobSettings/Task reference and databricks-sdk 0.162 `service/jobs.py`
(SqlTaskQuery.query_id, SqlTaskAlert.alert_id, SqlTaskDashboard.dashboard_id and their
SqlTaskSubscription.destination_id, DashboardTask.dashboard_id / .warehouse_id /
Subscription.subscribers[].destination_id, Webhook.id = "a notification destination ID",
JobSettings.budget_policy_id / usage_policy_id, SqlConditionConfiguration.sql_query_id).

Kinds: `query` (/api/2.0/sql/queries), `alert` (/api/2.0/sql/alerts: SQL alerts, what sql_task.alert
runs), `alert_v2` (/api/2.0/alerts: alerts v2, what alert_task.alert_id names; the Terraform
provider's exporter, exporter/impl_jobs.go, resolves it to databricks_alert_v2, and databricks-sdk
lists them with AlertsV2API.list_alerts), `sql_dashboard` (legacy
SQL dashboards, only `sql_task.dashboard`), `dashboard` (AI/BI a.k.a. Lakeview dashboards, only
`dashboard_task`), `destination` (/api/2.0/notification-destinations), `budget_policy` (an
account object; `usage_policy_id` names the same objects: the account API documents budget
policies as "serverless usage policies").
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from typing import Any

WEBHOOK_EVENTS = ("on_start", "on_success", "on_failure", "on_duration_warning_threshold_exceeded",
                  "on_streaming_backlog_exceeded")
_WEBHOOKS = tuple((f"webhook_notifications.{event}[].id", "destination") for event in WEBHOOK_EVENTS)
_SQL_CONDITION = (("sql_condition.sql_query_id", "query"), ("sql_condition.warehouse_id", "warehouse"))

# Paths from the job settings.
JOB_REFS: tuple[tuple[str, str], ...] = (
    ("budget_policy_id", "budget_policy"),
    ("usage_policy_id", "budget_policy"),
    *_WEBHOOKS,
    *((f"trigger.{path}", kind) for path, kind in _SQL_CONDITION),
    *((f"triggers[].{path}", kind) for path, kind in _SQL_CONDITION),
)
# Paths from each task (for_each inner tasks included by the caller).
TASK_REFS: tuple[tuple[str, str], ...] = (
    ("sql_task.query.query_id", "query"),
    ("sql_task.alert.alert_id", "alert"),
    ("sql_task.alert.subscriptions[].destination_id", "destination"),
    ("sql_task.dashboard.dashboard_id", "sql_dashboard"),
    ("sql_task.dashboard.subscriptions[].destination_id", "destination"),
    ("dashboard_task.dashboard_id", "dashboard"),
    ("dashboard_task.warehouse_id", "warehouse"),
    ("dashboard_task.subscription.subscribers[].destination_id", "destination"),
    ("notebook_task.warehouse_id", "warehouse"),
    ("power_bi_task.warehouse_id", "warehouse"),
    ("alert_task.alert_id", "alert_v2"),
    ("alert_task.warehouse_id", "warehouse"),
    ("alert_task.subscribers[].destination_id", "destination"),
    *_WEBHOOKS,
)

# IDs bricksync cannot name yet: export refuses a job that carries one (never copied raw to prod).
JOB_REFUSED: tuple[tuple[str, str], ...] = (
    ("job_clusters[].serverless_compute_id", "a serverless compute ID"),
    ("job_clusters[].serverless_compute.policy_id", "a serverless compute policy ID"),
    ("trigger.job_completion.jobs[].job_id", "a monitored job ID (job_completion trigger)"),
    ("triggers[].job_completion.jobs[].job_id", "a monitored job ID (job_completion trigger)"),
)
TASK_REFUSED: tuple[tuple[str, str], ...] = (
    ("gen_ai_compute_task.compute.gpu_node_pool_id", "a GPU node pool ID"),
)


@functools.cache
def _by_first_field(table: tuple[tuple[str, str], ...]) -> tuple[tuple[str, tuple[tuple[tuple[str, ...], str], ...]], ...]:
    """A table's rows grouped by the field they start at: most tasks hold none of these fields,
    so one membership test per group skips its rows (export walks 10,000 jobs' tasks)."""
    groups: dict[str, list[tuple[tuple[str, ...], str]]] = {}
    for path, kind in table:
        parts = tuple(path.split("."))
        groups.setdefault(parts[0].removesuffix("[]"), []).append((parts, kind))
    return tuple((first, tuple(rows)) for first, rows in groups.items())


def table_sites(node: dict, where: str, table: tuple[tuple[str, str], ...]) -> Iterator[tuple[str, dict, str, str]]:
    """(location, container, field, kind-or-reason) for every row of `table` present in `node`."""
    for first, rows in _by_first_field(table):
        if first not in node:
            continue
        for parts, kind in rows:
            for location, container, fld in _walk_all(node, parts, where):
                yield location, container, fld, kind


_IDENTITY = ("task_key", "job_cluster_key")  # as diffs name them; environments keep their index


def walk_rows(node: Any, path: str, where: str) -> Iterator[tuple[str, Any, Any]]:
    """(location, container, field-or-index) for every value at dotted `path` below `node`; a
    trailing `[]` yields each item of a list of values. Items with an identity key are named by
    it (`job_clusters[main]`), others by index."""
    yield from _walk_all(node, _split(path), where)


@functools.cache
def _split(path: str) -> tuple[str, ...]:
    return tuple(path.split("."))


def _walk_all(node: Any, parts: tuple[str, ...], where: str) -> Iterator[tuple[str, Any, Any]]:
    if not isinstance(node, dict) or not parts:
        return
    head, rest = parts[0], parts[1:]
    is_list = head.endswith("[]")
    name = head[:-2] if is_list else head
    if name not in node:
        return
    here = f"{where}.{name}" if where else name
    if not is_list:
        if rest:
            yield from _walk_all(node[name], rest, here)
        else:
            yield here, node, name
        return
    items = node[name]
    for i, item in enumerate(items if isinstance(items, list) else []):
        label = next((str(item[k]) for k in _IDENTITY if isinstance(item, dict) and k in item), str(i))
        if rest:
            yield from _walk_all(item, rest, f"{here}[{label}]")
        else:
            yield f"{here}[{i}]", items, i
