"""The only module that talks to a workspace, always through databricks-sdk.

Reads use the SDK's API client (its unified auth and retries) and keep the JSON exactly as
the service sent it: no field is lost to an SDK version that does not know it, and 10,000
jobs are not converted to dataclasses and back. Paging, prefetch, the create-without-
duplicates protocol live here (the apply lock: lock.py).
"""

from __future__ import annotations

import json
import logging
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import requests
from databricks.sdk import WorkspaceClient
from databricks.sdk.clock import RealClock
from databricks.sdk.config import Config
from databricks.sdk.errors import (
    BadRequest,
    DatabricksError,
    InternalError,
    NotFound,
    PermissionDenied,
    ResourceConflict,
    TooManyRequests,
    Unauthenticated,
)
from requests.adapters import HTTPAdapter

from ..core.errors import BricksyncError, Problem, WorkspaceError
from ..core.escape import one_line
from ..core.model import WorkspaceRef
from ..core.references import Inventory
from ..core.traps import parse_policy
from .limits import Limits
from .profiles import Profiles, profile_field, profiles_ignored

log = logging.getLogger("bricksync.workspace")


class _HostMetadataNotice(logging.Filter):
    """databricks-sdk warns when its host-metadata probe fails (a host without
    /.well-known/databricks-config, as the emulator, or one that cannot be reached; the SDK then
    falls back to the explicit configuration, databricks/sdk/config.py): not the user's problem, and
    bricksync names an unreachable host itself. The record goes on as DEBUG, so it shows only where
    the SDK's debug logging is on (--debug) and library use prints nothing (issue 22)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno == logging.WARNING and "host metadata" in record.getMessage():
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
            return logging.getLogger(record.name).isEnabledFor(logging.DEBUG)
        return True


logging.getLogger("databricks.sdk").addFilter(_HostMetadataNotice())

JOBS = "/api/2.2/jobs"
PAGE_SIZE = 100  # the Jobs API maximum for jobs/list
PERMISSIONS = "/api/2.0/permissions/jobs"
ACL_READERS = 16  # permission reads in flight at once
IDEMPOTENT_500_RETRIES = 3


@dataclass(frozen=True)
class Listing:
    """How one kind of referable object is listed (the paths and fields databricks-sdk 0.162 uses)."""

    noun: str  # plural
    path: str
    items: str  # the response key holding the page's objects
    id_field: str
    name_field: str
    paging: str = "token"  # token: page_token/next_page_token; page: numbered pages; none: one call
    size_param: str = "page_size"
    size: int = 100


LISTINGS: dict[str, Listing] = {
    "cluster": Listing("clusters", "/api/2.1/clusters/list", "clusters", "cluster_id", "cluster_name"),
    "pool": Listing("instance pools", "/api/2.0/instance-pools/list", "instance_pools", "instance_pool_id",
                    "instance_pool_name", paging="none"),
    "policy": Listing("cluster policies", "/api/2.0/policies/clusters/list", "policies", "policy_id", "name",
                      paging="none"),
    "warehouse": Listing("SQL warehouses", "/api/2.0/sql/warehouses", "warehouses", "id", "name", paging="none"),
    "pipeline": Listing("pipelines", "/api/2.0/pipelines", "statuses", "pipeline_id", "name",
                        size_param="max_results"),
    "query": Listing("SQL queries", "/api/2.0/sql/queries", "results", "id", "display_name"),
    "alert": Listing("SQL alerts", "/api/2.0/sql/alerts", "results", "id", "display_name"),
    # databricks-sdk AlertsV2API.list_alerts: page_size ("values above 100 are coerced to 100"), page_token
    "alert_v2": Listing("alerts (v2)", "/api/2.0/alerts", "alerts", "id", "display_name"),
    "dashboard": Listing("AI/BI dashboards", "/api/2.0/lakeview/dashboards", "dashboards", "dashboard_id",
                         "display_name"),
    "sql_dashboard": Listing("legacy SQL dashboards", "/api/2.0/preview/sql/dashboards", "results", "id", "name",
                             paging="page"),
    "destination": Listing("notification destinations", "/api/2.0/notification-destinations", "results", "id",
                           "display_name"),
}


def normalize_host(host: str | None) -> str:
    if not host:
        return ""
    parts = urlsplit(host if "://" in host else f"https://{host}")
    netloc = parts.netloc.rpartition("@")[2]  # userinfo is a credential: never compared, never printed
    return f"{parts.scheme}://{netloc}".lower()


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


class _CallFailed(Exception):
    """Raised by _BoundedClock instead of a sleep bricksync will not wait out."""

    def __init__(self, problem: str):
        super().__init__(problem)
        self.problem = problem


class _Transport(HTTPAdapter):
    """The HTTP transport of one workspace's clients, the SDK's host-metadata probe included
    (databricks-sdk's Config and _BaseClient take an `http_adapter`, databricks/sdk/config.py).

    It notes since when the host has given no answer at all, so that the connect budget counts
    from the first failed attempt of the run: the SDK's probe of /.well-known/databricks-config
    retries on its own clock before the first call, which then had a whole budget of its own
    (21-22 s for a 10 s budget, issue 22). And it bounds the TCP connect by that budget, so a host
    that never answers a SYN waits BRICKSYNC_CONNECT_TIMEOUT, not BRICKSYNC_HTTP_TIMEOUT."""

    def __init__(self, connect_timeout: float):
        # the SDK's own pool (databricks/sdk/_base_client.py: 20 connections, blocking when all are busy)
        super().__init__(pool_connections=20, pool_maxsize=20, pool_block=True)
        self.connect_timeout = connect_timeout
        self.silent_since: float | None = None  # when the first attempt unanswered since the last answer began

    def send(self, request: requests.PreparedRequest, stream: bool = False, timeout: Any = None,
             *args: Any, **kwargs: Any) -> requests.Response:
        if isinstance(timeout, (int, float)):  # the SDK sends one number: (connect, read) here
            timeout = (min(float(timeout), self._connect_left()), float(timeout))
        tried = time.monotonic()
        try:
            response = super().send(request, stream, timeout, *args, **kwargs)
        except (requests.ConnectionError, requests.Timeout):
            if self.silent_since is None:
                self.silent_since = tried
            raise
        self.silent_since = None
        return response

    def _connect_left(self) -> float:
        """What is left of the connect budget (at least 1 s: every call tries once in earnest)."""
        silent = self.silent_since
        spent = time.monotonic() - silent if silent is not None else 0.0
        return max(1.0, self.connect_timeout - spent)


class _BoundedClock(RealClock):
    """The SDK's retry loop, bounded (the SDK asks its clock to sleep from inside its `except`
    block, so the error being retried is at hand): a `Retry-After` over the cap, or a workspace
    unreachable for longer than the connect budget, ends the call instead of stalling the run.
    The budget runs from the call's start, or from the transport's first unanswered attempt when
    that came earlier (the SDK's probe while connecting)."""

    def __init__(self, limits: Limits, transport: _Transport | None = None):
        self.limits = limits
        self.transport = transport
        self.local = threading.local()

    def begin(self) -> None:
        self.local.started = time.monotonic()

    def sleep(self, seconds: float) -> None:
        err = sys.exc_info()[1]
        retry_after = getattr(err, "retry_after_secs", None)
        if retry_after is not None and retry_after > self.limits.max_retry_wait:
            raise _CallFailed(f"the workspace asked to wait {retry_after}s before retrying "
                              f"({type(err).__name__}); that is over the limit of {self.limits.max_retry_wait:g}s "
                              "(BRICKSYNC_MAX_RETRY_WAIT): try again later, or raise the limit")
        if retry_after is None:  # the SDK's own backoff (no Retry-After): BRICKSYNC_MAX_BACKOFF applies
            seconds = self.limits.backoff(seconds)
        if isinstance(err, (requests.ConnectionError, requests.Timeout)):
            since = getattr(self.local, "started", time.monotonic())
            silent = self.transport.silent_since if self.transport else None
            waited = time.monotonic() - (min(since, silent) if silent is not None else since)
            if waited + seconds > self.limits.connect_timeout:
                raise _CallFailed(f"unreachable ({_reason(err)}; gave up after {waited:.1f}s); limits: "
                                  f"BRICKSYNC_CONNECT_TIMEOUT={self.limits.connect_timeout:g}s, "
                                  f"BRICKSYNC_HTTP_TIMEOUT={self.limits.http_timeout:g}s")
        super().sleep(seconds)


def _reason(err: BaseException) -> str:
    if isinstance(err, requests.Timeout):
        return "no answer in time"
    text = str(err)
    for marker in ("Connection refused", "Name or service not known", "No route to host", "Connection reset",
                   "Temporary failure in name resolution", "Network is unreachable", "Remote end closed"):
        if marker in text:
            return marker.lower()
    return type(err).__name__


class Workspace:
    def __init__(self, client: WorkspaceClient, label: str = "workspace", limits: Limits | None = None):
        self.label = label
        self.stats = CallStats()
        self.limits = limits or Limits.from_env()
        # Copies of the client's config (auth and host kept) with bounded timeouts and retries.
        cfg = client.config.copy()
        cfg.http_timeout_seconds = self.limits.http_timeout
        cfg.retry_timeout_seconds = max(1, int(self.limits.retry_timeout))
        transport = getattr(cfg, "http_adapter", None)
        if not isinstance(transport, _Transport):
            transport = cfg.http_adapter = _Transport(self.limits.connect_timeout)
        self._clock = _BoundedClock(self.limits, transport)
        cfg._clock = self._clock
        self.client = WorkspaceClient(config=cfg)
        once = cfg.copy()
        once._clock = _NoRetryClock()  # see _NoRetryClock
        self._once = WorkspaceClient(config=once)
        # Consulted before every write (apply sets it to its lock's check): once the lease is lost, no
        # new write is sent. The lock's own calls pass ungated=True.
        self.write_gate: Callable[[], None] | None = None
        self._me: dict | None = None  # SCIM Me, read once (identity())
        self.expected_identity: str | None = None  # targets.<t>.identity (see bricksync_identity)
        self._me_lock = threading.Lock()

    @classmethod
    def connect(cls, ref: WorkspaceRef, label: str) -> Workspace:
        # With a profile, the profile says where to connect and `host` is only the guard that
        # check_host() enforces; passing both would silently send the calls to `host`.
        # BRICKSYNC_AUTH=env (CI): ignore profiles; host from config, credentials from the env.
        profile = None if profiles_ignored() else ref.profile
        if profile:  # a name the profiles file lacks: the profiles it has, not the SDK's "has no X profile"
            problem = Profiles.read().problem(profile, profile_field(label))
            if problem is not None:
                raise WorkspaceError(problem)
        # Userinfo in a host is never a Databricks credential: it is not passed on (nor logged by the SDK).
        host = normalize_host(ref.host) if ref.host else None
        kwargs: dict[str, Any] = {"profile": profile} if profile else {"host": host} if host else {}
        limits = Limits.from_env()
        # The SDK probes the host while it builds its config (best effort: it falls back to the
        # explicit configuration, databricks/sdk/config.py _resolve_host_metadata). The probe gets half
        # the connect budget, and the first call what is left of it (see _Transport): an unreachable
        # host fails in about BRICKSYNC_CONNECT_TIMEOUT, not twice that.
        half = limits.connect_timeout / 2
        kwargs.update(http_timeout_seconds=min(limits.http_timeout, half), retry_timeout_seconds=max(1, int(half)),
                      http_adapter=_Transport(limits.connect_timeout))
        try:
            client = WorkspaceClient(config=Config(**kwargs))
        except ValueError as exc:  # the SDK's message masks credentials ("token=***")
            raise WorkspaceError(Problem(f"cannot configure the {label} workspace ({ref.describe()}): {exc}")) \
                from None
        return cls(client, label, limits)

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
            once: bool = False, raw: bool = False, ungated: bool = False) -> dict:
        """One API call. The SDK retries 429/503 and connection errors; calls that are safe to
        repeat (everything but jobs/create, which has its own protocol) also get a few retries
        on a plain 500, which the SDK does not retry."""
        client = self._once if once else self.client
        if method != "GET" and not ungated and self.write_gate is not None:
            self.write_gate()
        for attempt in range(1, IDEMPOTENT_500_RETRIES + 2):
            started = time.perf_counter()
            self._clock.begin()
            try:
                return client.api_client.do(method, path, query=query, body=body, raw=raw)  # type: ignore[return-value]
            except _CallFailed as exc:
                raise WorkspaceError(Problem(f"{method} {path} on the {self.label} workspace at {self.host}: "
                                             f"{exc.problem}")) from None
            except (TimeoutError, requests.RequestException) as exc:
                if once:
                    raise
                cause = exc.__cause__ or exc
                raise WorkspaceError(Problem(f"{method} {path} on the {self.label} workspace at {self.host}: gave up "
                                             f"({_reason(cause)}: {_short(cause)})")) from None
            except InternalError:
                if once or attempt > IDEMPOTENT_500_RETRIES:
                    raise
                log.info("%s %s: 500, retrying (%d)", method, path, attempt)
                self.stats.add("retry-500", 0.0)
                time.sleep(self.limits.backoff(0.2 * attempt))
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
        try:
            return self._list_page(token, expand, raw=True)
        except DatabricksError as exc:  # say what failed, not only the SDK's class name
            raise _api_error(exc, f"list jobs in the {self.label} workspace ({'a later' if token else 'the first'} page)",
                             None) from None

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
                try:
                    existing = find_existing()
                except (BricksyncError, DatabricksError, OSError, TimeoutError) as exc:
                    # The job may exist: sending the create again could duplicate it. Stop here;
                    # a re-run looks it up by key again and converges.
                    detail = exc.render() if isinstance(exc, BricksyncError) else _short(exc)
                    raise WorkspaceError(Problem(
                        f"create: the outcome is unknown ({_short(last)}) and the look-up by key failed too "
                        f"({detail}); the job may have been created. Not sent again: re-run apply, which finds it "
                        "by its key and converges (no duplicate)", job=settings.get("name"))) from None
                if existing is not None:
                    log.info("create of %r: response lost, job %s exists; not sending again",
                             settings.get("name"), existing)
                    return existing, True
            wait = getattr(last, "retry_after_secs", None)
            if wait is not None and wait > self.limits.max_retry_wait:
                raise WorkspaceError(Problem(
                    f"create on the {self.label} workspace at {self.host}: the workspace asked to wait {wait}s before "
                    f"retrying; that is over the limit of {self.limits.max_retry_wait:g}s (BRICKSYNC_MAX_RETRY_WAIT): "
                    "try again later, or raise the limit", job=settings.get("name")))
            time.sleep(min(10.0, float(wait)) if wait is not None else self.limits.backoff(0.5 * attempt))
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

    # --- job permissions (permissions.py turns them into state entries) -------------------
    def job_permissions(self, job_id: int) -> dict:
        """GET /api/2.0/permissions/jobs/{id}: the whole response (direct and inherited entries)."""
        try:
            return self._do("GET", f"{PERMISSIONS}/{job_id}")
        except DatabricksError as exc:
            raise _api_error(exc, f"read permissions of job {job_id}", None) from None

    def job_permissions_many(self, job_ids: list[int], parallelism: int = ACL_READERS) -> dict[int, dict]:
        """Several jobs' permissions, `parallelism` calls at a time (the API has no batch read)."""
        if not job_ids:
            return {}
        with ThreadPoolExecutor(max_workers=max(1, min(parallelism, len(job_ids))),
                                thread_name_prefix=f"{self.label}-acl") as pool:
            return dict(zip(job_ids, pool.map(self.job_permissions, job_ids), strict=True))

    def set_job_permissions(self, job_id: int, access_control_list: list[dict], *, replace: bool) -> dict:
        """PUT (replace the direct entries) or PATCH (add to them). Both are safe to repeat."""
        try:
            return self._do("PUT" if replace else "PATCH", f"{PERMISSIONS}/{job_id}",
                            body={"access_control_list": access_control_list})
        except DatabricksError as exc:
            raise _api_error(exc, f"{'set' if replace else 'update'} permissions of job {job_id}", None) from None

    def me(self) -> dict:
        """SCIM Me: who the credentials are (userName; an application ID for a service principal)."""
        try:
            return self._do("GET", "/api/2.0/preview/scim/v2/Me")
        except DatabricksError as exc:
            raise _api_error(exc, "read the current identity (SCIM Me)", None) from None

    def identity(self) -> str:
        """Who the credentials are (SCIM Me userName), asked once per run: the owner of the jobs
        bricksync creates and of the folder holding its records (edges/trusted.py)."""
        with self._me_lock:
            if self._me is None:
                self._me = self.me()
            return str(self._me.get("userName") or "")

    def bricksync_identity(self) -> str:
        """Whose jobs and records are bricksync's: targets.<t>.identity when set (a read-only
        identity's plan then judges by the writer's), else who the credentials are."""
        return self.expected_identity or self.identity()

    def me_cached(self) -> dict:
        self.identity()
        return dict(self._me or {})

    def read_acl_index(self, target: str) -> dict[str, str]:
        """job id -> digest of the ACL bricksync last applied and saw hold (empty when none). Kept in
        the trusted store (edges/trusted.py): the old /Shared copy, writable by anyone, is ignored."""
        from .trusted import TrustedStore

        jobs = TrustedStore.for_target(self, target).read("permissions").data.get("jobs")
        return {str(k): str(v) for k, v in jobs.items()} if isinstance(jobs, dict) else {}

    def write_acl_index(self, target: str, jobs: dict[str, str]) -> None:
        from .trusted import TrustedStore

        TrustedStore.for_target(self, target).write("permissions", {"jobs": jobs})

    def read_write_only_index(self, target: str) -> dict[str, dict]:
        """job id -> {digest, sent} of the write-only values bricksync last sent (core/traps.py:
        the API never returns them). Kept in the trusted store (edges/trusted.py); empty when none."""
        from .trusted import TrustedStore

        jobs = TrustedStore.for_target(self, target).read("write_only").data.get("jobs")
        return {str(k): v for k, v in jobs.items() if isinstance(v, dict)} if isinstance(jobs, dict) else {}

    def write_write_only_index(self, target: str, jobs: dict[str, dict]) -> None:
        from .trusted import TrustedStore

        TrustedStore.for_target(self, target).write("write_only", {"jobs": dict(sorted(jobs.items()))})

    def read_owned(self, target: str) -> dict[str, int]:
        """key -> job id of every job bricksync created or adopted in the target (edges/trusted.py)."""
        return self.owned_record(target)[0]

    def owned_record(self, target: str) -> tuple[dict[str, int], str]:
        """read_owned, and why the record could not be read ("" when it could, or there is none)."""
        from .trusted import TrustedStore

        store = TrustedStore.for_target(self, target)
        record = store.read("owned")
        jobs = record.data.get("jobs") if record.found else {}
        why = record.problem or ("" if isinstance(jobs, dict) else "no mapping of keys to job IDs")
        # An entry dropped silently would turn that job into a claim (and a create): a wrong one is a problem.
        bad = sorted(str(k) for k, v in (jobs.items() if isinstance(jobs, dict) else ())
                     if isinstance(v, bool) or not isinstance(v, (int, str)) or not str(v).isascii()
                     or not str(v).isdigit())
        if bad:
            why = f"not a job ID for {', '.join(one_line(k)[:80] for k in bad[:3])}" + (" ..." if len(bad) > 3 else "")
        if why:
            return {}, f"{store.path('owned')}: {why}"
        return {str(k): int(v) for k, v in jobs.items()}, ""

    def write_owned(self, target: str, jobs: dict[str, int]) -> None:
        from .trusted import TrustedStore

        TrustedStore.for_target(self, target).write("owned", {"jobs": dict(sorted(jobs.items()))})

    # --- inventory: compute and workspace objects ----------------------------------------
    def inventory(self, kinds: set[str] | frozenset[str] | None = None) -> Inventory:
        """IDs and names of the kinds asked for (default: every listable kind), one paged
        listing each, in parallel. Only what some job in play references is asked for, so an
        identity that may not list, say, pipelines can still plan jobs that use none."""
        inv = Inventory()
        wanted = [k for k in LISTINGS if kinds is None or k in kinds]
        if not wanted:
            return inv
        with ThreadPoolExecutor(max_workers=len(wanted), thread_name_prefix=f"{self.label}-list") as pool:
            results = {kind: pool.submit(self._list_kind, kind) for kind in wanted}
            for kind, future in results.items():
                try:
                    for ident, name, item in future.result():
                        inv.add(kind, ident, name)
                        # ListPoliciesResponse.policies are whole Policy objects, `definition` (the JSON
                        # rules) included (databricks-sdk compute.py): no get per policy
                        if kind == "policy":
                            inv.policies[ident] = parse_policy(item.get("definition"))
                except DatabricksError as exc:
                    raise _api_error(exc, f"list {LISTINGS[kind].noun} (needed: a job references one)",
                                     None) from None
        return inv

    def _list_kind(self, kind: str) -> list[tuple[str, str, dict]]:
        spec = LISTINGS[kind]
        if spec.paging == "none":
            items = self._do("GET", spec.path).get(spec.items, [])
        elif spec.paging == "page":
            items = self._numbered(spec.path, spec.items, spec.size)
        else:
            items = self._paged(spec.path, spec.items, {spec.size_param: spec.size})
        # A trashed query (a deleted alert v2: AlertLifecycleState DELETED) keeps its name, and may
        # share it with its replacement: not a candidate.
        return [(str(i[spec.id_field]), str(i.get(spec.name_field) or ""), i) for i in items
                if spec.id_field in i and i.get("lifecycle_state") not in ("TRASHED", "DELETED")]

    def _paged(self, path: str, key: str, query: dict) -> list[dict]:
        out, query = [], dict(query)
        while True:
            page = self._do("GET", path, query=query)
            out.extend(page.get(key, []))
            if not page.get("next_page_token"):
                return out
            query["page_token"] = page["next_page_token"]

    def _numbered(self, path: str, key: str, size: int) -> list[dict]:
        """Page-numbered listings (legacy SQL dashboards): `page` from 1 until `count` is reached
        (the SDK asks until an empty page; `count` saves that last call)."""
        out: list[dict] = []
        page_no = 1
        while True:
            page = self._do("GET", path, query={"page": page_no, "page_size": size})
            items = page.get(key) or []
            out.extend(items)
            count = page.get("count")
            if not items or (isinstance(count, int) and len(out) >= count):
                return out
            page_no += 1

    # --- preflight: do workspace paths exist? ---------------------------------------------
    def _workspace_answer(self, endpoint: str, path: str) -> dict | None:
        """GET a workspace API about `path`: its answer, None for the documented
        RESOURCE_DOES_NOT_EXIST, Unanswerable when the workspace cannot tell (no permission, no such API)."""
        try:
            return self._do("GET", endpoint, query={"path": path}) or {}  # an empty answer is still "exists"
        except NotFound as exc:
            if _no_such_api(exc):
                raise Unanswerable(exc) from None
            return None
        except DatabricksError as exc:
            raise Unanswerable(exc) from None

    def folder_entries(self, folder: str) -> list[str] | None:
        """Paths of the objects directly in `folder` (one workspace/list call), or None when the
        folder does not exist. Raises Unanswerable when the workspace cannot tell."""
        page = self._workspace_answer("/api/2.0/workspace/list", folder)
        return None if page is None else [str(o["path"]) for o in page.get("objects", []) if "path" in o]

    def path_exists(self, path: str) -> bool:
        """workspace/get-status: True, False (RESOURCE_DOES_NOT_EXIST), or Unanswerable."""
        return self._workspace_answer("/api/2.0/workspace/get-status", path) is not None


class Unanswerable(Exception):
    """The workspace cannot answer a question (no permission, no such API): not a failure."""

    def __init__(self, err: DatabricksError):
        super().__init__(f"{err.error_code or type(err).__name__}: {str(err).splitlines()[0][:300]}")


def _no_such_api(err: DatabricksError) -> bool:
    """A 404 about the endpoint (ENDPOINT_NOT_FOUND...), not the documented RESOURCE_DOES_NOT_EXIST of a path."""
    return err.error_code != "RESOURCE_DOES_NOT_EXIST"


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
