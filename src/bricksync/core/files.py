"""Workspace objects a job runs, as files under state/files/: naming, reading back, checks. Pure.

The layout is the Databricks CLI's `workspace export-dir` / `import-dir` convention (databricks/cli
cmd/workspace/workspace/export_dir.go, libs/notebook/detect.go and ext.go): a notebook is stored in
SOURCE format with its language's extension (.py, .r, .scala, .sql) and that language's header as
its first line (`# Databricks notebook source`, `// ...` for Scala, `-- ...` for SQL); a Jupyter
notebook keeps `.ipynb`; a workspace file is stored byte for byte under its own name. Reading back
follows detect.go: an extension with the header on the first line is a notebook (the extension is
not part of its workspace name), `.ipynb` is a Jupyter notebook, anything else a file.

state/files/ mirrors the workspace below `source.notebook_root`: `/Workspace/dev/sales/ingest` (a
Python notebook) is `state/files/sales/ingest.py`.
"""

from __future__ import annotations

import hashlib
import posixpath
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from .references import canonical_path, is_under
from .secrets import SECRET_REF_RE, secret_key, shape_of

MAX_IMPORT_BYTES = 10 * 1024 * 1024  # workspace/import: "The content is limited to 10 MB"
NOTEBOOK, FILE = "NOTEBOOK", "FILE"
SOURCE, JUPYTER = "SOURCE", "JUPYTER"
EXTENSIONS = {"PYTHON": ".py", "R": ".r", "SCALA": ".scala", "SQL": ".sql"}
HEADERS = {"PYTHON": "# Databricks notebook source", "R": "# Databricks notebook source",
           "SCALA": "// Databricks notebook source", "SQL": "-- Databricks notebook source"}
_BY_EXTENSION = {ext: lang for lang, ext in EXTENSIONS.items()}
NOT_COPIED = ".bricksync-not-copied"  # state/files/ entry: paths export left out on purpose (Git folders)


@dataclass(frozen=True)
class ObjectKind:
    """What a workspace object is: a notebook (its language, SOURCE or JUPYTER) or a file."""

    object_type: str  # NOTEBOOK | FILE
    language: str = ""  # notebooks only
    fmt: str = ""  # SOURCE | JUPYTER for notebooks

    def describe(self) -> str:
        if self.object_type == FILE:
            return "file"
        return "Jupyter notebook" if self.fmt == JUPYTER else f"{self.language.lower()} notebook"


@dataclass
class FileDoc:
    """One object as state/files/ holds it."""

    rel: str  # the workspace path below the notebook root: sales/ingest
    kind: ObjectKind
    data: bytes
    file: str = ""  # as shown: state/files/sales/ingest.py
    jobs: list[str] = field(default_factory=list)  # keys of the jobs that use it

    @property
    def sha(self) -> str:
        return content_hash(self.data)


def content_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def state_name(rel: str, kind: ObjectKind) -> str:
    """The file name (below state/files/) of a workspace object below the root."""
    if kind.object_type == NOTEBOOK:
        return rel + (".ipynb" if kind.fmt == JUPYTER else EXTENSIONS[kind.language])
    return rel


def read_name(name: str, data: bytes) -> tuple[str, ObjectKind]:
    """(workspace path below the root, kind) of a file under state/files/ (detect.go's rules)."""
    base, ext = posixpath.splitext(name)
    lower = ext.lower()
    if lower == ".ipynb":
        return base, ObjectKind(NOTEBOOK, "PYTHON", JUPYTER)  # "For Jupyter notebooks, this is always PYTHON"
    language = _BY_EXTENSION.get(lower)
    if language and first_line(data) == HEADERS[language]:
        return base, ObjectKind(NOTEBOOK, language, SOURCE)
    return name, ObjectKind(FILE)


def first_line(data: bytes) -> str:
    return data[:64].split(b"\n", 1)[0].rstrip(b"\r").decode("utf-8", "replace")


def with_header(data: bytes, language: str) -> bytes:
    """A SOURCE notebook's text with its header line (the workspace adds it on export)."""
    header = HEADERS[language].encode()
    return data if data.split(b"\n", 1)[0].rstrip(b"\r") == header else header + b"\n" + data


def relative(path: str, root: str) -> str | None:
    """`path` below `root` (in either spelling), or None when it is not below it."""
    if not is_under(path, root):
        return None
    rel = canonical_path(path)[len(canonical_path(root).rstrip("/")):].lstrip("/")
    return rel or None


def source_path(rel: str, root: str) -> str:
    return root.rstrip("/") + "/" + rel


# --- problems a name or a content can have -------------------------------------------------

