"""Issue 25.4 and 25.12: the apply lock is a lease owned by a run token, and a lock that cannot be
released after the work is done does not hide the work.

Against the emulator with the real databricks-sdk; leases are made short with BRICKSYNC_LOCK_LEASE."""

from __future__ import annotations

import base64
import json
import logging
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator

import pytest

from bricksync.core.errors import LockedError, LockReleaseError
from bricksync.core.lease import LockRecord, describe
from bricksync.edges.lock import LOCK_DIR, ApplyLock, LockLost, lease_seconds
from bricksync.edges.workspace import Workspace
from bricksync.emulator import FaultRule
from bricksync.project import Project as Facade

from .conftest import Project, on_a_terminal
from .test_faults import managed

LOCK = f"{LOCK_DIR}/prod.lock"


@pytest.fixture
def seeded(exported: Project) -> Project:
    """`exported`, remembering how many prod requests seeding took (creates are counted after it)."""
    exported.seeded = len(exported.prod.faults.log)  # type: ignore[attr-defined]
    return exported


def lock_of(p: Project, lease: float | None = None) -> ApplyLock:
    return ApplyLock(Workspace(p.prod.client(), "prod"), "prod", lease=lease)


def stored(p: Project) -> LockRecord | None:
    obj = p.prod.workspace.objects.get(LOCK)
    return None if obj is None else LockRecord.from_bytes(base64.b64decode(obj["content"]))


def creates(p: Project) -> int:
    """jobs/create calls since the project was exported (seed_target creates one job)."""
    return sum(1 for r in p.prod.faults.log[p.seeded:] if r.method == "POST" and r.path.endswith("/jobs/create"))


def facade(p: Project) -> Facade:
    return Facade(p.root / "config" / "bricksync.yml")


