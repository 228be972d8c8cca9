"""The Workspace API's object tree: notebooks, files and folders (import, export, get-status, list,
mkdirs, delete), as https://docs.databricks.com/api/workspace/workspace documents them.

Facts each rule follows (the docs pages workspace-objects/v1/{import,export,list,get-status,mkdirs,
delete}.md, and databricks-sdk 0.167 service/workspace.py's docstrings, which are generated from them):
- import: `content` is base64, "limited to 10 MB. If the limit is exceeded, the call fails with error code
  MAX_NOTEBOOK_SIZE_EXCEEDED"; "If path already exists and overwrite is set to false, this call returns
  an error RESOURCE_ALREADY_EXISTS"; format SOURCE (the default) needs `language` for one object and
  imports a directory (a zip archive) without it; JUPYTER is an .ipynb; AUTO decides "depending on an
  analysis of the item's extension and the header content ... If the item is imported as a notebook,
  then the item's extension is automatically removed" (the header lines are the Databricks CLI's,
  libs/notebook/detect.go); RAW is a workspace file as is. A missing parent folder is
  RESOURCE_DOES_NOT_EXIST "Path (<parent>) doesn't exist." (terraform-provider-databricks
  workspace/resource_notebook.go matches that text to create the parent and retry).
- export: "If path does not exist, this call returns an error RESOURCE_DOES_NOT_EXIST"; SOURCE is the
  default; "Exporting a directory is only supported for the DBC, SOURCE, and AUTO format": SOURCE and DBC
  "Directory exports will not include non-notebook entries", AUTO "Directory exports will include
  notebooks and workspace files"; ExportResponse.file_type is "py for a Python notebook exported as
  SOURCE, ipynb for JUPYTER, html for HTML, dbc for DBC, and zip for a directory exported as SOURCE or
  AUTO. It is empty for workspace files"; `direct_download=true` answers with the bytes themselves
  (databricks-sdk's workspace.download sends it and reads the raw body); over 10 MB is
  MAX_NOTEBOOK_SIZE_EXCEEDED.
- get-status / list: ObjectInfo with object_type (NOTEBOOK, DIRECTORY, LIBRARY, FILE, REPO, DASHBOARD),
  language "set only if the object type is NOTEBOOK. For Jupyter (.ipynb) notebooks, this is always
  PYTHON", object_id, and for files created_at / modified_at / size ("Only applicable to files");
  directory_info.is_git_folder (a Git folder with Git CLI access; a plain one is object_type REPO).
  list "Lists the contents of a directory, or the object if it is not a directory".
- mkdirs: creates parents; "If there is an object (not a directory) at any prefix of the input path,
  this call returns an error RESOURCE_ALREADY_EXISTS".
- delete: RESOURCE_DOES_NOT_EXIST for a missing path, DIRECTORY_NOT_EMPTY for a non-empty directory
  without `recursive`.
`/Workspace/x` and `/x` name one object (the workspace file system's two spellings).
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import re
import time
import zipfile
from collections.abc import Callable
from typing import Any

from .errors import ApiError, already_exists, invalid, not_found

MAX_CONTENT = 10 * 1024 * 1024  # bytes, import and export alike
LANGUAGES = ("PYTHON", "SQL", "SCALA", "R")
HEADERS = {"PYTHON": "# Databricks notebook source", "R": "# Databricks notebook source",
           "SCALA": "// Databricks notebook source", "SQL": "-- Databricks notebook source"}
EXTENSIONS = {"PYTHON": ".py", "R": ".r", "SCALA": ".scala", "SQL": ".sql"}
_BY_EXTENSION = {".py": "PYTHON", ".r": "R", ".scala": "SCALA", ".sql": "SQL"}
_CELL = {"PYTHON": "# COMMAND ----------", "R": "# COMMAND ----------", "SCALA": "// COMMAND ----------",
         "SQL": "-- COMMAND ----------"}


class RawBody(bytes):
    """A response sent as the bytes themselves (export with direct_download=true)."""


def too_large(what: str) -> ApiError:
    return ApiError(400, "MAX_NOTEBOOK_SIZE_EXCEEDED", f"{what} exceeds the limit of {MAX_CONTENT} bytes.")


def notebook_kind(name: str, data: bytes) -> tuple[str, str] | None:
    """(language, format) when AUTO import takes `name` with `data` for a notebook, else None."""
    lower = name.lower()
    if lower.endswith(".ipynb"):
        return "PYTHON", "JUPYTER"
    for ext, language in _BY_EXTENSION.items():
        if lower.endswith(ext) and data.split(b"\n", 1)[0].rstrip(b"\r").decode("utf-8", "replace") == \
                HEADERS[language]:
            return language, "SOURCE"
    return None


def _strip_ext(name: str) -> str:
    return re.sub(r"\.(py|r|scala|sql|ipynb)$", "", name, flags=re.IGNORECASE)


def to_source(obj: dict) -> bytes:
    """A notebook in SOURCE format: with its header line, cells split by COMMAND lines."""
    data = base64.b64decode(obj.get("content", ""))
    lang = obj.get("language", "PYTHON")
    if obj.get("format") != "JUPYTER":  # a SOURCE export always opens with the header line
        return data if data.split(b"\n", 1)[0].rstrip(b"\r") == HEADERS[lang].encode() else \
            HEADERS[lang].encode() + b"\n" + data
    try:
        cells = ["".join(c.get("source", "")) if isinstance(c.get("source"), list) else str(c.get("source", ""))
                 for c in json.loads(data or b"{}").get("cells", [])]
    except (ValueError, AttributeError):
        cells = [data.decode("utf-8", "replace")]
    return (HEADERS[lang] + "\n" + f"\n\n{_CELL[lang]}\n\n".join(cells)).encode()


def to_jupyter(obj: dict) -> bytes:
    data = base64.b64decode(obj.get("content", ""))
    if obj.get("format") == "JUPYTER":
        return data
    lang = obj.get("language", "PYTHON")
    text = data.decode("utf-8", "replace")
    if text.startswith(HEADERS[lang]):
        text = text[len(HEADERS[lang]):].lstrip("\n")
    cells = [c.strip("\n") for c in text.split(_CELL[lang])]
    doc = {"cells": [{"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None,
                      "source": c} for c in cells],
           "metadata": {"language_info": {"name": lang.lower()}}, "nbformat": 4, "nbformat_minor": 0}
    return json.dumps(doc, indent=1).encode()


class WorkspaceTree:
    """The objects of one workspace by normalized path; `objects` is shared with the snapshot."""

    def __init__(self, objects: dict[str, dict], new_id: Callable[[], int]):
        self.objects = objects
        self._new_id = new_id

    @staticmethod
    def norm(path: Any) -> str:
        if not isinstance(path, str) or not path.startswith("/"):
            raise invalid(f"Path ({path}) doesn't start with '/'")
        path = re.sub(r"/+", "/", path).rstrip("/") or "/"
        if path == "/Workspace" or path.startswith("/Workspace/"):  # the same tree, two spellings
            path = path[len("/Workspace"):] or "/"
        return path

    def _require(self, path: Any) -> tuple[str, dict]:
        norm = self.norm(path)
        obj = self.objects.get(norm)
        if obj is None:
            raise not_found(f"Path ({path}) doesn't exist.")
        return norm, obj

    def _children(self, norm: str) -> list[str]:
        prefix = norm.rstrip("/") + "/"
        return sorted(p for p in self.objects if p.startswith(prefix) and p != norm)

    # --- mkdirs / delete -------------------------------------------------------------------
    def mkdirs(self, path: Any) -> dict:
        current = ""
        for part in self.norm(path).strip("/").split("/"):
            if not part:
                continue
            current += "/" + part
            existing = self.objects.get(current)
            if existing and existing["object_type"] not in ("DIRECTORY", "REPO"):
                raise already_exists(f"Path ({current}) already exists and is not a directory.")
            if not existing:
                self.objects[current] = {"object_type": "DIRECTORY", "path": current, "object_id": self._new_id()}
        return {}

    def delete(self, body: dict) -> dict:
        norm, _ = self._require(body.get("path"))
        children = self._children(norm)
        if children and not body.get("recursive"):
            raise ApiError(400, "DIRECTORY_NOT_EMPTY", f"Folder ({norm}) is not empty.")
        for p in [*children, norm]:
            self.objects.pop(p, None)
        return {}

    # --- import ----------------------------------------------------------------------------
    def import_(self, body: dict) -> dict:
        path = self.norm(body.get("path"))
        data = _decode(body.get("content"))
        fmt = body.get("format") or "SOURCE"
        language = body.get("language")
        if language is not None and language not in LANGUAGES:
            raise invalid(f"Invalid language: {language}")
        if fmt in ("SOURCE", "DBC") and language is None and _is_zip(data):
            return self._import_archive(path, data, dbc=fmt == "DBC", overwrite=_flag(body.get("overwrite")))
        if fmt == "SOURCE":
            if language is None:
                raise invalid("The language field is required when importing a single object in SOURCE format.")
            record = {"object_type": "NOTEBOOK", "language": language, "format": "SOURCE"}
        elif fmt == "JUPYTER":
            try:
                json.loads(data or b"{}")
            except ValueError:
                raise invalid("The content is not a valid Jupyter notebook.") from None
            record = {"object_type": "NOTEBOOK", "language": "PYTHON", "format": "JUPYTER"}
        elif fmt == "AUTO":
            kind = notebook_kind(path, data)
            if kind:
                path = _strip_ext(path)
                record = {"object_type": "NOTEBOOK", "language": kind[0], "format": kind[1]}
            else:
                record = {"object_type": "FILE"}
        elif fmt == "RAW":
            record = {"object_type": "FILE"}
        else:
            raise invalid(f"Import format {fmt} is not supported by this emulator.")
        self._put(path, record, data, overwrite=_flag(body.get("overwrite")))
        return {}

    def _put(self, path: str, record: dict, data: bytes, *, overwrite: bool) -> None:
        existing = self.objects.get(path)
        if existing is not None and (not overwrite or existing["object_type"] in ("DIRECTORY", "REPO")):
            raise already_exists(f"Path ({path}) already exists.")
        parent = path.rsplit("/", 1)[0] or "/"
        if self.objects.get(parent, {}).get("object_type") not in ("DIRECTORY", "REPO"):
            raise not_found(f"Path ({parent}) doesn't exist.")
        same = existing is not None and existing["object_type"] == record["object_type"]
        now = int(time.time() * 1000)
        out = {**record, "path": path, "object_id": existing["object_id"] if same else self._new_id(),
               "content": base64.b64encode(data).decode()}
        if record["object_type"] == "FILE":
            out.update(created_at=existing.get("created_at", now) if same else now, modified_at=now, size=len(data))
        self.objects[path] = out

    def _import_archive(self, root: str, data: bytes, *, dbc: bool, overwrite: bool) -> dict:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            entries = [(n, archive.read(n)) for n in archive.namelist() if not n.endswith("/")]
        self.mkdirs(root)
        for name, content in entries:
            if ".." in name.split("/") or name.startswith("/"):
                raise invalid(f"Archive entry {name} escapes {root}.")
            path = f"{root}/{name}"
            self.mkdirs(path.rsplit("/", 1)[0])
            if dbc:
                doc = json.loads(content)
                lang = str(doc.get("language", "python")).upper()
                cells = "\n\n".join(str(c.get("command", "")) for c in doc.get("commands", []))
                self._put(re.sub(r"\.\w+$", "", path), {"object_type": "NOTEBOOK", "language": lang, "format": "SOURCE"},
                          (HEADERS[lang] + "\n" + cells).encode(), overwrite=overwrite)
                continue
            kind = notebook_kind(name, content)
            if kind is None:
                continue  # "Directory exports [SOURCE] will not include non-notebook entries": nor imports
            self._put(_strip_ext(path), {"object_type": "NOTEBOOK", "language": kind[0], "format": kind[1]},
                      content, overwrite=overwrite)
        return {}

    # --- reading ---------------------------------------------------------------------------
    def get_status(self, path: Any) -> dict:
        _, obj = self._require(path)
        return _info(obj)

    def list(self, path: Any) -> dict:
        norm, obj = self._require(path)
        if obj["object_type"] not in ("DIRECTORY", "REPO"):
            return {"objects": [_info(obj)]}
        prefix = norm.rstrip("/") + "/"
        children = [_info(o) for p, o in sorted(self.objects.items())
                    if p.startswith(prefix) and "/" not in p[len(prefix):] and p != norm]
        return {"objects": children} if children else {}

    def export(self, query: dict) -> dict | RawBody:
        norm, obj = self._require(query.get("path"))
        fmt = query.get("format") or "SOURCE"
        if obj["object_type"] in ("DIRECTORY", "REPO"):
            if fmt not in ("SOURCE", "DBC", "AUTO"):
                raise invalid(f"Exporting a directory is only supported for the DBC, SOURCE and AUTO formats, "
                              f"not {fmt}.")
            data, file_type = self._archive(norm, fmt), ("dbc" if fmt == "DBC" else "zip")
        elif obj["object_type"] == "FILE":
            data, file_type = base64.b64decode(obj.get("content", "")), ""
        else:
            data, file_type = self._notebook(obj, fmt)
        if len(data) > MAX_CONTENT:
            raise too_large(f"The exported content of {norm}")
        if _flag(query.get("direct_download")):
            return RawBody(data)
        return {"content": base64.b64encode(data).decode(), "file_type": file_type}

    @staticmethod
    def _notebook(obj: dict, fmt: str) -> tuple[bytes, str]:
        lang = obj.get("language", "PYTHON")
        if fmt == "AUTO":  # the notebook's own format
            fmt = "JUPYTER" if obj.get("format") == "JUPYTER" else "SOURCE"
        if fmt == "SOURCE":
            return to_source(obj), EXTENSIONS[lang].lstrip(".")
        if fmt == "JUPYTER":
            return to_jupyter(obj), "ipynb"
        if fmt == "DBC":
            return _dbc_entry(obj), "dbc"
        raise invalid(f"Export format {fmt} is not supported by this emulator.")

    def _archive(self, norm: str, fmt: str) -> bytes:
        """A zip of everything below `norm`: notebooks with their language's extension (AUTO: in their
        own format), workspace files as they are (AUTO only)."""
        out = io.BytesIO()
        written: set[str] = set()

        def put(name: str, data: bytes) -> None:  # a notebook x (x.py) beside a file x.py: one entry
            if name not in written:
                written.add(name)
                archive.writestr(name, data)

        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
            for path in self._children(norm):
                obj = self.objects[path]
                rel = path[len(norm.rstrip("/")) + 1:]
                if obj["object_type"] == "NOTEBOOK":
                    if fmt == "DBC":
                        put(rel + "." + obj.get("language", "PYTHON").lower(), _dbc_entry(obj))
                        continue
                    data, ext = self._notebook(obj, fmt)
                    put(f"{rel}.{ext}", data)
                elif obj["object_type"] == "FILE" and fmt == "AUTO":
                    put(rel, base64.b64decode(obj.get("content", "")))
        return out.getvalue()


def _dbc_entry(obj: dict) -> bytes:
    lang = obj.get("language", "PYTHON")
    text = to_source(obj).decode("utf-8", "replace")
    text = text[len(HEADERS[lang]):].lstrip("\n") if text.startswith(HEADERS[lang]) else text
    commands = [{"command": c.strip("\n")} for c in text.split(_CELL[lang])]
    return json.dumps({"name": obj["path"].rsplit("/", 1)[-1], "language": lang.lower(),
                       "commands": commands}).encode()


def _info(obj: dict) -> dict:
    out = {k: v for k, v in obj.items() if k not in ("content", "format")}
    if obj["object_type"] == "DIRECTORY":
        out.setdefault("directory_info", {"is_git_folder": False})
    return out


def _decode(content: Any) -> bytes:
    if content is None:
        return b""  # "This parameter might be absent, and instead a posted file is used."
    if not isinstance(content, str):
        raise invalid("content must be a base64-encoded string")
    if len(content) * 3 // 4 > MAX_CONTENT + 3:
        raise too_large("The content")
    try:
        data = base64.b64decode(content, validate=True)
    except (binascii.Error, ValueError):
        raise invalid("content is not valid base64") from None
    if len(data) > MAX_CONTENT:
        raise too_large("The content")
    return data


def _is_zip(data: bytes) -> bool:
    return data[:4] == b"PK\x03\x04"


def _flag(value: Any) -> bool:
    return value is True or str(value).lower() == "true"


def multipart_fields(raw: bytes, content_type: str) -> dict:
    """The fields of a multipart/form-data body, as databricks-sdk's workspace.upload posts an import
    (`files={"content": ...}` beside the other fields): `content` arrives base64-encoded, as in a JSON body."""
    from email.parser import BytesParser
    from email.policy import HTTP

    message = BytesParser(policy=HTTP).parsebytes(b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + raw)
    out: dict[str, Any] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        data = part.get_payload(decode=True) or b""
        out[str(name)] = base64.b64encode(data).decode() if name == "content" else data.decode()
    return out