def name_problem(rel: str) -> str | None:
    """Why a path below the root cannot be a state file name (None: it can)."""
    parts = rel.split("/")
    if rel == NOT_COPIED:
        return f"is the name bricksync keeps for its own list ({NOT_COPIED})"
    if any(p in ("", ".", "..") for p in parts):
        return "has an empty, '.' or '..' segment"
    if any(c in rel for c in "\\\0") or any(ord(c) < 32 for c in rel):
        return "holds a backslash or a control character"
    return None


def content_problems(doc: FileDoc) -> list[str]:
    """Why this content cannot be written to a workspace as it is."""
    out = []
    if len(doc.data) > MAX_IMPORT_BYTES:
        out.append(f"is {len(doc.data):,} bytes: over the workspace import limit of {MAX_IMPORT_BYTES:,} bytes")
    if doc.kind.object_type == NOTEBOOK:
        try:
            doc.data.decode("utf-8")
        except UnicodeDecodeError as exc:
            out.append(f"is a notebook whose source is not UTF-8 (byte {exc.start})")
    return out


def round_trip_problem(rel: str, kind: ObjectKind, data: bytes) -> str | None:
    """A stored object must read back as itself: a workspace file named like a notebook with the
    notebook header (or a `.ipynb` file) would be imported as a notebook."""
    back, back_kind = read_name(state_name(rel, kind), data)
    if (back, back_kind) == (rel, kind):
        return None
    return (f"is a {kind.describe()} that state/files/ would read back as a {back_kind.describe()} "
            f"'{back}'; rename it in the workspace")


def case_collisions(names: Iterable[str]) -> list[tuple[str, str]]:
    """State file names equal but for case: a checkout on macOS or Windows keeps only one."""
    folded: dict[str, str] = {}
    out = []
    for name in sorted(set(names)):
        other = folded.setdefault(name.lower(), name)
        if other != name:
            out.append((other, name))
    return out


def folder_collisions(rels: Iterable[str]) -> list[tuple[str, str]]:
    """(object, object below it): a workspace path cannot be an object and a folder at once."""
    paths = set(rels)
    out = []
    for rel in sorted(paths):
        parent = posixpath.dirname(rel)
        while parent:
            if parent in paths:
                out.append((parent, rel))
            parent = posixpath.dirname(parent)
    return out


def below(paths: Iterable[str]) -> dict[str, list[str]]:
    """Every folder above each path -> the paths below it (a dbt project folder's content), built once:
    looking them up per use would compare every use with every file."""
    out: dict[str, list[str]] = {}
    for path in paths:
        parent = posixpath.dirname(path)
        while parent and parent != "/":
            out.setdefault(parent, []).append(path)
            parent = posixpath.dirname(parent)
    return out


# --- what notebooks run: %run ---------------------------------------------------------------

_RUN_RE = re.compile(r"^\s*(?:(?:#|--|//)\s*MAGIC\s+)?%run\s+(?:\"([^\"]+)\"|'([^']+)'|(\S+))", re.MULTILINE)


def run_targets(notebook_path: str, data: bytes) -> list[str]:
    """The notebooks a notebook `%run`s (relative ones resolved against its folder), in order."""
    text = data.decode("utf-8", "replace")
    if "%run" not in text:
        return []
    out = []
    for match in _RUN_RE.finditer(text):
        target = next(g for g in match.groups() if g)
        if not target.startswith("/"):
            target = posixpath.join(posixpath.dirname(notebook_path), target)
        out.append(posixpath.normpath(target))
    return list(dict.fromkeys(out))


# --- secrets in content ---------------------------------------------------------------------

_ASSIGN_RE = re.compile(r"""([A-Za-z_][\w.-]*)["']?\s*[:=]\s*["']([^"'\n]{4,})["']""")


def secret_lines(data: bytes) -> Iterator[tuple[int, str]]:
    """(1-based line, why) for every line that looks like it holds a credential; never the value."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return
    if shape_of(text) is None and not any(secret_key(m[1]) for m in _ASSIGN_RE.finditer(text)):
        return  # the whole text at once: most files hold nothing (line by line costs ~1 s per 3,000 files)
    for number, line in enumerate(text.splitlines(), 1):
        kind = shape_of(line)
        if kind:
            yield number, f"a value that looks like a credential ({kind})"
            continue
        for match in _ASSIGN_RE.finditer(SECRET_REF_RE.sub("", line)):
            if secret_key(match[1]) and not match[2].startswith(("{{", "${", "dbutils")):
                yield number, f"a literal value assigned to '{match[1]}'; read it with dbutils.secrets.get"
                break
