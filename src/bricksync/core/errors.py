"""Errors a user can act on: each names the file, job and field it is about."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass

from .escape import one_line


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


@dataclass
class Problem:
    """One thing wrong, with where it is."""

    message: str
    file: str | None = None
    line: int | None = None  # 1-based
    job: str | None = None
    field: str | None = None

    def __str__(self) -> str:
        # Every part may come from data (a job name, a workspace's error text): one line each.
        where = []
        if self.file:
            where.append(one_line(f"{self.file}:{self.line}" if self.line else self.file))
        if self.job:
            where.append(f"job '{one_line(self.job)}'")
        if self.field:
            where.append(f"field '{one_line(self.field)}'")
        message = one_line(self.message)
        return f"{': '.join(where)}: {message}" if where else message


class BricksyncError(Exception):
    """A problem the user must fix. The CLI prints it without a traceback and exits 1."""

    def __init__(self, problems: Problem | str | list[Problem]):
        if isinstance(problems, str):
            problems = [Problem(problems)]
        elif isinstance(problems, Problem):
            problems = [problems]
        self.problems = problems
        super().__init__(self.render())

    def render(self) -> str:
        if len(self.problems) == 1:
            return str(self.problems[0])
        return f"{len(self.problems)} problems:\n" + "\n".join(f"  - {p}" for p in self.problems)


class WorkspaceError(BricksyncError):
    """A workspace call failed in a way bricksync cannot recover from."""


# Typed per domain (for library callers, e.g. `except StalePlanError`); all are BricksyncError, so the
# CLI's one handler and every `except BricksyncError` keep working, with the same messages.


class PlanError(BricksyncError):
    """A plan cannot be used as given."""


class PlanFileError(PlanError):
    """Not a plan file, or a plan saved for another target or host."""


class StalePlanError(PlanError):
    """The target changed since the saved plan was made: plan again."""


class ApplyError(BricksyncError):
    """Apply refused to start or to go on."""


class ApplyCancelled(ApplyError):
    """The confirmation said no (or there was nobody to ask)."""


class PruneRefused(ApplyError):
    """A prune guard (empty state/, too many deletes) stopped apply before its first write."""


class LockedError(ApplyError):
    """Another run holds the target's apply lock."""


class LockReleaseError(ApplyError):
    """Apply did its work, then could not release the target's lock: `.result` is the ApplyResult
    (what was written); the message says how to clear the lock. The CLI exits 3."""

    def __init__(self, problems: Problem | str | list[Problem], result: object = None):
        super().__init__(problems)
        self.result = result


class ExportError(BricksyncError):
    """Export found jobs it cannot write (the result is on `.result`)."""

    def __init__(self, problems: Problem | str | list[Problem], result: object = None):
        super().__init__(problems)
        self.result = result


class Interrupted(KeyboardInterrupt):
    """Ctrl-C during a run that had begun to write: the message says what is already done, what is
    not, and that a rerun finishes it. Still a KeyboardInterrupt (a caller's Ctrl-C handling holds;
    `except Exception` does not swallow it), not a BricksyncError. `.result`: what the run did."""

    def __init__(self, message: str, result: object = None):
        super().__init__(message)
        self.message = message
        self.result = result

    def render(self) -> str:
        return self.message
