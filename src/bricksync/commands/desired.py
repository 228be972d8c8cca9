"""state/ -> what each job should be in a target, worked out in worker processes while the
main process reads the target workspace (the two overlap: one waits on the network).

Each worker owns a slice of the state files and parses them as soon as it starts; it needs
no SDK (importing databricks-sdk costs ~2 s of CPU, which the main process spends at the
same time). Once the main process sends the schema table, the target and the target's
compute inventory, each worker checks its documents, renders them for the target and
answers with one digest per job. The main process compares those with the live jobs'
digests; only the documents that differ (creates, updates, anything with a problem)
travel back in full. With few files the same steps run in this process.
"""

from __future__ import annotations

import contextlib
import gc
import multiprocessing
import os
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from ..core.errors import BricksyncError, Problem
from ..core.model import StateDoc, TargetConfig
from ..core.normalize import digest, normalize_settings
from ..core.references import Inventory, path_sites, referenced_kinds
from ..core.render import override_problems, render
from ..core.schema import SchemaTable
from ..core.traps import write_only_digest, write_only_values
from ..core.validate import DocLinks, validate_doc
from ..edges.state import StateStore, blob_id, parse_state, read_state_file

WORKERS_FROM = 200  # files; below this, starting processes costs more than it saves
MAX_WORKERS = 4
WORKERS_ENV = "BRICKSYNC_STATE_WORKERS"  # force a number of worker processes (0: none)


@dataclass(frozen=True)
class Summary:
    """One state document as the main process sees it before asking for the whole of it."""

    links: DocLinks
    digest: str | None  # of the canonical settings rendered for the target; None: plan it in full
    permissions: list[dict] | None = None  # the file's `permissions:` as written (None: not in the file)
    paths: tuple[tuple[str, str], ...] = ()  # (field, rewritten path), when asked for (drift's preflight)
    write_only: str | None = None  # traps.write_only_digest of the rendering (with `digest`)

    @property
    def key(self) -> str:
        return self.links.key


@dataclass(frozen=True)
class IndexEntry:
    """What export needs of an existing state file (not its settings)."""

    links: DocLinks
    source_job_id: int | None
    blob: str  # git blob id of the file's bytes: is a new text the same file?
    permissions: list[dict] | None
    write_only: dict = field(default_factory=dict)  # what it sets that the API never returns (traps.py)

    @property
    def key(self) -> str:
        return self.links.key


class StateSlice:
    """Some of the state files, parsed; the work a worker process does (or this process)."""

    def __init__(self, named: list[tuple[str, str]]):
        self.docs: list[StateDoc] = []
        self.problems: list[Problem] = []
        self.raw: dict[str, bytes] = {}  # file -> bytes: documents are rendered in place, full() parses again
        for path, display in named:
            try:
                data = read_state_file(path)
                self.docs.append(parse_state(data, display))
                self.raw[display] = data
            except BricksyncError as err:
                self.problems.extend(err.problems)
            except OSError as exc:
                self.problems.append(Problem(f"cannot read the file: {exc.strerror}", file=display))

    def summarize(self, schema: SchemaTable | None, target: TargetConfig | None,
                  inventory: Inventory | None, paths: bool = False) -> tuple[list[Summary], list[Problem]]:
        """Check every document; digest each one rendered for `target` (when given)."""
        problems = list(self.problems)
        out = []
        for i, doc in enumerate(self.docs):
            found = validate_doc(doc, schema)
            if found:  # parse it again keeping line numbers, for the messages
                try:
                    doc = self.docs[i] = parse_state(self.raw[doc.file], doc.file, lines=True)
                    found = validate_doc(doc, schema)
                except (KeyError, BricksyncError):
                    pass
                problems.extend(found)
            if not found and target is not None and inventory is None:  # validate: each target's overrides
                problems.extend(override_problems(doc, target, schema))
            links = DocLinks.of(doc)
            # A `${job:KEY}` needs the target's job IDs, which only the main process has.
            ready = not found and not links.job_edges and target is not None and inventory is not None
            found_paths: list[tuple[str, str]] | None = [] if paths else None
            digests = _digest_for(doc, target, inventory, found_paths, schema) if ready else (None, None)
            out.append(Summary(links, digests[0], permissions=doc.permissions, paths=tuple(found_paths or ()),
                               write_only=digests[1]))
        return out, problems

    def index(self) -> tuple[list[IndexEntry], list[Problem]]:
        """Each readable file's key, source job, blob id and permissions; and what could not be read."""
        return [IndexEntry(DocLinks.of(doc), doc.source_job_id, blob_id(self.raw[doc.file]), doc.permissions,
                           write_only_values(doc.settings)) for doc in self.docs], list(self.problems)

    def kinds(self) -> set[str]:
        """Reference kinds the documents name (`${kind:NAME}`): what the target must list."""
        return {k for doc in self.docs for k in referenced_kinds(doc.settings)}

    def full(self, keys: set[str]) -> list[StateDoc]:
        """The documents for these keys as read (summarize() rendered the parsed ones in place)."""
        return [replace(parse_state(self.raw[d.file], d.file), node=None) for d in self.docs if d.key in keys]


