"""The Jobs API 2.2 as the service behaves: validation, server-filled defaults, paging.

Rules and their sources:
- Request/response shapes, paging (`limit` <= 100, `page_token`/`next_page_token`, `has_more`):
  https://docs.databricks.com/api/workspace/jobs/list and /jobs/get
- Tasks and job clusters past the first 100 are paged in API 2.2:
  https://docs.databricks.com/aws/en/reference/jobs-api-2-2-updates
- "A maximum of 25 tags can be added to the job", "up to 1000 elements" in tasks, task_key
  "must be unique within its parent job": JobSettings docs (mirrored in databricks-sdk's
  service/jobs.py docstrings).
- "This value cannot exceed 1000" (max_concurrent_runs), "The maximum length is 4096 bytes in
  UTF-8 encoding" (name), enum values, required task fields: the same JobSettings docs. The
  error messages are ours (the real texts are not documented); the code is the real one.
- The defaults filled on write are what real jobs/get responses carry (real-api-defaults.md,
  mirrored by the official Databricks CLI's fake server), and nothing more: no access mode,
  elastic disk or cloud attribute block on cluster specs (they vary by workspace and cloud).
- Unknown fields are dropped, as the service's typed request parsing does; the types are
  databricks-sdk's (generated from the API's OpenAPI spec).
"""

from __future__ import annotations

import base64
import copy
import functools
import json
import re
from collections.abc import Callable
from typing import Any

from ..core.traps import cluster_specs, without_trigger_write_only, write_only_values
from .errors import invalid, not_found
from .policies import apply_policy

PAGE_LIMIT_MAX = 100
ARRAY_PAGE = 100  # API 2.2: tasks / job_clusters returned per jobs/get page
MAX_TASKS = 1000
MAX_TAGS = 25
MAX_TAG_KEY = 127
MAX_TAG_VALUE = 255
TASK_KEY_RE = re.compile(r"^[\w\-]{1,100}$")


@functools.cache
def task_types() -> tuple[str, ...]:
    """The kinds of work a task runs: every `*_task` field of the API's Task type (databricks-sdk's
    dataclass, generated from the OpenAPI spec), so a current type (alert_task, and whatever the
    next SDK adds) is one, as the service takes it; a hand-kept list refused alert_task with
    "exactly one task type, found none"."""
    from ..core.schema import schema_table

    return tuple(sorted(k for k in schema_table()["Task"] if k.endswith("_task")))

# Task sub-objects with a `source` (WORKSPACE or GIT) the service fills when absent: "If the
# value is empty, the task will use GIT if git_source is defined and WORKSPACE otherwise"
# (SDK NotebookTask/SparkPythonTask/DbtTask/SqlTaskFile); real GETs carry it (real-api-defaults.md).
SOURCED = (("notebook_task",), ("spark_python_task",), ("dbt_task",), ("sql_task", "file"))

# Fields of a jobs/create or reset request that are not settings.
NON_SETTINGS = ("access_control_list", "job_id")
MAX_CONCURRENT_RUNS = 1000  # JobSettings.max_concurrent_runs: "This value cannot exceed 1000."
MAX_NAME_BYTES = 4096  # JobSettings.name: "The maximum length is 4096 bytes in UTF-8 encoding."
# Required fields per task type (Jobs API 2.2 reference: fields marked required).
REQUIRED = {
    "notebook_task": ("notebook_path",), "spark_python_task": ("python_file",),
    "python_wheel_task": ("package_name", "entry_point"), "pipeline_task": ("pipeline_id",),
    "run_job_task": ("job_id",), "dbt_task": ("commands",), "for_each_task": ("inputs", "task"),
    "condition_task": ("op", "left", "right"), "sql_task": ("warehouse_id",),
    "dashboard_task": ("dashboard_id",),
}


def encode_token(value: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(value, separators=(",", ":")).encode()).decode()


