"""The Jobs API's server defaults: ONE table, each entry with where it came from. Pure.

A value is dropped at normalization only when it equals the default *at that place*: the
same field can be a default on a job and meaningful elsewhere. Places: the job's settings,
a task, the inner task of a `for_each_task`, a cluster spec (`job_clusters[].new_cluster`,
`tasks[].new_cluster`). Keys are dotted paths inside the place (`schedule.pause_status`);
an object left empty by dropping its defaulted leaves is dropped when `{}` is its default.

Sources (abbreviated in the comments):
- RAD: docs/real-api-defaults.md (the team's list of real jobs/get responses and UI exports, numbered);
  its evidence is summarised in the README section "Server defaults".
- SDK: databricks-sdk 0.162 docstrings (generated from the Jobs API 2.2 / Clusters API reference).
- CLI-CS: databricks/cli bundle/configsync/defaults.go (`serverSideDefaults`).
- CLI-RM: databricks/cli bundle/config/mutator/resourcemutator/resource_mutator.go (defaults
  "the same as for terraform provider", v1.75.0 jobs/resource_job.go).
- TF: terraform-provider-databricks cluster docs ("Backend default value is ...").

Deliberately NOT defaults (kept as meaningful values):
- `new_cluster.data_security_mode`: SINGLE_USER, NONE, LEGACY_SINGLE_USER_STANDARD and
  DATA_SECURITY_MODE_AUTO all appear in real GETs (RAD 01/03/04/05/08/15); no document states a
  default and CLI-CS marks it "computed on some workspaces". An explicit access mode is kept.
- `new_cluster.enable_elastic_disk`: `true` and `false` both appear (RAD 01/03 vs 04/08/11/17).
- `new_cluster.spark_env_vars.PYSPARK_PYTHON`: added by the UI (RAD 03-05/17/19), not by the
  service; no document names it a default.
- `azure_attributes.availability` / `first_on_demand`: no documented default (only a fixture, RAD 11).
- `deployment` (settable: bundles set it) and `edit_mode: UI_LOCKED`.
- `run_as`: dropped only when it names the job's creator (normalize.runs_as_creator).
Of these, the cluster fields the backend computes when unset are compared only where state
sets them (BACKEND_COMPUTED_CLUSTER, ignore_computed).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Depends:
    """A default that depends on the object it sits in: fn(obj, git) -> the default value.
    `obj` is the place's object (task or cluster spec), `git` whether the job has git_source."""

    fn: Callable[[dict, bool], Any]


# "If the value is empty, the task will use GIT if git_source is defined and WORKSPACE
# otherwise" (SDK NotebookTask/SparkPythonTask/DbtTask/SqlTaskFile.source). With git_source,
# WORKSPACE is meaningful (RAD 04) and kept.
SOURCE = Depends(lambda obj, git: "GIT" if git else "WORKSPACE")
# "If left unspecified, the runtime engine defaults to standard unless the spark_version
# contains -photon-, in which case Photon will be used." (SDK ClusterSpec.runtime_engine)
RUNTIME_ENGINE = Depends(lambda obj, git: "PHOTON" if "-photon-" in str(obj.get("spark_version", "")) else "STANDARD")

# Fields outside `settings` or in it that the server sets (never sent, never compared).
READ_ONLY = frozenset({
    "job_id", "creator_user_name", "run_as_user_name", "created_time",  # SDK Job; RAD "always"
    "run_as_owner",  # RAD 01-08 (true in UI-era GETs); not a JobSettings field
    "has_more", "next_page_token",  # paging (SDK Job, API 2.2)
    "effective_budget_policy_id", "effective_usage_policy_id",  # SDK Job: read-only
    "trigger_state",  # SDK Job: read-only trigger runtime state
})

