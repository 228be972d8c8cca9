"""The apply lock's rules, pure (issue 25.4): a lease that expires unless its holder renews it, owned
by a run token. Who holds the lock is decided by the token and the lease alone: host names and pids
are shown to people, never trusted (a pid not visible here may be a live apply in another PID
namespace on the same host, e.g. another container).

Expiry is judged on the reader's clock against the holder's `expires_at` (UTC): hosts that share a
target need clocks kept in step (NTP); the default lease (10 min, renewed every third of it) leaves
minutes of room for skew.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime

LEASE_DEFAULT = 600.0  # seconds; BRICKSYNC_LOCK_LEASE overrides (edges/lock.py reads it)
LEASE_MIN = 1.0
LEASE_MAX = 86400.0  # a day: longer is no lease (a killed run's lock would stand for days; past year 9999 no date)
TOKEN = re.compile(r"[0-9a-f]{32}")  # uuid4().hex: the only token a claim path is built from


def iso(t: float) -> str:
    """Epoch seconds as UTC ISO 8601 with milliseconds (short test leases need more than seconds)."""
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def parse_iso(text: object) -> float | None:
    if not isinstance(text, str) or not text:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def renewal_interval(lease: float) -> float:
    """Renew well before expiry: two renewals may fail (a slow or throttled call) before the lease runs out."""
    return lease / 3


@dataclass(frozen=True)
class LockRecord:
    """What the lock file holds. `expires_at` empty: no lease (written by a bricksync before leases,
    or unreadable), which never expires by itself: only `bricksync unlock` clears it."""

    token: str
    user: str = "?"
    host: str = "?"
    pid: int | None = None
    purpose: str = "?"
    acquired_at: str = ""
    expires_at: str = ""
    version: int = 2

    @property
    def holder(self) -> str:
        return f"{self.user}@{self.host}"

    @classmethod
    def new(cls, token: str, *, user: str, host: str, pid: int, purpose: str, now: float, lease: float) -> LockRecord:
        return cls(token=token, user=user, host=host, pid=pid, purpose=purpose, acquired_at=iso(now),
                   expires_at=iso(now + lease))

    def renewed(self, now: float, lease: float) -> LockRecord:
        return replace(self, expires_at=iso(now + lease))

    def expiry(self) -> float | None:
        return parse_iso(self.expires_at)

    def expired(self, now: float) -> bool:
        expiry = self.expiry()
        return expiry is not None and now >= expiry

    def to_bytes(self) -> bytes:
        return json.dumps(asdict(self), sort_keys=True).encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> LockRecord:
        """The record, or one without a lease and token when the bytes are not a lock record (never
        an exception: an unreadable lock is still a lock)."""
        try:
            doc = json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            doc = None
        if not isinstance(doc, dict):
            return cls(token="", purpose="unreadable lock record")
        if "token" not in doc:  # before leases: {holder: user@host, host, pid, purpose, run_id, since}
            holder = _text(doc.get("holder"))
            return cls(token="", user=holder.rpartition("@")[0] or holder, host=_text(doc.get("host")),
                       pid=_pid(doc.get("pid")), purpose=_text(doc.get("purpose")),
                       acquired_at=_text(doc.get("since"), ""), version=1)
        token = str(doc.get("token"))
        return cls(token=token if TOKEN.fullmatch(token) else "", user=_text(doc.get("user")),
                   host=_text(doc.get("host")), pid=_pid(doc.get("pid")), purpose=_text(doc.get("purpose")),
                   acquired_at=_text(doc.get("acquired_at"), ""),
                   expires_at=_text(doc.get("expires_at"), "") if TOKEN.fullmatch(token) else "")


def _text(value: object, default: str = "?", limit: int = 200) -> str:
    """A field for display: a string, cut short (the file is anyone's to write in /Shared)."""
    return value[:limit] if isinstance(value, str) and value else default


def _pid(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _span(seconds: float) -> str:
    seconds = int(abs(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m {seconds % 60:02d}s"
    return f"{seconds // 3600}h {seconds % 3600 // 60:02d}m"


def describe(record: LockRecord, now: float) -> str:
    """The holder and its lease for a person: 'ci@agent-7 (pid 4242, apply) since ..., lease until ... (in 9m 12s)'."""
    pid = f"pid {record.pid}, " if record.pid is not None else ""
    since = f" since {record.acquired_at}" if record.acquired_at else ""
    expiry = record.expiry()
    if expiry is None:
        lease = ("; no lease (written by a bricksync without leases)" if record.version == 1
                 else "; no lease (unreadable record)" if not record.token or record.purpose.startswith("unreadable")
                 else "; no lease")
    elif now >= expiry:
        lease = f"; its lease expired at {record.expires_at} ({_span(now - expiry)} ago)"
    else:
        lease = f"; lease until {record.expires_at} (in {_span(expiry - now)})"
    return f"{record.holder} ({pid}{record.purpose}){since}{lease}"