@pytest.fixture
def lost() -> Iterator[threading.Event]:
    """Set when a heartbeat reports its lock lost (its warning): tests wait on it, not on a guess of timing."""
    event = threading.Event()

    class Seen(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if "lost the apply lock" in record.getMessage():
                event.set()

    handler, logger = Seen(), logging.getLogger("bricksync.lock")
    logger.addHandler(handler)
    yield event
    logger.removeHandler(handler)


# --- pure rules ------------------------------------------------------------------------------

def test_a_record_round_trips_and_expires_on_its_lease() -> None:
    rec = LockRecord.new(uuid.uuid4().hex, user="ci", host="agent-7", pid=42, purpose="apply", now=1000.0, lease=600)
    assert LockRecord.from_bytes(rec.to_bytes()) == rec
    assert not rec.expired(1599.9) and rec.expired(1600.0)
    assert "ci@agent-7 (pid 42, apply)" in describe(rec, 1000.0) and "(in 10m 00s)" in describe(rec, 1000.0)
    assert "expired at" in describe(rec, 1660.0) and "(1m 00s ago)" in describe(rec, 1660.0)
    renewed = rec.renewed(1500.0, 600)
    assert renewed.token == rec.token and not renewed.expired(2000.0) and renewed.acquired_at == rec.acquired_at


@pytest.mark.parametrize("data", [b"", b"\xff\xfe", b"[1]", b"not json", json.dumps({"token": "../x"}).encode(),
                                  json.dumps({"token": "a" * 32, "expires_at": "soon"}).encode()])
def test_an_unreadable_record_is_a_lock_that_never_expires_by_itself(data: bytes) -> None:
    rec = LockRecord.from_bytes(data)
    assert rec.expiry() is None and not rec.expired(time.time() + 10**9)
    assert "no lease" in describe(rec, time.time())


def test_a_hostile_record_is_shown_cut_short_and_its_token_never_builds_a_path() -> None:
    rec = LockRecord.from_bytes(json.dumps({"token": "../../x", "user": "u" * 10_000, "pid": True,
                                            "expires_at": "2000-01-01T00:00:00Z"}).encode())
    assert rec.token == "" and len(rec.user) == 200 and rec.pid is None and rec.expiry() is None


def test_a_record_of_a_bricksync_before_leases_is_held_until_unlocked() -> None:
    old = {"holder": "bob@ci-3", "host": "ci-3", "pid": 7, "purpose": "apply", "run_id": "x", "since": "2026-01-01"}
    rec = LockRecord.from_bytes(json.dumps(old).encode())
    assert rec.holder == "bob@ci-3" and rec.pid == 7 and not rec.expired(time.time())
    assert "without leases" in describe(rec, time.time())


@pytest.mark.parametrize("raw,ok", [("", 600.0), ("30", 30.0), ("1.5", 1.5), ("0.5", None), ("-1", None),
                                    ("ten", None), ("inf", None), ("nan", None), ("86400", 86400.0),
                                    ("86401", None), ("1e12", None)])
def test_the_lease_comes_from_the_environment(raw: str, ok: float | None) -> None:
    if ok is None:
        with pytest.raises(Exception, match=r"\$BRICKSYNC_LOCK_LEASE must be a number of seconds from 1 to 86400"):
            lease_seconds({"BRICKSYNC_LOCK_LEASE": raw})
    else:
        assert lease_seconds({"BRICKSYNC_LOCK_LEASE": raw}) == ok


# --- acquire: a live lease is never taken over, an expired one is, by one taker only ----------------

def two_applies(p: Project) -> list[subprocess.Popen]:
    """Two CLI applies at once; whichever takes the lock is held up in its writes (throttled for 3 s)
    while the other arrives."""
    p.prod.faults.add(FaultRule("POST", "/api/2.2/jobs/create", 429, retry_after=3, count=1))
    env = {**os.environ, "BRICKSYNC_LOCK_LEASE": "30"}
    return [subprocess.Popen([sys.executable, "-m", "bricksync.cli", "apply", "--target", "prod", "--yes"],
                             cwd=p.root, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                             stdin=subprocess.DEVNULL) for _ in range(2)]


def test_two_concurrent_applies_one_applies_and_no_create_is_sent_twice(seeded: Project) -> None:
    p = seeded
    procs = two_applies(p)
    results = [(proc.wait(timeout=120), proc.stdout.read()) for proc in procs]  # type: ignore[union-attr]
    codes = sorted(code for code, _ in results)
    assert codes == [0, 1], results
    refused = next(out for code, out in results if code == 1)
    assert "is locked by" in refused and "lease until" in refused, refused
    assert creates(p) == 6  # 5 jobs, one create throttled (429: not made) and sent again
    assert len(managed(p)) == 5 and all(len(ids) == 1 for ids in managed(p).values())
    assert stored(p) is None  # the winner released its lock


def test_racing_takers_of_one_expired_lease_only_one_wins(seeded: Project) -> None:
    p = seeded
    dead = lock_of(p, lease=1)
    dead.acquire("apply")
    time.sleep(1.1)  # its holder died: no renewal, the lease runs out
    takers = [lock_of(p, lease=60) for _ in range(6)]
    barrier = threading.Barrier(len(takers))
    outcomes: list[str] = []

    def take(lock: ApplyLock) -> None:
        barrier.wait()
        try:
            lock.acquire("apply")
            outcomes.append("won")
        except LockedError as exc:
            outcomes.append(exc.render())

    threads = [threading.Thread(target=take, args=(t,)) for t in takers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert outcomes.count("won") == 1, outcomes
    winner = next(t for t in takers if t.record is not None and stored(p) and stored(p).token == t.token)
    assert all("locked by" in o or "taking the expired lock over" in o for o in outcomes if o != "won")
    assert not [o for o in p.prod.workspace.objects if ".claim-" in o]  # every claim removed
    assert winner.release().released and stored(p) is None


def test_a_late_renewal_cannot_overwrite_a_taker_and_a_replaced_run_releases_nothing(seeded: Project) -> None:
    p = seeded
    slow = lock_of(p, lease=1)
    slow.acquire("apply")
    time.sleep(1.1)  # its renewals stalled (a suspended VM): the lease expired
    taker = lock_of(p, lease=60)
    taker.acquire("apply")  # takes the expired lease over
    with pytest.raises(LockLost, match="ran short before it could be renewed"):
        slow.renew()  # the stalled run wakes up after its lease: it writes nothing
    assert slow.lost and stored(p).token == taker.token
    released = slow.release()
    assert not released.released and "now held by" in released.note and stored(p).token == taker.token
    with pytest.raises(LockLost, match="not sent: this run lost the apply lock"):
        slow.check()


def test_a_renewal_too_close_to_expiry_gives_the_lease_up_and_releases_as_a_taker(seeded: Project) -> None:
    """A taker acts only after expiry; the holder writes nothing in the last sixth of its lease: they never meet."""
    p = seeded
    mine = lock_of(p, lease=1.2)
    mine.acquire("apply")
    time.sleep(1.05)  # a stalled heartbeat: 0.15 s left, under a sixth of the lease
    with pytest.raises(LockLost, match="ran short before it could be renewed"):
        mine.renew()
    with pytest.raises(LockLost):
        mine.check()  # nor is any job write sent
    assert stored(p).token == mine.token  # nothing overwritten
    other = uuid.uuid4().hex  # a taker holds the claim on our token: it is replacing our record
    p.prod.client().api_client.do("POST", "/api/2.0/workspace/import", body={
        "path": f"{LOCK}.claim-{mine.token}", "format": "AUTO", "content": base64.b64encode(other.encode()).decode()})
    released = mine.release()
    assert not released.released and "taking the lock over" in released.note and stored(p).token == mine.token


@pytest.mark.parametrize("rule", [
    FaultRule("POST", "/api/2.0/workspace/import", 503, after=True),  # the lock written, the answer lost
    FaultRule("POST", "/api/2.0/workspace/delete", 0, after=True, drop=True),  # the lock deleted, the answer lost
], ids=["create-503", "delete-dropped"])
def test_a_release_whose_answers_are_lost_still_releases(seeded: Project, rule: FaultRule) -> None:
    p = seeded
    p.prod.faults.add(rule)
    res = p.run("apply", "--target", "prod", "--yes")
    assert res.code == 0 and rule.fired == 1, res.output
    assert stored(p) is None and not [o for o in p.prod.workspace.objects if ".claim-" in o]


# --- apply with the heartbeat ------------------------------------------------------------------

def test_the_heartbeat_keeps_a_long_apply_alive(seeded: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    p = seeded
    monkeypatch.setenv("BRICKSYNC_LOCK_LEASE", "2")
    seen: dict[str, object] = {}

    def slow_confirm(plan: object, writes: list, deletes: list) -> bool:  # a person reading the plan for 2+ leases
        first = stored(p)
        time.sleep(4.5)
        seen["renewed"] = first is not None and stored(p).expires_at > first.expires_at  # type: ignore[union-attr]
        try:
            lock_of(p, lease=60).acquire("another apply")
            seen["second"] = "won"
        except LockedError as exc:
            seen["second"] = exc.render()
        return True

    result = facade(p).apply(target="prod", confirm=slow_confirm)
    assert seen["renewed"] is True and "is locked by" in str(seen["second"]), seen
    assert result.applied and not result.failed and result.lock_lost is None
    assert len(managed(p)) == 5 and stored(p) is None


def test_a_run_whose_lock_was_replaced_stops_writing_and_releases_nothing(
        seeded: Project, monkeypatch: pytest.MonkeyPatch, lost: threading.Event) -> None:
    p = seeded
    monkeypatch.setenv("BRICKSYNC_LOCK_LEASE", "1")
    other = lock_of(p, lease=60)

    def replaced(plan: object, writes: list, deletes: list) -> bool:
        facade(p).unlock("prod")  # someone cleared it by hand, and another apply took it
        other.acquire("another apply")
        assert lost.wait(20)  # the next renewal (every third of the 1 s lease) finds it is not ours
        return True

    result = facade(p).apply(target="prod", confirm=replaced)
    assert creates(p) == 0 and managed(p) == {}  # no write was started after the loss
    assert len(result.failed) == 5 and not [o for o in result.failed if "not sent: this run lost the apply lock"
                                            not in o.detail and not o.detail.startswith("skipped: job(s) it runs")]
    assert result.lock_lost and "now held by" in result.lock_lost and "another apply" in result.lock_lost
    assert stored(p).token == other.token  # the other run's lock is left as it is


def test_a_lost_lock_is_an_error_on_the_cli(seeded: Project, monkeypatch: pytest.MonkeyPatch,
                                            lost: threading.Event) -> None:
    p = seeded
    monkeypatch.setenv("BRICKSYNC_LOCK_LEASE", "1")
    # The plan is throttled (429, retried every second) until the heartbeat has seen its lock replaced.
    p.prod.faults.add(FaultRule("GET", "/api/2.2/jobs/list", 429, retry_after=1, count=None))
    other = lock_of(p, lease=60)

    def replace_it() -> None:  # while the apply plans: its lock is cleared by hand and another run takes it
        deadline = time.monotonic() + 30
        while stored(p) is None and time.monotonic() < deadline:
            time.sleep(0.02)
        facade(p).unlock("prod")
        other.acquire("another apply")
        lost.wait(20)
        p.prod.faults.clear()

    thread = threading.Thread(target=replace_it)
    thread.start()
    res = p.run("apply", "--target", "prod", "--yes")
    thread.join()
    assert res.code == 1, res.output
    assert "no longer this run's" in res.output and "another apply" in res.output, res.output
    assert "not sent: this run lost the apply lock" in res.output and creates(p) == 0
    assert stored(p).token == other.token


# --- 25.12: a release that fails after the work is done ---------------------------------------------

def test_a_failed_release_shows_the_result_then_the_error_and_the_command(seeded: Project) -> None:
    p = seeded
    p.prod.faults.add(FaultRule("POST", "/api/2.0/workspace/delete", 403, count=None))
    res = p.run("apply", "--target", "prod", "--yes")
    assert res.code == 3, res.output
    table, error = res.output.index("Apply to 'prod'"), res.output.index("error:")
    assert table < error, res.output  # what was written first
    assert res.output[:error].count("created") >= 5  # every create row
    after = res.output[error:]
    assert "wrote its changes, but its lock could not be released" in after and "PERMISSION_DENIED" in after
    assert "bricksync unlock --target prod" in after and "expires by itself at" in after
    assert len(managed(p)) == 5 and stored(p) is not None
    p.prod.faults.clear()
    res = p.run("unlock", "--target", "prod", "--yes")
    assert res.code == 0 and "Released the lock of 'prod'" in res.output, res.output
    assert stored(p) is None and not [o for o in p.prod.workspace.objects if ".claim-" in o]
    assert p.run("apply", "--target", "prod", "--yes").code == 0


def test_the_library_keeps_the_result_of_an_apply_whose_release_failed(seeded: Project) -> None:
    p = seeded
    p.prod.faults.add(FaultRule("POST", "/api/2.0/workspace/delete", 500, count=4))  # the lock's delete, retried
    with pytest.raises(LockReleaseError) as caught:
        facade(p).apply(target="prod")
    result = caught.value.result
    assert result.applied and len(result.outcomes) == 5 and not result.failed  # type: ignore[union-attr]
    assert "bricksync unlock --target prod" in caught.value.render()
    assert "expires by itself at" in caught.value.render()  # its claim was removed: the lease frees it
    assert not [o for o in p.prod.workspace.objects if ".claim-" in o]


def test_a_failed_release_after_a_failed_apply_keeps_the_first_error(seeded: Project) -> None:
    p = seeded
    (p.root / "state" / "jobs" / "daily-sales-etl.yml").write_text("name: [unclosed\n")
    p.prod.faults.add(FaultRule("POST", "/api/2.0/workspace/delete", 403, count=None))
    res = p.run("apply", "--target", "prod", "--yes")
    assert res.code == 1 and "daily-sales-etl.yml" in res.output, res.output
    assert "lock was not released either" in res.output and "bricksync unlock --target prod" in res.output


# --- unlock ---------------------------------------------------------------------------------

def test_unlock_shows_the_holder_and_asks(seeded: Project) -> None:
    p = seeded
    held = lock_of(p, lease=300)
    held.acquire("another apply")
    res = p.run("unlock", "--target", "prod")  # no terminal, no --yes: refused, and said so
    assert res.code == 1 and "pass --yes" in res.output and "left as it is" in res.output, res.output
    assert "another apply" in res.output and "lease until" in res.output and "lease is live" in res.output
    assert stored(p).token == held.token
    res = p.run("unlock", "--target", "prod", "--yes")
    assert res.code == 0 and "Released the lock of 'prod'" in res.output and stored(p) is None
    res = p.run("unlock", "--target", "prod", "--yes")
    assert res.code == 0 and "'prod' is not locked." in res.output


def test_unlock_removes_nothing_when_the_lock_changed_since_it_was_shown(seeded: Project) -> None:
    p = seeded
    first = lock_of(p, lease=300)
    first.acquire("apply")
    shown = facade(p).lock("prod").record
    first.release()
    second = lock_of(p, lease=300)
    second.acquire("apply")
    with pytest.raises(LockedError, match="changed since it was shown"):
        facade(p).unlock("prod", expected=shown, check=True)
    assert stored(p).token == second.token


def test_unlock_clears_a_claim_left_by_a_crashed_taker(seeded: Project) -> None:
    p = seeded
    dead = lock_of(p, lease=1)
    dead.acquire("apply")
    time.sleep(1.1)
    p.prod.client().api_client.do("POST", "/api/2.0/workspace/import", body={  # a taker died holding its claim
        "path": f"{LOCK}.claim-{dead.token}", "format": "AUTO", "content": base64.b64encode(b"x" * 32).decode()})
    res = p.run("apply", "--target", "prod", "--yes")
    assert res.code == 1 and "taking the expired lock over" in res.output and "bricksync unlock" in res.output, res.output
    res = p.run("unlock", "--target", "prod", "--yes")
    assert res.code == 0 and "claim was left behind" in res.output, res.output
    assert not [o for o in p.prod.workspace.objects if o.startswith(LOCK)]
    assert p.run("apply", "--target", "prod", "--yes").code == 0


def _unlock_on_a_terminal(p: Project, answer: str) -> tuple[int, str]:
    """`bricksync unlock` with its stdin on a pseudo-terminal, answering the question."""
    return on_a_terminal(p.root, answer, "unlock", "--target", "prod")


def test_unlock_on_a_terminal_clears_only_on_yes(seeded: Project) -> None:
    p = seeded
    held = lock_of(p, lease=300)
    held.acquire("apply")
    code, out = _unlock_on_a_terminal(p, "y")
    assert code == 1 and "Only 'yes' will be accepted" in out and "unlock cancelled" in out, out
    assert stored(p).token == held.token
    code, out = _unlock_on_a_terminal(p, "yes")
    assert code == 0 and "Released the lock of 'prod'" in out and stored(p) is None, out
