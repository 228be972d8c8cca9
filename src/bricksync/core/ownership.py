"""Which live jobs are bricksync's (issue 25 point 1). Pure.

A `bricksync-key` tag is a claim anyone who can edit a job can make. A tagged job is managed only
when bricksync has its own word for it: its id is in the trusted record of the jobs bricksync
created or adopted (edges/trusted.py, a folder only bricksync's identity may write), or the
service says bricksync's identity created it (`creator_user_name` is server-set, never sent by a
client: a deployment from before the record keeps working). Any other tagged job is a claim:
shown, never updated, deleted or counted as a second job with that key.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from .render import managed_key


def claimed_ids(live: Iterable[dict], owned: Mapping[str, int], me: str | None) -> set[int]:
    """IDs of the tagged jobs that are not bricksync's (claims). A job the record names under one
    key is bricksync's for that key only: one of its jobs re-tagged by hand with another key does
    not become that key's job. Two jobs bricksync made with one key stay a conflict (DESIGN.md)."""
    recorded_as = {job_id: key for key, job_id in owned.items()}
    out = set()
    for job in live:
        key = managed_key(job)
        if not key:
            continue
        job_id = int(job["job_id"])
        if owned.get(key) == job_id:
            continue
        creator = job.get("creator_user_name")
        mine = bool(me) and isinstance(creator, str) and creator.lower() == str(me).lower()
        if not mine or job_id in recorded_as:  # (recorded under another key)
            out.add(job_id)
    return out


def claim_note(job_id: int, key: str, creator: object) -> str:
    by = f" (created by {creator})" if isinstance(creator, str) and creator else ""
    return (f"job {job_id}{by} carries bricksync-key={key} but bricksync neither created nor adopted it: "
            "an untrusted claim, left alone (never updated, deleted, or counted as a conflict). If it is "
            "meant to be managed, adopt it explicitly (plan/apply --adopt) after checking who owns it")


def new_owned(actions: Iterable, old: Mapping[str, int], done: Mapping[tuple[str, str], int | None]) -> dict[str, int]:
    """The record after an apply: every job the plan treated as bricksync's, the ones created or
    adopted now (`done`: (key, action) -> job id of the actions that succeeded), less the deleted."""
    out: dict[str, int] = {}
    for a in actions:
        kind = str(a.action)
        if kind in ("update", "no-op", "orphan") and a.job_id is not None:
            out[a.key] = int(a.job_id)
        elif kind == "conflict" and a.key in old:
            out[a.key] = old[a.key]
        if kind in ("create", "adopt") and done.get((a.key, kind)) is not None:
            out[a.key] = int(done[(a.key, kind)])  # type: ignore[arg-type]
        elif kind == "adopt" and a.key in old:
            out[a.key] = old[a.key]
        if kind == "orphan" and done.get((a.key, "delete")) is not None and out.get(a.key) == done[(a.key, "delete")]:
            del out[a.key]
    return out
