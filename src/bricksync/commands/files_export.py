"""`source.files: referenced`: the notebooks and files the exported jobs use, read from the source.

Every workspace path of the path table (core/paths.py) below `source.notebook_root` is collected,
and the notebooks those notebooks `%run`, transitively. What is not copied is said per path:
GIT-sourced tasks (they run from the job's repository), objects in a Git folder, %run targets
outside the root, folders a job only names (parent_path, an MLflow experiment folder). A path a
job uses that is missing, of the wrong kind, too large, holds a secret, or cannot be stored under
a name of its own rejects the jobs that use it: a job is promoted with its code or not at all.

Cost: one workspace/list per folder on the way to the objects (their types and languages come
from the listing), then content by folder archive (edges/wsfiles.py), per round of %run.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..core.errors import BricksyncError, Problem
from ..core.fileplan import LiveObject
from ..core.files import (
    FILE,
    NOT_COPIED,
    NOTEBOOK,
    SOURCE,
    FileDoc,
    ObjectKind,
    below,
    case_collisions,
    content_problems,
    folder_collisions,
    name_problem,
    relative,
    round_trip_problem,
    run_targets,
    secret_lines,
    source_path,
    state_name,
)
from ..core.paths import DIRECTORY, FOLDER, git_sourced_sites, path_sites
from ..core.references import canonical_path
from ..edges.state import StateStore
from ..edges.statefiles import FileStore
from ..edges.wsfiles import WorkspaceFiles

if TYPE_CHECKING:
    from .export_read import ExportResult

MAX_ROUNDS = 50  # %run chains deeper than this are cut (a cycle is followed once anyway)


@dataclass
class Use:
    job: str  # key
    name: str  # job name, for messages
    where: str  # field, or "%run in <notebook>"


@dataclass
class Collected:
    docs: dict[str, FileDoc] = field(default_factory=dict)  # rel -> doc (doc.jobs: keys)
    skipped: list[tuple[str, str, str]] = field(default_factory=list)  # (path, job name, why not copied)
    in_git_folders: set[str] = field(default_factory=set)  # source paths: validate must not miss their files
    problems: dict[str, list[Problem]] = field(default_factory=dict)  # job key -> why it is rejected

    def reject(self, uses: Iterable[Use], message: str, *, file: str | None = None, path: str = "") -> None:
        for use in uses:
            text = f"{path}: {message}" if path else message
            self.problems.setdefault(use.job, []).append(Problem(text, file=file, job=use.name, field=use.where))


class Collector:
    def __init__(self, files: WorkspaceFiles, root: str):
        self.files = files
        self.root = root
        self.listings: dict[str, list[LiveObject] | None] = {}
        self.out = Collected()
        self.uses: dict[str, list[Use]] = {}  # rel -> who uses it
        self.wanted: dict[str, str] = {}  # rel -> what (NOTEBOOK-ish / FILE / DIRECTORY)
        self._resolved: dict[str, ObjectKind] = {}

    def add_job(self, key: str, name: str, settings: dict) -> None:
        for site in git_sourced_sites(settings):
            self.out.skipped.append((str(site.value), name, f"{site.location}: sourced from git_source (runs from "
                                                            "the job's repository)"))
        for site in path_sites(settings):
            path = str(site.value)
            if site.what == FOLDER:
                self.out.skipped.append((path, name, f"{site.location}: a folder the job names, not code it runs"))
                continue
            rel = relative(path, self.root)
            if rel is None:  # export's root check rejects the job already
                continue
            self._want(rel, site.what, Use(key, name, site.location))

    def _want(self, rel: str, what: str, use: Use) -> bool:
        new = rel not in self.uses
        self.uses.setdefault(rel, []).append(use)
        if new:
            self.wanted[rel] = what
        return new

    # long: the rounds of listing, reading and %run following, one pass each
    def collect(self) -> Collected:
        pending = sorted(self.wanted)
        for _ in range(MAX_ROUNDS):
            if not pending:
                break
            kinds = {source_path(r, self.root): k for r, k in self._resolve(pending).items()}
            errors: dict[str, str] = {}
            contents = self.files.read_contents(kinds, errors)  # (a notebook kept as .ipynb comes back JUPYTER)
            pending = []
            for rel in self._resolved:
                if source_path(rel, self.root) in errors:
                    self.out.reject(self.uses[rel], errors[source_path(rel, self.root)])
                    continue
                data, kind = contents[source_path(rel, self.root)], kinds[source_path(rel, self.root)]
                doc = FileDoc(rel, kind, data, file=f"state/files/{state_name(rel, kind)}")
                self.out.docs[rel] = doc
                if kind.object_type == NOTEBOOK:
                    pending += self._follow_runs(rel, data)
        self._check()
        for rel, doc in self.out.docs.items():
            doc.jobs = sorted({u.job for u in self.uses.get(rel, [])})
        return self.out

    def _resolve(self, rels: list[str]) -> dict[str, ObjectKind]:
        """Kinds of these objects from their folders' listings (a directory expands to its content)."""
        found: dict[str, ObjectKind] = {}
        self._resolved = found
        todo = list(rels)
        while todo:
            self._list_chains(todo)
            expand = []
            for rel in todo:
                obj, why = self._lookup(rel)
                uses = self.uses[rel]
                path = source_path(rel, self.root)
                if why:
                    if why.startswith("in a Git folder"):
                        self.out.skipped.extend((path, u.name, f"{u.where}: {why}") for u in uses)
                        self.out.in_git_folders.add(path)
                    else:
                        self.out.reject(uses, why, path=path)
                    continue
                assert obj is not None
                if obj.object_type == "DIRECTORY" and self.wanted[rel] == DIRECTORY:
                    expand.append(rel)
                elif obj.object_type in (NOTEBOOK, FILE) and self.wanted[rel] != DIRECTORY:
                    found[rel] = ObjectKind(NOTEBOOK, obj.language or "PYTHON", SOURCE) \
                        if obj.object_type == NOTEBOOK else ObjectKind(FILE)
                else:
                    wanted = "a folder" if self.wanted[rel] == DIRECTORY else "a notebook or file"
                    self.out.reject(uses, f"is a {obj.object_type.lower()} in the source workspace, not {wanted}",
                                    path=path)
            todo = self._expand(expand)
        return found

    def _expand(self, folders: list[str]) -> list[str]:
        """Members of directories (a dbt project): their objects, and their sub-folders as directories."""
        self.listings.update(self.files.list_folders(source_path(r, self.root) for r in folders
                                                     if source_path(r, self.root) not in self.listings))
        out = []
        for rel in folders:
            for obj in self.listings.get(source_path(rel, self.root)) or []:
                child = f"{rel}/{posixpath.basename(obj.path)}"
                what = DIRECTORY if obj.object_type == "DIRECTORY" else FILE
                for use in self.uses[rel]:
                    if self._want(child, what, Use(use.job, use.name, f"{use.where} (in {rel})")):
                        out.append(child)
        return sorted(set(out))

    def _chain(self, rel: str) -> list[str]:
        parts = rel.split("/")
        return [source_path("/".join(parts[:i]), self.root) if i else self.root.rstrip("/")
                for i in range(len(parts))]

    def _list_chains(self, rels: list[str]) -> None:
        folders = {f for rel in rels for f in self._chain(rel)} - set(self.listings)
        self.listings.update(self.files.list_folders(folders))

    def _lookup(self, rel: str) -> tuple[LiveObject | None, str | None]:
        """The object at `rel` from its parent's listing, or why it cannot be copied."""
        chain = self._chain(rel)
        parts = rel.split("/")
        for depth, folder in enumerate(chain):
            entries = self.listings.get(folder)
            if entries is None:
                return None, "does not exist in the source workspace"
            name = canonical_path(f"{folder}/{parts[depth]}")
            obj = next((o for o in entries if canonical_path(o.path) == name), None)
            if obj is None:
                return None, "does not exist in the source workspace"
            if obj.object_type == "REPO":
                return None, "in a Git folder (its content comes from the folder's repository): not copied"
            if depth == len(parts) - 1:
                return obj, None
        return None, "does not exist in the source workspace"

    def _follow_runs(self, rel: str, data: bytes) -> list[str]:
        out = []
        here = source_path(rel, self.root)
        for target in run_targets(here, data):
            target_rel = relative(target, self.root)
            if target_rel is None:
                for use in self.uses[rel]:
                    self.out.skipped.append((target, use.name, f"%run in {here}: outside notebook_root {self.root}"))
                continue
            for use in self.uses[rel]:
                if self._want(target_rel, NOTEBOOK, Use(use.job, use.name, f"%run in {here}")):
                    out.append(target_rel)
        return sorted(set(out))

    def _check(self) -> None:
        for rel, doc in sorted(self.out.docs.items()):
            uses = self.uses[rel]
            why = name_problem(rel) or round_trip_problem(rel, doc.kind, doc.data)
            for message in [why] if why else content_problems(doc):
                self.out.reject(uses, message, path=source_path(rel, self.root))
            for line, reason in secret_lines(doc.data):
                self.out.reject(uses, f"line {line}: refusing to export {reason}", file=doc.file)
        by_name: dict[str, list[str]] = {}
        for rel, d in self.out.docs.items():
            by_name.setdefault(state_name(rel, d.kind), []).append(rel)
        clashes = [(n, n, "both are named") for n, rels in by_name.items() if len(rels) > 1]
        clashes += [(a, b, "differ only in case") for a, b in case_collisions(by_name)]
        clashes += [(a, b, "are a file and a folder of one name") for a, b in folder_collisions(by_name)]
        for a, b, why in clashes:
            for rel in {*by_name[a], *by_name[b]}:
                self.out.reject(self.uses[rel], f"state/files/{a} and state/files/{b} {why}: both cannot be "
                                "stored; rename one in the source workspace", path=source_path(rel, self.root))


