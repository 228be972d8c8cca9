"""state/files/ vs the target's workspace objects -> file actions of the Plan. Pure.

A file is managed when the target's files index (written by apply, see commands/fileflow.py) names
it: bricksync wrote it there. An object at a desired path that bricksync did not write is a
conflict (never overwritten), taken over only with --adopt, as an unmanaged job is.

Cost: the caller lists each folder in use once (ObjectInfo: type, object_id, and for workspace
files size and modified_at, all set by the server) and reads content only for the paths
`to_read` names; a no-op plan reads none. What the index alone vouches for (a notebook whose
recorded hash equals state's, same object_id) is not read: `drift` reads every one.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field

from .files import FILE, NOTEBOOK, FileDoc, content_hash, state_name

MAX_DIFF_LINES = 120  # lines of unified diff shown per file; the counts cover the whole change


@dataclass(frozen=True)
class LiveObject:
    """A target object as workspace/list describes it (content: read only when needed)."""

    path: str
    object_type: str
    object_id: int | None = None
    modified_at: int | None = None
    size: int | None = None
    language: str | None = None


@dataclass(frozen=True)
class Indexed:
    """What the files index recorded when bricksync last wrote (or saw) the object."""

    sha: str
    object_id: int | None = None
    modified_at: int | None = None


@dataclass(frozen=True)
class Wanted:
    """A state file rendered for the target: its rewritten path and content."""

    path: str
    doc: FileDoc


@dataclass
class FileAction:
    path: str  # in the target
    action: str  # create | update | adopt | no-op | orphan | conflict
    file: str = ""  # state/files/... as shown
    name: str = ""  # its name below state/files/ (apply reads the content from there)
    kind: str = ""  # "python notebook", "file", ...
    object_type: str = ""
    language: str = ""
    fmt: str = ""
    jobs: list[str] = field(default_factory=list)
    sha: str = ""  # of the content to write
    size: int = 0
    binary: bool = False
    before_sha: str = ""  # of the live content, where read
    before_size: int | None = None
    diff: list[str] = field(default_factory=list)
    added: int = 0
    removed: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def writes(self) -> bool:
        return self.action in ("create", "update", "adopt")

    def to_dict(self) -> dict:
        return asdict(self)


def is_binary(data: bytes) -> bool:
    if b"\0" in data[:8192]:
        return True
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return False


def text_diff(before: bytes, after: bytes, path: str, limit: int = MAX_DIFF_LINES) -> tuple[list[str], int, int]:
    """(unified diff lines, at most `limit`, then a line saying how many more; lines added; removed)."""
    lines = list(difflib.unified_diff(before.decode("utf-8").splitlines(), after.decode("utf-8").splitlines(),
                                      f"live:{path}", f"state:{path}", lineterm="", n=2))
    added = sum(1 for ln in lines if ln.startswith("+") and not ln.startswith("+++"))
    removed = sum(1 for ln in lines if ln.startswith("-") and not ln.startswith("---"))
    if len(lines) > limit:
        lines = [*lines[:limit], f"... {len(lines) - limit} more diff lines ({added} added, {removed} removed in all)"]
    return lines, added, removed


def to_read(wanted: list[Wanted], live: Mapping[str, LiveObject], index: Mapping[str, Indexed], *,
            every: bool = False) -> list[str]:
    """Target paths whose live content the plan must read: those the index does not vouch for.
    `every`: all managed ones that exist (drift)."""
    out = []
    for w in wanted:
        obj = live.get(w.path)
        if obj is None or obj.object_type not in (NOTEBOOK, FILE):
            continue
        if every or not vouched(w, obj, index.get(w.path)):
            out.append(w.path)
    return out


def vouched(w: Wanted, obj: LiveObject, entry: Indexed | None) -> bool:
    """The index says bricksync wrote exactly this content into this very object, and nothing the
    server sets (object_id; modified_at and size for files) says it changed since."""
    if entry is None or entry.sha != w.doc.sha or entry.object_id != obj.object_id:
        return False
    if obj.object_type == FILE and (obj.modified_at != entry.modified_at or obj.size != len(w.doc.data)):
        return False
    return obj.object_type == w.doc.kind.object_type


# long: one pass deciding each desired file's action, then the orphans
def plan_files(wanted: list[Wanted], live: Mapping[str, LiveObject], index: Mapping[str, Indexed],
               contents: Mapping[str, bytes], *, adopt: bool = False) -> list[FileAction]:
    """The file actions, sorted by path. `contents`: live content of the paths `to_read` named."""
    out = []
    for w in sorted(wanted, key=lambda x: x.path):
        doc = w.doc
        action = FileAction(w.path, "create", file=doc.file, name=state_name(doc.rel, doc.kind), kind=doc.kind.describe(),
                            object_type=doc.kind.object_type, language=doc.kind.language, fmt=doc.kind.fmt,
                            jobs=sorted(doc.jobs), sha=doc.sha, size=len(doc.data), binary=is_binary(doc.data))
        obj = live.get(w.path)
        entry = index.get(w.path)
        if obj is not None and obj.object_type not in (NOTEBOOK, FILE):
            action.action = "conflict"
            action.notes.append(f"a {obj.object_type.lower()} is at this path in the target; left alone")
        elif obj is not None and entry is None:
            if not adopt:
                action.action = "conflict"
                action.notes.append("an object bricksync did not write is at this path; left alone. "
                                    "Use --adopt to take it over (its content is replaced by state's).")
            else:
                action.action = "adopt"
                action.notes.append("adopts an object bricksync did not write")
        if obj is not None and action.action != "conflict":
            if action.action != "adopt":
                action.action = "update"
            if entry is not None and entry.object_id != obj.object_id:
                action.notes.append("replaced in the target since bricksync wrote it")
            if w.path in contents:
                _compare(action, contents[w.path], doc, obj)
            elif vouched(w, obj, entry):
                action.action = "no-op"
        out.append(action)
    wanted_paths = {w.path for w in wanted}
    for path in sorted(set(index) - wanted_paths):
        if path in live:
            out.append(FileAction(path, "orphan", kind=live[path].object_type.lower(),
                                  notes=["written by bricksync, no state file uses it now; deleted only with --prune"]))
    return out


def _compare(action: FileAction, before: bytes, doc: FileDoc, obj: LiveObject) -> None:
    action.before_sha, action.before_size = content_hash(before), len(before)
    same_kind = obj.object_type == doc.kind.object_type and (
        obj.object_type != NOTEBOOK or not obj.language or obj.language == doc.kind.language)
    if before == doc.data and same_kind:
        if action.action == "update":
            action.action = "no-op"
        return
    if not same_kind:
        action.notes.append(f"is a {obj.object_type.lower()}{' (' + obj.language.lower() + ')' if obj.language else ''}"
                            f" in the target; it becomes a {doc.kind.describe()}")
    if action.binary or is_binary(before):
        action.binary = True
        return
    action.diff, action.added, action.removed = text_diff(before, doc.data, action.path)
