"""Notebooks and workspace files in a workspace: the Workspace API calls of `source.files`.

Beside workspace.py (same Workspace object, so the same retries, call counts and error texts).
Reading is by folder: one workspace/list per folder gives every object's type, language,
object_id (and for workspace files size and modified_at, set by the server); content comes
from one workspace/export of the folder as an AUTO archive ("Directory exports will include
notebooks and workspace files": a zip, file_type `zip`) where a folder holds more than one object
to read, else from one export of the object. An archive over the export limit
(MAX_NOTEBOOK_SIZE_EXCEEDED) falls back to one export per object. See emulator/wsfs.py for the
documented behaviour each call relies on.
"""

from __future__ import annotations

import base64
import io
import logging
import posixpath
import zipfile
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor

from databricks.sdk.errors import DatabricksError, NotFound

from ..core.errors import Problem, WorkspaceError
from ..core.fileplan import Indexed, LiveObject
from ..core.files import FILE, JUPYTER, NOTEBOOK, SOURCE, ObjectKind, state_name
from .trusted import Record, TrustedStore
from .workspace import Workspace

log = logging.getLogger("bricksync.files")
READERS = 16  # workspace calls in flight at once (as ACL reads: ACL_READERS)


def _err(exc: DatabricksError, what: str) -> WorkspaceError:
    return WorkspaceError(Problem(f"{what} failed: {exc.error_code or type(exc).__name__}: "
                                  f"{str(exc).splitlines()[0][:300]}"))


def live_object(info: dict) -> LiveObject:
    git = info.get("object_type") == "REPO" or bool((info.get("directory_info") or {}).get("is_git_folder"))
    return LiveObject(str(info.get("path", "")), "REPO" if git else str(info.get("object_type", "")),
                      info.get("object_id"), info.get("modified_at"), info.get("size"), info.get("language"))