def collect_files(files: WorkspaceFiles, root: str, jobs: Iterable[tuple[str, str, dict]]) -> Collected:
    """What the jobs (key, name, state settings) run: read from the source, checked."""
    collector = Collector(files, root)
    for key, name, settings in jobs:
        collector.add_job(key, name, settings)
    return collector.collect()


# --- export's use of it: which state/files/ to write, which jobs to reject ----------------------

@dataclass
class ExportedFile:
    name: str  # below state/files/
    data: bytes
    jobs: list[str]
    status: str = ""  # added | changed | unchanged


def attach_files(result: ExportResult, files: WorkspaceFiles, root: str, store: FileStore, state: StateStore) -> None:
    """Collect what result.exported's jobs run; reject the jobs whose files fail (with their
    problems), and set result.files (what to write) and result.files_removed (files no job in
    state/ uses any more after this export)."""
    from ..edges.state import parse_state

    exported = {j.key: j for j in result.exported}
    settings = {j.key: parse_state(j.text.encode(), state.display(state.path_for(j.key))).settings
                for j in result.exported}
    got = collect_files(files, root, [(k, exported[k].name, s) for k, s in settings.items()])
    rejected = set(got.problems)
    for key in sorted(rejected):
        result.rejected.append((exported[key].name, got.problems[key]))
    result.exported = [j for j in result.exported if j.key not in rejected]
    result.files_skipped = got.skipped
    keep = {k for k in exported if k not in rejected}
    docs = {rel: d for rel, d in got.docs.items() if set(d.jobs) & keep}
    result.files = [ExportedFile(state_name(rel, d.kind), d.data, sorted(set(d.jobs) & keep))
                    for rel, d in sorted(docs.items())]
    result.files_removed = _unused(store, state, root, {j.key for j in result.exported}, docs)
    listed = sorted(set(store.not_copied()) | got.in_git_folders)
    if listed:
        text = "# Paths jobs use that export does not copy (in Git folders); validate does not miss them\n"
        result.files.append(ExportedFile(NOT_COPIED, (text + "".join(f"{p}\n" for p in listed)).encode(), []))