def _digest_for(doc: StateDoc, target: Any, inventory: Any,
                paths: list[tuple[str, str]] | None = None,
                schema: SchemaTable | None = None) -> tuple[str | None, str | None]:
    """Digest of the canonical rendering (rendered in place: doc.settings is spent) and of its
    write-only values (which the canonical form leaves out), or Nones when rendering has problems
    to report (the main process renders it again and reports).
    `paths`: filled with (field, path) of the rendered workspace paths."""
    settings, problems = render(doc, target, inventory, {}, in_place=True, schema=schema)
    if problems:
        return None, None
    if paths is not None:
        paths.extend((site.location, str(site.value)) for site in path_sites(settings))
    unseen = write_only_digest(write_only_values(settings))
    return digest(normalize_settings(settings, ordered=False, copy=False)), unseen  # only hashed


def _serve(conn: Connection, named: list[tuple[str, str]]) -> None:
    """A worker process: parse at once, then answer requests until told to stop."""
    gc.disable()  # short-lived, builds only acyclic data: see bulk.py
    background()
    try:
        part = StateSlice(named)
        while True:
            request = conn.recv()
            if request[0] == "kinds":
                conn.send(("ok", part.kinds()))
            elif request[0] == "summarize":
                conn.send(("ok", part.summarize(*request[1:])))
            elif request[0] == "index":
                conn.send(("ok", part.index()))
            elif request[0] == "docs":
                conn.send(("ok", part.full(request[1])))
            else:
                return
    except (EOFError, KeyboardInterrupt, BrokenPipeError):
        return
    except Exception as exc:  # reported by the main process, which decides what to do
        conn.send(("error", f"{type(exc).__name__}: {exc}"))


def background() -> None:
    """Background work: the process fetching pages (and, on a laptop, the rest of the machine)
    goes first; the workers' work is ready long before the last page arrives anyway."""
    if hasattr(os, "nice"):
        os.nice(10)


def start_method() -> str:
    methods = multiprocessing.get_all_start_methods()
    # fork is the cheapest (nothing re-imported) but only safe while no other thread runs.
    if "fork" in methods and sys.platform == "linux" and threading.active_count() == 1:
        return "fork"
    return "forkserver" if "forkserver" in methods else "spawn"


def worker_count(files: int) -> int:
    forced = os.environ.get(WORKERS_ENV, "").strip()
    if forced.isdigit():
        return int(forced)
    return min(MAX_WORKERS, os.cpu_count() or 1) if files >= WORKERS_FROM else 0


