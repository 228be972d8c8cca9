"""The emulator's Workspace API, driven by the real databricks-sdk client (issue 21): each rule as
the docs state it (emulator/wsfs.py cites them)."""

from __future__ import annotations

import base64
import io
import zipfile

import pytest
from databricks.sdk.errors import DatabricksError, NotFound, ResourceAlreadyExists
from databricks.sdk.service.workspace import ExportFormat, ImportFormat, Language, ObjectType

from bricksync.emulator import EmulatorServer
from bricksync.emulator.wsfs import MAX_CONTENT


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def test_import_export_status_list_mkdirs_delete(test_ws: EmulatorServer) -> None:
    w = test_ws.client()
    w.workspace.mkdirs("/Workspace/dev/app")
    w.workspace.import_("/Workspace/dev/app/nb", content=b64(b"print(1)\n"), format=ImportFormat.SOURCE,
                        language=Language.PYTHON)
    with pytest.raises(ResourceAlreadyExists):  # no overwrite: the object is kept
        w.workspace.import_("/Workspace/dev/app/nb", content=b64(b"x"), format=ImportFormat.SOURCE,
                            language=Language.PYTHON)
    # AUTO: a header makes a notebook (extension removed); without one it is a file, byte for byte
    w.workspace.import_("/Workspace/dev/app/q.sql", content=b64(b"-- Databricks notebook source\nselect 1"),
                        format=ImportFormat.AUTO)
    w.workspace.import_("/Workspace/dev/app/util.py", content=b64(b"X = 1\n"), format=ImportFormat.AUTO)
    status = w.workspace.get_status("/dev/app/q")
    assert (status.object_type, status.language) == (ObjectType.NOTEBOOK, Language.SQL)
    util = w.workspace.get_status("/Workspace/dev/app/util.py")
    assert util.object_type == ObjectType.FILE and util.size == 6 and util.modified_at and util.language is None
    exported = w.workspace.export("/Workspace/dev/app/nb", format=ExportFormat.SOURCE)
    assert base64.b64decode(exported.content) == b"# Databricks notebook source\nprint(1)\n"
    assert exported.file_type == "py"
    assert w.workspace.export("/Workspace/dev/app/util.py").file_type in ("", None)
    names = {o.path: o.object_type for o in w.workspace.list("/Workspace/dev/app")}
    assert names == {"/dev/app/nb": ObjectType.NOTEBOOK, "/dev/app/q": ObjectType.NOTEBOOK,
                     "/dev/app/util.py": ObjectType.FILE}
    with pytest.raises(ResourceAlreadyExists):  # an object (not a directory) at a prefix
        w.workspace.mkdirs("/Workspace/dev/app/util.py/sub")
    with pytest.raises(DatabricksError) as info:
        w.workspace.delete("/Workspace/dev/app")
    assert info.value.error_code == "DIRECTORY_NOT_EMPTY"
    with pytest.raises(NotFound, match=r"Path \(/dev/none\) doesn't exist"):  # the parent must exist
        w.workspace.import_("/Workspace/dev/none/x", content=b64(b"1"), format=ImportFormat.AUTO)
    w.workspace.delete("/Workspace/dev/app", recursive=True)
    with pytest.raises(NotFound):
        w.workspace.get_status("/Workspace/dev/app/nb")


def test_directory_archives_and_sdk_upload_download(test_ws: EmulatorServer) -> None:
    w = test_ws.client()
    w.workspace.mkdirs("/Workspace/dev/d/sub")
    w.workspace.upload("/Workspace/dev/d/sub/nb.scala", io.BytesIO(b"// Databricks notebook source\nval x = 1"),
                       format=ImportFormat.AUTO)  # multipart/form-data, as the SDK posts it
    w.workspace.upload("/Workspace/dev/d/data.bin", io.BytesIO(b"\x00\xff"), format=ImportFormat.AUTO)
    assert w.workspace.download("/Workspace/dev/d/data.bin").read() == b"\x00\xff"  # direct_download
    auto = w.workspace.export("/Workspace/dev/d", format=ExportFormat.AUTO)
    assert auto.file_type == "zip"
    with zipfile.ZipFile(io.BytesIO(base64.b64decode(auto.content))) as z:
        assert sorted(z.namelist()) == ["data.bin", "sub/nb.scala"]  # AUTO includes workspace files
        assert z.read("data.bin") == b"\x00\xff"
    source = w.workspace.export("/Workspace/dev/d", format=ExportFormat.SOURCE)
    with zipfile.ZipFile(io.BytesIO(base64.b64decode(source.content))) as z:
        assert z.namelist() == ["sub/nb.scala"]  # SOURCE: notebooks only
    with pytest.raises(DatabricksError):
        w.workspace.export("/Workspace/dev/d", format=ExportFormat.JUPYTER)
    w.workspace.import_("/Workspace/dev/j", content=b64(b'{"cells": [], "nbformat": 4}'), format=ImportFormat.JUPYTER)
    assert w.workspace.get_status("/Workspace/dev/j").language == Language.PYTHON
    assert w.workspace.export("/Workspace/dev/j", format=ExportFormat.AUTO).file_type == "ipynb"


def test_import_over_the_size_limit_is_refused(test_ws: EmulatorServer) -> None:
    w = test_ws.client()
    w.workspace.mkdirs("/Workspace/dev")
    with pytest.raises(DatabricksError) as info:
        w.workspace.import_("/Workspace/dev/big", content=b64(b"#" * (MAX_CONTENT + 1)), format=ImportFormat.AUTO)
    assert info.value.error_code == "MAX_NOTEBOOK_SIZE_EXCEEDED"
    with pytest.raises(NotFound):
        w.workspace.get_status("/Workspace/dev/big")