JOB: dict[str, Any] = {
    "name": "Untitled",  # jobs/create: "An optional name for the job. The default value is Untitled."
    "format": "MULTI_TASK",  # SDK: "ignored in Create/Update/Reset ... always MULTI_TASK"; RAD every GET
    "timeout_seconds": 0,  # SDK: "A value of 0 means no timeout"; RAD 01-08, 10, 11, 15
    "max_concurrent_runs": 1,  # CLI-RM / TF default 1; RAD 01-08, 10-13, 15
    "queue.enabled": True,  # CLI-RM: "queueing by default, following the behavior from API 2.2+"; RAD 09/10/15/17
    "queue": {},  # what is left of {"enabled": true}
    "email_notifications.no_alert_for_skipped_runs": False,  # CLI-CS emptyEmailNotifications; RAD 01-09, 17-20
    "email_notifications": {},  # RAD 11/12/15 (API-created jobs)
    "webhook_notifications": {},  # CLI-CS; RAD 01-03, 06-09, 15, 17, 26
    "notification_settings.no_alert_for_skipped_runs": False,  # RAD 10 (jobs/list), 16 (docs example)
    "notification_settings.no_alert_for_canceled_runs": False,  # RAD 10, 16
    "notification_settings": {},  # RAD 10, 16 (what is left of the all-false block)
    "performance_target": "PERFORMANCE_OPTIMIZED",  # CLI-CS serverSideDefaults
    "edit_mode": "EDITABLE",  # SDK JobEditMode: EDITABLE "can be modified" (a job without it is editable); UI_LOCKED kept
    "schedule.pause_status": "UNPAUSED",  # CLI-RM (TF default); RAD 11, 15
    "trigger.pause_status": "UNPAUSED",  # CLI-RM (TF default)
    "continuous.pause_status": "UNPAUSED",  # CLI-RM (TF default)
}

TASK: dict[str, Any] = {
    "run_if": "ALL_SUCCESS",  # CLI-CS; RAD 01, 06, 09, 15, 17, 26
    "timeout_seconds": 0,  # CLI-CS zeroOrNil; RAD 01-09, 15, 17-20, 26
    "disabled": False,  # CLI-CS; SDK: "If set to true, the task will not run"
    "disable_auto_optimization": False,  # SDK: "An option to disable auto optimization in serverless"
    "max_retries": 0,  # SDK Task.max_retries: "the value 0 means to never retry" (absent: no retries)
    "min_retry_interval_millis": 0,  # SDK: "The default behavior is that unsuccessful runs are immediately retried."
    "retry_on_timeout": False,  # SDK: "The default behavior is to not retry on timeout."
    "depends_on": [],  # RAD 16 (root tasks in the docs example)
    "email_notifications.no_alert_for_skipped_runs": False,  # CLI-CS emptyEmailNotifications; RAD 24
    "email_notifications": {},  # CLI-CS; RAD 01-09, 15, 17-20, 26
    "webhook_notifications": {},  # CLI-CS; RAD 09, 17, 26
    "notification_settings.no_alert_for_skipped_runs": False,  # RAD 01, 02, 08, 09, 18, 26
    "notification_settings.no_alert_for_canceled_runs": False,  # RAD 01, 02, 08, 09, 18, 26
    "notification_settings.alert_on_last_attempt": False,  # RAD 01, 02, 08, 09, 18, 26
    "notification_settings": {},  # RAD 26 ({} also seen)
    "notebook_task.source": SOURCE,  # CLI-CS (WORKSPACE); SDK; RAD 01-08, 15, 17-20
    "spark_python_task.source": SOURCE,  # SDK SparkPythonTask.source
    "dbt_task.source": SOURCE,  # SDK DbtTask.source
    "sql_task.file.source": SOURCE,  # SDK SqlTaskFile.source; RAD 26
    "pipeline_task.full_refresh": False,  # CLI-CS; RAD 18, 20
    "dbt_task.schema": "default",  # CLI-RM; SDK DbtTask.schema: "If not provided, the `default` schema is used."
    # SDK SparkJarTask.run_as_repl: "Deprecated. A value of `false` is no longer supported." (the
    # service holds true); TF marked it computed "to fix configuration drift" (terraform-provider-databricks#4452)
    "spark_jar_task.run_as_repl": True,  # see the two lines above
}

