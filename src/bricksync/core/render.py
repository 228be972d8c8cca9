"""A state document -> the concrete settings for one target. Pure.

dev paths -> target paths, source compute names -> target names -> target IDs, `${job:KEY}`
-> the target job carrying that key, run_as principals mapped, per-target overrides, and
the ownership tags that make the job bricksync's.
"""

from __future__ import annotations

import copy
import re
from typing import Any

from .errors import Problem, did_you_mean
from .jobrules import check_rules
from .model import BUDGET_KIND, COMPUTE_KINDS, OBJECT_KINDS, StateDoc, TargetConfig
from .normalize import clone
from .overrides import applies
from .references import (
    Inventory,
    map_strings,
    parse_placeholder,
    path_sites,
    reference_sites,
    rewrite_path,
    unescape_literal,
)
from .schema import SchemaTable

KEY_TAG = "bricksync-key"
MANAGED_TAG = "managed-by"
MANAGED_VALUE = "bricksync"
UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.I)
CONFIG_KEY = {kind: f"compute.{key}" for key, kind in COMPUTE_KINDS.items()}
CONFIG_KEY.update({kind: f"objects.{key}" for key, kind in OBJECT_KINDS.items()})


def managed_key(job: dict) -> str | None:
    tags = (job.get("settings") or {}).get("tags") or {}
    key = tags.get(KEY_TAG)
    return key if isinstance(key, str) and key else None


def _set_dotted(settings: dict, dotted: str, value: Any) -> None:
    """Set a dotted path, making the mappings on the way (whether an override applies at all
    is overrides.applies()'s to say)."""
    parts = dotted.split(".")
    node = settings
    for part in parts[:-1]:
        if node.get(part) is None:
            node[part] = {}
        node = node[part]
        if not isinstance(node, dict):
            raise ValueError(f"'{part}' is not a mapping")
    if value is None:
        node.pop(parts[-1], None)
    else:
        node[parts[-1]] = copy.deepcopy(value)


def principal(value: str) -> dict[str, str]:
    """A run_as entry for a principal: service principals are named by application ID (a UUID)."""
    return {"service_principal_name": value} if UUID_RE.match(value) else {"user_name": value}


def apply_overrides(settings: dict, target: TargetConfig, key: str) -> tuple[bool, list[tuple[str, str]]]:
    """The target's overrides for this key applied to `settings` in place: (any applied,
    [(message, field)] of those that could not be)."""
    applied, failed = False, []
    for scope in ("*", key):
        for dotted, value in (target.overrides.get(scope) or {}).items():
            if not applies(scope, dotted, settings):
                continue
            try:
                _set_dotted(settings, dotted, value)
                applied = True
            except ValueError as exc:
                failed.append((f"override of targets.{target.name}.overrides.{scope}: {exc}", dotted))
    return applied, failed


def override_problems(doc: StateDoc, target: TargetConfig, schema: SchemaTable | None = None) -> list[Problem]:
    """What jobs/create would refuse in this document once the target's overrides apply
    (offline: `validate` runs it per target; `plan` gets the same from render())."""
    settings = clone(doc.settings)
    applied, failed = apply_overrides(settings, target, doc.key)
    if not (applied or failed):
        return []
    _own(settings, doc.key)
    return _rule_problems(doc, settings, target, schema, failed)


def _own(settings: dict, key: str) -> None:
    """The ownership tags that make a job bricksync's (sent in the same call that creates it)."""
    settings["tags"] = {**(settings.get("tags") or {}), KEY_TAG: key, MANAGED_TAG: MANAGED_VALUE}


def _rule_problems(doc: StateDoc, settings: dict, target: TargetConfig, schema: SchemaTable | None,
                   failed: list[tuple[str, str]]) -> list[Problem]:
    name = settings.get("name", doc.key)
    out = [Problem(message, file=doc.file or None, job=name, field=where) for message, where in failed]
    for message, where in check_rules(settings, schema):
        out.append(Problem(f"{message} (with targets.{target.name}.overrides applied)", file=doc.file or None,
                           job=name, field=where))
    return out


def render(doc: StateDoc, target: TargetConfig, inventory: Inventory, job_ids: dict[str, int], *,
           in_place: bool = False, schema: SchemaTable | None = None) -> tuple[dict, list[Problem]]:
    """(settings for the target, problems). A `${job:KEY}` whose job does not exist yet in
    the target stays a placeholder: apply creates that job first and fills it in.
    `in_place`: render doc.settings itself (the caller has no further use for them).
    `schema`: the JobSettings table, where it came from another process."""
    settings = doc.settings if in_place else clone(doc.settings)
    problems: list[Problem] = []
    overridden, failed = apply_overrides(settings, target, doc.key)
    name = settings.get("name", doc.key)

    def fail(message: str, where: str) -> None:
        problems.append(Problem(message, file=doc.file or None, job=name, field=where))

    for site in path_sites(settings):
        site.set(rewrite_path(str(site.value), target.path_rewrites))
    for site in reference_sites(settings):
        ref = parse_placeholder(site.value)
        if ref is None or ref[0] != site.kind:
            fail(f"expected ${{{site.kind}:NAME}}, found {site.value!r}", site.location)
            continue
        kind, ref_name = ref
        if kind == "job":
            if ref_name in job_ids:
                site.set(job_ids[ref_name])
            continue
        if kind == BUDGET_KIND:  # account objects no workspace lists: the target's config names them
            ident = target.budget_policies.get(ref_name)
            if ident is None:
                fail(f"budget policy '{ref_name}' is not named in targets.{target.name}.budget_policies "
                     f"(name: id){did_you_mean(ref_name, target.budget_policies)}", site.location)
            else:
                site.set(ident)
            continue
        target_name = target.compute_name(kind, ref_name)
        ident, error = inventory.id_of(kind, target_name)
        if error:
            mapped = f" (mapped from '{ref_name}')" if target_name != ref_name else \
                f"; map it under targets.{target.name}.{CONFIG_KEY[kind]}"
            fail(f"{error}{mapped}", site.location)
        else:
            site.set(ident)
    map_strings(settings, unescape_literal)  # $${cluster:x} in state is the literal ${cluster:x} in the target
    run_as = settings.get("run_as")
    if isinstance(run_as, dict) and len(run_as) == 1:
        current = next(iter(run_as.values()))
        mapping = target.principal_mapping()  # run_as and permissions share one mapping
        if current in mapping:
            settings["run_as"] = principal(mapping[current])
    _own(settings, doc.key)
    if overridden or failed:
        # The document passed every check as written; overrides can break what jobs/create
        # requires (a depends_on, a limit), so the settings as they will be sent are checked
        # again before anything is written. Without overrides, rendering only maps names.
        problems.extend(_rule_problems(doc, settings, target, schema, failed))
    return settings, problems


def pending_jobs(settings: dict) -> list[str]:
    """Keys of jobs this settings runs that do not exist in the target yet."""
    out = []
    for site in reference_sites(settings):
        ref = parse_placeholder(site.value)
        if site.kind == "job" and ref:
            out.append(ref[1])
    return out


def fill_jobs(settings: dict, job_ids: dict[str, int]) -> dict:
    """Settings with every pending `${job:KEY}` replaced by its (now known) job ID."""
    out = clone(settings)
    for site in reference_sites(out):
        ref = parse_placeholder(site.value)
        if site.kind == "job" and ref and ref[1] in job_ids:
            site.set(job_ids[ref[1]])
    return out
