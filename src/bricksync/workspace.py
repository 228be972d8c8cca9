"""The only module that talks to a workspace, always through databricks-sdk.

Reads use the SDK's API client (its unified auth and retries) and keep the JSON exactly as
the service sent it: no field is lost to an SDK version that does not know it, and 10,000
jobs are not converted to dataclasses and back. Paging, prefetch, the create-without-
duplicates protocol and the apply lock live here.
"""

from __future__ import annotations

import base64
import getpass
import json
import logging
import os
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from databricks.sdk import WorkspaceClient
from databricks.sdk.clock import RealClock
from databricks.sdk.errors import (
    BadRequest,
    DatabricksError,
    InternalError,
    NotFound,
    PermissionDenied,
    ResourceAlreadyExists,
    ResourceConflict,
    TooManyRequests,
    Unauthenticated,
)

from .config import WorkspaceRef
from .errors import BricksyncError, Problem, WorkspaceError
from .references import Inventory

log = logging.getLogger("bricksync.workspace")

JOBS = "/api/2.2/jobs"
PAGE_SIZE = 100  # the Jobs API maximum for jobs/list
LOCK_DIR = "/Shared/.bricksync/locks"
IDEMPOTENT_500_RETRIES = 3


def normalize_host(host: str | None) -> str:
    if not host:
        return ""
    parts = urlsplit(host if "://" in host else f"https://{host}")
    return f"{parts.scheme}://{parts.netloc}".lower()


class _WouldRetry(Exception):
    """Raised by _NoRetryClock where the SDK would sleep and send the request again."""


class _NoRetryClock(RealClock):
    """For jobs/create only: the SDK must not re-send a create whose response was lost (that
    makes a duplicate job). bricksync looks the job up by its key before it tries again."""

    def sleep(self, seconds: float) -> None:
        raise _WouldRetry


@dataclass
class CallStats:
    """API calls bricksync made, by endpoint, with their total time."""

    counts: Counter = field(default_factory=Counter)
    seconds: Counter = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, endpoint: str, elapsed: float) -> None:
        with self.lock:
            self.counts[endpoint] += 1
            self.seconds[endpoint] += elapsed

    @property
    def total(self) -> int:
        return sum(self.counts.values())


