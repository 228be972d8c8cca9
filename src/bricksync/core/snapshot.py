"""A source job -> its state document (export's pure core).

Checks every workspace path against the notebook root, swaps IDs for `${kind:NAME}`,
normalizes, and refuses literal secrets. Problems are returned, not raised, so one bad job
is reported and the others still export.
"""

from __future__ import annotations

from .errors import Problem
from .normalize import normalize_job
from .references import (
    Inventory,
    escape_literal,
    is_under,
    map_strings,
    path_sites,
    placeholder,
    reference_sites,
    refused_sites,
)
from .secrets import secrets_in


def snapshot_job(job: dict, *, key: str, notebook_root: str, select_tag: str, inventory: Inventory,
                 job_keys: dict[int, str]) -> tuple[dict | None, list[Problem]]:
    """(canonical settings with names, problems). `job_keys`: source job id -> key, for
    run_job_task targets that are exported now or already in state."""
    name = (job.get("settings") or {}).get("name", str(job.get("job_id")))
    return snapshot_settings(normalize_job(job, drop_tags=(select_tag,)), name=name, notebook_root=notebook_root,
                             inventory=inventory, job_keys=job_keys)


def snapshot_settings(settings: dict, *, name: str, notebook_root: str, inventory: Inventory,
                      job_keys: dict[int, str]) -> tuple[dict | None, list[Problem]]:
    """snapshot_job of settings already normalized (selection tag dropped); changes them in place."""
    problems: list[Problem] = []

    def fail(message: str, where: str) -> None:
        problems.append(Problem(message, job=name, field=where))

    # A source value that looks like a bricksync reference is literal text: kept escaped ($${...}).
    map_strings(settings, escape_literal)
    for site in path_sites(settings):
        if not is_under(str(site.value), notebook_root):
            fail(f"path {site.value} is outside the notebook root {notebook_root}", site.location)
    for site in reference_sites(settings):
        if site.kind == "job":
            target_key = job_keys.get(_as_int(site.value))
            if target_key is None:
                fail(f"runs job {site.value}, which is neither tagged for export nor in state/: tag it too",
                     site.location)
            else:
                site.set(placeholder("job", target_key))
            continue
        ref_name, error = inventory.name_of(site.kind, site.value)
        if error and site.kind == "budget_policy":  # account objects: named in the config, not listed
            error = (f"budget policy ID {site.value} is not named in source.budget_policies "
                     "(name: id pairs, or BRICKSYNC_SOURCE_BUDGET_POLICIES)")
        if error:
            fail(error, site.location)
        else:
            site.set(placeholder(site.kind, ref_name))  # type: ignore[arg-type]
    for where, what in refused_sites(settings):
        fail(f"holds {what}, which bricksync cannot map to the target workspace: remove it from the job",
             where)
    for where, why in secrets_in(settings):
        fail(f"refusing to export {why}", where)
    if problems:
        return None, problems
    return settings, []


def _as_int(value: object) -> int:
    try:
        return int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return -1
