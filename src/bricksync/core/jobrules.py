"""What `jobs/create` and `jobs/reset` refuse beyond field names and types. Pure.

schema.py checks names and types; these are the rules that tie fields together, so that
`validate` and `plan` refuse what the service would refuse halfway through an apply. Each
rule is the Jobs API's own, as its reference documents it (databricks-sdk's service/jobs.py
docstrings are generated from the same OpenAPI spec):

- JobSettings.tasks: "supports up to 1000 elements".
- Task.task_key: "required and must be unique within its parent job"; "The maximum length is
  100 characters" (the Jobs API reference's task_key, as API clients such as brickster quote it).
- Task.depends_on: "All tasks specified in this field must complete successfully before
  executing this task": each names a task of the job; the graph has no cycle.
  TaskDependency.outcome: "Can only be specified on condition task dependencies".
- JobCluster.job_cluster_key: "required and must be unique within the job"; a task's
  job_cluster_key reuses "the cluster specified in job.settings.job_clusters".
- JobEnvironment.environment_key: "has to be unique within a job"; a task's
  environment_key "references an environment spec in a job".
- JobSettings.max_concurrent_runs: "This value cannot exceed 1000"; 0 skips runs.
- JobSettings.name: at most 4096 bytes (UTF-8); description: at most 27700 characters.
- JobSettings.tags: "A maximum of 25 tags".
- JobSettings.schedule / continuous: "Only one of schedule and continuous can be used"; and
  "You can only have one trigger defined for a job" (docs: Trigger types for Databricks Jobs),
  so schedule, trigger and continuous exclude each other.
- JobParameterDefinition.name: "May only contain alphanumeric characters, _, - and .".
- GitSource: git_branch, git_commit and git_tag "cannot be specified in conjunction".
- A task runs exactly one kind of work (one `*_task` field), as the API's Task object allows.
- For each: "You cannot add another For each task as the nested task"
  (https://docs.databricks.com/en/jobs/for-each.html).
"""

from __future__ import annotations

import re
from typing import Any

from .errors import did_you_mean
from .schema import SchemaTable, schema_table

MAX_TASKS = 1000
MAX_TAGS = 25
MAX_CONCURRENT_RUNS = 1000
MAX_NAME_BYTES = 4096
MAX_DESCRIPTION = 27700
MAX_TASK_KEY = 100
PARAMETER_NAME_RE = re.compile(r"^[A-Za-z0-9_.-]+$")

Finding = tuple[str, str]  # (message, field path)


def task_kinds(table: SchemaTable | None = None) -> tuple[str, ...]:
    """The kinds of work a Task can run: its `*_task` fields, as the SDK's schema has them."""
    table = table if table is not None else schema_table()
    return tuple(sorted(k for k in table["Task"] if k.endswith("_task")))


def _label(task: dict, i: int) -> str:
    key = task.get("task_key")
    return key if isinstance(key, str) and key else str(i)


def _dicts(value: Any) -> list[dict]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def check_rules(settings: Any, table: SchemaTable | None = None) -> list[Finding]:
    """Every rule above broken by `settings` (types are schema.py's: wrong ones are skipped)."""
    if not isinstance(settings, dict):
        return []
    out: list[Finding] = []
    kinds = task_kinds(table)
    _job_rules(settings, out)
    clusters = _unique_keys(settings.get("job_clusters"), "job_cluster_key", "job_clusters", out)
    environments = _unique_keys(settings.get("environments"), "environment_key", "environments", out)
    tasks = settings.get("tasks")
    if isinstance(tasks, list) and len(tasks) > MAX_TASKS:
        out.append((f"{len(tasks)} tasks; a job has at most {MAX_TASKS}", "tasks"))
    task_list = _dicts(tasks)
    by_key: dict[str, dict] = {}
    for i, task in enumerate(task_list):
        key = task.get("task_key")
        where = f"tasks[{_label(task, i)}]"
        if not isinstance(key, str) or not key:
            out.append(("task_key is required", f"{where}.task_key"))
            continue
        if key in by_key:
            out.append((f"task_key '{key}' is used by more than one task; it must be unique in the job",
                        f"{where}.task_key"))
        by_key.setdefault(key, task)
    for i, task in enumerate(task_list):
        where = f"tasks[{_label(task, i)}]"
        _task_rules(task, where, kinds, clusters, environments, out)
        for dep in task.get("depends_on") or []:
            if not isinstance(dep, dict):
                continue
            name = dep.get("task_key")
            if name not in by_key:
                hint = _close(name, by_key)
                out.append((f"depends on '{name}', which is not a task of this job{hint}", f"{where}.depends_on"))
            elif name == task.get("task_key"):
                out.append(("a task cannot depend on itself", f"{where}.depends_on"))
            elif dep.get("outcome") is not None and "condition_task" not in by_key[name]:
                out.append((f"depends_on '{name}' sets an outcome, which only a condition task's dependents may",
                            f"{where}.depends_on"))
    cycle = _cycle({k: [d.get("task_key") for d in _dicts(t.get("depends_on")) if d.get("task_key") in by_key]
                    for k, t in by_key.items()})
    if cycle:
        out.append(("depends_on forms a cycle: " + " -> ".join(cycle), f"tasks[{cycle[0]}].depends_on"))
    return out


