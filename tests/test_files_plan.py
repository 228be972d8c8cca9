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