class WorkspaceFiles:
    def __init__(self, ws: Workspace):
        self.ws = ws
        self._records: dict[str, Record] = {}  # target -> its files index, read once

    # --- reading --------------------------------------------------------------------------
    def list_folder(self, folder: str) -> list[LiveObject] | None:
        """The objects directly in `folder`; None when it does not exist."""
        try:
            page = self.ws._do("GET", "/api/2.0/workspace/list", query={"path": folder})
        except NotFound:
            return None
        except DatabricksError as exc:
            raise _err(exc, f"list {folder} in the {self.ws.label} workspace") from None
        return [live_object(o) for o in (page or {}).get("objects", [])]

    def list_folders(self, folders: Iterable[str]) -> dict[str, list[LiveObject] | None]:
        todo = sorted(set(folders))
        with ThreadPoolExecutor(max_workers=READERS, thread_name_prefix="files-list") as pool:
            return dict(zip(todo, pool.map(self.list_folder, todo), strict=True))

    def export_one(self, path: str, kind: ObjectKind) -> bytes:
        return self._export_one(path, kind)[0]

    def _export_one(self, path: str, kind: ObjectKind) -> tuple[bytes, str]:
        """(content, file_type). A notebook of unknown format is exported AUTO ("depending on the
        object's type"): file_type `ipynb` says it is kept as a Jupyter notebook."""
        fmt = "JUPYTER" if kind.fmt == JUPYTER else "AUTO"
        try:
            data = self.ws._do("GET", "/api/2.0/workspace/export", query={"path": path, "format": fmt})
        except DatabricksError as exc:
            if exc.error_code == "MAX_NOTEBOOK_SIZE_EXCEEDED":
                raise WorkspaceError(Problem(f"{path} is over the workspace's export limit (10 MB): it cannot be "
                                             "promoted through the Workspace API")) from None
            raise _err(exc, f"export {path} from the {self.ws.label} workspace") from None
        return base64.b64decode((data or {}).get("content", "")), str((data or {}).get("file_type") or "")

    def export_archive(self, folder: str) -> dict[str, bytes] | None:
        """Every notebook and file below `folder` by its name in the archive (notebooks with their
        language's extension); None when the folder is over the export limit."""
        try:
            data = self.ws._do("GET", "/api/2.0/workspace/export", query={"path": folder, "format": "AUTO"})
        except DatabricksError as exc:
            if exc.error_code == "MAX_NOTEBOOK_SIZE_EXCEEDED":
                log.info("%s is over the export limit as one archive: its objects are exported one by one", folder)
                return None
            raise _err(exc, f"export the folder {folder} from the {self.ws.label} workspace") from None
        raw = base64.b64decode((data or {}).get("content", ""))
        with zipfile.ZipFile(io.BytesIO(raw)) as archive:
            return {n: archive.read(n) for n in archive.namelist() if not n.endswith("/")}

    def read_contents(self, objects: dict[str, ObjectKind], errors: dict[str, str] | None = None) -> dict[str, bytes]:
        """Content of each object (workspace path -> bytes): a folder with several objects to read
        in one archive export, the others one export each. `errors`: where given, an object whose
        export fails is named there (path -> why) instead of failing every read."""
        by_folder: dict[str, list[str]] = {}
        for path in objects:
            by_folder.setdefault(posixpath.dirname(path), []).append(path)
        archives = [f for f, members in by_folder.items() if len(members) > 1]
        out: dict[str, bytes] = {}
        with ThreadPoolExecutor(max_workers=READERS, thread_name_prefix="files-read") as pool:
            for folder, archive in zip(archives, pool.map(self.export_archive, archives), strict=True):
                for path in by_folder[folder]:
                    name = state_name(posixpath.basename(path), objects[path])
                    if archive is not None and name in archive:
                        out[path] = archive[name]
                    elif archive is not None and objects[path].object_type == NOTEBOOK and \
                            posixpath.basename(path) + ".ipynb" in archive:  # kept in its Jupyter format
                        out[path] = archive[posixpath.basename(path) + ".ipynb"]
                        objects[path] = ObjectKind(NOTEBOOK, "PYTHON", JUPYTER)
            rest = [p for p in objects if p not in out]

            def one(path: str) -> tuple[bytes, str] | str:
                try:
                    return self._export_one(path, objects[path])
                except WorkspaceError as exc:
                    if errors is None:
                        raise
                    return exc.render()
            for path, got in zip(rest, pool.map(one, rest), strict=True):
                if isinstance(got, str):
                    errors[path] = got  # type: ignore[index]
                    continue
                out[path] = got[0]
                if objects[path].object_type == NOTEBOOK and got[1] == "ipynb":
                    objects[path] = ObjectKind(NOTEBOOK, "PYTHON", JUPYTER)
        return out

    # --- writing --------------------------------------------------------------------------
    def mkdirs(self, folder: str) -> None:
        try:
            self.ws._do("POST", "/api/2.0/workspace/mkdirs", body={"path": folder})
        except DatabricksError as exc:
            raise _err(exc, f"create the folder {folder}") from None

    def write(self, path: str, data: bytes, kind: ObjectKind, *, overwrite: bool = True) -> None:
        """Import one object. `overwrite` only where the plan saw bricksync's own (or an adopted) object:
        a create is sent without it, so an object put there since the plan is refused
        (RESOURCE_ALREADY_EXISTS), never replaced."""
        body: dict = {"path": path, "content": base64.b64encode(data).decode(), "overwrite": overwrite}
        if kind.object_type == FILE:
            body["format"] = "RAW"
        elif kind.fmt == JUPYTER:
            body["format"] = "JUPYTER"
        else:
            body.update(format=SOURCE, language=kind.language)
        try:
            self.ws._do("POST", "/api/2.0/workspace/import", body=body)
        except DatabricksError as exc:
            raise _err(exc, f"write {path}") from None

    def delete(self, path: str) -> None:
        try:
            self.ws._do("POST", "/api/2.0/workspace/delete", body={"path": path, "recursive": False})
        except NotFound:
            return
        except DatabricksError as exc:
            raise _err(exc, f"delete {path}") from None

    # --- the files index (the one place it is read and written) ---------------------------
    def _store(self, target: str) -> TrustedStore:
        return TrustedStore.for_target(self.ws, target)

    def index_path(self, target: str) -> str:
        return self._store(target).path("files")

    def index_trust(self, target: str) -> str:
        """Why the files index cannot be believed ("" when it can). It lives in the trusted store
        (edges/trusted.py: bricksync's home folder, which only its identity and admins may write);
        the old /Shared/.bricksync/files copy, writable by every user, is never read."""
        return self._read(target).problem

    def _read(self, target: str) -> Record:
        """Read once per instance (a plan asks for its trust, then its entries)."""
        if target not in self._records:
            self._records[target] = self._store(target).read("files")
        return self._records[target]

    def read_index(self, target: str) -> dict[str, Indexed]:
        """Target path -> what bricksync last wrote there. Missing or unreadable: empty, so every
        object at a desired path is a conflict until adopted (never silently overwritten)."""
        files = self._read(target).data.get("files")
        out = {}
        for path, entry in (files if isinstance(files, dict) else {}).items():
            if isinstance(entry, dict) and isinstance(entry.get("sha"), str):
                out[str(path)] = Indexed(entry["sha"], entry.get("object_id"), entry.get("modified_at"))
        return out

    def write_index(self, target: str, entries: dict[str, Indexed]) -> None:
        self._records.pop(target, None)
        self._store(target).write("files", {"files": {
            p: {"sha": e.sha, "object_id": e.object_id, "modified_at": e.modified_at}
            for p, e in sorted(entries.items())}})
