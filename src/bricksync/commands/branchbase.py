"""state/ as the commit of an import or capture will find it, read before switching to its branch.

import and capture compute keys and file texts, then switch to their branch and write. That branch
may exist already (an earlier run the same day): its state files and adoption record are the ones
the commit sits on, so keys are allocated against them too (never one a file there has), texts
are compared with theirs ("changed", not "added"), and nothing there is overwritten unseen. Read
from git without checking the branch out: a dry run or a refused run switches nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..core.errors import BricksyncError, Problem
from ..core.files import MAX_IMPORT_BYTES, NOT_COPIED, FileDoc, read_name
from ..core.model import StateDoc
from ..edges.state import GitRepo, StateStore, adoption_file, adoption_path, parse_adoptions, parse_state, read_adoptions
from ..edges.statefiles import FileStore


@dataclass
class Base:
    """What the run's commit is made on. `docs`/`adoptions`: state/ as it will be once the branch is
    checked out (the working tree, with the branch's version of every file it has otherwise than
    HEAD); `keys_in_use`: every key any of them, HEAD's working tree or either adoption record holds."""

    docs: list[StateDoc]
    adoptions: dict[str, int]
    keys_in_use: set[str]
    recorded: dict[int, str] = field(default_factory=dict)  # job id -> key, in either adoption record
    branch_bytes: dict[str, bytes | None] = field(default_factory=dict)  # key -> the branch's file (None: none)
    branch: str | None = None  # the branch differs from HEAD's and is not checked out
    for_branch: str | None = None  # the branch the run commits to (read for it)

    def read_bytes(self, store: StateStore, key: str) -> bytes | None:
        """A state file's bytes as the commit will find them."""
        return self.branch_bytes[key] if key in self.branch_bytes else store.read_bytes(key)


def read_base(store: StateStore, state_dir: Path, target: str, root: Path, branch: str | None) -> Base:
    """The working tree's state/ (raising its problems), overlaid with `branch` when that branch
    exists and is not the one checked out."""
    docs, problems = store.read_all()
    if problems:
        raise BricksyncError(problems)
    adoptions = read_adoptions(state_dir, target)
    base = Base(docs=docs, adoptions=adoptions, keys_in_use={d.key for d in docs} | set(adoptions),
                recorded={v: k for k, v in adoptions.items()}, for_branch=branch)
    git = _git(root)
    if git is None or branch is None or not git.has_branch(branch) or git.current_branch() == branch:
        return base
    _overlay(base, git, store, state_dir, target, branch)
    return base


def _git(root: Path) -> GitRepo | None:
    try:
        return GitRepo(root)
    except BricksyncError:
        return None


def branch_changes(git: GitRepo, store: StateStore, branch: str) -> dict[str, bytes | None]:
    """key -> the bytes of its state file on `branch` (None: not there), for every state file the
    branch has otherwise than HEAD: one `git ls-tree` each, and only those files read."""
    head = git.committed_blobs(store.jobs_dir)
    there = git.committed_blobs(store.jobs_dir, rev=f"refs/heads/{branch}")
    prefix = git.key_of(store.jobs_dir) + "/"
    out: dict[str, bytes | None] = {}
    for path in sorted(set(head) | set(there)):
        if head.get(path) == there.get(path) or not path.startswith(prefix) or not path.endswith(".yml"):
            continue
        key = path[len(prefix):-len(".yml")]
        if "/" in key:  # not a state file (one in a subfolder): never read as one
            continue
        file = f"{store.display(store.path_for(key))} (on branch '{branch}')"
        out[key] = git.blob(there[path], file) if path in there else None
    return out


def branch_keys(root: Path, store: StateStore, branch: str | None) -> tuple[dict[int, str], set[str], set[str]]:
    """For export: (source job id -> key, keys in use, keys no source job owns) of the state files
    `branch` has otherwise than HEAD, when it exists and is not checked out (else all empty). Its
    keys are in use; a job whose file is only there keeps that key."""
    git = _git(root)
    if git is None or branch is None or not git.has_branch(branch) or git.current_branch() == branch:
        return {}, set(), set()
    known: dict[int, str] = {}
    unowned: set[str] = set()
    changes = branch_changes(git, store, branch)
    for key, data in changes.items():
        if data is None:
            continue
        doc = parse_state(data, f"{store.display(store.path_for(key))} (on branch '{branch}')")
        if doc.source_job_id is None:
            unowned.add(key)
        else:
            known[doc.source_job_id] = key
    return known, set(changes), unowned


def _overlay(base: Base, git: GitRepo, store: StateStore, state_dir: Path, target: str, branch: str) -> None:
    by_key = {d.key: d for d in base.docs}
    problems: list[Problem] = []
    for key, data in branch_changes(git, store, branch).items():
        file = f"{store.display(store.path_for(key))} (on branch '{branch}')"
        base.branch_bytes[key] = data
        base.keys_in_use.add(key)  # (a file the branch lacks still names a key some commit gave)
        if data is None:
            by_key.pop(key, None)
            continue
        try:
            by_key[key] = parse_state(data, file)
        except BricksyncError as exc:
            problems.extend(exc.problems)
    adopt = git.key_of(adoption_path(state_dir, target))
    record = git.committed_blobs(adoption_path(state_dir, target).parent, rev=f"refs/heads/{branch}").get(adopt)
    if record is not None and record != git.committed_blobs(adoption_path(state_dir, target).parent).get(adopt):
        try:
            file = f"{adoption_file(state_dir, target)} (on branch '{branch}')"
            base.adoptions = parse_adoptions(git.blob(record, file), file)
        except BricksyncError as exc:
            problems.extend(exc.problems)
    if problems:
        raise BricksyncError(problems)
    base.docs = [by_key[k] for k in sorted(by_key)]
    base.keys_in_use |= set(base.adoptions) | set(by_key)
    # Key -> job with the branch's entry winning, then inverted: no key is ever known for two jobs.
    here = {k: v for v, k in base.recorded.items()}
    base.recorded = {v: k for k, v in {**here, **base.adoptions}.items()}
    base.branch = branch


def branch_files(root: Path, state_dir: Path, branch: str | None) -> list[FileDoc]:
    """state/files/ as the commit on `branch` will find it (capture compares live notebooks and
    files with these): the working tree's (raising its problems), with the branch's version of every
    file the branch has otherwise than HEAD, when it exists and is not checked out. A file an earlier
    capture changed there is compared with that version, so a notebook put back in the target is
    captured back."""
    store = FileStore(state_dir)
    docs, problems = store.read_all()
    if problems:
        raise BricksyncError(problems)
    git = _git(root)
    if git is None or branch is None or not git.has_branch(branch) or git.current_branch() == branch:
        return docs
    head = git.committed_blobs(store.dir)
    there = git.committed_blobs(store.dir, rev=f"refs/heads/{branch}")
    prefix = git.key_of(store.dir) + "/"
    by_file = {d.file: d for d in docs}
    for path in sorted(set(head) | set(there)):
        name = path[len(prefix):]
        if head.get(path) == there.get(path) or not path.startswith(prefix) or name == NOT_COPIED \
                or name.rsplit("/", 1)[-1].startswith(".bricksync-"):
            continue
        file = store.display(store.path_of(name))
        by_file.pop(file, None)
        if path in there:
            data = git.blob(there[path], f"{file} (on branch '{branch}')", limit=MAX_IMPORT_BYTES + 1)
            rel, kind = read_name(name, data)
            by_file[file] = FileDoc(rel, kind, data, file=file)
    return [by_file[f] for f in sorted(by_file)]
