"""Issue 25 point 9: every API field that holds a workspace path comes from one table
(core/paths.py) and is treated alike by export's notebook_root check, plan's rewrite, capture's
reverse rewrite and preflight."""

from __future__ import annotations

import copy

from bricksync.core.inverse import invert_path
from bricksync.core.model import TargetConfig
from bricksync.core.paths import FOLDER, path_sites
from bricksync.core.references import Inventory, rewrite_path
from bricksync.core.snapshot import snapshot_settings

INIT = {"workspace": {"destination": "/Workspace/dev/init/setup.sh"}}


def every_kind_of_path(root: str = "/Workspace/dev") -> dict:
    cluster = {"spark_version": "15.4.x-scala2.12", "num_workers": 1, "node_type_id": "n",
               "init_scripts": [{"workspace": {"destination": f"{root}/init/setup.sh"}},
                                {"volumes": {"destination": "/Volumes/c/s/v/x.sh"}}]}
    inner = {"task_key": "inner", "notebook_task": {"notebook_path": f"{root}/nb/inner"},
             "new_cluster": copy.deepcopy(cluster)}
    return {
        "name": "paths", "parent_path": f"{root}/jobs",
        "job_clusters": [{"job_cluster_key": "main", "new_cluster": copy.deepcopy(cluster)}],
        "environments": [{"environment_key": "e", "spec": {
            "dependencies": [f"{root}/w.whl", "pandas==2"], "java_dependencies": [f"{root}/x.jar"],
            "base_environment": f"{root}/env.yaml", "project_environment": f"{root}/pyproject.toml"}}],
        "environment_variables": [{"environment_variables_key": "v", "spec": {"files": [f"{root}/.env"]}}],
        "tasks": [
            {"task_key": "a", "notebook_task": {"notebook_path": f"{root}/nb/a"}, "new_cluster": copy.deepcopy(cluster),
             "libraries": [{"whl": f"{root}/lib/a.whl"}, {"requirements": f"{root}/req.txt"},
                           {"pypi": {"package": "x"}}]},
            {"task_key": "b", "spark_python_task": {"python_file": f"{root}/py/b.py"}},
            {"task_key": "c", "sql_task": {"file": {"path": f"{root}/sql/c.sql"}, "warehouse_id": "1"}},
            {"task_key": "d", "dbt_task": {"project_directory": f"{root}/dbt", "commands": ["dbt run"]}},
            {"task_key": "e", "for_each_task": {"inputs": "[1]", "task": inner}},
            {"task_key": "f", "gen_ai_compute_task": {"training_script_path": f"{root}/train.py",
                                                      "yaml_parameters_file_path": f"{root}/p.yaml"}},
            {"task_key": "g", "alert_task": {"workspace_path": f"{root}/alerts/a.dbalert.json"}},
        ],
    }


def test_the_table_finds_init_scripts_and_every_other_path() -> None:
    found = {s.location: (s.value, s.what) for s in path_sites(every_kind_of_path())}
    assert found["job_clusters[main].new_cluster.init_scripts[0].workspace.destination"][0] == \
        "/Workspace/dev/init/setup.sh"
    assert "tasks[a].new_cluster.init_scripts[0].workspace.destination" in found
    assert "tasks[e].for_each_task.task.new_cluster.init_scripts[0].workspace.destination" in found
    assert "tasks[e].for_each_task.task.notebook_task.notebook_path" in found
    for where in ("environments[0].spec.project_environment", "environment_variables[0].spec.files[0]",
                  "tasks[f].gen_ai_compute_task.training_script_path", "tasks[g].alert_task.workspace_path",
                  "tasks[a].libraries[1].requirements", "environments[0].spec.dependencies[0]"):
        assert where in found, where
    assert found["parent_path"][1] == FOLDER
    # not workspace paths: a volume's init script, a pip requirement
    assert not any("/Volumes/" in str(v) for v, _ in found.values())
    assert "environments[0].spec.dependencies[1]" not in found


def test_git_sourced_tasks_are_relative_and_skipped() -> None:
    settings = {"git_source": {"git_url": "u", "git_provider": "gitHub"},
                "tasks": [{"task_key": "a", "notebook_task": {"notebook_path": "nb/a"},
                           "new_cluster": {"init_scripts": [INIT]}}]}
    found = [s.location for s in path_sites(settings)]
    assert found == ["tasks[a].new_cluster.init_scripts[0].workspace.destination"]  # no source: always a path


def test_export_refuses_an_init_script_outside_the_root() -> None:
    settings = every_kind_of_path()
    settings["job_clusters"][0]["new_cluster"]["init_scripts"][0]["workspace"]["destination"] = "/Users/x/evil.sh"
    out, problems = snapshot_settings(settings, name="paths", notebook_root="/Workspace/dev",
                                      inventory=Inventory(), job_keys={})
    assert out is None
    assert [p.field for p in problems if "outside the notebook root" in p.message] == \
        ["job_clusters[main].new_cluster.init_scripts[0].workspace.destination"]


def test_render_and_capture_rewrite_every_row_both_ways() -> None:
    rewrites = {"/Workspace/dev": "/Workspace/prod"}
    settings = every_kind_of_path()
    for site in path_sites(settings):
        site.set(rewrite_path(str(site.value), rewrites))
    assert settings == every_kind_of_path("/Workspace/prod")
    for site in path_sites(settings):
        source, error = invert_path(str(site.value), rewrites)
        assert error is None
        site.set(source)
    assert settings == every_kind_of_path()
    assert TargetConfig(path_rewrites=rewrites).path_rewrites == rewrites