class Workspace:
    def __init__(self, client: WorkspaceClient, label: str = "workspace"):
        self.client = client
        self.label = label
        self.stats = CallStats()
        cfg = client.config.copy()
        cfg._clock = _NoRetryClock()  # see _NoRetryClock; the copy keeps auth, host and timeouts
        self._once = WorkspaceClient(config=cfg)

    @classmethod
    def connect(cls, ref: WorkspaceRef, label: str) -> Workspace:
        # With a profile, the profile says where to connect and `host` is only the guard that
        # check_host() enforces; passing both would silently send the calls to `host`.
        # BRICKSYNC_AUTH=env (CI): ignore profiles; host from config, credentials from the env.
        profile = None if os.environ.get("BRICKSYNC_AUTH", "").lower() == "env" else ref.profile
        kwargs = {"profile": profile} if profile else {"host": ref.host} if ref.host else {}
        try:
            client = WorkspaceClient(**kwargs)
        except ValueError as exc:  # the SDK's message masks credentials ("token=***")
            raise WorkspaceError(Problem(f"cannot configure the {label} workspace ({ref.describe()}): {exc}")) \
                from None
        return cls(client, label)

    @property
    def host(self) -> str:
        return normalize_host(self.client.config.host)

    def check_host(self, expected: str | None, what: str) -> None:
        """Refuse to touch a workspace other than the one the config names."""
        if expected and normalize_host(expected) != self.host:
            raise BricksyncError(Problem(
                f"{what} is configured for {normalize_host(expected)} but the credentials point at "
                f"{self.host}; refusing to continue"))

    # --- raw calls ----------------------------------------------------------------------
    def _do(self, method: str, path: str, *, query: dict | None = None, body: dict | None = None,
            once: bool = False, raw: bool = False) -> dict:
        """One API call. The SDK retries 429/503 and connection errors; calls that are safe to
        repeat (everything but jobs/create, which has its own protocol) also get a few retries
        on a plain 500, which the SDK does not retry."""
        client = self._once if once else self.client
        for attempt in range(1, IDEMPOTENT_500_RETRIES + 2):
            started = time.perf_counter()
            try:
                return client.api_client.do(method, path, query=query, body=body, raw=raw)  # type: ignore[return-value]
            except InternalError:
                if once or attempt > IDEMPOTENT_500_RETRIES:
                    raise
                log.info("%s %s: 500, retrying (%d)", method, path, attempt)
                self.stats.add("retry-500", 0.0)
                time.sleep(0.2 * attempt)
            finally:
                self.stats.add(f"{method} {path}", time.perf_counter() - started)
        raise AssertionError("unreachable")

    # --- jobs: reading ------------------------------------------------------------------
    def _list_page(self, token: str | None, expand: bool, name: str | None = None, raw: bool = False) -> Any:
        """One jobs/list page: parsed, or (raw) its bytes."""
        query: dict[str, Any] = {"limit": PAGE_SIZE, "expand_tasks": expand}
        if token:
            query["page_token"] = token
        if name is not None:
            query["name"] = name
        page = self._do("GET", f"{JOBS}/list", query=query, raw=raw)
        return page["contents"].read() if raw else page

    def _list_page_bytes(self, token: str | None, expand: bool) -> bytes:
        return self._list_page(token, expand, raw=True)

    def job_pages(self, expand_tasks: bool = True) -> Iterator[list[dict]]:
        """The workspace's jobs, a page (<= 100) at a time, each job with its full task list.

        The next page is requested as soon as its token is read from the end of this page's
        bytes, before this page is parsed, and fetched while the caller works on this one
        (the token is checked against the parsed page; a wrong guess is asked again). Jobs
        whose task list came back truncated (has_more: over 100 tasks) are completed with
        jobs/get."""
        with ThreadPoolExecutor(max_workers=4, thread_name_prefix=f"{self.label}-pages") as pool:
            future = pool.submit(self._list_page_bytes, None, expand_tasks)
            while future is not None:
                data = future.result()
                guess = peek_page_token(data)
                future = pool.submit(self._list_page_bytes, guess, expand_tasks) if guess else None
                page = json.loads(data) if data else {}
                token = page.get("next_page_token")
                if token != guess:
                    log.debug("jobs/list: next_page_token guessed wrong; asking again")
                    future = pool.submit(self._list_page_bytes, token, expand_tasks) if token else None
                jobs = page.get("jobs", [])
                truncated = [j for j in jobs if j.get("has_more")]
                if expand_tasks and truncated:
                    full = dict(zip([j["job_id"] for j in truncated],
                                    pool.map(lambda j: self.get_job(j["job_id"]), truncated), strict=True))
                    jobs = [full.get(j["job_id"], j) for j in jobs]
                yield jobs

    def list_jobs(self, on_page: Callable[[int], None] | None = None) -> list[dict]:
        out: list[dict] = []
        for page in self.job_pages():
            out.extend(page)
            if on_page:
                on_page(len(page))
        return out

    def get_job(self, job_id: int) -> dict:
        """One job with every task and job cluster (API 2.2 pages arrays past 100)."""
        job = self._do("GET", f"{JOBS}/get", query={"job_id": job_id})
        settings = job.setdefault("settings", {})
        token = job.pop("next_page_token", None)
        while token:
            page = self._do("GET", f"{JOBS}/get", query={"job_id": job_id, "page_token": token})
            for arr in ("tasks", "job_clusters", "parameters", "environments"):
                if page.get("settings", {}).get(arr):
                    settings.setdefault(arr, []).extend(page["settings"][arr])
            token = page.get("next_page_token")
        job.pop("has_more", None)
        return job

    def jobs_named(self, name: str) -> list[dict]:
        """Jobs with this exact (case-insensitive) name; settings without tasks. One call per page."""
        out, token = [], None
        while True:
            page = self._list_page(token, expand=False, name=name)
            out.extend(page.get("jobs", []))
            token = page.get("next_page_token")
            if not token:
                return out

    def job_outlines(self) -> Iterator[dict]:
        """Every job without its task list (name, tags and the other top-level settings): one
        call per 100 jobs. What a look-up by tag needs when the name cannot be trusted."""
        token = None
        while True:
            page = self._list_page(token, expand=False)
            yield from page.get("jobs", [])
            token = page.get("next_page_token")
            if not token:
                return

    # --- jobs: writing ------------------------------------------------------------------
    def create_job(self, settings: dict, find_existing: Callable[[], int | None],
                   attempts: int = 8) -> tuple[int, bool]:
        """Create a job without ever making a duplicate. Returns (job_id, recovered).

        Each attempt is sent once (no SDK re-send). When its outcome is unknown (connection
        lost, timeout, 5xx), `find_existing` looks the job up by its key first; only when it
        is not there is the create sent again. Throttling (429) is waited out, not fought."""
        last: BaseException | None = None
        for attempt in range(1, attempts + 1):
            try:
                result = self._do("POST", f"{JOBS}/create", body=settings, once=True)
                return int(result["job_id"]), False
            except _WouldRetry as exc:
                last = exc.__context__ or exc
            except (DatabricksError, OSError, TimeoutError) as exc:
                last = exc
            if isinstance(last, DatabricksError) and not _outcome_unknown(last):
                raise _api_error(last, "create job", settings.get("name"))
            if not isinstance(last, TooManyRequests):
                existing = find_existing()
                if existing is not None:
                    log.info("create of %r: response lost, job %s exists; not sending again",
                             settings.get("name"), existing)
                    return existing, True
            wait = getattr(last, "retry_after_secs", None)
            time.sleep(min(10.0, float(wait) if wait is not None else 0.5 * attempt))
        raise WorkspaceError(f"create job {settings.get('name')!r}: gave up after {attempts} attempts: "
                             f"{_short(last)}")

    def reset_job(self, job_id: int, settings: dict) -> None:
        try:
            self._do("POST", f"{JOBS}/reset", body={"job_id": job_id, "new_settings": settings})
        except DatabricksError as exc:
            raise _api_error(exc, f"reset job {job_id}", settings.get("name")) from None

    def set_job_tags(self, job_id: int, tags: dict[str, str]) -> None:
        """jobs/update replaces the whole tags map: callers pass every tag to keep."""
        try:
            self._do("POST", f"{JOBS}/update", body={"job_id": job_id, "new_settings": {"tags": tags}})
        except DatabricksError as exc:
            raise _api_error(exc, f"update tags of job {job_id}", None) from None

    def delete_job(self, job_id: int) -> None:
        try:
            self._do("POST", f"{JOBS}/delete", body={"job_id": job_id})
        except NotFound:
            return  # already gone: the goal is reached
        except DatabricksError as exc:
            raise _api_error(exc, f"delete job {job_id}", None) from None

    # --- compute inventory ----------------------------------------------------------------
    def inventory(self) -> Inventory:
        """IDs and names of clusters, pools, policies, warehouses and pipelines: one listing each."""
        inv = Inventory()
        listings: dict[str, Callable[[], list[tuple[str, str]]]] = {
            "cluster": lambda: [(c["cluster_id"], c.get("cluster_name", "")) for c in
                                self._paged("/api/2.1/clusters/list", "clusters", {"page_size": 100})],
            "pool": lambda: [(p["instance_pool_id"], p.get("instance_pool_name", "")) for p in
                             self._do("GET", "/api/2.0/instance-pools/list").get("instance_pools", [])],
            "policy": lambda: [(p["policy_id"], p.get("name", "")) for p in
                               self._do("GET", "/api/2.0/policies/clusters/list").get("policies", [])],
            "warehouse": lambda: [(w["id"], w.get("name", "")) for w in
                                  self._do("GET", "/api/2.0/sql/warehouses").get("warehouses", [])],
            "pipeline": lambda: [(p["pipeline_id"], p.get("name", "")) for p in
                                 self._paged("/api/2.0/pipelines", "statuses", {"max_results": 100})],
        }
        with ThreadPoolExecutor(max_workers=len(listings)) as pool:
            results = {kind: pool.submit(fn) for kind, fn in listings.items()}
            for kind, future in results.items():
                try:
                    for ident, name in future.result():
                        inv.add(kind, ident, name)
                except DatabricksError as exc:
                    raise _api_error(exc, f"list {kind}s", None) from None
        return inv

    def _paged(self, path: str, key: str, query: dict) -> list[dict]:
        out, query = [], dict(query)
        while True:
            page = self._do("GET", path, query=query)
            out.extend(page.get(key, []))
            if not page.get("next_page_token"):
                return out
            query["page_token"] = page["next_page_token"]

    # --- the apply lock -------------------------------------------------------------------
    def lock_path(self, target: str) -> str:
        return f"{LOCK_DIR}/{target}.lock"

    def acquire_lock(self, target: str, purpose: str) -> dict:
        """Create the lock file; the workspace refuses when it exists (import without overwrite),
        so two applies cannot both hold it. Returns what was written."""
        holder = {"holder": f"{holder_name()}@{socket.gethostname()}", "host": socket.gethostname(),
                  "pid": os.getpid(), "purpose": purpose,
                  "since": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        content = base64.b64encode(json.dumps(holder).encode()).decode()
        try:
            self._do("POST", "/api/2.0/workspace/mkdirs", body={"path": LOCK_DIR})
            self._do("POST", "/api/2.0/workspace/import", body={
                "path": self.lock_path(target), "format": "AUTO", "content": content, "overwrite": False})
        except ResourceAlreadyExists:
            current = self.read_lock(target) or {}
            if _dead_local_holder(current) and self.release_lock(target):
                log.warning("took over the lock of %s: its holder %s (pid %s) is no longer running",
                            target, current.get("holder"), current.get("pid"))
                return self.acquire_lock(target, purpose)
            raise BricksyncError(Problem(
                f"target '{target}' is locked by {current.get('holder', 'another run')} "
                f"({current.get('purpose', '?')}, since {current.get('since', '?')}). If that run is "
                f"dead, clear the lock with: bricksync unlock --target {target}")) from None
        except DatabricksError as exc:
            raise _api_error(exc, "acquire the apply lock", None) from None
        return holder

    def read_lock(self, target: str) -> dict | None:
        try:
            data = self._do("GET", "/api/2.0/workspace/export", query={"path": self.lock_path(target)})
            return json.loads(base64.b64decode(data.get("content", "")) or b"{}")
        except NotFound:
            return None
        except (DatabricksError, ValueError):
            return {"holder": "unknown"}

    def release_lock(self, target: str) -> bool:
        try:
            self._do("POST", "/api/2.0/workspace/delete", body={"path": self.lock_path(target)})
            return True
        except NotFound:
            return False


def holder_name() -> str:
    """Who runs this, for the lock: the login name (LOGNAME, USER, ... then the password
    database), else the numeric uid. Containers often run as a uid with no passwd entry,
    where getpass.getuser() raises; that must not stop an apply."""
    try:
        name = getpass.getuser()
    except (KeyError, OSError, ImportError):  # no passwd entry (OSError from Python 3.13), no pwd module
        name = ""
    if name:
        return name
    getuid = getattr(os, "getuid", None)
    return f"uid{getuid()}" if getuid else "unknown"


_TOKEN_KEY = b'"next_page_token"'


def peek_page_token(data: bytes) -> str | None:
    """The next_page_token of a jobs/list response read from its bytes without parsing them
    (it comes last); None when it is absent or not a plain string. Callers check it."""
    at = data.rfind(_TOKEN_KEY)
    if at < 0:
        return None
    rest = data[at + len(_TOKEN_KEY):].lstrip()
    if not rest.startswith(b":"):
        return None
    rest = rest[1:].lstrip()
    end = rest.find(b'"', 1)
    if not rest.startswith(b'"') or end < 0 or b"\\" in rest[:end]:
        return None
    return rest[1:end].decode("utf-8", "replace")


def _dead_local_holder(lock: dict) -> bool:
    """A lock taken on this machine by a process that no longer runs (e.g. a killed apply)."""
    if lock.get("host") != socket.gethostname() or not isinstance(lock.get("pid"), int):
        return False
    try:
        os.kill(lock["pid"], 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def _outcome_unknown(err: DatabricksError) -> bool:
    """Might the service have acted? A 4xx answer says it did not; 5xx and the rest say maybe."""
    definite = (BadRequest, Unauthenticated, PermissionDenied, NotFound, ResourceConflict)
    return not isinstance(err, definite) or isinstance(err, TooManyRequests)


def _short(err: BaseException | None) -> str:
    if err is None:
        return "unknown error"
    text = str(err).split("\n")[0]
    return f"{type(err).__name__}: {text[:300]}"


def _api_error(err: DatabricksError, action: str, job: str | None) -> WorkspaceError:
    return WorkspaceError(Problem(f"{action} failed: {err.error_code or type(err).__name__}: "
                                  f"{str(err).splitlines()[0][:500]}", job=job))