def decode_token(token: str) -> dict:
    try:
        value = json.loads(base64.urlsafe_b64decode(token.encode()))
        if not isinstance(value, dict):
            raise ValueError
        return value
    except Exception as exc:  # any malformed token is the caller's error, as in the service
        raise invalid(f"Invalid page token: {token!r}") from exc


def _fill_cluster_defaults(cluster: dict) -> None:
    # Accepted, never returned (databricks/cli resources.yml "not_returned_by_api"; its policy
    # defaults were applied by apply_policies before). Nothing is filled: access mode, elastic
    # disk and cloud attributes vary by workspace and cloud (real-api-defaults.md), so inventing
    # them would hide what a real workspace does.
    cluster.pop("apply_policy_default_values", None)


def apply_policies(settings: dict, refs: Referents) -> None:
    """Each cluster spec naming a policy gets what the policy fixes (and, with
    apply_policy_default_values, its defaults), as the service stores it (emulator/policies.py)."""
    if refs.policy is None:
        return
    for where, spec in cluster_specs(settings):
        definition = refs.policy(str(spec["policy_id"])) if spec.get("policy_id") is not None else None
        if definition is not None:
            apply_policy(spec, definition, where)


def take_write_only(settings: dict) -> dict[str, Any]:
    """Return what the service takes but never returns (core/defaults.WRITE_ONLY_*: for tests to
    see what was sent) and remove the triggers' ones (table_update.condition, databricks/cli#6315,
    #6442) in place; apply_policy_default_values goes in _fill_cluster_defaults, after its use."""
    taken = write_only_values(settings)
    settings.update(without_trigger_write_only(settings))
    return taken


def _sort_webhooks(obj: dict) -> None:
    # Stored sorted by destination id: the Terraform provider sorts them to match what it reads
    # back (terraform-provider-databricks jobs/resource_job.go sortWebhookNotifications).
    hooks = obj.get("webhook_notifications")
    if isinstance(hooks, dict):
        for event, items in hooks.items():
            if isinstance(items, list):
                hooks[event] = sorted(items, key=lambda i: str(i.get("id", "")) if isinstance(i, dict) else "")


def _fill_task_defaults(task: dict, has_git_source: bool) -> None:
    # What real jobs/get responses carry on every task (real-api-defaults.md "Task-level").
    _sort_webhooks(task)
    if isinstance(task.get("spark_jar_task"), dict):
        # SDK SparkJarTask.run_as_repl: "A value of `false` is no longer supported" (the service
        # holds true; terraform-provider-databricks#4452 made it computed to stop the drift)
        task["spark_jar_task"].setdefault("run_as_repl", True)
    task.setdefault("run_if", "ALL_SUCCESS")
    task.setdefault("timeout_seconds", 0)
    task.setdefault("email_notifications", {})
    task.setdefault("webhook_notifications", {})
    task.setdefault("notification_settings", {})
    for path in SOURCED:
        sub = task
        for part in path:
            sub = sub.get(part) if isinstance(sub, dict) else None
        if isinstance(sub, dict):
            sub.setdefault("source", "GIT" if has_git_source else "WORKSPACE")
    if "depends_on" in task:
        task["depends_on"] = sorted(task["depends_on"], key=lambda d: d.get("task_key", ""))
    if "new_cluster" in task:
        _fill_cluster_defaults(task["new_cluster"])
    inner = task.get("for_each_task", {}).get("task")
    if isinstance(inner, dict):
        _fill_task_defaults(inner, has_git_source)