def _job_rules(settings: dict, out: list[Finding]) -> None:
    name = settings.get("name")
    if isinstance(name, str) and len(name.encode("utf-8")) > MAX_NAME_BYTES:
        out.append((f"name is {len(name.encode('utf-8'))} bytes; at most {MAX_NAME_BYTES}", "name"))
    description = settings.get("description")
    if isinstance(description, str) and len(description) > MAX_DESCRIPTION:
        out.append((f"description is {len(description)} characters; at most {MAX_DESCRIPTION}", "description"))
    runs = settings.get("max_concurrent_runs")
    if isinstance(runs, int) and not isinstance(runs, bool) and not 0 <= runs <= MAX_CONCURRENT_RUNS:
        out.append((f"{runs} is out of range: 0 to {MAX_CONCURRENT_RUNS}", "max_concurrent_runs"))
    tags = settings.get("tags")
    if isinstance(tags, dict) and len(tags) > MAX_TAGS:
        out.append((f"{len(tags)} tags; a job has at most {MAX_TAGS}", "tags"))
    triggers = [k for k in ("schedule", "trigger", "continuous") if settings.get(k) is not None]
    if len(triggers) > 1:
        out.append((f"only one of schedule, trigger and continuous can be set (found {' and '.join(triggers)})",
                    triggers[-1]))
    git = settings.get("git_source")
    if isinstance(git, dict):
        refs = [k for k in ("git_branch", "git_commit", "git_tag") if git.get(k) is not None]
        if len(refs) > 1:
            out.append((f"only one of git_branch, git_commit and git_tag can be set (found {', '.join(refs)})",
                        "git_source"))
    for param in _dicts(settings.get("parameters")):
        pname = param.get("name")
        if isinstance(pname, str) and not PARAMETER_NAME_RE.match(pname):
            out.append((f"parameter name '{pname}' may only contain letters, digits, '_', '-' and '.'",
                        f"parameters[{pname}]"))


def _unique_keys(items: Any, key: str, where: str, out: list[Finding]) -> set[str]:
    seen: set[str] = set()
    for i, item in enumerate(_dicts(items)):
        value = item.get(key)
        if not isinstance(value, str) or not value:
            out.append((f"{key} is required", f"{where}[{i}].{key}"))
        elif value in seen:
            out.append((f"{key} '{value}' is used twice; it must be unique in the job", f"{where}[{value}].{key}"))
        else:
            seen.add(value)
    return seen


def _task_rules(task: dict, where: str, kinds: tuple[str, ...], clusters: set[str], environments: set[str],
                out: list[Finding], inner: bool = False) -> None:
    key = task.get("task_key")
    if isinstance(key, str) and len(key) > MAX_TASK_KEY:
        out.append((f"task_key is {len(key)} characters; at most {MAX_TASK_KEY}", f"{where}.task_key"))
    found = [k for k in kinds if task.get(k) is not None]
    if len(found) != 1:
        out.append((f"a task runs exactly one kind of work ({'found ' + ', '.join(found) if found else 'none given'}"
                    f"; e.g. notebook_task, spark_python_task, run_job_task)", where))
    cluster = task.get("job_cluster_key")
    if isinstance(cluster, str) and cluster not in clusters:
        out.append((f"job_cluster_key '{cluster}' names no entry of job_clusters{_close(cluster, clusters)}",
                    f"{where}.job_cluster_key"))
    env = task.get("environment_key")
    if isinstance(env, str) and env not in environments:
        out.append((f"environment_key '{env}' names no entry of environments{_close(env, environments)}",
                    f"{where}.environment_key"))
    body = task.get("for_each_task")
    if isinstance(body, dict) and isinstance(body.get("task"), dict):
        if inner:
            out.append(("a for_each_task cannot run another for_each_task", f"{where}.for_each_task"))
        else:
            _task_rules(body["task"], f"{where}.for_each_task.task", kinds, clusters, environments, out, inner=True)


def _close(word: Any, choices: Any) -> str:
    return did_you_mean(str(word), sorted(choices)) if isinstance(word, str) else ""


def _cycle(graph: dict[str, list[str]]) -> list[str] | None:
    """A cycle in the task graph, iteratively (a 1000-task chain must not exhaust the stack)."""
    state: dict[str, int] = {}
    for start in sorted(graph):
        if start in state:
            continue
        stack: list[tuple[str, int]] = [(start, 0)]
        path: list[str] = [start]
        state[start] = 1
        while stack:
            node, i = stack[-1]
            nexts = graph.get(node, [])
            if i < len(nexts):
                stack[-1] = (node, i + 1)
                nxt = nexts[i]
                if state.get(nxt) == 1:
                    return [*path[path.index(nxt):], nxt]
                if nxt not in state:
                    state[nxt] = 1
                    stack.append((nxt, 0))
                    path.append(nxt)
            else:
                state[node] = 2
                stack.pop()
                path.pop()
    return None
