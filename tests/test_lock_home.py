"""The apply lock in the applying identity's home folder when targets.<t>.identity is set: another
workspace user can neither delete nor forge it (403), two applies at once still make one applier, and
a live lock an older bricksync left in /Shared is honoured while anything else there is only said.

Against the emulator (home folders private to their owner, as the docs say) with the real databricks-sdk."""

from __future__ import annotations

import base64
import time
import uuid

import pytest
from databricks.sdk.errors import PermissionDenied
from databricks.sdk.service.workspace import ImportFormat

from bricksync.core.errors import LockedError
from bricksync.core.lease import LockRecord
from bricksync.edges.lock import LOCK_DIR, ApplyLock, LockPlace, legacy_live, lock_place
from bricksync.edges.workspace import Workspace
from bricksync.emulator import FaultRule
from bricksync.project import Project as Facade

from .conftest import Project
from .test_apply_lock import two_applies
from .test_faults import managed

IDENTITY = "bricksync@example.com"
HOME_LOCK = f"/Users/{IDENTITY}/.bricksync/prod/apply.lock"
SHARED_LOCK = f"{LOCK_DIR}/prod.lock"
ATTACKER = "dapi-mallory"


def with_identity(p: Project) -> Project:
    text = (p.root / "config" / "bricksync.yml").read_text()
    host = "    host: " + p.prod.url
    p.write_config(text.replace(host, host + f"\n    identity: {IDENTITY}", 1))
    p.prod.users[ATTACKER] = "mallory@example.com"
    p.prod.workspace.add_user("mallory@example.com")
    return p


@pytest.fixture
def home(exported: Project) -> Project:
    return with_identity(exported)


def held(p: Project, lease: float = 60) -> ApplyLock:
    lock = ApplyLock(Workspace(p.prod.client(), "prod"), "prod", lease=lease, place=lock_place("prod", IDENTITY))
    lock.acquire("apply")
    return lock


def plant(p: Project, path: str, data: bytes) -> None:
    """Write `path` as the attacker (any user may write in /Shared)."""
    w = p.prod.client(ATTACKER)
    w.workspace.mkdirs(path.rsplit("/", 1)[0])
    w.workspace.upload(path, data, overwrite=True, format=ImportFormat.AUTO)


def leased(lease: float, token: str | None = None) -> bytes:
    return LockRecord.new(token or uuid.uuid4().hex, user="old", host="ci-7", pid=1, purpose="apply",
                          now=time.time(), lease=lease).to_bytes()


def jobs_written(p: Project, since: int) -> int:
    return sum(1 for r in p.prod.faults.log[since:] if r.method == "POST" and "/jobs/" in r.path)


# --- pure --------------------------------------------------------------------------------------

def test_the_lock_is_in_the_home_folder_only_when_identity_is_set() -> None:
    assert lock_place("prod", None) == LockPlace(LOCK_DIR, SHARED_LOCK)
    place = lock_place("prod", IDENTITY)
    assert place.path == HOME_LOCK and place.folder == HOME_LOCK.rsplit("/", 1)[0]
    assert place.legacy == LockPlace(LOCK_DIR, SHARED_LOCK)


def test_an_old_lock_is_live_only_as_an_older_bricksync_writes_one() -> None:
    now = time.time()
    assert legacy_live(LockRecord.from_bytes(leased(600)), now)
    assert not legacy_live(LockRecord.from_bytes(leased(600)), now + 601)  # expired
    assert not legacy_live(LockRecord.from_bytes(leased(10 * 86400)), now)  # a lease no bricksync writes
    assert not legacy_live(LockRecord.from_bytes(b"\xff junk"), now)
    assert legacy_live(LockRecord.from_bytes(b'{"holder": "ci@agent", "since": "2026-01-01"}'), now)  # before leases


# --- another user against the lock --------------------------------------------------------------

def test_another_user_can_neither_delete_nor_forge_the_lock(home: Project) -> None:
    p = home
    lock = held(p)
    before = p.prod.workspace.objects[HOME_LOCK]["content"]
    w = p.prod.client(ATTACKER)
    forged = leased(86400)
    with pytest.raises(PermissionDenied):
        w.workspace.delete(HOME_LOCK)
    with pytest.raises(PermissionDenied):
        w.workspace.upload(HOME_LOCK, forged, overwrite=True, format=ImportFormat.AUTO)
    with pytest.raises(PermissionDenied):  # a claim on the holder's token would block its takeover
        w.workspace.upload(f"{HOME_LOCK}.claim-{lock.token}", b"x", format=ImportFormat.AUTO)
    assert p.prod.workspace.objects[HOME_LOCK]["content"] == before
    assert lock.release().released
    for plant_it in (lambda: w.workspace.upload(HOME_LOCK, forged, format=ImportFormat.AUTO),
                     lambda: w.workspace.mkdirs(HOME_LOCK)):  # a folder in its place would block every apply
        with pytest.raises(PermissionDenied):
            plant_it()
    assert HOME_LOCK not in p.prod.workspace.objects
    res = p.run("apply", "--target", "prod", "--yes")
    assert res.code == 0, res.output
    assert SHARED_LOCK not in p.prod.workspace.objects  # nothing was taken in /Shared