def fill_defaults(settings: dict, version: str = "2.2") -> dict:
    """What the service stores for the settings it was sent (real-api-defaults.md; the
    databricks/cli fake server's jobFixUps). `version`: the Jobs API version of the request."""
    _sort_webhooks(settings)
    settings.setdefault("name", "Untitled")
    settings.setdefault("email_notifications", {})
    settings.setdefault("webhook_notifications", {})
    settings.setdefault("timeout_seconds", 0)
    settings.setdefault("max_concurrent_runs", 1)
    settings["format"] = "MULTI_TASK"  # "ignored in Create/Update/Reset ... always MULTI_TASK"
    if version == "2.2":
        # "For jobs created with the Jobs API 2.2, queueing is enabled by default ... For jobs
        # created with the 2.0 and 2.1 versions of the Jobs API, queueing is not enabled by default"
        # (docs: Updating from Jobs API 2.1 to 2.2); such a job reads back without `queue`
        # (real-api-defaults.md RAD 10).
        settings.setdefault("queue", {"enabled": True})
    has_git = "git_source" in settings
    for task in settings.get("tasks", []):
        _fill_task_defaults(task, has_git)
    for jc in settings.get("job_clusters", []):
        if "new_cluster" in jc:
            _fill_cluster_defaults(jc["new_cluster"])
    return settings


@functools.cache
def _required_fields() -> dict[str, tuple[str, ...]]:
    """Class name -> fields the API requires: the SDK's dataclass fields without a default
    (its docstrings say "This field is required." of them)."""
    import dataclasses

    from databricks.sdk.service import compute, jobs

    out = {}
    for module in (jobs, compute):
        for cls in vars(module).values():
            if dataclasses.is_dataclass(cls) and isinstance(cls, type):
                out[cls.__name__] = tuple(f.name for f in dataclasses.fields(cls)
                                          if f.default is dataclasses.MISSING
                                          and f.default_factory is dataclasses.MISSING)
    return out


def known_fields(settings: dict) -> dict:
    """Settings without the fields JobSettings does not have, at any depth: the service parses
    requests into its typed messages and silently drops what they lack (and a field sent as
    null is one it does not have: real jobs/get responses never hold null). Enum fields holding a
    value outside the enum are refused (400), as the service does."""
    from ..core.schema import ROOT, schema_table  # the SDK's dataclasses: the API's own types

    table = schema_table()
    required = _required_fields()

    def walk(value: Any, desc: tuple, where: str) -> Any:
        kind = desc[0]
        if kind == "obj" and isinstance(value, dict):
            fields = table[desc[1]]
            for name in required.get(desc[1], ()):
                if value.get(name) is None:
                    raise invalid(f"{where + '.' if where else ''}{name} is required.")
            # null is "not set" (the typed message has no value for it): never stored, never returned
            return {k: walk(v, fields[k], f"{where}.{k}" if where else k) for k, v in value.items()
                    if k in fields and v is not None}
        if kind in ("bool", "int", "float") and isinstance(value, str):
            return _scalar_from_text(value, kind, where)
        if kind == "list" and isinstance(value, list):
            return [walk(v, desc[1], f"{where}[{i}]") for i, v in enumerate(value)]
        if kind == "map" and isinstance(value, dict):
            return {k: walk(v, desc[1], f"{where}.{k}") for k, v in value.items()}
        if kind == "enum" and value is not None and value not in desc[2] and not (
                # git_provider is matched without case ("github" works; the databricks/cli fake
                # server's message lists the providers in lower case)
                desc[1] == "GitProvider" and str(value).lower() in {v.lower() for v in desc[2]}):
            raise invalid(f"Invalid value {value!r} for {where}: expected one of {', '.join(sorted(desc[2]))}.")
        return value

    return walk(settings, ("obj", ROOT), "")


def _scalar_from_text(value: str, kind: str, where: str) -> bool | int | float:
    """A boolean or integer field sent as a JSON string, as the service parses it (and jobs/get
    then returns the boolean or number): `"false"` / `"true"` and decimal integers. The typed
    request parsing is protobuf's JSON mapping ("Either numbers or strings are accepted" for
    numbers; a quoted "true"/"false" is accepted, "True" is not: the protobuf conformance suite,
    BoolFieldDoubleQuotedTrue / BoolFieldAllCapitalTrue). Scripts rely on it: legacy-CLI
    `jobs create --json` bodies with "no_alert_for_skipped_runs": "false" and "enable_elastic_disk":
    "true" (public deploy scripts), Airflow's Databricks operator sending every value as a string
    for years (apache/airflow#2255 deep_string_coerce; #25232 saw "True" not taking effect)."""
    from ..core.schema import typed_text

    typed = typed_text(value, kind)
    if typed is None:
        expected = {"bool": "true or false", "int": "an integer", "float": "a number"}[kind]
        raise invalid(f"Invalid value {value!r} for {where}: expected {expected}.")
    return typed