class DesiredState:
    """The state directory, read in the background from the moment it is opened. Open it
    before connecting to a workspace (and so before databricks-sdk is imported)."""

    def __init__(self, state_dir: Path, workers: int | None = None):
        store = StateStore(state_dir)
        self._named = [(str(p), store.display(p)) for p in store.files()]
        count = min(len(self._named), worker_count(len(self._named)) if workers is None else workers)  # none idle
        self._local: StateSlice | None = None
        self._workers: list[tuple[Any, Connection]] = []
        self._request: tuple[Any, ...] | None = None
        if count >= 2:
            context = multiprocessing.get_context(start_method())
            for i in range(count):
                parent, child = context.Pipe()
                proc = context.Process(target=_serve, args=(child, self._named[i::count]), daemon=True,
                                       name=f"bricksync-state-{i}")
                proc.start()
                child.close()
                self._workers.append((proc, parent))

    def __enter__(self) -> DesiredState:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def files(self) -> int:
        return len(self._named)

    def request(self, schema: SchemaTable, target: TargetConfig | None, inventory: Inventory | None,
                paths: bool = False) -> None:
        """Start checking and rendering (returns at once; summaries() collects). `paths`: each
        summary also carries the document's rendered workspace paths."""
        self._request = (schema, target, inventory, paths)
        for _, conn in self._workers:
            conn.send(("summarize", *self._request))

    def kinds(self) -> set[str]:
        """Reference kinds state/ names, once parsed (called from the inventory thread, before
        request(): the workers answer in order, so the two never cross)."""
        if not self._workers:
            self._local = self._local or StateSlice(self._named)
            return self._local.kinds()
        for _, conn in self._workers:
            conn.send(("kinds",))
        return {k for proc, conn in self._workers for k in self._receive(proc, conn)}

    def index(self) -> tuple[list[IndexEntry], list[Problem]]:
        """export's view of state/: every file's IndexEntry (by file), and the files that cannot be read."""
        return self._gather(StateSlice.index, ("index",))

    def summaries(self) -> tuple[list[Summary], list[Problem]]:
        if self._request is None:
            raise RuntimeError("request() first")
        request = self._request
        return self._gather(lambda part: part.summarize(*request), None)  # asked for by request()

    def _gather(self, local: Callable[[StateSlice], tuple[list, list[Problem]]],
                ask: tuple[Any, ...] | None) -> tuple[list, list[Problem]]:
        """Every worker's (items, problems) for a request (`ask`: sent now; None: already sent),
        or this process's own when there are no workers. By file, however the files were shared
        out (a stable sort keeps each file's order)."""
        if not self._workers:
            self._local = self._local or StateSlice(self._named)
            items, problems = local(self._local)
        else:
            if ask is not None:
                for _, conn in self._workers:
                    conn.send(ask)
            items, problems = [], []
            for proc, conn in self._workers:
                part, found = self._receive(proc, conn)
                items.extend(part)
                problems.extend(found)
        return sorted(items, key=lambda i: i.links.file), sorted(problems, key=lambda p: p.file or "")

    def docs(self, keys: set[str]) -> list[StateDoc]:
        """The whole documents for these keys."""
        if not keys:
            return []
        if not self._workers:
            return self._local.full(keys) if self._local else []
        for _, conn in self._workers:
            conn.send(("docs", keys))
        out = [doc for proc, conn in self._workers for doc in self._receive(proc, conn)]
        return sorted(out, key=lambda d: d.file)

    def _receive(self, proc: Any, conn: Connection) -> Any:
        try:
            status, payload = conn.recv()
        except (EOFError, OSError):
            proc.join(timeout=1)
            raise BricksyncError(f"a process reading state/ died (exit code {proc.exitcode})") from None
        if status != "ok":
            raise BricksyncError(f"reading state/ failed: {payload}")
        return payload

    def close(self) -> None:
        for _, conn in self._workers:
            with contextlib.suppress(OSError):
                conn.send(("stop",))
            conn.close()  # a worker still sending gets EPIPE and exits
        for proc, _ in self._workers:
            proc.join(timeout=5)
            if proc.is_alive():
                proc.kill()
        self._workers = []
