"""The apply lock of a target (issue 25.4): one workspace file per target holding a LockRecord
(core/lease.py) with a lease the holder renews in the background while it applies.

The only atomic primitive is the Workspace API's import without overwrite: "If path already exists
and overwrite is set to false, this call returns an error RESOURCE_ALREADY_EXISTS"
(https://docs.databricks.com/api/workspace-objects/v1/import.md; databricks-sdk service/workspace.py
WorkspaceAPI.import_). Delete and export answer RESOURCE_DOES_NOT_EXIST for a missing path
(https://docs.databricks.com/api/workspace-objects/v1/delete.md, .../export.md): "gone" is an answer,
not a failure. The rules built on it:

- acquire: create the lock file without overwrite. When it exists and its lease is live: refused,
  whoever and wherever the holder is. When its lease has expired: take it over under a *claim*.
- claim: a second file named after the record's token, created without overwrite, so at most one
  run at a time may delete the record carrying that token once its lease has expired: two takers of
  one expired lease cannot both win.
- holder and takers are kept apart by time, as leases are: a taker acts only once the lease has
  expired; the holder writes nothing (no renewal, no job) in the last sixth of its lease or after,
  and renews without the SDK's retries (a renewal cannot land minutes late).
- renew: re-read; still ours and in time: rewrite with a new expiry.
- release: re-read; still ours: delete. A replaced lock is left alone. Close to (or past) its
  expiry, a release goes under the claim of its own token, as a taker would.

A run that crashes while holding a claim (a takeover, a few calls long) leaves it behind: that lease
cannot be taken over until `bricksync unlock` clears the lock and its claims.

Where (lock_place, resolved once from the target's config): with `targets.<t>.identity` set, every
apply of the target runs as that identity (apply refuses other credentials), so the lock lives in its
home folder beside the trusted records (edges/trusted.py): "All other users have No Permissions" there,
so no other user can delete a live lock or plant a forged one. Without it, several identities may
apply, and the only folder all of them may write is /Shared, where any user can also delete or
forge the lock. While moving, a live lock an older bricksync left in /Shared is honoured (refused
as held), since that older run may be applying and does not see the new lock.
"""

from __future__ import annotations

import base64
import getpass
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from databricks.sdk.errors import DatabricksError, NotFound, ResourceAlreadyExists

from ..core.errors import ApplyError, BricksyncError, LockedError, Problem, WorkspaceError
from ..core.escape import one_line
from ..core.lease import LEASE_DEFAULT, LEASE_MAX, LEASE_MIN, TOKEN, LockRecord, describe, renewal_interval
from .trusted import target_folder

if TYPE_CHECKING:
    from .workspace import Workspace

log = logging.getLogger("bricksync.lock")

LOCK_DIR = "/Shared/.bricksync/locks"
LEASE_ENV = "BRICKSYNC_LOCK_LEASE"
CLAIM = ".claim-"  # <lock file>.claim-<token>


@dataclass(frozen=True)
class LockPlace:
    """Where a target's lock lives: its folder and file (the claims go beside it). `legacy`: the
    /Shared lock an older bricksync takes instead, honoured while live (only when moved)."""

    folder: str
    path: str
    legacy: LockPlace | None = None


def shared_place(target: str) -> LockPlace:
    return LockPlace(LOCK_DIR, f"{LOCK_DIR}/{target}.lock")


def lock_place(target: str, identity: str | None) -> LockPlace:
    """The target's lock: in `identity`'s home folder when targets.<t>.identity names it (only it
    and admins may write there), else in /Shared (see the module's docstring for the trade-off)."""
    if not identity:
        return shared_place(target)
    folder = target_folder(identity, target)
    return LockPlace(folder, f"{folder}/apply.lock", legacy=shared_place(target))


def legacy_live(record: LockRecord, now: float) -> bool:
    """A lock an older bricksync may still be holding: a live lease of at most LEASE_MAX (what any
    bricksync with leases writes), or a record from before leases (held until unlocked, as it was
    then). Not one: an expired lease, or bytes no bricksync writes (unreadable, a lease beyond the
    maximum), which only a forger or a broken run leaves."""
    if record.version == 1:
        return True
    expiry = record.expiry()
    return bool(record.token) and expiry is not None and now < expiry <= now + LEASE_MAX + 60