def _unused(store: FileStore, state: StateStore, root: str, exported: set[str], docs: dict[str, FileDoc]) -> list[str]:
    """state/files/ names no job uses after the export: not written now, not reachable (through
    %run) from a path of a state file this export leaves as it is."""
    on_disk, problems = store.read_all()
    if problems:  # a link or FIFO in state/files/: nothing is written through or beside it
        raise BricksyncError(problems)
    if not on_disk:
        return []
    by_rel = {d.rel: d for d in on_disk}
    folders = below(by_rel)
    state_docs, _ = state.read_all()
    reach = [rel for doc in state_docs if doc.key not in exported for site in path_sites(doc.settings)
             if (rel := relative(str(site.value), root)) is not None]
    seen: set[str] = set()
    while reach:
        rel = reach.pop()
        if rel in seen:
            continue
        seen.add(rel)
        seen.update(folders.get(rel, ()))  # a directory's content
        doc = by_rel.get(rel) or docs.get(rel)
        if doc is not None and doc.kind.object_type == NOTEBOOK:
            reach += [r for t in run_targets(source_path(rel, root), doc.data) if (r := relative(t, root))]
    return sorted(store.display(store.path_of(state_name(d.rel, d.kind)))
                  for d in on_disk if d.rel not in seen and d.rel not in docs)
