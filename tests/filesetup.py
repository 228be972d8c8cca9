"""Shared set-up of the files tests (issue 21): a source workspace holding notebooks and files that
tagged jobs use, seeded in-process (set-up, not the code under test)."""

from __future__ import annotations

import base64

import pytest

from bricksync.emulator import EmulatorServer

from .conftest import Project

PY = b"# Databricks notebook source\n"
SQL = b"-- Databricks notebook source\n"


def put(server: EmulatorServer, path: str, data: bytes, *, language: str | None = "PYTHON", jupyter: bool = False,
        overwrite: bool = True) -> None:
    ws = server.workspace
    ws.mkdirs(path.rsplit("/", 1)[0])
    body = {"path": path, "content": base64.b64encode(data).decode(), "overwrite": overwrite}
    if jupyter:
        body["format"] = "JUPYTER"
    elif language:
        body.update(format="SOURCE", language=language)
    else:
        body["format"] = "RAW"
    ws.import_object(body)


def content(server: EmulatorServer, path: str) -> bytes:
    obj = server.workspace.objects[server.workspace._norm_path(path)]
    return base64.b64decode(obj["content"])


def add_job(server: EmulatorServer, name: str, tasks: list[dict], **extra) -> int:
    body = {"name": name, "tags": {"PROD_MIGRATION": "true"}, "tasks": tasks, **extra}
    return int(server.client().api_client.do("POST", "/api/2.2/jobs/create", body=body)["job_id"])


def nb(key: str, path: str, **extra) -> dict:
    return {"task_key": key, "notebook_task": {"notebook_path": path}, **extra}


def seed_files(server: EmulatorServer) -> None:
    """Two jobs: `ingest` runs a notebook that %runs a shared one (relative) and a utility
    (absolute), a Python file and a SQL file; `report` shares the utility notebook and a wheel."""
    put(server, "/Workspace/dev/sales/ingest", PY + b"# MAGIC %run ./common\nprint('ingest')\n")
    put(server, "/Workspace/dev/sales/common", PY + b"x = 1\n# MAGIC %run /Workspace/dev/lib/util\n")
    put(server, "/Workspace/dev/lib/util", PY + b"def util():\n    return 1\n")
    put(server, "/Workspace/dev/sales/clean.py", b"print('clean')\n", language=None)
    put(server, "/Workspace/dev/sql/totals.sql", b"select 1\n", language=None)
    put(server, "/Workspace/dev/report/summary", SQL + b"select 2\n", language="SQL")
    put(server, "/Workspace/dev/libs/tool.whl", b"PK\x03\x04\x00\xffbinary", language=None)
    warehouse = server.workspace.create_resource("warehouse", {"name": "dev-sql"})["id"]
    add_job(server, "Sales ingest", [
        nb("ingest", "/Workspace/dev/sales/ingest"),
        {"task_key": "clean", "spark_python_task": {"python_file": "/Workspace/dev/sales/clean.py"}},
        {"task_key": "totals", "sql_task": {"file": {"path": "/Workspace/dev/sql/totals.sql"}, "warehouse_id": warehouse}},
    ])
    add_job(server, "Sales report", [nb("summary", "/Workspace/dev/report/summary",
                                        libraries=[{"whl": "/Workspace/dev/libs/tool.whl"}]),
                                     nb("util", "/Workspace/dev/lib/util")])


@pytest.fixture(name="files_project")
def files_project_fixture(project: Project, monkeypatch: pytest.MonkeyPatch) -> Project:
    monkeypatch.setenv("BRICKSYNC_SOURCE_FILES", "referenced")
    seed_files(project.test)
    project.prod.workspace.create_resource("warehouse", {"name": "prod-sql"})
    return project