class LockLost(ApplyError):
    """The lease is no longer ours (replaced, cleared, or not renewed in time): no new write is started."""


def lease_seconds(env: Mapping[str, str] | None = None) -> float:
    env = os.environ if env is None else env
    raw = env.get(LEASE_ENV, "").strip()
    try:
        value = float(raw) if raw else LEASE_DEFAULT
    except ValueError:
        value = -1.0
    if not LEASE_MIN <= value <= LEASE_MAX:  # (False for nan)
        raise ApplyError(Problem(f"${LEASE_ENV} must be a number of seconds from {LEASE_MIN:g} to {LEASE_MAX:g}, "
                                 f"got {one_line(raw)[:40]!r}"))
    return value


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


@dataclass(frozen=True)
class Released:
    """What a release did: `released` False with `note` saying why nothing was deleted."""

    released: bool
    note: str = ""


@dataclass(frozen=True)
class LockStatus:
    """A target's lock as `bricksync unlock` shows it: the record (None: not locked) and leftover claims."""

    record: LockRecord | None
    claims: list[str]
    legacy: LockRecord | None = None  # a lock an older bricksync left in /Shared (targets.<t>.identity set)
    legacy_path: str = ""


def _err(exc: DatabricksError, action: str) -> WorkspaceError:
    # The SDK appends its config to some errors ("... Config: host=..., token=***"): not the user's news
    text = (str(exc).splitlines() or [""])[0].split(". Config: ")[0]
    return WorkspaceError(Problem(f"{action} failed: {exc.error_code or type(exc).__name__}: {text[:300]}"))