def test_two_concurrent_applies_with_identity_one_applies(home: Project) -> None:
    p = home
    procs = two_applies(p)
    seen: set[str] = set()  # where the lock stood while the winner was held up (3 s)
    deadline = time.time() + 120
    while any(proc.poll() is None for proc in procs) and time.time() < deadline:
        seen |= {path for path in (HOME_LOCK, SHARED_LOCK) if path in p.prod.workspace.objects}
        time.sleep(0.05)
    results = [(proc.wait(timeout=5), proc.stdout.read()) for proc in procs]  # type: ignore[union-attr]
    assert sorted(code for code, _ in results) == [0, 1], results
    assert seen == {HOME_LOCK}, seen
    refused = next(out for code, out in results if code == 1)
    assert "is locked by" in refused and "lease until" in refused, refused
    assert len(managed(p)) == 5 and all(len(ids) == 1 for ids in managed(p).values())
    assert HOME_LOCK not in p.prod.workspace.objects  # released


# --- an older bricksync's lock in /Shared ----------------------------------------------------------

def test_a_live_old_lock_in_shared_is_honoured_and_unlock_clears_it(home: Project) -> None:
    p = home
    plant(p, SHARED_LOCK, leased(600))
    since = len(p.prod.faults.log)
    res = p.run("apply", "--target", "prod", "--yes")
    assert res.code == 1 and f"locked by an older bricksync in {SHARED_LOCK}" in res.output, res.output
    assert jobs_written(p, since) == 0 and HOME_LOCK not in p.prod.workspace.objects  # ours released
    res = p.run("unlock", "--target", "prod", "--yes")
    assert res.code == 0 and SHARED_LOCK in res.output and "Released the older" in res.output, res.output
    assert SHARED_LOCK not in p.prod.workspace.objects
    assert p.run("apply", "--target", "prod", "--yes").code == 0


def test_a_refusal_whose_own_release_fails_says_both(home: Project) -> None:
    p = home
    plant(p, SHARED_LOCK, leased(600))
    p.prod.faults.add(FaultRule("POST", "/api/2.0/workspace/delete", 403, count=1))
    res = p.run("apply", "--target", "prod", "--yes")
    assert res.code == 1 and "locked by an older bricksync" in res.output, res.output
    assert f"this run's own lock {HOME_LOCK} was not released either" in res.output, res.output
    assert HOME_LOCK in p.prod.workspace.objects  # its lease frees it


def test_unlock_removes_nothing_when_the_old_lock_changed_since_it_was_shown(home: Project) -> None:
    p = home
    mine = held(p)  # taken before the older run's: a live old lock refuses acquire
    plant(p, SHARED_LOCK, leased(600))
    f = Facade(p.root / "config" / "bricksync.yml")
    shown = f.lock("prod")
    assert shown.record == mine.record and shown.legacy is not None and shown.legacy_path == SHARED_LOCK
    plant(p, SHARED_LOCK, leased(600))  # another older run took it since
    with pytest.raises(LockedError, match=f"in {SHARED_LOCK} changed since it was shown"):
        f.unlock("prod", expected=mine.record, check=True, expected_legacy=shown.legacy)
    assert SHARED_LOCK in p.prod.workspace.objects and HOME_LOCK in p.prod.workspace.objects
    now = f.lock("prod")
    assert f.unlock("prod", expected=now.record, check=True, expected_legacy=now.legacy) == mine.record
    assert SHARED_LOCK not in p.prod.workspace.objects and HOME_LOCK not in p.prod.workspace.objects


@pytest.mark.parametrize("data", [b"not a lock", None], ids=["junk", "folder"])
def test_anything_else_in_the_old_place_is_said_and_not_held(home: Project, data: bytes | None) -> None:
    p = home
    if data is None:
        p.prod.client(ATTACKER).workspace.mkdirs(SHARED_LOCK)
    else:
        plant(p, SHARED_LOCK, data)
    res = p.run("apply", "--target", "prod", "--yes")
    assert res.code == 0, res.output
    assert SHARED_LOCK in res.output and "not treated as held" in res.output, res.output
    assert len(managed(p)) == 5


def test_an_expired_old_lock_is_not_held(home: Project) -> None:
    p = home
    plant(p, SHARED_LOCK, leased(1))
    time.sleep(1.1)
    res = p.run("apply", "--target", "prod", "--yes")
    assert res.code == 0 and "its lease expired" in res.output and SHARED_LOCK in res.output, res.output


def test_without_identity_the_lock_stays_in_shared(exported: Project) -> None:
    p = exported
    lock = ApplyLock(Workspace(p.prod.client(), "prod"), "prod", lease=60, place=lock_place("prod", None))
    lock.acquire("apply")
    assert SHARED_LOCK in p.prod.workspace.objects
    assert base64.b64decode(p.prod.workspace.objects[SHARED_LOCK]["content"])
    res = p.run("apply", "--target", "prod", "--yes")
    assert res.code == 1 and "is locked by" in res.output, res.output
    assert lock.release().released
