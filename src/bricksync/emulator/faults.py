"""Fault injection and the request log: the knobs tests and benchmarks turn.

Modelled on the official Databricks CLI's fake server: a status on a method+path pattern for
the next N matching calls, optionally *after* the handler ran (the write happened, the
response is lost), plus probabilistic faults for soak tests.
"""

from __future__ import annotations

import random
import re
import threading
from collections import Counter
from dataclasses import dataclass, field


@dataclass
class FaultRule:
    """Answer matching requests with `status` (or drop the connection) instead of the real reply.

    method/path: regular expressions matched against the HTTP method and the URL path.
    count: how many matching calls to fault (None = every one, subject to probability).
    after: run the handler first (the write happens), then fault: the response is lost.
    drop: close the connection without any response (what a network cut looks like).
    retry_after: seconds for the Retry-After header (429/503).
    skip: let the first N matching calls through, then fault.
    probability: fault each matching call with this probability (seeded RNG of the server).
    """

    method: str = ".*"
    path: str = ".*"
    status: int = 503
    error_code: str | None = None
    message: str = "injected fault"
    count: int | None = 1
    after: bool = False
    drop: bool = False
    retry_after: int | None = None
    probability: float = 1.0
    skip: int = 0  # let this many matching calls through first (e.g. fault a look-up, not the plan's read)
    fired: int = 0
    seen: int = 0

    def matches(self, method: str, path: str) -> bool:
        return bool(re.fullmatch(self.method, method) and re.fullmatch(self.path, path))

    def body(self) -> dict:
        code = self.error_code or {
            429: "REQUEST_LIMIT_EXCEEDED", 503: "TEMPORARILY_UNAVAILABLE", 500: "INTERNAL_ERROR",
            404: "RESOURCE_DOES_NOT_EXIST", 403: "PERMISSION_DENIED", 400: "INVALID_PARAMETER_VALUE",
        }.get(self.status, "INTERNAL_ERROR")
        return {"error_code": code, "message": self.message}

    @classmethod
    def parse(cls, spec: str) -> FaultRule:
        """CLI form: 'METHOD PATH STATUS [count=N] [after] [drop] [retry_after=S] [p=0.1] [skip=N]'."""
        parts = spec.split()
        if len(parts) < 3:
            raise ValueError(f"fault rule {spec!r}: expected 'METHOD PATH STATUS [options]'")
        rule = cls(method=parts[0], path=parts[1], status=int(parts[2]))
        for opt in parts[3:]:
            name, _, value = opt.partition("=")
            if name == "after":
                rule.after = True
            elif name == "drop":
                rule.drop = True
            elif name == "count":
                rule.count = None if value in ("inf", "") else int(value)
            elif name == "skip":
                rule.skip = int(value)
            elif name == "retry_after":
                rule.retry_after = int(value)
            elif name == "p":
                rule.probability = float(value)
                rule.count = None
            else:
                raise ValueError(f"fault rule {spec!r}: unknown option {name!r}")
        return rule


@dataclass
class RequestRecord:
    method: str
    path: str
    status: int
    fault: bool


@dataclass
class Faults:
    """Thread-safe set of fault rules and the log of every request served."""

    seed: int = 0
    rules: list[FaultRule] = field(default_factory=list)
    log: list[RequestRecord] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._rng = random.Random(self.seed)
        self._in_flight: Counter = Counter()
        self._peak: Counter = Counter()

    def add(self, rule: FaultRule) -> FaultRule:
        with self._lock:
            self.rules.append(rule)
        return rule

    def clear(self) -> None:
        with self._lock:
            self.rules.clear()

    def pick(self, method: str, path: str) -> FaultRule | None:
        """The rule that faults this call, if any (consumes one of its count)."""
        with self._lock:
            for rule in self.rules:
                if not rule.matches(method, path):
                    continue
                if rule.seen < rule.skip:
                    rule.seen += 1
                    continue
                if rule.count is not None and rule.fired >= rule.count:
                    continue
                if rule.probability < 1.0 and self._rng.random() >= rule.probability:
                    continue
                rule.fired += 1
                return rule
        return None

    def record(self, method: str, path: str, status: int, fault: bool) -> None:
        with self._lock:
            self.log.append(RequestRecord(method, path, status, fault))

    def enter(self, method: str, path: str) -> None:
        """A request starts (before latency): tracks how many of this kind run at once."""
        key = f"{method} {path}"
        with self._lock:
            self._in_flight[key] += 1
            self._peak[key] = max(self._peak[key], self._in_flight[key])

    def leave(self, method: str, path: str) -> None:
        with self._lock:
            self._in_flight[f"{method} {path}"] -= 1

    def peak_in_flight(self) -> Counter:
        """Per 'METHOD /path': the most requests served at the same time (client parallelism)."""
        with self._lock:
            return Counter(self._peak)

    def counts(self) -> Counter:
        """Requests per 'METHOD /path'."""
        with self._lock:
            return Counter(f"{r.method} {r.path}" for r in self.log)

    def faults_injected(self) -> int:
        with self._lock:
            return sum(1 for r in self.log if r.fault)

    def reset_log(self) -> None:
        with self._lock:
            self.log.clear()