# for_each_task.task: the same defaults (CLI-CS lists them for for_each_task.task separately;
# RAD 22 shows the inner task carrying run_if, timeout_seconds and the notification blocks).
INNER_TASK: dict[str, Any] = dict(TASK)

CLUSTER: dict[str, Any] = {
    "cluster_name": "",  # RAD 01, 03, 05, 08 (UI job clusters); the service names job clusters itself
    "runtime_engine": RUNTIME_ENGINE,  # SDK ClusterSpec.runtime_engine; RAD 01, 03-05, 08, 17
    "aws_attributes.availability": "SPOT_WITH_FALLBACK",  # TF: "Backend default value is SPOT_WITH_FALLBACK"; RAD 01-08
    "aws_attributes.first_on_demand": 1,  # TF: "Backend default value is 1"; RAD 01/03/04/08
    "aws_attributes.zone_id": "auto",  # SDK AwsAttributes.zone_id: "if not specified, the zone 'auto' will be used"
    "aws_attributes.spot_bid_price_percent": 100,  # SDK: "If not specified, the default value is 100."
    "aws_attributes.ebs_volume_count": 0,  # RAD 01/03/04/08: filled by the service (no EBS volumes)
    "aws_attributes": {},  # RAD 01/03/04/08: what is left of the block the service fills
    "azure_attributes.spot_bid_max_price": -1,  # SDK AzureAttributes: "If not specified, the default value is -1"
    "azure_attributes": {},  # an empty block sets nothing
    "gcp_attributes": {},  # an empty block sets nothing
    "custom_tags": {},  # an empty map is no map (ClusterSpec maps are optional)
    "spark_conf": {},  # an empty map is no map
    "spark_env_vars": {},  # an empty map is no map
}

# Accepted on write, never returned on read: not comparable, always dropped from canonical forms
# (a state file may still set them: plans send them; traps.py keeps them across re-exports).
# CLI resources.yml "not_returned_by_api" (databricks/cli#5731); RAD
WRITE_ONLY_CLUSTER = frozenset({"apply_policy_default_values"})
# Inside a trigger configuration (`trigger`, and each entry of `triggers`: the same message):
# "`trigger.table_update.condition` is accepted by the Jobs API on create/update but never returned
# by GET" (databricks/cli#6315, #6442: both ANY_UPDATED and ALL_UPDATED, verified on AWS;
# "`triggers[*].table_update.condition` gets the same rule").
WRITE_ONLY_TRIGGER: tuple[tuple[str, ...], ...] = (("table_update", "condition"),)

# Cluster-spec fields the backend computes when a request leaves them out: databricks/cli
# bundle/direct/dresources/resources.yml `backend_defaults` (data_security_mode "backend sets
# this when not specified"; enable_elastic_disk, enable_local_disk_encryption, node_type_id,
# driver_node_type_id, driver_instance_pool_id: the Terraform provider's SetComputed) and
# `ignore_remote_changes` (aws/azure/gcp_attributes: SetSuppressDiff). No single default value,
# so they are NOT dropped (an explicit value is kept and compared); but a value only the live
# job has, where state sets none, is the backend's and not drift (see ignore_computed).
BACKEND_COMPUTED_CLUSTER = frozenset({
    "data_security_mode", "enable_elastic_disk", "enable_local_disk_encryption", "node_type_id",
    "driver_node_type_id", "driver_instance_pool_id"})
CLOUD_BLOCKS = frozenset({"aws_attributes", "azure_attributes", "gcp_attributes"})

PLACES: dict[str, dict[str, Any]] = {"job": JOB, "task": TASK, "inner_task": INNER_TASK, "cluster": CLUSTER}


