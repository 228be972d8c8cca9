"""Faults, interruptions and crash recovery (small sizes; `make reliability` runs the full ones)."""

from __future__ import annotations

import base64
import os
import socket
import sys
import time
import uuid

import pytest

from bricksync.core.lease import LockRecord
from bricksync.edges.lock import LOCK_DIR, ApplyLock
from bricksync.edges.state import parse_state
from bricksync.edges.workspace import Workspace
from bricksync.emulator import FaultRule
from bricksync.emulator.seed import seed_source

from .conftest import ROOT, Project

sys.path.insert(0, str(ROOT / "benchmarks"))
import reliability


def test_apply_converges_through_throttling_errors_and_lost_responses() -> None:
    figures = reliability.soak(n=60, seed=3)
    assert figures.converged, figures.line()
    assert figures.faults > 0 and (figures.duplicates, figures.lost, figures.unmanaged_changed) == (0, 0, 0)


def test_sigkilled_apply_converges_on_the_next_run() -> None:
    figures = reliability.kill_trials(trials=3, n=12, seed=5)
    assert figures.converged, figures.line()
    assert (figures.duplicates, figures.lost, figures.unmanaged_changed) == (0, 0, 0)


def test_export_crashed_between_commit_and_ack_finishes_without_a_second_commit(project: Project) -> None:
    seed_source(project.test.client())
    project.test.faults.add(FaultRule("POST", "/api/2.2/jobs/update", 403, count=None))  # every ack fails
    res = project.run("export")
    assert res.code == 1
    head = project.repo.head.commit.hexsha
    assert "5 added" in project.repo.head.commit.message
    tags = [j["settings"]["tags"].get("PROD_MIGRATION") for j in project.test.workspace.jobs.jobs.values()]
    assert "false" not in tags[:5]  # nothing acknowledged
    project.test.faults.clear()
    res = project.run("export")
    assert res.code == 0, res.output
    assert project.repo.head.commit.hexsha == head  # no second commit
    tags = {j["settings"]["name"]: j["settings"]["tags"].get("PROD_MIGRATION")
            for j in project.test.workspace.jobs.jobs.values()}
    assert tags["Daily sales ETL"] == "false" and tags["Nightly orchestrator"] == "false"


def _plant_lock(project: Project, pid: int, expires_in: float) -> None:
    """A lock record as another run writes it: same host name as this machine, the given pid."""
    w = project.prod.client()
    w.workspace.mkdirs(LOCK_DIR)
    record = LockRecord.new(uuid.uuid4().hex, user="ci", host=socket.gethostname(), pid=pid, purpose="apply",
                            now=time.time() - 60, lease=60 + expires_in)
    w.api_client.do("POST", "/api/2.0/workspace/import", body={
        "path": f"{LOCK_DIR}/prod.lock", "content": base64.b64encode(record.to_bytes()).decode(),
        "format": "AUTO", "overwrite": True})


def test_a_live_lease_is_never_taken_over_even_when_its_pid_is_not_visible(project: Project) -> None:
    """Issue 25.4: a live apply in another PID namespace (another container on this host) has the same host
    name and a pid this process cannot see. Its lease is live: refused, whatever the pid."""
    no_such_pid = 2**22 + 12345
    with pytest.raises(ProcessLookupError):
        os.kill(no_such_pid, 0)
    _plant_lock(project, pid=no_such_pid, expires_in=300)
    res = project.run("apply", "--target", "prod", "--yes")
    assert res.code == 1 and "is locked by ci@" in res.output and "lease until" in res.output, res.output
    assert not [r for r in project.prod.faults.log if r.path.endswith("/jobs/create")]  # nothing written
    _plant_lock(project, pid=no_such_pid, expires_in=-1)  # the same holder, its lease expired: taken over
    res = project.run("apply", "--target", "prod", "--yes")
    assert res.code == 0 and "is locked" not in res.output, res.output
    assert ApplyLock(Workspace(project.prod.client(), "prod"), "prod").read() is None  # taken over, then released


def test_export_sigkilled_during_acknowledgement_never_flips_an_uncommitted_tag(project: Project) -> None:
    import signal
    import subprocess
    import time

    seed_source(project.test.client())
    project.test.latency_ms = 150  # acks are in flight when the kill lands
    proc = subprocess.Popen([sys.executable, "-m", "bricksync.cli", "export"], cwd=project.root,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while not project.test.faults.counts()["POST /api/2.2/jobs/update"] and time.monotonic() < deadline:
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    project.test.latency_ms = 0
    head = project.repo.head.commit
    assert "5 added" in head.message  # the commit came before any acknowledgement
    committed_ids = {parse_state(blob.data_stream.read(), blob.path).source_job_id
                     for blob in (head.tree / "state" / "jobs").blobs if blob.path.endswith(".yml")}
    flipped = {j["job_id"] for j in project.test.workspace.jobs.jobs.values()
               if j["settings"].get("tags", {}).get("PROD_MIGRATION") == "false" and j["settings"]["name"]
               != "Already promoted"}
    assert flipped <= committed_ids  # never a tag set to false without its commit
    res = project.run("export")
    assert res.code == 0, res.output
    assert project.repo.head.commit.hexsha == head.hexsha  # finished without a second commit
    flags = [j["settings"]["tags"].get("PROD_MIGRATION") for j in project.test.workspace.jobs.jobs.values()
             if "PROD_MIGRATION" in j["settings"].get("tags", {})]
    assert flags == ["false"] * len(flags)
