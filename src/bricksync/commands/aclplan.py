"""Permissions in a plan: which ACLs must be read, and what each job's ACL change is. Pure.

The target's index (job id -> digest of the ACL bricksync last applied and saw hold, kept in
the target workspace) lets a plan skip reading the ACL of every job whose desired ACL has not
changed since: a no-op plan costs one index read, not one call per job. What the index cannot
know is a change made by hand in the target; drift (and plan/apply --refresh-permissions)
reads every managed job's ACL and shows it. See README, "Performance".
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ..core.errors import Problem
from ..core.model import TargetConfig
from ..core.permissions import (
    UUID_RE,
    Entry,
    Identity,
    desired,
    diff,
    digest,
    entry,
    from_api,
    from_state,
    owner_change,
    rule_problems,
)
from ..core.plan import Action, Change, Plan
from .desired import Summary

ACL_ACTIONS = ("create", "update", "adopt", "no-op")


@dataclass
class Wanted:
    """One job's desired ACL in the target."""

    key: str
    entries: list[Entry]
    digest: str


def wanted(summaries: list[Summary], target: TargetConfig, me: Identity | None) -> tuple[dict[str, Wanted],
                                                                                        list[Problem]]:
    """key -> desired ACL for every document that has `permissions:`, and the service's rules
    broken (checked for every job, before any write)."""
    out: dict[str, Wanted] = {}
    problems: list[Problem] = []
    if target.permissions == "ignore":
        return out, problems
    mapping = target.principal_mapping()
    for s in summaries:
        if s.permissions is None:
            continue  # a file without `permissions:` leaves the job's permissions alone
        entries = desired(from_state(s.permissions), mapping, target.permissions_add)
        for message in rule_problems(entries, target.permissions, me):
            problems.append(Problem(message, file=s.links.file, job=s.links.name or s.key, field="permissions"))
        out[s.key] = Wanted(s.key, entries, digest(entries, target.permissions))
    return out, problems


def to_read(plan: Plan, want: Mapping[str, Wanted], index: Mapping[str, str], refresh: bool) -> list[int]:
    """Job ids whose live ACL the plan must read: every managed one with `refresh`, else those the
    index does not vouch for."""
    out = []
    for a in plan.actions:
        w = want.get(a.key)
        if w is None or a.job_id is None or a.action not in ACL_ACTIONS or a.action == "create":
            continue
        if refresh or index.get(str(a.job_id)) != w.digest:
            out.append(a.job_id)
    return out


def apply_acls(plan: Plan, want: Mapping[str, Wanted], live: Mapping[int, dict], index: Mapping[str, str],
               mode: str, me: Identity | None = None) -> list[Problem]:
    """Fill in each action's permission change (in place); returns the owner changes the service
    would refuse (the caller stops before any write). `live`: the ACL responses read; a job not in
    it is vouched for by the index. A job whose only change is its ACL becomes an update that sends
    nothing but the permission call."""
    problems: list[Problem] = []

    def owner(a: Action, current: list[Entry], entries: list[Entry]) -> None:
        note, refusal = owner_change(current, entries, me)
        if note:
            a.notes.append(note)
        if refusal:
            problems.append(Problem(refusal, file=a.file, job=a.name, field="permissions"))

    for i, a in enumerate(plan.actions):
        w = want.get(a.key)
        if w is None or a.action not in ACL_ACTIONS:
            continue
        a.acl_digest = w.digest
        if a.action == "create":
            send = w.entries if mode == "manage" else [e for e in w.entries if e.level != "IS_OWNER"]
            a.acl = [e.request() for e in send]
            a.acl_replace = mode == "manage"
            if mode != "manage" and len(send) != len(w.entries):
                a.notes.append("additive mode: the owner stays the identity that creates the job")
            elif me is not None:  # the creator owns a new job until the PUT hands it over
                kind = "service_principal_name" if UUID_RE.match(me.name) else "user_name"
                owner(a, [entry(kind, me.name, "IS_OWNER")], w.entries)
            continue
        if a.job_id not in live:
            continue
        current = from_api(live[a.job_id])
        d = diff(current, w.entries, mode)
        if d.send is None:
            if index.get(str(a.job_id)) != w.digest:
                plan.acl_index_dirty = True  # holds, but the index does not say so yet
            a.notes.extend(d.notes)
            continue
        plan.acl_index_dirty = True
        if a.action == "no-op":
            a = plan.actions[i] = Action(a.key, "update", a.name, job_id=a.job_id, settings=None, file=a.file,
                                         acl_digest=w.digest)
        a.changes = sorted([*a.changes, *(Change(f"permissions[{label}]", before, after, op)
                                          for op, label, before, after in d.changes)], key=lambda c: c.path)
        a.acl = [e.request() for e in d.send]
        a.acl_replace = mode == "manage"
        if mode == "manage":
            owner(a, current, w.entries)
        a.notes.extend(d.notes)
    stale = set(index) - {str(a.job_id) for a in plan.actions if a.acl_digest and a.job_id is not None}
    if stale:
        plan.acl_index_dirty = True  # jobs gone or no longer managed: drop them from the index
    return problems


def new_index(plan: Plan, ok: Mapping[str, int | None]) -> dict[str, str]:
    """The index after an apply: every job whose desired ACL is known to hold. `ok`: key -> job id
    of the actions that succeeded (a failed one is left out, so the next plan reads it again)."""
    out = {}
    for a in plan.actions:
        if not a.acl_digest:
            continue
        if a.writes:
            job_id = ok.get(a.key)
            if job_id is not None:
                out[str(job_id)] = a.acl_digest
        elif a.job_id is not None:
            out[str(a.job_id)] = a.acl_digest
    return out
