"""Desired (state/) vs live (target workspace) -> a Plan. Pure.

Matching is by the `bricksync-key` tag, never by name alone. Documents are compared in
canonical form first (cheap equality); deepdiff runs only where they differ, and its paths
name tasks by task_key and clusters by job_cluster_key instead of list indexes.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

from deepdiff import DeepDiff
from deepdiff.helper import notpresent

from .defaults import MISSING, default_at, ignore_computed
from .errors import Problem
from .fileplan import FileAction
from .model import StateDoc, TargetConfig
from .normalize import digest, normalize_job, normalize_settings, runs_as_creator
from .ownership import claim_note
from .references import Inventory
from .render import KEY_TAG, managed_key, pending_jobs, principal, render
from .secrets import REDACTED, REDACTED_CHANGED, redact_change
from .traps import cluster_specs, only_what_state_sets, policy_conflicts, write_only_changes, write_only_values

PLAN_VERSION = 1
# What names a list's entries in diff paths (`tasks[ingest]`, `parameters[catalog]`: the names
# overrides address them by); a list whose entries do not all carry one distinct name keeps indexes.
IDENTITY_KEYS = ("task_key", "job_cluster_key", "environment_key", "name")


def identity_key(value: list) -> str | None:
    """The key naming every entry of `value` once, or None."""
    for k in IDENTITY_KEYS:
        if value and all(isinstance(v, dict) and isinstance(v.get(k), str) for v in value) and \
                len({v[k] for v in value}) == len(value):
            return k
    return None


class ActionKind(StrEnum):
    """What a plan does with one key. A str: JSON, Markdown and saved plans carry the bare value
    ("create"), and comparisons with plain strings keep working."""

    CREATE = "create"
    UPDATE = "update"
    ADOPT = "adopt"
    NO_OP = "no-op"
    ORPHAN = "orphan"
    CONFLICT = "conflict"


ORDER = {"create": 0, "update": 1, "adopt": 1, "orphan": 2, "conflict": 3, "no-op": 4}


@dataclass
class Change:
    path: str
    before: Any = None
    after: Any = None
    op: str = "~"  # ~ changed, + added, - removed
    default: bool = False  # `after` is the service's default: the field is left out and goes back to it
    write_only: bool = False  # the API never returns it: `before` is what bricksync last sent (traps.py)

    def describe(self) -> str:
        if self.write_only:
            after = fmt(self.after) if self.after is not None else "(unset: the service's default)"
            return (f"~ {self.path}: (not readable from the API; last sent "
                    f"{fmt(self.before) if self.before is not None else 'nothing'}) → {after}")
        if self.after == REDACTED_CHANGED:
            return f"{self.op} {self.path}: {REDACTED_CHANGED}"
        if self.default:
            return f"~ {self.path}: {fmt(self.before)} → {fmt(self.after)} (default)"
        if self.op == "+":
            return f"+ {self.path}: {fmt(self.after)}"
        if self.op == "-" and self.path.startswith("permissions["):
            return f"- {self.path}: {fmt(self.before)}"  # a revoked grant
        if self.op == "-":
            return f"- {self.path}: {fmt(self.before)} → (unset)"
        return f"~ {self.path}: {fmt(self.before)} → {fmt(self.after)}"


@dataclass
class Action:
    key: str
    action: ActionKind  # create | update | adopt | no-op | orphan | conflict (a plain str is converted)
    name: str
    job_id: int | None = None
    settings: dict | None = None  # what apply sends (jobs/create or jobs/reset); None on a permissions-only update
    changes: list[Change] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    job_ids: list[int] = field(default_factory=list)  # conflict: every job carrying the key
    file: str | None = None
    # Permissions (aclplan.py): the access_control_list to send after the create/update (None:
    # no permission call), PUT (replace) or PATCH, and the digest of the job's desired ACL.
    acl: list[dict] | None = None
    acl_replace: bool = False
    acl_digest: str | None = None
    acl_first: bool = False  # the permission call goes before jobs/reset (it takes the job from a foreign owner)
    # The write-only values `settings` sends (traps.write_only_values): recorded in the target's
    # write-only index once the write succeeded, so a later change to them alone is planned.
    write_only: dict | None = None

    def __post_init__(self) -> None:
        self.action = ActionKind(self.action)  # ValueError on an unknown kind (a saved plan: "not a plan file")

    @property
    def writes(self) -> bool:
        return self.action in (ActionKind.CREATE, ActionKind.UPDATE, ActionKind.ADOPT)


@dataclass(frozen=True)
class Unchanged:
    """A state document already known to match its one live job (their digests are equal)."""

    key: str
    name: str
    file: str
    job_id: int


@dataclass
class Plan:
    target: str
    host: str
    actions: list[Action] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    fingerprint: str = ""
    watched: list[int] = field(default_factory=list)  # live jobs the fingerprint covers
    acl_index_dirty: bool = False  # the target's permissions index should be written after apply
    missing_paths: list[dict] = field(default_factory=list)  # preflight: {key, job, task, path, field}
    files: list[FileAction] = field(default_factory=list)  # notebooks and files (fileplan.py), by path
    files_index_dirty: bool = False  # the target's files index should be written after apply
    owned: dict[str, int] = field(default_factory=dict)  # the trusted record read (key -> job id): see ownership.py
    owned_problem: str = ""  # why that record could not be read ("" when it could, or there is none)

    def of(self, kind: str) -> list[Action]:
        return [a for a in self.actions if a.action == kind]

    @property
    def has_changes(self) -> bool:
        return any(a.writes for a in self.actions) or bool(self.of("orphan")) or bool(self.of("conflict")) or \
            any(f.action != "no-op" for f in self.files)

    def file_counts(self) -> dict[str, int]:
        return {k: sum(f.action == k for f in self.files)
                for k in ("create", "update", "adopt", "orphan", "conflict", "no-op")}

    def counts(self) -> dict[str, int]:
        return {k: len(self.of(k)) for k in ("create", "update", "adopt", "orphan", "conflict", "no-op")}

    def headline(self) -> str:
        c = self.counts()
        text = f"{c['create']} to create, {c['update']} to update"
        if c["adopt"]:  # an adopt tags an existing job in place: neither a create nor an update of a managed job
            text += f", {c['adopt']} to adopt"
        text += f", {c['orphan']} orphans"
        if c["conflict"]:
            text += f", {c['conflict']} conflicts"
        text += f", {c['no-op']} unchanged"
        if self.files:
            f = self.file_counts()
            text += (f"; files: {f['create']} to create, {f['update'] + f['adopt']} to update, {f['orphan']} orphans"
                     + (f", {f['conflict']} conflicts" if f["conflict"] else "") + f", {f['no-op']} unchanged")
        return text

    def to_dict(self) -> dict:
        return {"version": PLAN_VERSION, **asdict(self)}

    @classmethod
    def from_dict(cls, data: dict) -> Plan:
        actions = [Action(**{**a, "changes": [Change(**c) for c in a.get("changes", [])]})
                   for a in data.get("actions", [])]
        return cls(target=data["target"], host=data["host"], actions=actions, warnings=data.get("warnings", []),
                   fingerprint=data.get("fingerprint", ""), watched=data.get("watched", []),
                   acl_index_dirty=bool(data.get("acl_index_dirty", False)),
                   missing_paths=data.get("missing_paths", []),
                   files=[FileAction(**f) for f in data.get("files", [])],
                   files_index_dirty=bool(data.get("files_index_dirty", False)),
                   owned={str(k): int(v) for k, v in (data.get("owned") or {}).items()},
                   owned_problem=str(data.get("owned_problem") or ""))


def fmt(value: Any) -> str:
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True)
    if isinstance(value, str):
        return value if value and value.strip() == value else json.dumps(value)
    return json.dumps(value)


def _keyed(value: Any) -> Any:
    """Lists of identified entries become mappings keyed '[key]' so diff paths name them."""
    if isinstance(value, dict):
        return {k: _keyed(v) for k, v in value.items()}
    if isinstance(value, list):
        ident = identity_key(value)
        if ident:
            return {f"[{v[ident]}]": _keyed(v) for v in value}
        return [_keyed(v) for v in value]
    return value


def _path(parts: list[Any]) -> str:
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        elif isinstance(part, str) and part.startswith("["):
            out += part
        else:
            out += f".{part}" if out else str(part)
    return out


def field_changes(live: dict, desired: dict) -> list[Change]:
    """Field-level changes turning canonical `live` into canonical `desired`."""
    diff = DeepDiff(_keyed(live), _keyed(desired), view="tree", verbose_level=2)
    changes = []
    for report in diff.values():
        for level in report:
            before = None if level.t1 is notpresent else level.t1
            after = None if level.t2 is notpresent else level.t2
            op = "+" if level.t1 is notpresent else "-" if level.t2 is notpresent else "~"
            parts = level.path(output_format="list")
            path = _path(parts)
            # Prod may hold a secret (a password in spark_env_vars): a diff never prints it.
            shown_before, shown_after = redact_change(path, _plain(before), _plain(after))
            to_default = default_at(parts, desired) if op == "-" else MISSING
            if to_default is not MISSING and shown_before != REDACTED:
                # What the field gets once left out (max_concurrent_runs: 5 → 1), not "(unset)"
                changes.append(Change(path, shown_before, to_default, "~", default=True))
                continue
            changes.append(Change(path, shown_before, shown_after, op))
    return sorted(changes, key=lambda c: c.path)


def _plain(value: Any) -> Any:
    """Undo _keyed for display and JSON."""
    if isinstance(value, dict):
        if value and all(isinstance(k, str) and k.startswith("[") for k in value):
            return [_plain(v) for v in value.values()]
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def fingerprint(live_jobs: list[dict], digests: dict[int, str] | None = None) -> str:
    """Hash of the live jobs a plan read: apply refuses a saved plan when it changed.
    `digests`: digests of their canonical forms already computed by the caller."""
    digests = digests or {}
    canon = sorted((int(j["job_id"]), digests.get(int(j["job_id"])) or digest(normalize_job(j, ordered=False, copy=False)))
                   for j in live_jobs)
    return hashlib.sha256(json.dumps(canon).encode()).hexdigest()


def adopted_twice(plan: Plan) -> list[Problem]:
    """One live job adopted by two keys (an adoption record and `--adopt` by name, or two state files
    of one name): apply's parallel workers would race to tag it and the next apply finds a conflict.
    An error naming both keys and the job, before any write (a saved plan is checked again)."""
    by_job: dict[int, list[Action]] = {}
    for action in plan.actions:
        if action.action == "adopt" and action.job_id is not None:
            by_job.setdefault(action.job_id, []).append(action)
    return [Problem(f"job {job_id} would be adopted by {len(acts)} keys ({', '.join(a.key for a in acts)}): one "
                    "job takes one key; remove the other adoptions (state/adopt/, or rename a state file's job for "
                    "--adopt)", file=acts[1].file, job=acts[1].name)
            for job_id, acts in sorted(by_job.items()) if len(acts) > 1]


def adopted_elsewhere(adopt_ids: dict[str, int], live_by_id: dict[int, dict], file: str | None) -> list[Problem]:
    """Adoption entries whose job another key manages already (it carries bricksync-key=OTHER):
    adopting it would take the job from that key's file. An error of the plan, before any write."""
    out = []
    for key, job_id in sorted(adopt_ids.items()):
        owner = managed_key(live_by_id[job_id]) if job_id in live_by_id else None
        if owner is not None and owner != key:
            out.append(Problem(f"job {job_id} is recorded for adoption as '{key}', but key '{owner}' manages it "
                               f"(it carries {KEY_TAG}={owner}): remove this entry (adopting it would take the "
                               f"job from {owner}'s state file)", file=file, field=f"adopt.{key}"))
    return out


