"""Faults bricksync must survive or report clearly (issue 14.13, 14.14, 14.15, 14.17)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest

from bricksync.core.render import KEY_TAG
from bricksync.edges.lock import ApplyLock
from bricksync.edges.workspace import Workspace
from bricksync.emulator import FaultRule
from bricksync.emulator.seed import seed_source, seed_target

from .conftest import Project


@pytest.fixture
def exported(project: Project) -> Project:
    seed_source(project.test.client())
    seed_target(project.prod.client())
    res = project.run("export")
    assert res.code == 0, res.output
    return project


def managed(project: Project) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {}
    for job in project.prod.workspace.jobs.jobs.values():
        key = (job["settings"].get("tags") or {}).get(KEY_TAG)
        if key:
            out.setdefault(key, []).append(job["job_id"])
    return out


# --- 14.13: the lock write answered with an error although it was applied ------------------

@pytest.mark.parametrize("rule", [
    FaultRule("POST", "/api/2.0/workspace/import", 503, after=True),
    FaultRule("POST", "/api/2.0/workspace/import", 500, after=True),
    FaultRule("POST", "/api/2.0/workspace/import", 0, after=True, drop=True),
    FaultRule("POST", "/api/2.0/workspace/import", 429, after=True, retry_after=0),  # 0: no pause but the jitter
], ids=["503", "500", "connection-lost", "429"])
def test_a_lock_write_applied_despite_an_error_is_ours(exported: Project, rule: FaultRule) -> None:
    p = exported
    p.prod.faults.add(rule)
    res = p.run("apply", "--target", "prod", "--yes")
    assert res.code == 0, res.output
    assert rule.fired == 1 and "is locked" not in res.output
    assert ApplyLock(Workspace(p.prod.client(), "prod"), "prod").read() is None  # released at the end
    assert all(len(ids) == 1 for ids in managed(p).values()) and len(managed(p)) == 5


# --- 14.14: Retry-After far beyond any reasonable wait ------------------------------------

@pytest.mark.parametrize("status,path", [(429, "/api/2.2/jobs/list"), (503, "/api/2.2/jobs/list"),
                                         (429, "/api/2.1/clusters/list")])
def test_a_huge_retry_after_fails_fast_and_clearly(exported: Project, status: int, path: str) -> None:
    p = exported
    p.prod.faults.add(FaultRule("GET", path, status, retry_after=3600, count=None))
    started = time.monotonic()
    res = p.run("plan", "--target", "prod")
    assert time.monotonic() - started < 10
    assert res.code == 1
    assert "3600" in res.output and "BRICKSYNC_MAX_RETRY_WAIT" in res.output and p.prod.url in res.output, res.output


def test_a_huge_retry_after_on_create_fails_that_job_fast(exported: Project) -> None:
    p = exported
    p.prod.faults.add(FaultRule("POST", "/api/2.2/jobs/create", 429, retry_after=3600, count=None))
    started = time.monotonic()
    res = p.run("apply", "--target", "prod", "--yes")
    assert time.monotonic() - started < 10
    assert res.code == 1 and "BRICKSYNC_MAX_RETRY_WAIT" in res.output and "Apply to 'prod'" in res.output
    assert managed(p) == {}


def test_the_retry_wait_cap_is_configurable(exported: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    p = exported
    p.prod.faults.add(FaultRule("GET", "/api/2.2/jobs/list", 429, retry_after=1, count=1))
    res = p.run("plan", "--target", "prod")  # a 1 s wait is within the default cap: waited out
    assert res.code == 0, res.output
    monkeypatch.setenv("BRICKSYNC_MAX_RETRY_WAIT", "0.5")
    p.prod.faults.add(FaultRule("GET", "/api/2.2/jobs/list", 429, retry_after=1, count=1))
    res = p.run("plan", "--target", "prod")
    assert res.code == 1 and "over the limit of 0.5s" in res.output, res.output
    monkeypatch.setenv("BRICKSYNC_MAX_RETRY_WAIT", "soon")
    res = p.run("plan", "--target", "prod")
    assert res.code == 1 and "$BRICKSYNC_MAX_RETRY_WAIT must be a number" in res.output


# --- 14.15: a lost create response whose look-up fails as well --------------------------

@pytest.mark.parametrize("create_fault,lookup_status", [
    (FaultRule("POST", "/api/2.2/jobs/create", 503, after=True), 500),
    (FaultRule("POST", "/api/2.2/jobs/create", 0, after=True, drop=True), 500),
    (FaultRule("POST", "/api/2.2/jobs/create", 500, after=True), 403),
], ids=["503-then-500", "dropped-then-500", "500-then-403"])
def test_a_lost_create_with_a_failed_lookup_prints_the_table_and_the_next_step(
        exported: Project, create_fault: FaultRule, lookup_status: int) -> None:
    p = exported
    p.prod.faults.add(create_fault)
    # The plan's own read passes; the look-up by key after the lost create fails every time.
    p.prod.faults.add(FaultRule("GET", "/api/2.2/jobs/list", lookup_status, skip=1, count=None))
    res = p.run("apply", "--target", "prod", "--yes", "--parallelism", "1")
    assert res.code == 1
    assert "Apply to 'prod'" in res.output and "failed" in res.output  # the result table
    assert "look-up by key failed" in res.output and "re-run" in res.output.lower()
    assert "Traceback" not in res.output and "InternalError:" not in res.output.split("Apply to")[0]
    assert "Next step" in res.output
    p.prod.faults.clear()
    res = p.run("apply", "--target", "prod", "--yes")
    assert res.code == 0, res.output
    assert all(len(ids) == 1 for ids in managed(p).values()) and len(managed(p)) == 5  # converged, no duplicate
    assert ApplyLock(Workspace(p.prod.client(), "prod"), "prod").read() is None


# --- 14.17: unreachable targets fail fast and name the host ------------------------------

@pytest.fixture
def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again when the block ends: connections are refused


@pytest.fixture
def silent_server() -> Iterator[int]:
    """Accepts connections and never answers."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(64)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        srv.settimeout(0.1)
        while not stop.is_set():
            try:
                held.append(srv.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield srv.getsockname()[1]
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    srv.close()


@pytest.mark.parametrize("which", ["closed-port", "silent-server"])
@pytest.mark.parametrize("command", [["plan", "--target", "prod"], ["apply", "--target", "prod", "--yes"]])
def test_an_unreachable_target_fails_fast_and_names_the_host(exported: Project, monkeypatch: pytest.MonkeyPatch,
                                                               request: pytest.FixtureRequest, which: str,
                                                               command: list[str]) -> None:
    p = exported
    port = request.getfixturevalue("closed_port" if which == "closed-port" else "silent_server")
    url = f"http://127.0.0.1:{port}"
    p.databrickscfg.write_text(p.databrickscfg.read_text().replace(p.prod.url, url))
    monkeypatch.setenv("BRICKSYNC_PROD_HOST", url)
    monkeypatch.delenv("BRICKSYNC_MAX_BACKOFF")  # the default backoff: the connect budget alone stops the retries
    monkeypatch.setenv("BRICKSYNC_CONNECT_TIMEOUT", "1")
    monkeypatch.setenv("BRICKSYNC_HTTP_TIMEOUT", "0.2")  # how long the silent server is waited for, per request
    started = time.monotonic()
    res = p.run(*command)
    elapsed = time.monotonic() - started
    assert res.code == 1
    assert elapsed < 6, elapsed
    assert url in res.output and ("unreachable" in res.output or "gave up" in res.output), res.output
    assert "Traceback" not in res.output
