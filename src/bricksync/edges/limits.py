"""How long bricksync waits for a workspace: bounded, and configurable by environment variable.

- BRICKSYNC_HTTP_TIMEOUT (s, default 60): the longest wait for one response (the SDK's
  http_timeout_seconds), e.g. a server that accepts the connection and never answers.
- BRICKSYNC_CONNECT_TIMEOUT (s, default 10): how long a workspace that refuses connections,
  cannot be resolved or does not answer is retried before the run fails, naming the host.
- BRICKSYNC_MAX_RETRY_WAIT (s, default 120): the longest `Retry-After` honoured; a 429/503 that
  asks for more fails at once with a clear message instead of stalling the run.
- BRICKSYNC_RETRY_TIMEOUT (s, default 300, the SDK's): the budget for retrying one call
  through throttling (429) and unavailability (503).
- BRICKSYNC_MAX_BACKOFF (s, default: no cap): the longest pause between two attempts of one call
  when the workspace did not say how long to wait (a refused or dropped connection, a timeout, a
  plain 500); the SDK's own schedule is 1-10 s plus up to 1 s of jitter. A `Retry-After` (429/503;
  the SDK counts a missing one as 1 s) is always honoured in full.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass

from ..core.errors import BricksyncError, Problem

DEFAULTS = {"BRICKSYNC_HTTP_TIMEOUT": 60.0, "BRICKSYNC_CONNECT_TIMEOUT": 10.0, "BRICKSYNC_MAX_RETRY_WAIT": 120.0,
            "BRICKSYNC_RETRY_TIMEOUT": 300.0, "BRICKSYNC_MAX_BACKOFF": math.inf}


@dataclass(frozen=True)
class Limits:
    http_timeout: float
    connect_timeout: float
    max_retry_wait: float
    retry_timeout: float
    max_backoff: float = math.inf

    def backoff(self, seconds: float) -> float:
        """A pause between attempts that no `Retry-After` asked for, capped by BRICKSYNC_MAX_BACKOFF."""
        return min(seconds, self.max_backoff)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Limits:
        env = os.environ if env is None else env
        values = {}
        for var, default in DEFAULTS.items():
            raw = env.get(var, "").strip()
            try:
                value = float(raw) if raw else default
            except ValueError:
                value = -1.0
            if not value > 0:
                raise BricksyncError(Problem(f"${var} must be a number of seconds above 0, got {raw!r}"))
            values[var] = value
        return cls(http_timeout=values["BRICKSYNC_HTTP_TIMEOUT"], connect_timeout=values["BRICKSYNC_CONNECT_TIMEOUT"],
                   max_retry_wait=values["BRICKSYNC_MAX_RETRY_WAIT"], retry_timeout=values["BRICKSYNC_RETRY_TIMEOUT"],
                   max_backoff=values["BRICKSYNC_MAX_BACKOFF"])