# long: the hot path of plan, one pass over docs and live jobs collecting every problem
def build_plan(docs: list[StateDoc], live: list[dict], target: TargetConfig, inventory: Inventory, *,
               host: str = "", adopt: bool = False, unchanged: list[Unchanged] | None = None,
               digests: dict[int, str] | None = None, schema: Any = None,
               adopt_ids: dict[str, int] | None = None, adopt_file: str | None = None,
               claimed: set[int] | None = None,
               write_only: dict[str, dict] | None = None) -> tuple[Plan, list[Problem]]:
    """The plan, and every problem that stops it (all of them, not the first). `unchanged`:
    documents the caller already found equal to their live job (no-ops, not rendered again);
    `digests`: live job id -> digest of its canonical settings, where already computed.
    `adopt_ids`: key -> live job ID recorded by `bricksync import` (state/adopt/<target>.yml):
    that unmanaged job is adopted in place, whatever its name.
    `claimed`: IDs of tagged jobs bricksync neither created nor adopted (core/ownership.py): shown,
    never updated or deleted, never a conflict; adopted only with `adopt`.
    `write_only`: the target's write-only index (job id -> traps.write_only_entry last sent)."""
    plan = Plan(target=target.name, host=host)
    sent = write_only or {}
    problems: list[Problem] = []
    managed: dict[str, list[dict]] = {}
    claims: dict[str, list[dict]] = {}
    unmanaged_by_name: dict[str, list[dict]] = {}
    for job in live:
        key = managed_key(job)
        if key and int(job["job_id"]) in (claimed or ()):
            claims.setdefault(key, []).append(job)
        elif key:
            managed.setdefault(key, []).append(job)
        else:
            name = str((job.get("settings") or {}).get("name", "")).lower()
            unmanaged_by_name.setdefault(name, []).append(job)
    job_ids = {k: int(jobs[0]["job_id"]) for k, jobs in managed.items() if len(jobs) == 1}
    live_by_id = {int(j["job_id"]): j for j in live}
    problems += adopted_elsewhere(adopt_ids or {}, live_by_id, adopt_file)
    adopt_ids = {k: v for k, v in (adopt_ids or {}).items() if k not in managed}
    for key, job_id in adopt_ids.items():  # imported jobs: their IDs are known before they are adopted
        if job_id in live_by_id and not managed_key(live_by_id[job_id]):
            job_ids[key] = job_id
    unchanged = unchanged or []
    watched = [j for jobs in managed.values() for j in jobs]
    for doc in sorted(docs, key=lambda d: d.key):
        name = str(doc.settings.get("name", doc.key))
        settings, render_problems = render(doc, target, inventory, job_ids, schema=schema)
        render_problems = render_problems or _policy_problems(settings, inventory, name, doc.file)
        problems.extend(render_problems)
        if render_problems:
            continue
        settings = _queue_spelled_out(settings)
        desired = normalize_settings(settings, ordered=False)
        current = managed.get(doc.key, [])
        claim_notes = [claim_note(int(j["job_id"]), doc.key, j.get("creator_user_name"))
                       for j in claims.get(doc.key, [])]
        if not current and adopt and len(claims.get(doc.key, [])) == 1:  # explicit: --adopt
            job = claims[doc.key][0]
            watched.append(job)
            action = _update(doc, job, settings, desired, "adopt", inventory.policies, sent)
            action.notes = [f"adopts job {job['job_id']}, which carries {KEY_TAG}={doc.key} but was neither "
                            "created nor adopted by bricksync (--adopt): check who owns it"]
            plan.actions.append(action)
            continue
        plan.warnings.extend(claim_notes)
        if len(current) > 1:
            ids = sorted(int(j["job_id"]) for j in current)
            plan.actions.append(Action(doc.key, "conflict", name, job_ids=ids, file=doc.file, notes=[
                f"{len(ids)} jobs carry {KEY_TAG}={doc.key} ({', '.join(map(str, ids))}); left alone. "
                "Delete the extra ones (or remove their tag) and plan again."]))
            continue
        if not current and doc.key in adopt_ids:
            recorded = live_by_id.get(adopt_ids[doc.key])
            owner = managed_key(recorded) if recorded else None
            if recorded is not None and owner is None:
                watched.append(recorded)
                action = _update(doc, recorded, settings, desired, "adopt", inventory.policies, sent)
                action.notes = [f"adopts job {recorded['job_id']} in place (recorded by bricksync import): it will "
                                f"carry {KEY_TAG}={doc.key}"]
                plan.actions.append(action)
                continue
            if owner is not None and owner != doc.key:
                continue  # a problem already (adopted_elsewhere): the plan stops
            if owner is not None:  # it carries this key but is no job of bricksync's (a claim)
                plan.actions.append(Action(doc.key, "conflict", name, job_ids=[int(recorded["job_id"])],
                                           file=doc.file, notes=[
                    f"bricksync import recorded job {recorded['job_id']} for adoption, but it carries "
                    f"{KEY_TAG}={owner} without being bricksync's; left alone. Fix state/adopt/ and plan again."]))
                continue
            plan.warnings.append(f"'{name}': job {adopt_ids[doc.key]} recorded for adoption no longer exists; "
                                 "it will be created")
        if not current:
            namesakes = unmanaged_by_name.get(name.lower(), [])
            if adopt and len(namesakes) == 1:
                job = namesakes[0]
                watched.append(job)
                plan.actions.append(_update(doc, job, settings, desired, "adopt", inventory.policies, sent))
                continue
            action = Action(doc.key, "create", name, settings=settings, file=doc.file,
                            write_only=write_only_values(settings))
            for dep in pending_jobs(settings):
                action.notes.append(f"runs ${{job:{dep}}}: its job ID is known after it is created")
            if namesakes:
                ids = ", ".join(str(j["job_id"]) for j in namesakes)
                warning = (f"'{name}': an unmanaged job with this name exists ({ids}); a new job will be created "
                           "beside it. Use --adopt to take it over instead." if len(namesakes) == 1 else
                           f"'{name}': several unmanaged jobs have this name ({ids}); a new job will be created")
                plan.warnings.append(warning)
                action.notes.append(warning)
            action.notes.extend(claim_notes)
            plan.actions.append(action)
            continue
        action = _update(doc, current[0], settings, desired, "update", inventory.policies, sent)
        action.notes.extend(claim_notes)
        plan.actions.append(action)
    wanted = {d.key for d in docs} | {u.key for u in unchanged}
    for same in unchanged:
        notes = [claim_note(int(j["job_id"]), same.key, j.get("creator_user_name")) for j in claims.get(same.key, [])]
        plan.warnings.extend(notes)
        plan.actions.append(Action(same.key, "no-op", same.name, job_id=same.job_id, file=same.file, notes=notes))
    for key, jobs in sorted(claims.items()):  # claims of keys no state file has
        if key not in wanted:
            plan.warnings.extend(claim_note(int(j["job_id"]), key, j.get("creator_user_name")) for j in jobs)
    for key, jobs in sorted(managed.items()):
        if key in wanted:
            continue
        for job in jobs:
            plan.actions.append(Action(key, "orphan", str((job.get("settings") or {}).get("name", key)),
                                       job_id=int(job["job_id"]),
                                       notes=["managed by bricksync, no state file; deleted only with --prune"]))
    plan.actions.sort(key=lambda a: (ORDER[a.action], a.key))
    plan.watched = sorted(int(j["job_id"]) for j in watched)
    plan.fingerprint = fingerprint(watched, digests)
    return plan, problems + adopted_twice(plan)


