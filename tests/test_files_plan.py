"""Issue 21, plan and apply: file actions in the same Plan as jobs, written before the jobs."""

from __future__ import annotations

import json

from bricksync.emulator import FaultRule

from .conftest import Project
from .filesetup import PY, content, files_project_fixture, put  # noqa: F401  (the files_project fixture)


def exported(p: Project) -> Project:
    res = p.run("export", "--branch", "export-1")
    assert res.code == 0, res.output
    return p


def test_plan_lists_file_creates_apply_writes_them_then_nothing_to_do(files_project: Project) -> None:
    p = exported(files_project)
    res = p.run("plan", "--target", "prod", "--json", "-", "--detailed-exitcode")
    assert res.code == 2, res.output
    doc = json.loads(res.output[res.output.index("{"):])
    creates = {f["path"]: f for f in doc["files"] if f["action"] == "create"}
    assert set(creates) >= {"/Workspace/prod/sales/ingest", "/Workspace/prod/lib/util", "/Workspace/prod/libs/tool.whl"}
    assert creates["/Workspace/prod/lib/util"]["jobs"] == ["sales-ingest", "sales-report"]  # %run, then direct
    assert creates["/Workspace/prod/libs/tool.whl"]["binary"] is True
    res = p.run("apply", "--target", "prod", "--yes")
    assert res.code == 0, res.output
    assert content(p.prod, "/Workspace/prod/sales/ingest") == PY + b"# MAGIC %run ./common\nprint('ingest')\n"
    assert p.prod.workspace.get_status("/Workspace/prod/report/summary")["language"] == "SQL"
    assert p.prod.workspace.get_status("/Workspace/prod/sales/clean.py")["object_type"] == "FILE"
    assert "does not exist in the target" not in res.output  # preflight knows the files were written
    res = p.run("plan", "--target", "prod", "--detailed-exitcode")
    assert res.code == 0, res.output


def test_a_notebook_edit_in_git_is_an_update_with_a_diff(files_project: Project) -> None:
    p = exported(files_project)
    assert p.run("apply", "--target", "prod", "--yes").code == 0
    (p.root / "state" / "files" / "lib" / "util.py").write_bytes(PY + b"def util():\n    return 42\n")
    res = p.run("plan", "--target", "prod", "--detailed-exitcode")
    assert res.code == 2, res.output
    assert "~ update /Workspace/prod/lib/util" in res.output
    assert "-    return 1" in res.output and "+    return 42" in res.output
    md = p.run("plan", "--target", "prod", "--markdown", "-")
    assert "+    return 42" in md.output and "### Files" in md.output
    assert p.run("apply", "--target", "prod", "--yes").code == 0
    assert content(p.prod, "/Workspace/prod/lib/util").endswith(b"return 42\n")


def test_an_object_bricksync_did_not_write_is_a_conflict_until_adopted(files_project: Project) -> None:
    p = exported(files_project)
    put(p.prod, "/Workspace/prod/lib/util", PY + b"# deployed by hand\n")
    res = p.run("plan", "--target", "prod", "--detailed-exitcode")
    assert res.code == 2 and "x conflict /Workspace/prod/lib/util" in res.output, res.output
    assert p.run("apply", "--target", "prod", "--yes").code == 0
    assert content(p.prod, "/Workspace/prod/lib/util") == PY + b"# deployed by hand\n"  # never overwritten
    res = p.run("apply", "--target", "prod", "--yes", "--adopt")
    assert res.code == 0, res.output
    assert content(p.prod, "/Workspace/prod/lib/util").startswith(PY + b"def util()")


def test_a_failed_file_write_stops_only_the_jobs_that_use_it(files_project: Project) -> None:
    p = exported(files_project)
    # the folder of the wheel only `Sales report` uses cannot be created (mkdirs in order: the lock's
    # folder, then /Workspace/prod/lib, /Workspace/prod/libs, ...)
    p.prod.faults.add(FaultRule("POST", "/api/2.0/workspace/mkdirs", 403, count=1, skip=2))
    res = p.run("apply", "--target", "prod", "--yes")
    assert res.code == 1, res.output
    names = {j["settings"]["name"] for j in p.prod.workspace.jobs.jobs.values()}
    assert "Sales ingest" in names and "Sales report" not in names
    assert "skipped: the notebooks or files it runs were not written" in res.output