class Referents:
    """What a job may point at; the service rejects a job whose references do not exist.
    `policy`: a cluster policy's definition by ID (None: unknown), for what it fills in."""

    def __init__(self, exists: Callable[[str, str], bool], policy: Callable[[str], Any] | None = None):
        self.exists = exists
        self.policy = policy


def _validate_cluster(cluster: Any, where: str, refs: Referents) -> None:
    if not isinstance(cluster, dict):
        raise invalid(f"{where}: new_cluster must be an object")
    for field, kind in (("instance_pool_id", "pool"), ("driver_instance_pool_id", "pool"),
                        ("policy_id", "policy")):
        if field in cluster and not refs.exists(kind, str(cluster[field])):
            raise invalid(f"{where}: {field} {cluster[field]} does not exist.")


def _validate_task(task: Any, keys: set[str], cluster_keys: set[str], refs: Referents, where: str) -> None:
    if not isinstance(task, dict):
        raise invalid(f"{where}: each task must be an object")
    key = task.get("task_key")
    if not isinstance(key, str) or not TASK_KEY_RE.match(key):
        raise invalid(f"{where}: task_key {key!r} is invalid; it must be 1-100 characters of [A-Za-z0-9_-]")
    kinds = [k for k in task_types() if k in task]
    if len(kinds) != 1:
        raise invalid(f"Task {key} must have exactly one task type, found {kinds or 'none'}")
    sub = task[kinds[0]]
    for field in REQUIRED.get(kinds[0], ()):
        if not isinstance(sub, dict) or sub.get(field) in (None, "", []):
            raise invalid(f"Task {key}: {kinds[0]}.{field} is required.")
    # AlertTask: "User has to select only one of alert_id or workspace_path to identify the alert"
    # (databricks-sdk jobs.AlertTask.workspace_path); the alert is an alerts v2 object (the Terraform
    # exporter, exporter/impl_jobs.go, resolves alert_task.alert_id to databricks_alert_v2).
    if kinds[0] == "alert_task":
        given = [f for f in ("alert_id", "workspace_path") if isinstance(sub, dict) and sub.get(f)]
        if len(given) != 1:
            raise invalid(f"Task {key}: alert_task needs exactly one of alert_id and workspace_path; got "
                          f"{', '.join(given) or 'neither'}.")
        if "alert_id" in given and not refs.exists("alert_v2", str(sub["alert_id"])):
            raise invalid(f"Task {key}: alert {sub['alert_id']} does not exist.")
    for dep in task.get("depends_on", []):
        if not isinstance(dep, dict) or dep.get("task_key") not in keys:
            raise invalid(f"Task {key} depends on {dep!r}, which is not a task of this job.")
    if "existing_cluster_id" in task and not refs.exists("cluster", str(task["existing_cluster_id"])):
        raise invalid(f"Cluster {task['existing_cluster_id']} does not exist")
    if "job_cluster_key" in task and task["job_cluster_key"] not in cluster_keys:
        raise invalid(f"Task {key} refers to job cluster {task['job_cluster_key']!r}, which is not defined.")
    if "new_cluster" in task:
        _validate_cluster(task["new_cluster"], f"Task {key}", refs)
    for kind in ("sql_task", "dbt_task", "alert_task"):
        wid = task.get(kind, {}).get("warehouse_id")
        if wid is not None and not refs.exists("warehouse", str(wid)):
            raise invalid(f"Task {key}: SQL warehouse {wid} does not exist.")
    if "run_job_task" in task and not refs.exists("job", str(task["run_job_task"].get("job_id"))):
        raise invalid(f"Task {key}: job {task['run_job_task'].get('job_id')} does not exist.")
    if "pipeline_task" in task and not refs.exists("pipeline", str(task["pipeline_task"].get("pipeline_id"))):
        raise invalid(f"Task {key}: pipeline {task['pipeline_task'].get('pipeline_id')} does not exist.")
    inner = task.get("for_each_task", {}).get("task")
    if inner is not None:
        _validate_task(inner, keys, cluster_keys, refs, f"{where} (for_each_task of {key})")


