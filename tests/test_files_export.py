"""Issue 21, export: the notebooks and files tagged jobs run land in state/files/ beside them."""

from __future__ import annotations

from .conftest import Project
from .filesetup import PY, files_project_fixture, put  # noqa: F401  (the files_project fixture)


def files_of(project: Project) -> dict[str, bytes]:
    base = project.root / "state" / "files"
    return {str(p.relative_to(base)): p.read_bytes() for p in sorted(base.rglob("*")) if p.is_file()}


def test_export_writes_what_jobs_run_in_the_cli_layout(files_project: Project) -> None:
    p = files_project
    res = p.run("export", "--branch", "export-1")
    assert res.code == 0, res.output
    files = files_of(p)
    assert sorted(files) == ["lib/util.py", "libs/tool.whl", "report/summary.sql", "sales/clean.py",
                             "sales/common.py", "sales/ingest.py", "sql/totals.sql"]
    assert files["sales/ingest.py"] == PY + b"# MAGIC %run ./common\nprint('ingest')\n"
    assert files["report/summary.sql"].startswith(b"-- Databricks notebook source\n")
    assert files["libs/tool.whl"] == b"PK\x03\x04\x00\xffbinary"  # byte for byte
    committed = p.repo.git.show("--stat", "--format=%B", "HEAD")
    assert "state/files/lib/util.py" in committed and "Files: 7 added" in committed
    # a re-export with nothing changed changes no byte and makes no commit
    head = p.repo.head.commit.hexsha
    for job in p.test.workspace.jobs.jobs.values():
        job["settings"]["tags"]["PROD_MIGRATION"] = "true"
    res = p.run("export", "--branch", "export-1")
    assert res.code == 0, res.output
    assert p.repo.head.commit.hexsha == head and files_of(p) == files


def test_a_notebook_change_alone_is_exported(files_project: Project) -> None:
    p = files_project
    assert p.run("export", "--branch", "export-1").code == 0
    put(p.test, "/Workspace/dev/lib/util", PY + b"def util():\n    return 2\n")
    for job in p.test.workspace.jobs.jobs.values():
        job["settings"]["tags"]["PROD_MIGRATION"] = "true"
    res = p.run("export", "--branch", "export-1")
    assert res.code == 0, res.output
    assert files_of(p)["lib/util.py"].endswith(b"return 2\n")
    assert "lib/util.py" in p.repo.git.show("--stat", "HEAD")


def test_the_summary_names_each_path_not_copied_and_validate_agrees(files_project: Project) -> None:
    p = files_project
    from .filesetup import add_job, nb

    p.test.workspace.add_git_folder("/Workspace/dev/repo")
    put(p.test, "/Workspace/dev/repo/nb", PY + b"1\n")
    put(p.test, "/Workspace/dev/calls_out", PY + b"# MAGIC %run /Workspace/Shared/helpers\n")
    add_job(p.test, "Uses a Git folder", [nb("a", "/Workspace/dev/repo/nb"), nb("b", "/Workspace/dev/calls_out")])
    res = p.run("export", "--branch", "export-1")
    assert res.code == 0, res.output
    out = " ".join(res.output.split())
    assert "/Workspace/dev/repo/nb" in out and "in a Git folder" in out
    assert "/Workspace/Shared/helpers" in out and "outside notebook_root" in out
    files = files_of(p)
    assert "calls_out.py" in files and not any(n.startswith("repo/") for n in files)
    assert b"/Workspace/dev/repo/nb" in files[".bricksync-not-copied"]
    assert p.run("validate").code == 0  # the Git folder's notebook is not missed
