"""BRICKSYNC_MAX_BACKOFF: caps the pauses no Retry-After asked for; a Retry-After is waited out in full."""

from __future__ import annotations

import math
import time

import pytest
import requests

from bricksync.core.errors import BricksyncError
from bricksync.edges.limits import Limits
from bricksync.edges.workspace import _BoundedClock


def test_the_default_is_no_cap() -> None:
    limits = Limits.from_env({})
    assert limits.max_backoff == math.inf and limits.backoff(7.5) == 7.5


def test_the_cap_bounds_a_pause_and_leaves_shorter_ones() -> None:
    limits = Limits.from_env({"BRICKSYNC_MAX_BACKOFF": "0.05"})
    assert limits.backoff(1.7) == 0.05 and limits.backoff(0.01) == 0.01


@pytest.mark.parametrize("raw", ["0", "-1", "soon"])
def test_a_bad_value_is_an_error_naming_the_variable(raw: str) -> None:
    with pytest.raises(BricksyncError, match=r"\$BRICKSYNC_MAX_BACKOFF must be a number"):
        Limits.from_env({"BRICKSYNC_MAX_BACKOFF": raw})


def _sleep_while_handling(clock: _BoundedClock, err: Exception, seconds: float) -> float:
    """How long the clock sleeps when the SDK asks it to from inside its `except` block."""
    clock.begin()
    started = time.monotonic()
    try:
        raise err
    except Exception:
        clock.sleep(seconds)
    return time.monotonic() - started


def test_the_sdk_backoff_after_a_lost_connection_is_capped() -> None:
    clock = _BoundedClock(Limits.from_env({"BRICKSYNC_MAX_BACKOFF": "0.05"}))
    assert _sleep_while_handling(clock, requests.ConnectionError("Connection reset"), 5.0) < 1


def test_a_retry_after_is_waited_out_in_full() -> None:
    clock = _BoundedClock(Limits.from_env({"BRICKSYNC_MAX_BACKOFF": "0.01"}))
    err = RuntimeError("throttled")
    err.retry_after_secs = 0  # type: ignore[attr-defined]  # as the SDK sets it on a 429/503
    assert _sleep_while_handling(clock, err, 0.3) >= 0.3  # the SDK's Retry-After plus jitter, not 0.01
