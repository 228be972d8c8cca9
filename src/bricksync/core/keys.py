"""Stable keys for jobs: a slug of the name at first export, kept after renames. Pure."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

from .errors import Problem

KEY_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,99}$")
MAX_KEY = 100


def slugify(name: str) -> str:
    text = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return slug[:80].strip("-") or "job"


def assign_keys(jobs: Iterable[tuple[int, str]], known: dict[int, str], taken: set[str],
                claimable: set[str] | frozenset[str] = frozenset()) -> dict[int, str]:
    """source job id -> key for (job_id, name) pairs.

    `known` maps source job ids to the keys their state files already have (renames keep
    them). New jobs get slug(name); on a collision, slug-<job_id>, which is unique because
    job ids are. `claimable`: taken keys whose state files no source job owns yet (written by
    `import` or `capture` from the target): a new source job whose slug is one of them takes
    it over, so the job it stands for is updated in place instead of getting a second key
    (and a second target job). Deterministic: the same input gives the same keys in any order."""
    keys: dict[int, str] = {}
    used = set(taken)
    given: set[str] = set()
    for job_id, _ in sorted(jobs):
        if job_id in known and known[job_id] not in given:  # (two jobs known by one key: the first keeps it)
            keys[job_id] = known[job_id]
            given.add(known[job_id])
            used.add(known[job_id])
    # `used` is every key in use (state files, adoption records, the branch the run commits
    # to): a key given here is never one of them, so no job's file is ever overwritten.
    new = sorted((job_id, name) for job_id, name in jobs if job_id not in keys)
    slugs: dict[str, list[int]] = {}
    for job_id, name in new:
        slugs.setdefault(slugify(name), []).append(job_id)
    for slug, ids in sorted(slugs.items()):
        for job_id in ids:
            free = slug not in used or (slug in claimable and slug not in keys.values())
            key = slug if (free and len(ids) == 1) else _suffixed(slug, job_id, used)
            keys[job_id] = key
            used.add(key)
    return keys


def _suffixed(slug: str, job_id: int, used: set[str]) -> str:
    """slug-<job id>, or slug-<job id>-2, -3, ... when that too is in use (a job named
    "etl-7" has it): never a key `used` holds, and never longer than a key may be."""
    for n in range(1, len(used) + 2):
        suffix = f"-{job_id}" + (f"-{n}" if n > 1 else "")
        key = slug[:MAX_KEY - len(suffix)].rstrip("-") + suffix
        if key not in used:
            return key
    raise AssertionError("unreachable: len(used) + 1 candidates cannot all be used")


def adoption_problems(entries: list[tuple[str, object]], file: str) -> list[Problem]:
    """An adoption record's (key, job ID) entries, as read: a key listed twice (`1` and `"1"` are
    one key to bricksync), a key that is none, one job under two keys (apply would adopt it twice,
    in parallel: the second tag wins and the next apply finds a conflict)."""
    problems: list[Problem] = []
    seen: dict[str, object] = {}
    owner: dict[int, str] = {}
    for key, job_id in entries:
        if key in seen:
            problems.append(Problem(f"key '{key}' is listed twice (job {seen[key]} and job {job_id})", file=file,
                                    field=f"adopt.{key}"))
            continue
        seen[key] = job_id
        if not KEY_RE.match(key):
            problems.append(Problem(f"'{key}' is not a key (lower-case letters, digits, '-' and '_')", file=file,
                                    field=f"adopt.{key}"))
        if not isinstance(job_id, int) or isinstance(job_id, bool):
            continue
        if job_id in owner:
            problems.append(Problem(f"job {job_id} is listed under two keys, '{owner[job_id]}' and '{key}': apply "
                                    "would adopt it twice; keep the entry of the key whose state file is that job",
                                    file=file, field=f"adopt.{key}"))
        else:
            owner[job_id] = key
    return problems
