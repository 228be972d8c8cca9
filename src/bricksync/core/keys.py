"""Stable keys for jobs: a slug of the name at first export, kept after renames. Pure."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

KEY_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,99}$")


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
    for job_id, _ in jobs:
        if job_id in known:
            keys[job_id] = known[job_id]
            used.add(known[job_id])
    new = sorted((job_id, name) for job_id, name in jobs if job_id not in known)
    slugs: dict[str, list[int]] = {}
    for job_id, name in new:
        slugs.setdefault(slugify(name), []).append(job_id)
    for slug, ids in sorted(slugs.items()):
        for job_id in ids:
            free = slug not in used or (slug in claimable and slug not in keys.values())
            key = slug if (free and len(ids) == 1) else f"{slug}-{job_id}"
            keys[job_id] = key
            used.add(key)
    return keys
