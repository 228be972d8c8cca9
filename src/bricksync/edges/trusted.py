"""Records bricksync must be able to trust, kept where only its own identity (and workspace admins)
may write: `/Users/<identity>/.bricksync/<target>/<name>.json` (issue 25 points 1-2).

Why there: "Users have Can Manage permission on their home folder. All other users have No
Permissions", while "all users have Can Manage permission for objects in the Workspace > Shared
folder" (docs: https://learn.microsoft.com/azure/databricks/security/auth/access-control/workspace-acl,
"Special folders and permissions"; seen in the docs corpus as docs.azure.cn/zh-cn/databricks/security/
access-control/workspace-acl). A service principal's home folder is /Users/<application ID>, its
SCIM userName. The old copies under /Shared/.bricksync (any user could write them) are never read.

Records: `owned` (key -> job id of every job bricksync created or adopted), `permissions` (job id ->
digest of the ACL last applied and seen holding), `files` (path -> what bricksync wrote there),
`write_only` (job id -> digest and values of the write-only fields last sent: core/traps.py).
"""

from __future__ import annotations

import base64
import json
import logging
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from databricks.sdk.errors import DatabricksError, NotFound

from ..core.errors import BricksyncError, Problem
from ..core.escape import one_line

if TYPE_CHECKING:
    from .workspace import Workspace

log = logging.getLogger("bricksync.trusted")

VERSION = 1
_SAFE = re.compile(r"[^A-Za-z0-9._@+-]")  # a target name as one path segment


@dataclass
class Record:
    data: dict[str, Any]
    found: bool = True  # False: no record yet (a first run, or a new identity)
    problem: str = ""  # why it could not be read ("" when it was, or when there is none)


def segment(name: str) -> str:
    """`name` as one path segment: no `/`, never `.` or `..`."""
    safe = _SAFE.sub("_", name)
    return safe if safe.strip(".") else f"_{safe}"


def home_folder(identity: str) -> str:
    """The identity's own home folder, its userName as is: a rewritten spelling (`o'brien` as
    `o_brien`) may be another user's home folder, theirs to write. A name that is not one path
    segment has none bricksync could use."""
    if "/" in identity or not identity.strip(".") or one_line(identity) != identity:
        raise BricksyncError(Problem(f"the identity {one_line(identity)!r} is not one workspace path segment: "
                                     "bricksync keeps its records in that identity's home folder"))
    return f"/Users/{identity}"


def target_folder(identity: str, target: str) -> str:
    """The folder of one target's trusted records (and, with targets.<t>.identity set, its apply lock)."""
    return f"{home_folder(identity)}/.bricksync/{segment(target)}"


class TrustedStore:
    """One target's records under `identity`'s home folder (identity: SCIM Me userName)."""

    def __init__(self, ws: Workspace, identity: str, target: str):
        if not identity:
            raise BricksyncError(Problem("the workspace did not say who the credentials are (SCIM Me has no "
                                         "userName): bricksync keeps its records in that identity's home folder"))
        self.ws = ws
        self.identity = identity
        self.folder = target_folder(identity, target)

    @classmethod
    def for_target(cls, ws: Workspace, target: str) -> TrustedStore:
        return cls(ws, ws.bricksync_identity(), target)

    def path(self, name: str) -> str:
        return f"{self.folder}/{name}.json"

    def read(self, name: str) -> Record:
        """The record's data; empty (found=False) when there is none, empty with `problem` when it
        cannot be read (the callers then read live state: an unreadable record costs calls only)."""
        try:
            answer = self.ws._do("GET", "/api/2.0/workspace/export", query={"path": self.path(name)})
            doc = json.loads(base64.b64decode((answer or {}).get("content", "")) or b"{}")
        except NotFound:
            return Record({}, found=False)
        except (DatabricksError, ValueError) as exc:
            log.warning("bricksync record %s unreadable (%s): treated as empty", self.path(name), type(exc).__name__)
            return Record({}, found=False, problem=type(exc).__name__)
        data = doc.get("data") if isinstance(doc, dict) and doc.get("version") == VERSION else None
        if not isinstance(data, dict):
            return Record({}, found=False, problem="not a bricksync record")
        return Record(data)

    def write(self, name: str, data: dict[str, Any]) -> None:
        body = json.dumps({"version": VERSION, "data": data}, sort_keys=True).encode()
        try:
            self.ws._do("POST", "/api/2.0/workspace/mkdirs", body={"path": self.folder})
            self.ws._do("POST", "/api/2.0/workspace/import", body={
                "path": self.path(name), "format": "AUTO", "content": base64.b64encode(body).decode(),
                "overwrite": True})
        except DatabricksError as exc:
            raise BricksyncError(Problem(f"write {self.path(name)} failed: {exc.error_code or type(exc).__name__}: "
                                         f"{str(exc).splitlines()[0][:300] if str(exc) else ''}")) from None