def _check_no_cycle(tasks: list[dict]) -> None:
    graph = {t["task_key"]: [d["task_key"] for d in t.get("depends_on", [])] for t in tasks}
    state: dict[str, int] = {}

    def visit(node: str) -> None:
        state[node] = 1
        for nxt in graph.get(node, []):
            if state.get(nxt) == 1:
                raise invalid(f"The task dependency graph has a cycle through {nxt}.")
            if nxt not in state:
                visit(nxt)
        state[node] = 2

    for node in graph:
        if node not in state:
            visit(node)


def validate_settings(settings: Any, refs: Referents) -> None:
    if not isinstance(settings, dict):
        raise invalid("Job settings must be an object")
    triggers = [k for k in ("schedule", "trigger", "continuous") if settings.get(k) is not None]
    if len(triggers) > 1:  # JobSettings: one way to start runs
        raise invalid(f"Only one of schedule, trigger and continuous can be set; got {', '.join(triggers)}.")
    schedule = settings.get("schedule")
    if schedule is not None and not (isinstance(schedule, dict) and schedule.get("quartz_cron_expression")
                                     and schedule.get("timezone_id")):
        raise invalid("schedule.quartz_cron_expression and schedule.timezone_id are required.")
    runs = settings.get("max_concurrent_runs")
    if runs is not None and (not isinstance(runs, int) or isinstance(runs, bool) or not 0 <= runs <= MAX_CONCURRENT_RUNS):
        raise invalid(f"max_concurrent_runs must be between 0 and {MAX_CONCURRENT_RUNS}; got {runs!r}.")
    name = settings.get("name")
    if name is not None and (not isinstance(name, str) or len(name.encode()) > MAX_NAME_BYTES):
        raise invalid(f"The job name must be a string of at most {MAX_NAME_BYTES} bytes.")
    tags = settings.get("tags", {})
    if not isinstance(tags, dict):
        raise invalid("tags must be an object")
    if len(tags) > MAX_TAGS:
        raise invalid(f"A job can have at most {MAX_TAGS} tags; got {len(tags)}.")
    for key, value in tags.items():
        if not key or len(key) > MAX_TAG_KEY:
            raise invalid(f"Tag key {key[:40]!r}... must be 1-{MAX_TAG_KEY} characters.")
        if not isinstance(value, str) or len(value) > MAX_TAG_VALUE:
            raise invalid(f"Tag {key!r} value must be a string of at most {MAX_TAG_VALUE} characters.")
    job_clusters = settings.get("job_clusters", [])
    cluster_keys: set[str] = set()
    for jc in job_clusters:
        ck = jc.get("job_cluster_key") if isinstance(jc, dict) else None
        if not ck:
            raise invalid("job_cluster_key is required for every job cluster")
        if ck in cluster_keys:
            raise invalid(f"Duplicate job_cluster_key {ck!r}")
        cluster_keys.add(ck)
        _validate_cluster(jc.get("new_cluster"), f"Job cluster {ck}", refs)
    tasks = settings.get("tasks", [])
    if not isinstance(tasks, list):
        raise invalid("tasks must be a list")
    if len(tasks) > MAX_TASKS:
        raise invalid(f"A job can have at most {MAX_TASKS} tasks; got {len(tasks)}.")
    keys: set[str] = set()
    for task in tasks:
        key = task.get("task_key") if isinstance(task, dict) else None
        if key in keys:
            raise invalid(f"Task key {key} is not unique.")
        keys.add(key)  # type: ignore[arg-type]
    for i, task in enumerate(tasks):
        _validate_task(task, keys, cluster_keys, refs, f"tasks[{i}]")
    _check_no_cycle(tasks)