def _by_head(table: dict[str, Any]) -> dict[str, list[tuple[list[str], Any]]]:
    """First key -> its entries, deepest paths first (a block emptied of its defaults is then
    dropped itself). Normalizing visits only the keys an object has: 10,000 jobs a plan."""
    out: dict[str, list[tuple[list[str], Any]]] = {}
    for key, value in table.items():
        parts = key.split(".")
        out.setdefault(parts[0], []).append((parts, value))
    return {head: sorted(entries, key=lambda e: -len(e[0])) for head, entries in out.items()}


_HEADS = {place: _by_head(table) for place, table in PLACES.items()}


def strip_defaults(obj: dict, place: str, *, git: bool = False) -> dict:
    """`obj` without the values equal to its place's defaults. Copy-on-write: `obj` and the
    containers it shares are never changed; changed containers are new dicts."""
    out = dict(obj)
    heads = _HEADS[place]
    for head in [k for k in obj if k in heads]:
        for parts, default in heads[head]:
            if len(parts) > 1:
                _drop(out, parts, default, out, git)
            elif head in out:  # the common case, inline: this runs for every task of 10,000 jobs
                value = out[head]
                expected = default.fn(out, git) if default.__class__ is Depends else default
                if value == expected and (value.__class__ is bool) == (expected.__class__ is bool):
                    del out[head]
    return out


def _drop(node: dict, parts: list[str], default: Any, place_obj: dict, git: bool) -> None:
    head = parts[0]
    if head not in node:
        return
    if len(parts) > 1:
        child = node[head]
        if not isinstance(child, dict) or parts[1] not in child:
            return
        node[head] = dict(child)  # copy before editing: the input is shared
        _drop(node[head], parts[1:], default, place_obj, git)
        return
    value = node[head]
    expected = default.fn(place_obj, git) if isinstance(default, Depends) else default
    # bool is an int in Python: `False == 0` must not make `disabled: 0` a default (and vice versa)
    if value == expected and isinstance(value, bool) == isinstance(expected, bool):
        del node[head]


def fields_of(place: str) -> list[str]:
    """The dotted default paths of a place (for docs and tests)."""
    return list(PLACES[place])


def is_default(place: str, dotted: str, value: Any, obj: dict, *, git: bool = False) -> bool:
    """Whether `value` at `dotted` inside a `place` object `obj` equals that place's default."""
    default = PLACES[place].get(dotted, _MISSING)
    if default is _MISSING:
        return False
    expected = default.fn(obj, git) if isinstance(default, Depends) else default
    return value == expected and isinstance(value, bool) == isinstance(expected, bool)


_MISSING = object()


def ignore_computed(live: dict, desired: dict) -> dict:
    """Canonical live settings without what the backend computed where `desired` sets nothing:
    BACKEND_COMPUTED_CLUSTER fields and cloud attribute blocks (or their leaves) present only
    in the live cluster spec. Compared after this, a workspace that fills an access mode or a
    zone on every job cluster shows no drift, while a value state sets is still compared."""
    out = dict(live)

    def cluster(live_spec: Any, want: Any) -> Any:
        if not isinstance(live_spec, dict) or not isinstance(want, dict):
            return live_spec
        spec = {k: v for k, v in live_spec.items() if k in want or k not in BACKEND_COMPUTED_CLUSTER | CLOUD_BLOCKS}
        for block in CLOUD_BLOCKS & spec.keys():
            if isinstance(spec[block], dict) and isinstance(want[block], dict):
                spec[block] = {k: v for k, v in spec[block].items() if k in want[block]}
        return spec

    def task(live_task: Any, want: Any) -> Any:
        if not isinstance(live_task, dict) or not isinstance(want, dict):
            return live_task
        t = dict(live_task)
        if "new_cluster" in t:
            t["new_cluster"] = cluster(t["new_cluster"], want.get("new_cluster"))
        inner, want_inner = (t.get("for_each_task") or {}), (want.get("for_each_task") or {})
        if isinstance(inner, dict) and isinstance(inner.get("task"), dict) and isinstance(want_inner, dict):
            t["for_each_task"] = {**inner, "task": task(inner["task"], want_inner.get("task"))}
        return t

    def keyed(items: Any, key: str) -> dict:
        return {i.get(key): i for i in items if isinstance(i, dict)} if isinstance(items, list) else {}

    if isinstance(live.get("tasks"), list):
        want_tasks = keyed(desired.get("tasks"), "task_key")
        out["tasks"] = [task(t, want_tasks.get(t.get("task_key"))) if isinstance(t, dict) else t
                        for t in live["tasks"]]
    if isinstance(live.get("job_clusters"), list):
        want_jcs = keyed(desired.get("job_clusters"), "job_cluster_key")
        out["job_clusters"] = [
            {**jc, "new_cluster": cluster(jc.get("new_cluster"), (want_jcs.get(jc.get("job_cluster_key")) or {})
                                          .get("new_cluster"))} if isinstance(jc, dict) and "new_cluster" in jc else jc
            for jc in live["job_clusters"]]
    return out