def _queue_spelled_out(settings: dict) -> dict:
    """Rendered settings that send `queue` even where state leaves it to the default (enabled):
    jobs/reset of a job created through API 2.0/2.1 (which does not queue) must not depend on what
    the service defaults to then ("For jobs created with the 2.0 and 2.1 versions of the Jobs API,
    queueing is not enabled by default": docs, Updating from Jobs API 2.1 to 2.2)."""
    return settings if "queue" in settings else {**settings, "queue": {"enabled": True}}


def _policy_problems(settings: dict, inventory: Inventory, name: str, file: str | None) -> list[Problem]:
    """A value state sets that the target's cluster policy fixes otherwise: the service refuses
    the job (emulator/policies.py), so the plan does first, naming both values."""
    out = []
    for where, spec in cluster_specs(settings):
        rules = inventory.policies.get(str(spec.get("policy_id")))
        for path, value, fixed in policy_conflicts(spec, rules or {}):
            policy = inventory.by_id["policy"].get(str(spec.get("policy_id")), str(spec.get("policy_id")))
            out.append(Problem(f"sets {path} to {value!r}, but the target's policy '{policy}' fixes it to "
                               f"{fixed!r} (leave it out: the policy fills it)", file=file, job=name,
                               field=f"{where}.{path}"))
    return out


