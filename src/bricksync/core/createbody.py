"""What a create sends, field by field, as a plan shows it (Terraform shows a create's whole body). Pure.

A create's settings are the job as `jobs/create` will receive it: rendered for the target
(path rewrites, compute and object mapping, overrides, the ownership tags), and its
permission call after it. Each leaf becomes a `+` change named as diff paths name fields
(`tasks[ingest].notebook_task.notebook_path`, `permissions[group:data-eng]`); a list of plain
values is one field. Secrets are redacted as in any diff. Reports list a bounded number of
lines (a 1,000-task job has ~10,000 fields) and count the rest; the JSON report and the plan
file hold the whole body.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from .normalize import ordered
from .permissions import FIELDS, entry
from .plan import Action, Change, identity_key
from .secrets import REDACTED, keys_and_strings, may_hold_secrets, redact_settings, secret_value

LINES_PER_JOB = 100  # body lines a report lists for one create
LINES_PER_REPORT = 1_000  # and for all creates together (a first apply of thousands of jobs)


Leaf = tuple[str, Any, str]  # (diff path, value, the key a secret check reads it under)


def _leaves(value: Any, path: str, key: str = "") -> list[Leaf]:
    if isinstance(value, dict) and value:
        # A job parameter {name: db_password, default: ...} is a key/value pair too (as secrets.py reads it).
        param = value.get("name") if isinstance(value.get("name"), str) and "default" in value else None
        out: list[Leaf] = []
        for k, item in value.items():
            out += _leaves(item, f"{path}.{k}" if path else str(k), param if (k == "default" and param) else str(k))
        return out
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        ident = identity_key(value)
        out = []
        for i, item in enumerate(value):
            # the path names an entry by its key: its key field is listed only when it is all there is
            rest = {k: v for k, v in item.items() if k != ident} if ident and len(item) > 1 else item
            out += _leaves(rest, f"{path}[{item[ident] if ident else i}]", key)
        return out
    return [(path, value, key)]


class Body:
    """A create's body as `+` changes, made only as far as a report lists them: counting the
    fields of 10,000 new jobs is cheap, checking each value for secrets is not."""

    def __init__(self, action: Action):
        settings = action.settings or {}
        self.leaves = _leaves(ordered(settings), "")
        self.grants = [g for g in action.acl or [] if any(k in g for k in FIELDS)]
        self.total = len(self.leaves) + len(self.grants)
        keys, strings = keys_and_strings(settings)
        self._risky = may_hold_secrets(keys, "\n".join(set(strings)))  # most jobs hold no secret-like text

    def changes(self, limit: int | None = None) -> list[Change]:
        n = self.total if limit is None else max(0, min(limit, self.total))
        out = [Change(path, None, self._shown(key, value), "+") for path, value, key in self.leaves[:n]]
        for grant in self.grants[:n - len(out)]:
            kind = next(k for k in FIELDS if k in grant)
            e = entry(kind, str(grant[kind]), str(grant.get("permission_level")))
            out.append(Change(f"permissions[{e.label}]", None, e.level, "+"))
        return out

    def _shown(self, key: str, value: Any) -> Any:
        if not self._risky:
            return value
        if isinstance(value, str):
            return _shown_text(key, value)
        return redact_settings(value, key)


@functools.lru_cache(maxsize=1 << 14)
def _shown_text(key: str, value: str) -> str:
    """A string value as a report shows it (the shape checks cost ~40 µs; values repeat across jobs)."""
    return REDACTED if secret_value(key, value) else value


def body_changes(action: Action) -> list[Change]:
    """Every field and grant a create sends, as `+` changes in state files' key order, secrets redacted."""
    return Body(action).changes()


@dataclass
class BodyView:
    """The part of a create's body a report lists, and what it leaves out."""

    shown: list[Change]
    total: int

    @property
    def hidden(self) -> int:
        return self.total - len(self.shown)


def body_views(actions: list[Action], *, per_job: int = LINES_PER_JOB,
               per_report: int = LINES_PER_REPORT) -> dict[str, BodyView]:
    """key -> what to list of each create's body: at most `per_job` lines each and `per_report`
    in all (creates past that budget list none, only their count)."""
    out: dict[str, BodyView] = {}
    budget = per_report
    for a in actions:
        if a.action != "create":
            continue
        body = Body(a)
        shown = body.changes(min(per_job, budget))
        budget -= len(shown)
        out[a.key] = BodyView(shown, body.total)
    return out


def hidden_line(view: BodyView, action: Action) -> str:
    """`… and 1,234 more fields (1,000 tasks, 2 job clusters, 3 grants in all)`: what a report left out."""
    settings = action.settings or {}
    counts = [(len(settings.get("tasks") or []), "task", "tasks"),
              (len(settings.get("job_clusters") or []), "job cluster", "job clusters"),
              (len(action.acl or []), "grant", "grants")]
    parts = ", ".join(f"{n:,} {one if n == 1 else many}" for n, one, many in counts if n)
    n = view.hidden
    what = f"… and {n:,} more field{'s' if n != 1 else ''}" if view.shown else \
        f"… {n:,} field{'s' if n != 1 else ''} (not listed: this report lists {LINES_PER_REPORT:,} lines of new jobs)"
    return f"{what}{f' ({parts} in all)' if parts else ''}; the whole body: --json FILE or --out PLAN"