class ApplyLock:
    """One run's hold on one target's lock. `token` is this run's; `record` what it last wrote."""

    def __init__(self, ws: Workspace, target: str, *, lease: float | None = None,
                 clock: Callable[[], float] = time.time, place: LockPlace | None = None):
        self.ws, self.target = ws, target
        self.place = place or shared_place(target)
        self.lease = lease_seconds() if lease is None else lease
        self.clock = clock
        self.token = uuid.uuid4().hex
        self.record: LockRecord | None = None
        self.lost: str | None = None  # set by the heartbeat: why no new write may start
        self.claim_left = False  # the claim on our own token could not be deleted: our record cannot expire away
        self._stop = threading.Event()

    @property
    def path(self) -> str:
        return self.place.path

    def _claim_path(self, token: str) -> str:
        return f"{self.path}{CLAIM}{token}"

    # --- raw file calls ---------------------------------------------------------------------
    def _put(self, path: str, data: bytes, *, overwrite: bool, once: bool = False) -> bool:
        """Write `path`; False when it exists and `overwrite` is off (RESOURCE_ALREADY_EXISTS).
        `once`: no SDK re-send (a renewal must land now or not at all)."""
        body = {"path": path, "format": "AUTO", "content": base64.b64encode(data).decode(), "overwrite": overwrite}
        try:
            self.ws._do("POST", "/api/2.0/workspace/import", body=body, ungated=True, once=once)
        except ResourceAlreadyExists:
            return False
        except DatabricksError as exc:
            raise _err(exc, f"write the apply lock {path}") from None
        except Exception as exc:  # once: what the SDK would have retried (a 429/503, a lost connection)
            if not once:
                raise
            raise WorkspaceError(Problem(f"write the apply lock {path}: not answered ({type(exc).__name__}); "
                                         "tried again at the next renewal")) from None
        return True

    def _get(self, path: str) -> bytes | None:
        try:
            data = self.ws._do("GET", "/api/2.0/workspace/export", query={"path": path}, ungated=True)
        except NotFound:
            return None
        except DatabricksError as exc:
            raise _err(exc, f"read the apply lock {path}") from None
        try:
            return base64.b64decode(data.get("content") or "")
        except ValueError:
            return b""

    def _delete(self, path: str) -> bool:
        try:
            self.ws._do("POST", "/api/2.0/workspace/delete", body={"path": path}, ungated=True)
        except NotFound:
            return False
        except DatabricksError as exc:
            raise _err(exc, f"delete the apply lock {path}") from None
        return True

    def read(self) -> LockRecord | None:
        data = self._get(self.path)
        return None if data is None else LockRecord.from_bytes(data)

    # --- claims: who may replace or delete the record with a given token --------------------------
    def _claim(self, token: str) -> bool:
        if self._put(self._claim_path(token), self.token.encode(), overwrite=False):
            return True
        # Ours already when a claim write whose response was lost was sent again by the SDK.
        return self._get(self._claim_path(token)) == self.token.encode()

    def _unclaim(self, token: str) -> None:
        try:
            self._delete(self._claim_path(token))
        except WorkspaceError as exc:  # left behind: that token's record cannot be taken over until unlock
            if token == self.token:
                self.claim_left = True
            log.warning("claim %s not removed: %s (`bricksync unlock --target %s` clears it)",
                        self._claim_path(token), exc.render(), self.target)
        else:
            if token == self.token:
                self.claim_left = False

    @contextmanager
    def _claimed(self, token: str) -> Iterator[bool]:
        won = self._claim(token)
        try:
            yield won
        finally:
            if won:
                self._unclaim(token)

    # --- acquire ----------------------------------------------------------------------------
    def acquire(self, purpose: str) -> LockRecord:
        """Hold the target's lock, or raise LockedError naming the holder and its lease."""
        record = self._acquire(purpose)
        if self.place.legacy is not None:  # ours first: two runs of this version never both read the old one
            try:
                self._honour_legacy(self.place.legacy)
            except BaseException as exc:  # refused or failed: ours is not left standing
                self._release_refused(exc)
                raise
        return record

    def _release_refused(self, exc: BaseException) -> None:
        try:
            self.release()
        except Exception as failed:  # said with the refusal; the lease frees it by itself
            detail = failed.render() if isinstance(failed, BricksyncError) else type(failed).__name__
            note = f"this run's own lock {self.path} was not released either: {detail}"
            if isinstance(exc, BricksyncError):
                exc.problems.append(Problem(note))
            else:
                log.warning("%s", note)

    def _legacy(self, place: LockPlace) -> ApplyLock:
        return ApplyLock(self.ws, self.target, lease=self.lease, clock=self.clock, place=place)

    def _honour_legacy(self, place: LockPlace) -> None:
        """A live lock an older bricksync holds in /Shared: refused as held (the caller releases ours), since that
        run may be applying and cannot see ours. Anything else there is said and not held."""
        try:
            old = self._legacy(place).read()
        except WorkspaceError as exc:  # e.g. a folder planted there: no bricksync wrote that
            log.warning("the old apply lock %s could not be read (%s): not treated as held", place.path,
                        exc.render())
            return
        if old is None:
            return
        now = self.clock()
        if not legacy_live(old, now):
            log.warning("an old apply lock is left at %s (%s): not treated as held (an older bricksync's live "
                        "lock would be); `bricksync unlock --target %s` removes it", place.path,
                        describe(old, now), self.target)
            return
        raise LockedError(Problem(f"target '{self.target}' is locked by an older bricksync in {place.path}: "
                                  f"{describe(old, now)}. That run may be applying. Let it finish (a lease "
                                  f"expires by itself), or clear it with: bricksync unlock --target {self.target}"))

    def _acquire(self, purpose: str) -> LockRecord:
        try:
            self.ws._do("POST", "/api/2.0/workspace/mkdirs", body={"path": self.place.folder}, ungated=True)
        except DatabricksError as exc:
            raise _err(exc, "create the folder of the apply lock") from None
        for _ in range(4):  # each round ends in a win, a refusal, or a record that changed meanwhile
            mine = LockRecord.new(self.token, user=holder_name(), host=socket.gethostname(), pid=os.getpid(),
                                  purpose=purpose, now=self.clock(), lease=self.lease)
            if self._put(self.path, mine.to_bytes(), overwrite=False):
                self.record = mine
                return mine
            current = self.read()
            if current is None:
                continue  # released since: try again
            if current.token == self.token:  # our write's response was lost and the SDK sent it again
                self.record = current
                return current
            if not current.expired(self.clock()):
                raise LockedError(self._held(current))
            self._take_over(current)
        raise LockedError(Problem(f"target '{self.target}': the apply lock kept changing hands while this run "
                                  "tried to take it; try again"))

    def _take_over(self, expired: LockRecord) -> None:
        """Delete an expired record, under its claim (the next round creates ours)."""
        with self._claimed(expired.token) as won:
            if not won:  # the holder renewing or releasing, or another taker: see what the lock is now
                again = self.read()
                if again is None or again.token != expired.token:
                    return
                raise LockedError(Problem(
                    f"target '{self.target}' is locked by {describe(expired, self.clock())}, and another run is "
                    "taking the expired lock over right now. Try again shortly; if this persists (a run stopped "
                    f"in the middle of a takeover), clear it with: bricksync unlock --target {self.target}"))
            again = self.read()
            if again is None or again.token != expired.token:
                return  # renewed, released or replaced meanwhile: the next round sees what it is now
            self._delete(self.path)
            log.warning("took over the apply lock of %s: %s", self.target, describe(expired, self.clock()))

    def _held(self, current: LockRecord) -> Problem:
        hint = ("If that run is dead, its lease expires by itself (then the next apply takes the lock over), or "
                if current.expiry() is not None else "It never expires by itself: if no apply is running, ")
        return Problem(f"target '{self.target}' is locked by {describe(current, self.clock())}. {hint}clear it "
                       f"with: bricksync unlock --target {self.target}")

    # --- renew (the heartbeat) --------------------------------------------------------------
    def _in_time(self) -> bool:
        """Before the last sixth of our lease: a write sent now lands before any taker may act."""
        expiry = self.record.expiry() if self.record else None
        return expiry is None or self.clock() < expiry - self.lease / 6

    def _late(self) -> None:
        self._lose(f"its lease (until {self.record.expires_at if self.record else '?'}) ran short before it "
                   "could be renewed")

    def renew(self) -> None:
        """Push our lease's expiry on; LockLost (and `lost` set) when the lock is no longer ours."""
        if not self._in_time():
            self._late()
        current = self.read()
        if current is None or current.token != self.token:
            self._lose("the lock was cleared (bricksync unlock?)" if current is None else
                       f"the lock is now held by {describe(current, self.clock())}")
        if not self._in_time():  # the read was slow
            self._late()
        assert current is not None
        renewed = current.renewed(self.clock(), self.lease)
        self._put(self.path, renewed.to_bytes(), overwrite=True, once=True)
        self.record = renewed

    def _lose(self, why: str) -> None:
        self.lost = why
        raise LockLost(self.lost_problem())

    def lost_problem(self) -> Problem:
        return Problem(f"the apply lock of '{self.target}' is no longer this run's: {self.lost}. No new write was "
                       "started after that; another run may be applying to this target. When it is done, run "
                       f"`bricksync apply --target {self.target}` again: it re-reads the target and converges")

    def check(self) -> None:
        """The write gate: raises LockLost once the lease is lost, before a write is sent."""
        if self.lost is None and not self._in_time():  # renewals fell behind: a write might land after expiry
            self.lost = (f"its lease (until {self.record.expires_at if self.record else '?'}) ran short before it "
                         "could be renewed")
        if self.lost is not None:  # short: it is each unsent write's row; lost_problem() is said once
            raise LockLost(Problem(f"not sent: this run lost the apply lock of '{self.target}'"))

    @contextmanager
    def heartbeat(self) -> Iterator[None]:
        """Renew the lease in the background (every third of it) while the block runs."""
        thread = threading.Thread(target=self._beat, name=f"lock-{self.target}", daemon=True)
        self._stop.clear()
        thread.start()
        try:
            yield
        finally:
            self._stop.set()
            thread.join()

    def _beat(self) -> None:
        while not self._stop.wait(renewal_interval(self.lease)) and self.lost is None:
            try:
                self.renew()
            except LockLost:  # said at once (a long apply may go on for a while); the result says it again
                log.warning("lost the apply lock of %s: %s; no new write is started", self.target, self.lost)
                return
            except Exception as exc:  # a failed renewal is tried again; expiry turns it into a loss (check())
                log.warning("apply lock of %s not renewed: %s", self.target, exc)

    # --- release -----------------------------------------------------------------------------
    def release(self) -> Released:
        """Delete the lock if it is still ours; a replaced or cleared lock is left as it is, and said so."""
        if self.lost is None and self._in_time():  # no taker may act yet: read, compare, delete
            return self._release_own()
        with self._claimed(self.token) as won:  # a taker may be at it: as one of them
            if not won:
                return Released(False, "another run is taking the lock over (this run's lease had expired): "
                                       "left to it")
            return self._release_own()

    def _release_own(self) -> Released:
        current = self.read()
        if current is None:
            return Released(False, "the lock was already gone (cleared by bricksync unlock?)")
        if current.token != self.token:
            return Released(False, f"the lock is now held by {describe(current, self.clock())}: left as it is")
        self._delete(self.path)
        return Released(True)

    # --- unlock (by hand) ----------------------------------------------------------------------
    def status(self) -> LockStatus:
        if self.place.legacy is None:
            return LockStatus(self.read(), self.leftover_claims())
        return LockStatus(self.read(), self.leftover_claims(), self._legacy_record(), self.place.legacy.path)

    def _legacy_record(self) -> LockRecord | None:
        assert self.place.legacy is not None
        try:
            return self._legacy(self.place.legacy).read()
        except WorkspaceError as exc:  # not a lock (a folder?): said, and left to whoever put it there
            log.warning("the old apply lock %s could not be read: %s", self.place.legacy.path, exc.render())
            return None

    def clear(self, expected: LockRecord | None = None, *, check: bool = False,
              expected_legacy: LockRecord | None = None) -> LockRecord | None:
        """`bricksync unlock`: delete the lock and every claim left beside it; the record removed (None:
        there was none). `check`: only if the lock still is `expected` (what was shown), else LockedError.
        The record is deleted under its claim, as a taker's deletion is (a takeover under way ends
        first); a live holder's next renewal finds the lock gone and stops its writes. An old /Shared
        lock (identity set) is cleared too, after ours (`check`: if still `expected_legacy`): an older
        apply holding it may be why one is asked."""
        if check and self.place.legacy is not None and self._legacy_record() != expected_legacy:
            self._changed(self._legacy_record(), self.place.legacy.path)
        removed = self._clear(expected, check=check)
        if self.place.legacy is not None:
            old = self._legacy(self.place.legacy)
            try:
                if old.read() is not None or old.leftover_claims():
                    old.clear()
            except WorkspaceError as exc:
                log.warning("the old apply lock %s was not removed: %s", self.place.legacy.path, exc.render())
        return removed

    def _clear(self, expected: LockRecord | None, *, check: bool) -> LockRecord | None:
        current = self.read()
        if check and current != expected:
            self._changed(current)
        if current is not None and TOKEN.fullmatch(current.token):
            if not self._claim(current.token):
                time.sleep(1)  # a takeover takes a few calls: let it end
                if not self._claim(current.token):  # left by a run stopped mid-takeover: what unlock is for
                    self._delete(self._claim_path(current.token))
                    self._claim(current.token)
            again = self.read()
            if again != current:
                self._unclaim(current.token)
                if check:
                    self._changed(again)
                return self._clear(None, check=False)  # by force: whatever it is now
        if current is not None:
            self._delete(self.path)
        for path in self.leftover_claims():  # ours included
            self._delete(path)
        return current

    def _changed(self, current: LockRecord | None, where: str = "") -> None:
        now = self.clock()
        raise LockedError(Problem(
            f"the apply lock of '{self.target}'{f' in {where}' if where else ''} changed since it was shown (now: "
            f"{describe(current, now) if current else 'not locked'}): nothing removed. Run "
            f"`bricksync unlock --target {self.target}` again to see it"))

    def leftover_claims(self) -> list[str]:
        try:
            page = self.ws._do("GET", "/api/2.0/workspace/list", query={"path": self.place.folder}, ungated=True)
        except NotFound:
            return []
        except DatabricksError as exc:
            raise _err(exc, f"list {self.place.folder}") from None
        prefix = f"{self.path}{CLAIM}"
        return sorted(str(o["path"]) for o in page.get("objects", []) if str(o.get("path", "")).startswith(prefix)
                      and TOKEN.fullmatch(str(o["path"])[len(prefix):]))