def test_the_index_vouches_only_for_what_the_server_confirms(files_project: Project) -> None:
    p = exported(files_project)
    assert p.run("apply", "--target", "prod", "--yes").code == 0
    # a workspace file edited by hand: its server-set modified_at and size give it away to a plain plan
    put(p.prod, "/Workspace/prod/sales/clean.py", b"print('patched in prod')\n", language=None)
    res = p.run("plan", "--target", "prod", "--detailed-exitcode")
    assert res.code == 2 and "~ update /Workspace/prod/sales/clean.py" in res.output, res.output
    assert "-print('patched in prod')" in res.output
    # an index entry edited to another hash: the object is read and compared, never trusted blindly
    import base64
    import json as _json

    index_path = "/Users/bricksync@example.com/.bricksync/prod/files.json"  # the trusted store (edges/trusted.py)
    obj = p.prod.workspace.objects[index_path]
    doc = _json.loads(base64.b64decode(obj["content"]))
    doc["data"]["files"]["/Workspace/prod/lib/util"]["sha"] = "0" * 64
    obj["content"] = base64.b64encode(_json.dumps(doc).encode()).decode()
    (p.root / "state" / "files" / "lib" / "util.py").write_bytes(PY + b"def util():\n    return 7\n")
    res = p.run("plan", "--target", "prod")
    assert "~ update /Workspace/prod/lib/util" in res.output and "+    return 7" in res.output, res.output


def test_jupyter_notebooks_dbt_folders_and_init_scripts_travel_too(files_project: Project) -> None:
    p = files_project
    from .filesetup import add_job

    put(p.test, "/Workspace/dev/ml/explore", b'{"cells": [{"cell_type": "code", "source": "1+1"}], "nbformat": 4}',
        jupyter=True)
    put(p.test, "/Workspace/dev/dbt/shop/dbt_project.yml", b"name: shop\n", language=None)
    put(p.test, "/Workspace/dev/dbt/shop/models/orders.sql", b"select * from raw\n", language=None)
    put(p.test, "/Workspace/dev/init/setup.sh", b"#!/bin/bash\npip install x\n", language=None)
    cluster = {"spark_version": "15.4.x-scala2.12", "num_workers": 1, "node_type_id": "Standard_D4ds_v5",
               "init_scripts": [{"workspace": {"destination": "/Workspace/dev/init/setup.sh"}}]}
    add_job(p.test, "Mixed", [{"task_key": "nb", "notebook_task": {"notebook_path": "/Workspace/dev/ml/explore"},
                               "job_cluster_key": "c"},
                              {"task_key": "dbt", "dbt_task": {"project_directory": "/Workspace/dev/dbt/shop",
                                                               "commands": ["dbt run"]}, "job_cluster_key": "c"}],
            job_clusters=[{"job_cluster_key": "c", "new_cluster": cluster}])
    p2 = exported(p)
    base = p2.root / "state" / "files"
    assert (base / "ml" / "explore.ipynb").is_file()
    assert (base / "dbt" / "shop" / "models" / "orders.sql").read_bytes() == b"select * from raw\n"
    assert (base / "init" / "setup.sh").is_file()
    res = p2.run("apply", "--target", "prod", "--yes")
    assert res.code == 0, res.output
    ws = p2.prod.workspace
    assert ws.objects["/prod/ml/explore"]["format"] == "JUPYTER"
    assert ws.objects["/prod/dbt/shop/models/orders.sql"]["object_type"] == "FILE"
    job = next(j for j in ws.jobs.jobs.values() if j["settings"]["name"] == "Mixed")
    init = job["settings"]["job_clusters"][0]["new_cluster"]["init_scripts"][0]["workspace"]["destination"]
    assert init == "/Workspace/prod/init/setup.sh"  # rewritten, and the script is there
    assert content(p2.prod, init) == b"#!/bin/bash\npip install x\n"


def test_an_untrusted_index_costs_reads_and_deletes_nothing(files_project: Project, monkeypatch) -> None:
    from bricksync.edges.wsfiles import WorkspaceFiles

    p = exported(files_project)
    assert p.run("apply", "--target", "prod", "--yes").code == 0
    put(p.prod, "/Workspace/prod/lib/util", PY + b"# a hand edit a plain plan cannot see (no modified_at)\n")
    assert p.run("plan", "--target", "prod", "--detailed-exitcode").code == 0  # vouched by the index
    monkeypatch.setattr(WorkspaceFiles, "index_trust", lambda self, target: "others may write it")
    (p.root / "state" / "files" / "sql" / "totals.sql").unlink()
    job = p.root / "state" / "jobs" / "sales-ingest.yml"
    job.write_text(job.read_text().replace("sql/totals.sql", "lib/util"))
    res = p.run("plan", "--target", "prod")
    assert "~ update /Workspace/prod/lib/util" in res.output and "not trusted" in res.output, res.output
    assert "orphan" not in res.output.split("Files", 1)[1]