def _update(doc: StateDoc, job: dict, settings: dict, desired: dict, kind: str,
            policies: dict[str, dict[str, dict]], sent: dict[str, dict]) -> Action:
    name = str(doc.settings.get("name", doc.key))
    job_id = int(job["job_id"])
    # what the backend computed where state sets nothing is not drift (defaults.ignore_computed),
    # nor what a cluster policy filled (traps.only_what_state_sets)
    live = only_what_state_sets(ignore_computed(normalize_job(job, ordered=False), desired), desired, policies)
    # the write-only values no read shows: compared with what bricksync last sent (traps.py)
    values = write_only_values(settings)
    unseen = [Change(path, before, after, "~", write_only=True)
              for path, before, after in write_only_changes(sent.get(str(job_id)), values)]
    if live == desired and not unseen:
        return Action(doc.key, "no-op", name, job_id=job_id, file=doc.file)
    payload = dict(settings)
    live_run_as = (job.get("settings") or {}).get("run_as")
    creator = job.get("creator_user_name")
    if "run_as" not in payload and live_run_as and creator and not runs_as_creator(live_run_as, creator):
        # jobs/reset keeps the old run_as when none is sent: send the default (the owner) explicitly.
        payload["run_as"] = principal(str(creator))
    action = Action(doc.key, kind, name, job_id=job_id, settings=payload, file=doc.file, write_only=values,
                    changes=sorted(field_changes(live, desired) + unseen, key=lambda c: c.path))
    if kind == "adopt":
        action.notes.append(f"adopts unmanaged job {job_id} (same name): it will carry {KEY_TAG}={doc.key}")
    return action


def write_only_not_drift(plan: Plan) -> None:
    """Drift reads what is live, and no read shows a write-only value (traps.py): a state file's
    value that differs from what bricksync last sent is said, in a warning, never shown as drift.
    An update that held nothing else is a no-op again (in place)."""
    for i, a in enumerate(plan.actions):
        unseen = [c for c in a.changes if c.write_only]
        if not unseen:
            continue
        for c in unseen:
            plan.warnings.append(f"'{a.name}': {c.path} cannot be seen live (the Jobs API never returns it), so it "
                                 f"is not drift; state sets {fmt(c.after) if c.after is not None else 'none'}, "
                                 f"bricksync last sent {fmt(c.before) if c.before is not None else 'none'}: the "
                                 "next apply sends it")
        a.changes = [c for c in a.changes if not c.write_only]
        if a.action == "update" and not a.changes:
            plan.actions[i] = Action(a.key, "no-op", a.name, job_id=a.job_id, file=a.file, notes=a.notes)