class JobStore:
    """Jobs of one workspace. Not thread-safe: the server serialises calls."""

    def __init__(self, id_base: int, user: str, clock_ms: Callable[[], int]):
        self.jobs: dict[int, dict] = {}
        # job id -> the write-only values its last write sent (never returned; tests look here)
        self.write_only: dict[int, dict[str, Any]] = {}
        self.next_id = id_base
        self.user = user
        self.clock_ms = clock_ms

    # --- reading -------------------------------------------------------------------------
    def _require(self, job_id: Any) -> dict:
        try:
            jid = int(job_id)
        except (TypeError, ValueError) as exc:
            raise invalid(f"Invalid job_id: {job_id!r}") from exc
        job = self.jobs.get(jid)
        if job is None:
            raise not_found(f"Job {jid} does not exist.")
        return job

    @staticmethod
    def _base(job: dict) -> dict:
        return {k: v for k, v in job.items() if k != "settings"}

    def get(self, job_id: Any, page_token: str | None = None, paged: bool = True) -> dict:
        """`paged`: API 2.2 pages tasks and job clusters past 100; 2.0/2.1 return them all."""
        job = self._require(job_id)
        settings = job["settings"]
        offset = decode_token(page_token)["o"] if page_token else 0
        tasks = settings.get("tasks", [])
        clusters = settings.get("job_clusters", [])
        end = offset + ARRAY_PAGE if paged else max(len(tasks), len(clusters), 1)
        if offset == 0:
            page = {k: copy.deepcopy(v) for k, v in settings.items() if k not in ("tasks", "job_clusters")}
        else:  # later pages carry only the next slices of the paged arrays
            page = {}
        for arr, items in (("tasks", tasks), ("job_clusters", clusters)):
            if items[offset:end] or (offset == 0 and arr in settings):
                page[arr] = copy.deepcopy(items[offset:end])
        result = {**self._base(job), "settings": page}
        if len(tasks) > end or len(clusters) > end:
            result["has_more"] = True
            result["next_page_token"] = encode_token({"o": end})
        return result

    def list(self, limit: Any, page_token: str | None, expand_tasks: bool, name: str | None,
             offset: Any = None, paged: bool = True) -> dict:
        """`offset`: the deprecated offset paging older clients use (the legacy databricks-cli's
        `jobs list --all` adds the page length to it until `has_more` is false)."""
        try:
            lim = 20 if limit in (None, "") else int(limit)
            skip = 0 if offset in (None, "") or page_token else int(offset)
        except ValueError as exc:
            raise invalid(f"Invalid limit {limit!r} or offset {offset!r}") from exc
        if lim < 1 or lim > PAGE_LIMIT_MAX:
            raise invalid(f"limit must be between 1 and {PAGE_LIMIT_MAX}; got {lim}")
        if skip < 0:
            raise invalid(f"offset must not be negative; got {skip}")
        after = decode_token(page_token)["after"] if page_token else None
        ids = sorted(self.jobs)
        if name is not None:
            ids = [i for i in ids if self.jobs[i]["settings"].get("name", "").lower() == name.lower()]
        if after is not None:
            ids = [i for i in ids if i > after]
        ids = ids[skip:]
        page_ids, rest = ids[:lim], ids[lim:]
        out = []
        for jid in page_ids:
            job = self.jobs[jid]
            settings = job["settings"]
            # No copies: stored settings are never mutated in place (every write stores a new
            # dict), and the response is serialised before anything else can run on it.
            entry = {k: v for k, v in settings.items() if k not in ("tasks", "job_clusters")}
            item = {**self._base(job), "settings": entry}
            if expand_tasks:
                for arr in ("tasks", "job_clusters"):
                    if arr in settings:
                        entry[arr] = settings[arr][:ARRAY_PAGE] if paged else settings[arr]
                if paged and (len(settings.get("tasks", [])) > ARRAY_PAGE
                              or len(settings.get("job_clusters", [])) > ARRAY_PAGE):
                    item["has_more"] = True
            out.append(item)
        result: dict = {"jobs": out} if out else {}
        result["has_more"] = bool(rest)
        if rest:
            result["next_page_token"] = encode_token({"after": page_ids[-1]})
        return result

    # --- writing -------------------------------------------------------------------------
    def create(self, body: dict, refs: Referents, version: str = "2.2") -> dict:
        settings = known_fields({k: copy.deepcopy(v) for k, v in body.items() if k not in NON_SETTINGS})
        validate_settings(settings, refs)
        apply_policies(settings, refs)
        jid = self.next_id
        self.next_id += 1
        self.jobs[jid] = {"job_id": jid, "creator_user_name": self.user, "created_time": self.clock_ms()}
        self._set_run_as(self.jobs[jid], settings)
        self.write_only[jid] = take_write_only(settings)
        self.jobs[jid]["settings"] = fill_defaults(settings, version)
        return {"job_id": jid}

    @staticmethod
    def _set_run_as(job: dict, settings: dict) -> None:
        """run_as_user_name always; run_as_owner: whether the job runs as its owner (true in
        real GETs of jobs without another run_as, real-api-defaults.md)."""
        run_as = settings.get("run_as") or {}
        job["run_as_user_name"] = run_as.get("user_name") or run_as.get("service_principal_name") or job[
            "creator_user_name"]
        job["run_as_owner"] = job["run_as_user_name"] == job["creator_user_name"]

    def _store(self, job: dict, settings: dict, refs: Referents, version: str) -> None:
        settings = known_fields(settings)
        validate_settings(settings, refs)
        apply_policies(settings, refs)
        self._set_run_as(job, settings)
        self.write_only[job["job_id"]] = take_write_only(settings)
        job["settings"] = fill_defaults(settings, version)

    def reset(self, body: dict, refs: Referents, version: str = "2.2") -> dict:
        job = self._require(body.get("job_id"))
        new = body.get("new_settings")
        if not isinstance(new, dict):
            raise invalid("new_settings is required")
        settings = copy.deepcopy(new)
        if "run_as" not in settings and "run_as" in job["settings"]:
            settings["run_as"] = copy.deepcopy(job["settings"]["run_as"])  # reset keeps run_as
        self._store(job, settings, refs, version)
        return {}

    def update(self, body: dict, refs: Referents, version: str = "2.2") -> dict:
        job = self._require(body.get("job_id"))
        settings = copy.deepcopy(job["settings"])
        for field in body.get("fields_to_remove", []) or []:
            if "/" in field:  # "tasks/<task_key>" or "job_clusters/<job_cluster_key>"
                arr, _, key = field.partition("/")
                id_field = {"tasks": "task_key", "job_clusters": "job_cluster_key"}.get(arr)
                if id_field is None:
                    raise invalid(f"Cannot remove {field!r}")
                settings[arr] = [e for e in settings.get(arr, []) if e.get(id_field) != key]
            else:
                settings.pop(field, None)
        for field, value in (body.get("new_settings") or {}).items():
            id_field = {"tasks": "task_key", "job_clusters": "job_cluster_key"}.get(field)
            if id_field and isinstance(value, list):
                merged = {e.get(id_field): e for e in settings.get(field, [])}
                for entry in value:
                    merged[entry.get(id_field)] = copy.deepcopy(entry)
                settings[field] = list(merged.values())
            else:
                settings[field] = copy.deepcopy(value)
        if "queue" not in settings and "queue" not in (body.get("fields_to_remove") or []):
            version = "2.1"  # an update keeps a job's queueing as it was (only `queue` changes it)
        self._store(job, settings, refs, version)
        return {}

    def delete(self, body: dict) -> dict:
        job = self._require(body.get("job_id"))
        del self.jobs[job["job_id"]]
        self.write_only.pop(job["job_id"], None)
        return {}
