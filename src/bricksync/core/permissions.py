"""Job permissions (access control lists) between the API, state/ and a target. Pure.

State form, one entry per principal, sorted: `{user_name | group_name | service_principal_name:
NAME, level: LEVEL}`. Only direct entries are kept: inherited ones (workspace admins) belong to
the workspace, not the job. The same functions serve export (API -> state), plan (state ->
target, compared with the target's ACL) and capture/import (target -> state, with the mapping
reversed: `reverse_mapping`).

A principal is identified by kind and name, except that users and service principals share
one namespace here: the service returns a service principal named as a user under
`service_principal_name` (and the reverse), so matching ignores that difference and takes
the kind the service reports (`match_kinds`). That is what keeps such a job from drifting forever.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

LEVELS = ("CAN_VIEW", "CAN_MANAGE_RUN", "CAN_MANAGE", "IS_OWNER")
RANK = {level: i for i, level in enumerate(LEVELS)}
FIELDS = ("user_name", "group_name", "service_principal_name")
LABEL = {"user_name": "user", "group_name": "group", "service_principal_name": "service_principal"}
MODES = ("manage", "additive", "ignore")
MANAGES = ("CAN_MANAGE", "IS_OWNER")
UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.I)


@dataclass(frozen=True, order=True)
class Entry:
    """One direct grant. Sorted by kind (as FIELDS orders them), then name."""

    kind_rank: int
    name: str
    level: str = field(compare=False)

    @property
    def kind(self) -> str:
        return FIELDS[self.kind_rank]

    @property
    def label(self) -> str:
        """`group:data-eng`, as plan diff paths show it."""
        return f"{LABEL[self.kind]}:{self.name}"

    @property
    def person(self) -> tuple[bool, str]:
        """Identity for matching: users and service principals are one namespace."""
        return (self.kind == "group_name", self.name)

    def state(self) -> dict[str, str]:
        return {self.kind: self.name, "level": self.level}

    def request(self) -> dict[str, str]:
        return {self.kind: self.name, "permission_level": self.level}


def entry(kind: str, name: str, level: str) -> Entry:
    return Entry(FIELDS.index(kind), name, level)


# --- reading ----------------------------------------------------------------------------------

def check_entries(value: Any) -> list[tuple[str, str]]:
    """(where, message) for every problem in a `permissions:` list (state file or config)."""
    if value is None:
        return []
    if not isinstance(value, list):
        return [("", "expected a list of {user_name | group_name | service_principal_name, level}")]
    problems = []
    seen: dict[tuple[bool, str], int] = {}
    for i, item in enumerate(value):
        where = f"[{i}]"
        if not isinstance(item, dict):
            problems.append((where, "expected a mapping with a principal and a level"))
            continue
        kinds = [k for k in FIELDS if k in item]
        unknown = sorted(str(k) for k in item if k not in FIELDS and k != "level")
        if unknown:
            problems.append((where, f"unknown key {unknown[0]!r}; expected one of user_name, group_name, "
                                    "service_principal_name and level"))
        if len(kinds) != 1 or not isinstance(item.get(kinds[0] if kinds else ""), str) or not item.get(kinds[0]):
            problems.append((where, "needs exactly one of user_name, group_name, service_principal_name "
                                    "(a non-empty string)"))
            continue
        level = item.get("level")
        if level not in LEVELS:
            problems.append((f"{where}.level", f"expected one of {', '.join(LEVELS)}, got {level!r}"))
            continue
        person = entry(kinds[0], item[kinds[0]], level).person
        if person in seen:
            problems.append((where, f"{item[kinds[0]]} is listed twice (entries {seen[person]} and {i})"))
        seen[person] = i
    return problems


def from_state(value: Iterable[Mapping[str, Any]] | None) -> list[Entry]:
    """Checked state entries -> Entries (check_entries first)."""
    out = []
    for item in value or []:
        kind = next(k for k in FIELDS if k in item)
        out.append(entry(kind, str(item[kind]), str(item["level"])))
    return sorted(out)


def from_api(response: Mapping[str, Any]) -> list[Entry]:
    """A GET /permissions/jobs/{id} response -> its direct entries (inherited ones dropped)."""
    out: dict[tuple[bool, str], Entry] = {}
    for item in response.get("access_control_list") or []:
        kind = next((k for k in FIELDS if item.get(k)), None)
        if kind is None:
            continue
        direct = [p.get("permission_level") for p in item.get("all_permissions") or []
                  if not p.get("inherited") and p.get("permission_level") in RANK]
        if "permission_level" in item and item.get("permission_level") in RANK and not item.get("inherited"):
            direct.append(item["permission_level"])  # the flat shape some responses use
        if direct:
            e = entry(kind, str(item[kind]), max(direct, key=RANK.__getitem__))
            out[e.person] = e
    return sorted(out.values())


def to_state(entries: Iterable[Entry]) -> list[dict[str, str]]:
    return [e.state() for e in sorted(entries)]


def to_request(entries: Iterable[Entry]) -> list[dict[str, str]]:
    return [e.request() for e in sorted(entries)]


# --- a target's view ----------------------------------------------------------------------------

def map_principal(e: Entry, mapping: Mapping[str, str]) -> Entry:
    """A source principal as the target knows it: mapped (a UUID maps to a service principal,
    as run_as does), or as it is. Groups stay groups."""
    if e.name not in mapping:
        return e
    to = mapping[e.name]
    if e.kind == "group_name":
        return entry("group_name", to, e.level)
    return entry("service_principal_name" if UUID_RE.match(to) else "user_name", to, e.level)


def reverse_mapping(mapping: Mapping[str, str]) -> dict[str, str]:
    """target name -> source name (for capture/import); a target name mapped from two names is dropped."""
    out: dict[str, str] = {}
    dup = set()
    for src, dst in mapping.items():
        if dst in out:
            dup.add(dst)
        out[dst] = src
    return {k: v for k, v in out.items() if k not in dup}


def merge(entries: Iterable[Entry]) -> list[Entry]:
    """One entry per principal, the highest level kept (e.g. state's owner and an added CAN_MANAGE)."""
    out: dict[tuple[bool, str], Entry] = {}
    for e in entries:
        if e.person not in out or RANK[e.level] > RANK[out[e.person].level]:
            out[e.person] = e
    return sorted(out.values())


def desired(state_entries: Iterable[Entry], mapping: Mapping[str, str], added: Iterable[Entry]) -> list[Entry]:
    return merge([*(map_principal(e, mapping) for e in state_entries), *added])


def match_kinds(want: list[Entry], live: list[Entry]) -> list[Entry]:
    """`want` with each user/service principal under the kind the service reports for that name."""
    kinds = {e.person: e.kind for e in live}
    return sorted(entry(kinds.get(e.person, e.kind), e.name, e.level) for e in want)


@dataclass
class AclDiff:
    """What turns `live` into the desired ACL: changes to show, and the call to make (or none)."""

    changes: list[tuple[str, str, str | None, str | None]]  # (op, label, before, after)
    send: list[Entry] | None  # entries for the PUT (manage) or PATCH (additive); None: nothing to send
    notes: list[str] = field(default_factory=list)


def diff(live: list[Entry], want: list[Entry], mode: str) -> AclDiff:
    """manage: the direct entries become exactly `want`. additive: what is missing is added and
    lower levels raised; nothing is revoked or lowered, and the owner is never changed."""
    want = match_kinds(want, live)
    have = {e.person: e for e in live}
    need = {e.person: e for e in want}
    changes: list[tuple[str, str, str | None, str | None]] = []
    notes: list[str] = []
    patch: list[Entry] = []
    for person, e in need.items():
        old = have.get(person)
        if old is not None and old.level == e.level:
            continue
        if mode == "additive":
            if e.level == "IS_OWNER" or (old is not None and old.level == "IS_OWNER"):
                notes.append(f"owner of {e.label} differs from state; additive mode never changes the owner")
                continue
            if old is not None and RANK[old.level] > RANK[e.level]:
                continue  # additive never lowers
        changes.append(("~" if old else "+", e.label, old.level if old else None, e.level))
        patch.append(e)
    if mode == "manage":
        changes += [("-", e.label, e.level, None) for p, e in have.items() if p not in need]
    changes.sort(key=lambda c: c[1])
    if not changes:
        return AclDiff([], None, notes)
    return AclDiff(changes, list(want) if mode == "manage" else sorted(patch), notes)


# --- rules the service enforces, checked before any write ----------------------------------------

@dataclass(frozen=True)
class Identity:
    """Who applies (SCIM Me): userName (an application ID for a service principal) and groups."""

    name: str
    groups: tuple[str, ...] = ()

    @property
    def admin(self) -> bool:
        return "admins" in self.groups

    @classmethod
    def from_scim(cls, me: Mapping[str, Any]) -> Identity:
        groups = tuple(sorted(str(g.get("display") or g.get("value") or "") for g in me.get("groups") or []))
        return cls(str(me.get("userName") or ""), groups)


def rule_problems(want: list[Entry], mode: str, me: Identity | None) -> list[str]:
    """The service's refusals, named before any write: one owner, not a group; no lockout."""
    problems = []
    if mode == "manage":
        owners = [e for e in want if e.level == "IS_OWNER"]
        if len(owners) != 1:
            problems.append(f"exactly one IS_OWNER is required, found {len(owners)}"
                            + (f" ({', '.join(e.label for e in owners)})" if owners else "")
                            + ": the service refuses anything else")
    for e in want:
        if e.level == "IS_OWNER" and e.kind == "group_name":
            problems.append(f"{e.label} cannot be IS_OWNER: a job's owner must be a user or service principal")
    if mode == "manage" and me is not None and me.name and not me.admin:
        mine = [e for e in want if e.level in MANAGES and (
            (e.kind != "group_name" and e.name == me.name) or (e.kind == "group_name" and e.name in me.groups))]
        if not mine:
            problems.append(f"the applying identity {me.name} is not a workspace admin and would lose CAN_MANAGE "
                            "on the job (lockout); grant it CAN_MANAGE, e.g. targets.<target>.permissions_add: "
                            f"[{{{'service_principal_name' if UUID_RE.match(me.name) else 'user_name'}: {me.name}, "
                            "level: CAN_MANAGE}]")
    return problems


def owner_change(live: list[Entry], want: list[Entry], me: Identity | None) -> tuple[str | None, str | None]:
    """(note, refusal) for an owner change. Workspace admins may make any user or service principal
    the owner (unless the account restricts admins to themselves: RestrictWorkspaceAdmins); anyone
    else may not hand a job to another principal, so for them the change is a refusal, named now."""
    old = next((e for e in live if e.level == "IS_OWNER"), None)
    new = next((e for e in match_kinds(want, live) if e.level == "IS_OWNER"), None)
    if new is None or (old is not None and old.person == new.person):
        return None, None
    note = (f"owner changes from {old.label if old else '(none)'} to {new.label}: the service accepts this only if "
            f"{new.name} exists in the workspace")
    if me is not None and me.name and not me.admin and new.name != me.name:
        return note, (f"owner change from {old.label if old else '(none)'} to {new.label} would be refused: "
                      f"the applying identity {me.name} is not a workspace admin, and only admins can give a job to "
                      f"another principal; map the owner to {me.name} under principals, or apply as an admin")
    if me is not None and me.admin:
        note += " (and, if the account restricts workspace admins, only if it is the applying identity)"
    return note, None


def digest(entries: Iterable[Entry], mode: str) -> str:
    """Of a desired ACL (and mode): what the applied-ACL index records per job."""
    data = [mode, [[e.kind, e.name, e.level] for e in sorted(entries)]]
    return hashlib.sha256(json.dumps(data, separators=(",", ":")).encode()).hexdigest()[:32]
