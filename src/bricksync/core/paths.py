"""Every field of the Jobs API that holds a workspace path: one table, read by one walker.

Pure. The table is the single answer to "which values are workspace paths?" for everything that
treats paths: export's notebook_root check (snapshot.py), plan's rewrite (render.py), preflight
(commands/preflight.py), capture's reverse rewrite (inverse.py), and what `source.files:
referenced` copies into state/files/ (files.py). A row added here is handled by all of them.

Sources (databricks-sdk 0.167 `service/jobs.py` and `service/compute.py`, the JobSettings/Task
reference of the Jobs API 2.2):
- NotebookTask.notebook_path, SparkPythonTask.python_file, SqlTaskFile.path, DbtTask.project_directory
  and .profiles_directory: workspace paths unless `source` is GIT (then relative to the repository);
  `source` defaults to GIT when the job has `git_source`.
- compute.Library whl/jar/egg/requirements ("Workspace paths, Unity Catalog Volumes paths, and S3
  URIs"), compute.Environment dependencies / java_dependencies (pip lines and library paths),
  base_environment ("a file path to a custom env.yaml file, e.g. /Workspace/path/to/env.yaml"),
  project_environment ("Path to the pyproject.toml file").
- compute.InitScriptInfo.workspace.destination: a workspace file run as root on every node of the
  cluster, on `new_cluster` of a task and of `job_clusters` alike.
- AlertTask.workspace_path ("the path to the alert file in the workspace").
- GenAiComputeTask.training_script_path / yaml_parameters_file_path ("workspace paths are supported";
  relative when `source` is GIT), AiRuntimeTask.code_source_path ("Workspace or UC volume path of the
  code-source archive"), DeploymentSpec.command_path ("Workspace path of the script to run on each
  node"), AiRuntimeTask.mlflow_experiment_directory ("workspace directory").
- JobEnvironmentVariablesSpec.files ("Workspace (/Workspace/...) or UC Volumes paths to .env files").
- JobSettings.parent_path ("Path of the job parent folder in workspace file tree").

Deliberately not rows (see NOT_PATHS): cluster_log_conf (ClusterLogConf has only dbfs, s3 and
volumes destinations: no workspace one), deployment.metadata_file_path (a bundle's own deployment
state, not something the job runs), free-text parameters (spark_submit_task.parameters, ...).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from .objectrefs import walk_rows

# What the value names, for `source.files: referenced`:
NOTEBOOK = "notebook"  # a notebook (a workspace file of that name is accepted too)
FILE = "file"  # a notebook or a workspace file: copied as found
DIRECTORY = "directory"  # a folder whose whole content is copied (a dbt project)
FOLDER = "folder"  # a place, not content: checked and rewritten, never copied

# (path below a task, what it names, decided by `source`: WORKSPACE unless GIT)
TASK_PATHS: tuple[tuple[str, str, bool], ...] = (
    ("notebook_task.notebook_path", NOTEBOOK, True),
    ("spark_python_task.python_file", FILE, True),
    ("sql_task.file.path", FILE, True),
    ("dbt_task.project_directory", DIRECTORY, True),
    ("dbt_task.profiles_directory", DIRECTORY, True),
    ("libraries[].whl", FILE, False),
    ("libraries[].jar", FILE, False),
    ("libraries[].egg", FILE, False),
    ("libraries[].requirements", FILE, False),
    ("alert_task.workspace_path", FILE, False),
    ("gen_ai_compute_task.training_script_path", FILE, True),
    ("gen_ai_compute_task.yaml_parameters_file_path", FILE, True),
    ("ai_runtime_task.code_source_path", FILE, False),
    ("ai_runtime_task.deployments[].command_path", FILE, False),
    ("ai_runtime_task.mlflow_experiment_directory", FOLDER, False),
    ("new_cluster.init_scripts[].workspace.destination", FILE, False),
)
# (path below the job settings, what it names); none of these has a `source`.
JOB_PATHS: tuple[tuple[str, str], ...] = (
    ("job_clusters[].new_cluster.init_scripts[].workspace.destination", FILE),
    ("environments[].spec.dependencies[]", FILE),
    ("environments[].spec.java_dependencies[]", FILE),
    ("environments[].spec.base_environment", FILE),
    ("environments[].spec.project_environment", FILE),
    ("environment_variables[].spec.files[]", FILE),
    ("parent_path", FOLDER),
)
NOT_PATHS: tuple[tuple[str, str], ...] = (
    ("*.new_cluster.cluster_log_conf", "the API has no workspace destination for cluster logs (dbfs, s3, volumes)"),
    ("deployment.metadata_file_path", "a bundle's deployment state, not code the job runs"),
    ("tasks[].spark_submit_task.parameters", "free text: a path in it is not typed as one"),
)


@dataclass
class PathSite:
    """One workspace path inside job settings: container[field] holds it."""

    location: str  # readable path, e.g. tasks[ingest].notebook_task.notebook_path
    container: Any  # a dict, or a list for list items (environments[0].spec.dependencies[1])
    field: Any
    what: str = FILE
    kind: str = "path"

    @property
    def value(self) -> Any:
        return self.container[self.field]

    def set(self, value: Any) -> None:
        self.container[self.field] = value

    @property
    def copied(self) -> bool:
        """Does `source.files: referenced` copy what this names?"""
        return self.what != FOLDER


def is_workspace_path(path: Any) -> bool:
    """Absolute paths in the workspace tree (not dbfs:/, s3://, /Volumes/, /dbfs/, nor relative ones)."""
    return isinstance(path, str) and path.startswith("/") and not path.startswith(("/Volumes/", "/dbfs/"))


def _task_sites(task: dict, where: str, git: bool, from_git: bool = False) -> Iterator[PathSite]:
    for path, what, sourced in TASK_PATHS:
        for location, container, fld in walk_rows(task, path, where):
            value = container[fld]
            in_git = sourced and isinstance(container, dict) and \
                (container.get("source") or ("GIT" if git else "WORKSPACE")) != "WORKSPACE"
            if in_git == from_git and (in_git or is_workspace_path(value)):
                yield PathSite(location, container, fld, what)  # (a GIT one is relative to the job's repository)
    inner = task.get("for_each_task")
    if isinstance(inner, dict) and isinstance(inner.get("task"), dict):
        yield from _task_sites(inner["task"], f"{where}.for_each_task.task", git, from_git)


def git_sourced_sites(settings: dict) -> Iterator[PathSite]:
    """The task paths path_sites skips: relative to the job's Git repository (`source: GIT`)."""
    git = "git_source" in settings
    for i, task in enumerate(settings.get("tasks") or []):
        if isinstance(task, dict):
            yield from _task_sites(task, f"tasks[{task.get('task_key', i)}]", git, from_git=True)


def path_sites(settings: dict) -> Iterator[PathSite]:
    """Every workspace path job settings hold, in table order per task (GIT-sourced ones skipped)."""
    git = "git_source" in settings
    for i, task in enumerate(settings.get("tasks") or []):
        if isinstance(task, dict):
            yield from _task_sites(task, f"tasks[{task.get('task_key', i)}]", git)
    for path, what in JOB_PATHS:
        for location, container, fld in walk_rows(settings, path, ""):
            if is_workspace_path(container[fld]):
                yield PathSite(location, container, fld, what)