MISSING = _MISSING  # default_at's "no default known here"


def _block_default(table: dict[str, Any], dotted: str, obj: dict, git: bool) -> Any:
    """A block's default as what its fields get: `queue` -> {"enabled": true} (the table keeps
    `{}` for a block, meaning what is left once its defaulted fields are dropped)."""
    prefix = dotted + "."
    out: dict[str, Any] = {}
    for key, value in table.items():
        if key.startswith(prefix) and "." not in key[len(prefix):]:
            out[key[len(prefix):]] = value.fn(obj, git) if isinstance(value, Depends) else value
    return out


def default_at(parts: list[Any], settings: dict) -> Any:
    """The value the field at `parts` gets from the service when the settings leave it out, or
    MISSING where no default is known. `parts`: a plan diff path as a list, tasks, job clusters
    and dependencies named `[key]` (`["tasks", "[ingest]", "timeout_seconds"]`); `settings`:
    the desired settings, for the defaults that depend on their place (a task's `source`, a
    cluster's `runtime_engine`)."""
    git = "git_source" in settings
    place, obj, i = "job", settings, 0

    def keyed(items: Any, label: Any, key: str) -> dict:
        name = label[1:-1] if isinstance(label, str) and label.startswith("[") else None
        found = [x for x in items if isinstance(x, dict) and x.get(key) == name] if isinstance(items, list) else []
        return found[0] if found else {}

    while i < len(parts):
        head = parts[i]
        if place == "job" and head == "tasks" and i + 2 < len(parts):
            place, obj, i = "task", keyed(obj.get("tasks"), parts[i + 1], "task_key"), i + 2
        elif place == "job" and head == "job_clusters" and parts[i + 2:i + 3] == ["new_cluster"] and i + 3 < len(parts):
            jc = keyed(obj.get("job_clusters"), parts[i + 1], "job_cluster_key")
            place, obj, i = "cluster", jc.get("new_cluster") or {}, i + 3
        elif place in ("task", "inner_task") and head == "new_cluster" and i + 1 < len(parts):
            place, obj, i = "cluster", obj.get("new_cluster") or {}, i + 1
        elif place == "task" and parts[i:i + 2] == ["for_each_task", "task"] and i + 2 < len(parts):
            place, obj, i = "inner_task", (obj.get("for_each_task") or {}).get("task") or {}, i + 2
        else:
            break
    if not all(isinstance(part, str) and not part.startswith("[") for part in parts[i:]):
        return MISSING  # inside a list entry: no default there
    dotted = ".".join(parts[i:])
    table = PLACES[place]
    default = table.get(dotted, _MISSING)
    if default is _MISSING:
        return MISSING
    if isinstance(default, Depends):
        return default.fn(obj if isinstance(obj, dict) else {}, git)
    if default == {}:
        return _block_default(table, dotted, obj if isinstance(obj, dict) else {}, git)
    return default
