"""A state document -> the concrete settings for one target. Pure.

Source values -> target values (`values:`, core/values.py), per-target overrides, dev paths ->
target paths, source compute names -> target names -> target IDs, `${job:KEY}` -> the target job
carrying that key, run_as principals mapped, and the ownership tags that make the job bricksync's.
"""

from __future__ import annotations

import copy
import re
from typing import Any

from .errors import Problem, did_you_mean
from .jobrules import check_rules
from .model import BUDGET_KIND, COMPUTE_KINDS, OBJECT_KINDS, StateDoc, TargetConfig
from .normalize import clone
from .overrides import applies, named_item, path_parts
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
from .values import covered, rewrite_settings

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
    """Set an override's path, making the mappings on the way; a list item on the way must exist
    (whether an override applies at all is overrides.applies()'s to say). ValueError says why not."""
    parts = path_parts(dotted)
    node = settings
    for field, name in parts[:-1]:
        if name is not None:
            node = named_item(node, field, name)
            continue
        if node.get(field) is None:
            node[field] = {}
        node = node[field]
        if not isinstance(node, dict):
            raise ValueError(f"'{field}' is not a mapping")
    last = parts[-1][0]
    if value is None:
        node.pop(last, None)
    else:
        node[last] = copy.deepcopy(value)


def principal(value: str) -> dict[str, str]:
    """A run_as entry for a principal: service principals are named by application ID (a UUID)."""
    return {"service_principal_name": value} if UUID_RE.match(value) else {"user_name": value}


def apply_overrides(settings: dict, target: TargetConfig, key: str) -> tuple[list[str], list[tuple[str, str]]]:
    """The target's overrides for this key applied to `settings` in place: (the paths applied,
    [(message, field)] of those that could not be)."""
    applied: list[str] = []
    failed: list[tuple[str, str]] = []
    for scope in ("*", key):
        for dotted, value in (target.overrides.get(scope) or {}).items():
            if not applies(scope, dotted, settings):
                continue
            try:
                _set_dotted(settings, dotted, value)
                applied.append(dotted)
            except ValueError as exc:
                failed.append((f"override of targets.{target.name}.overrides.{scope}: {exc}", dotted))
    return applied, failed


def override_problems(doc: StateDoc, target: TargetConfig, schema: SchemaTable | None = None) -> list[Problem]:
    """What jobs/create would refuse in this document once the target's overrides apply
    (offline: `validate` runs it per target; `plan` gets the same from render())."""
    settings = clone(doc.settings)
    rewritten = _rewrite_values(settings, target)
    applied, failed = apply_overrides(settings, target, doc.key)
    values = _value_problems(doc, settings, rewritten, applied)
    if not (applied or failed):
        return values
    _own(settings, doc.key)
    return values + _rule_problems(doc, settings, target, schema, failed)


def _rewrite_values(settings: dict, target: TargetConfig) -> list[tuple[str, str]]:
    """The target's `values:` rewrites, before its overrides (an override is the target's value
    as written: never rewritten). [(field, error)] where capture could not invert one."""
    return rewrite_settings(settings, target.values, f"targets.{target.name}.values")


def _value_problems(doc: StateDoc, settings: dict, errors: list[tuple[str, str]], overridden: list[str]) -> list[Problem]:
    """The rewrite errors left once the overrides applied: an overridden field's value is the override's."""
    name = settings.get("name", doc.key)
    return [Problem(message, file=doc.file or None, job=name, field=where)
            for where, message in errors if not covered(where, overridden)]


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
    rewritten = _rewrite_values(settings, target)
    overridden, failed = apply_overrides(settings, target, doc.key)
    problems: list[Problem] = _value_problems(doc, settings, rewritten, overridden) if rewritten else []
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
