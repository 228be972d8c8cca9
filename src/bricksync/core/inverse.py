"""Live target settings -> a state document: the exact inverse of render. Pure.

Used by `capture` (managed jobs that drifted) and `import` (unmanaged jobs). Each step undoes
one step of render.py: target values -> source values (inverse `values:`), target IDs -> target
names -> source names (inverse compute map), target paths -> source paths (inverse path
rewrites, longest prefix first), job IDs -> `${job:KEY}`, run_as through the inverse principal
map, the target's overrides and the ownership tags taken out. Whatever the inverse cannot
express exactly is refused with the reason, never written approximately; and as the last word,
the document is rendered again and must give back the live settings field for field (the
round-trip check).
"""

from __future__ import annotations

from typing import Any

from .defaults import MISSING, default_at
from .errors import Problem
from .model import BUDGET_KIND, COMPUTE_KINDS, OBJECT_KINDS, StateDoc, TargetConfig
from .normalize import clone, normalize_job, normalize_settings
from .overrides import applies, item_name, path_parts
from .permissions import RANK, UUID_RE, Entry, desired, diff, entry, from_api, from_state, to_state
from .plan import field_changes
from .references import (
    Inventory,
    canonical_path,
    escape_literal,
    is_under,
    map_strings,
    path_sites,
    placeholder,
    reference_sites,
    refused_sites,
    rewrite_path,
)
from .render import KEY_TAG, MANAGED_TAG, MANAGED_VALUE, _set_dotted, principal, render
from .schema import SchemaTable, coerce_scalars, schema_table
from .secrets import find_secrets
from .values import covered, invert_settings

OWNERSHIP_TAGS = (KEY_TAG, MANAGED_TAG)
_MISSING = object()


def invert_path(path: str, rewrites: dict[str, str]) -> tuple[str | None, str | None]:
    """(source path, error) for a target path: the rewrite whose target prefix is longest.
    Refused: no rewrite leads there, two rewrites lead to the same prefix, or the result
    would not render back to exactly `path` (another, longer source prefix would win)."""
    if not rewrites:
        return path, None  # render leaves every path as it is
    canon = canonical_path(path)
    hits: dict[str, list[str]] = {}
    for src, dst in rewrites.items():
        if is_under(path, dst):
            hits.setdefault(canonical_path(dst).rstrip("/"), []).append(src)
    if not hits:
        targets = ", ".join(sorted(set(rewrites.values())))
        return None, f"path {path} is outside every path rewrite target ({targets}): no source path renders to it"
    prefix = max(hits, key=len)
    if len(hits[prefix]) > 1:
        return None, (f"path {path}: several path rewrites lead to {prefix} ({', '.join(sorted(hits[prefix]))}); "
                      "the source path is ambiguous")
    source = hits[prefix][0].rstrip("/") + canon[len(prefix):]
    back = rewrite_path(source, rewrites)
    if back != path:
        return None, f"path {path} maps back to {source}, which renders as {back}: not expressible exactly"
    return source, None


def invert_compute(target: TargetConfig, kind: str, target_name: str) -> tuple[str | None, str | None]:
    """(source name, error) for a target compute name. A name no mapping leads to is its own
    source name (plan resolves unmapped names as they are)."""
    mapping, where = _name_mapping(target, kind)
    sources = sorted(src for src, dst in mapping.items() if dst == target_name)
    if len(sources) > 1:
        return None, f"{kind} '{target_name}' is the mapping of several names ({', '.join(sources)}) in {where}"
    if sources:
        return sources[0], None
    if target_name in mapping:
        return None, (f"{kind} '{target_name}' is mapped to '{mapping[target_name]}' in {where}: no source name "
                      "renders to it")
    return target_name, None


def _name_mapping(target: TargetConfig, kind: str) -> tuple[dict[str, str], str]:
    """The target's source name -> target name map for a reference kind, and where it is configured
    (compute kinds under `compute:`; any other mapped kind the config defines under its section)."""
    sections = [("compute", COMPUTE_KINDS), ("objects", OBJECT_KINDS)]
    for attr, kinds in sections:
        for key, ref_kind in kinds.items():
            if ref_kind == kind:
                return dict((getattr(target, attr, None) or {}).get(key) or {}), f"targets.{target.name}.{attr}.{key}"
    return {}, f"targets.{target.name}"


def invert_run_as(target: TargetConfig, run_as: Any) -> tuple[Any, str | None]:
    """(state run_as, error) through the inverse of the target's run_as map."""
    if not (isinstance(run_as, dict) and len(run_as) == 1):
        return run_as, None
    value = next(iter(run_as.values()))
    mapping = target.principal_mapping()  # run_as and permissions share one mapping (render's)
    sources = sorted(src for src, dst in mapping.items() if dst == value)
    where = f"targets.{target.name}.run_as/principals"
    if len(sources) > 1:
        return None, f"run_as {value} is the mapping of several principals ({', '.join(sources)}) in {where}"
    if sources:
        if principal(value) != run_as:
            return None, f"run_as {run_as} is not what {where} renders for {sources[0]} ({principal(value)})"
        return principal(sources[0]), None
    if value in mapping:
        return None, f"run_as {value} is mapped to {mapping[value]} in {where}: no source principal renders to it"
    return run_as, None


def _get_dotted(settings: dict, dotted: str) -> Any:
    node: Any = settings
    for part, name in path_parts(dotted):
        if not isinstance(node, dict) or part not in node:
            return _MISSING
        node = node[part]
        if name is not None:
            node = next((x for x in node if item_name(x) == name), _MISSING) if isinstance(node, list) else _MISSING
    return node


def _unset_dotted(settings: dict, dotted: str) -> None:
    """Remove an override's path, and the mappings it leaves empty (render would make them again);
    a list item stays (render never makes one: it must exist)."""
    parts = path_parts(dotted)
    chain: list[tuple[dict, bool]] = [(settings, False)]  # (mapping, is it a list item)
    for part, name in parts[:-1]:
        nxt = chain[-1][0].get(part)
        if name is not None:
            nxt = next((x for x in nxt if item_name(x) == name), None) if isinstance(nxt, list) else None
        if not isinstance(nxt, dict):
            return
        chain.append((nxt, name is not None))
    chain[-1][0].pop(parts[-1][0], None)
    for depth in range(len(parts) - 1, 0, -1):
        node, is_item = chain[depth]
        if is_item or node != {}:
            return
        chain[depth - 1][0].pop(parts[depth - 1][0], None)


def _shown_live(live: dict, dotted: str) -> str:
    """A live value for a message: the service's default where normalization dropped it."""
    now = _get_dotted(live, dotted)
    if now is not _MISSING:
        return repr(now)
    parts = [p for field, name in path_parts(dotted) for p in ((field, f"[{name}]") if name else (field,))]
    default = default_at(parts, live)
    return "(unset)" if default is MISSING else f"{default!r} (the default)"


def effective_overrides(target: TargetConfig, key: str, live: dict) -> dict[str, Any]:
    """The overrides render applied to this key's live settings, in render's order (the key's
    win): a "*" one only where render applies it (overrides.applies: its parent exists; render
    never makes a "*" override's parent, so the live job has it exactly where it applied)."""
    out: dict[str, Any] = {}
    for scope in ("*", key):
        for dotted, value in (target.overrides.get(scope) or {}).items():
            if not applies(scope, dotted, live):
                continue
            out.pop(dotted, None)
            out[dotted] = value
    return out


# long: render's steps undone in render's order, one block each, so the two read side by side
def invert_job(job: dict, *, key: str, target: TargetConfig, inventory: Inventory, job_keys: dict[int, str],
               job_ids: dict[str, int], existing: dict | None = None,
               schema: SchemaTable | None = None) -> tuple[dict | None, list[Problem]]:
    """(canonical state settings, problems) for one live target job.

    `job_keys`: target job ID -> key of every job that is (or is being) managed; `job_ids` its
    inverse, for the round-trip render. `existing`: the job's current state settings
    (capture), whose values under the target's overrides are kept (the live ones are the
    override's, not the job's own)."""
    # "false" where the API has a boolean (the service takes it; some workspaces hold it so): typed.
    settings_in = coerce_scalars(job.get("settings") or {}, schema if schema is not None else schema_table())
    job = {**job, "settings": settings_in}
    name = str(settings_in.get("name", job.get("job_id")))
    problems: list[Problem] = []

    def fail(message: str, where: str | None) -> None:
        problems.append(Problem(message, job=name, field=where))

    owner = (settings_in.get("tags") or {}).get(MANAGED_TAG)
    if owner is not None and owner != MANAGED_VALUE:
        fail(f"tag {MANAGED_TAG}={owner} would be replaced by bricksync's ownership tag", f"tags.{MANAGED_TAG}")
    live = normalize_job(job, drop_tags=OWNERSHIP_TAGS)
    # First, before any message quotes a live value: nothing that looks like a secret goes further.
    secrets = list(find_secrets(live))
    for where, why in secrets:
        fail(f"refusing to write {why}", where)
    if secrets:
        return None, problems
    settings = clone(live)
    # A live value that looks like a bricksync reference is literal text: kept escaped ($${...}), as export does.
    map_strings(settings, escape_literal)
    # Render rewrote `values:` before its overrides: undone first, except where an override wins.
    value_errors = invert_settings(settings, target.values, f"targets.{target.name}.values")

    overrides = effective_overrides(target, key, live)
    for where, message in value_errors:
        if not covered(where, list(overrides)):
            fail(message, where)
    for dotted, value in overrides.items():
        probe = clone(live)
        try:
            _set_dotted(probe, dotted, value)
        except ValueError as exc:
            fail(f"override targets.{target.name}.overrides: {exc}", dotted)
            continue
        if normalize_settings(probe, ordered=False) != normalize_settings(live, ordered=False):
            shown = _shown_live(live, dotted)
            fail(f"live value {shown} differs from the target's override {dotted} = {value!r}: a state file "
                 f"cannot express it (change targets.{target.name}.overrides instead)", dotted)
            continue
        # The live value is the override's; the job's own value is the one state has.
        kept = _get_dotted(existing, dotted) if existing is not None else _MISSING
        if kept is _MISSING:
            _unset_dotted(settings, dotted)
        else:
            _set_dotted(settings, dotted, clone(kept))

    for site in path_sites(settings):
        source, error = invert_path(str(site.value), target.path_rewrites)
        if error:
            fail(error, site.location)
        else:
            site.set(source)
    for site in reference_sites(settings):
        if site.kind == "job":
            ref_key = job_keys.get(_as_int(site.value))
            if ref_key is None:
                fail(f"runs job {site.value}, which bricksync does not manage in '{target.name}' "
                     "(import it too)", site.location)
            else:
                site.set(placeholder("job", ref_key))
            continue
        if site.kind == BUDGET_KIND:  # account objects: each side names its own in the config
            names = sorted(n for n, i in target.budget_policies.items() if str(i) == str(site.value))
            source_name, error = (names[0], None) if len(names) == 1 else (None, (
                f"budget policy ID {site.value} is named {len(names)} times in targets.{target.name}.budget_policies"
                if names else f"budget policy ID {site.value} is not named in targets.{target.name}.budget_policies"))
            if error:
                fail(error, site.location)
            else:
                site.set(placeholder(site.kind, source_name))  # type: ignore[arg-type]
            continue
        target_name, error = inventory.name_of(site.kind, site.value)
        if error is None and target_name is not None:
            source_name, error = invert_compute(target, site.kind, target_name)
        if error:
            fail(error, site.location)
        else:
            site.set(placeholder(site.kind, source_name))  # type: ignore[arg-type]
    for where, what in refused_sites(settings):
        fail(f"holds {what}, which bricksync cannot map between workspaces", where)
    if "run_as" in settings:
        run_as, error = invert_run_as(target, settings["run_as"])
        if error:
            fail(error, "run_as")
        else:
            settings["run_as"] = run_as
    if problems:
        return None, problems

    settings = normalize_settings(settings)  # the order and form export writes
    problems = round_trip(settings, job, key=key, target=target, inventory=inventory, job_ids=job_ids)
    return (None, problems) if problems else (settings, [])


def round_trip(settings: dict, job: dict, *, key: str, target: TargetConfig, inventory: Inventory,
               job_ids: dict[str, int]) -> list[Problem]:
    """The proof: the document rendered for the target is the live job, field for field."""
    name = str((job.get("settings") or {}).get("name", job.get("job_id")))
    rendered, problems = render(StateDoc(key=key, settings=settings), target, inventory, job_ids)
    if problems:
        return problems
    got = normalize_settings(rendered, drop_tags=OWNERSHIP_TAGS, ordered=False)
    want = normalize_job(job, drop_tags=OWNERSHIP_TAGS, ordered=False)
    if got == want:
        return []
    shown = "; ".join(c.describe() for c in field_changes(want, got)[:5])
    return [Problem(f"the captured document would not render back to the live job exactly ({shown})", job=name)]


def _as_int(value: object) -> int:
    try:
        return int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return -1


# --- permissions ---------------------------------------------------------------------------------

def _source_principal(e: Entry, mapping: dict[str, str], known_kinds: dict[str, str]) -> tuple[Entry | None, str | None]:
    """The state entry that map_principal turns into `e` (the inverse of the principal mapping)."""
    sources = sorted(src for src, dst in mapping.items() if dst == e.name)
    if len(sources) > 1:
        return None, f"{e.label} is the mapping of several principals ({', '.join(sources)})"
    if not sources:
        if e.name in mapping:
            return None, f"{e.label} is mapped to {mapping[e.name]}: no source principal renders to it"
        return e, None
    src = sources[0]
    if e.kind == "group_name":
        return entry("group_name", src, e.level), None
    kind = known_kinds.get(src) or ("service_principal_name" if UUID_RE.match(src) else "user_name")
    return entry(kind, src, e.level), None


def invert_permissions(acl: dict, target: TargetConfig, existing: list[dict] | None) -> tuple[list[dict] | None,
                                                                                              list[str]]:
    """(state `permissions:`, problems) for a live job's ACL response, through the inverse of the
    target's principal mapping, without what `permissions_add` grants. The result must give back
    the live ACL under the target's mode (the round-trip check of permissions); `existing` is kept
    when it still does (so an unchanged ACL never rewrites the list)."""
    mode = target.permissions if target.permissions in ("manage", "additive") else "manage"
    added = target.permissions_add if target.permissions != "ignore" else []
    mapping = target.principal_mapping()
    live = from_api(acl)

    def left(state: list[dict]) -> list[str]:
        d = diff(live, desired(from_state(state), mapping, added), mode)
        return [f"{op} permissions[{label}]: {before} -> {after}" for op, label, before, after in d.changes] \
            if d.send is not None else []

    if existing is not None and not left(existing):
        return existing, []
    by_person = {a.person: a for a in added}
    known: dict[str, str] = {}  # the kind the state already gives a principal name
    for item in existing or []:
        for k in ("user_name", "service_principal_name"):
            if isinstance(item.get(k), str):
                known[item[k]] = k
    out: list[Entry] = []
    problems: list[str] = []
    for e in live:
        grant = by_person.get(e.person)
        if grant is not None:
            if RANK[e.level] < RANK[grant.level]:
                problems.append(f"{e.label} has {e.level}, below the {grant.level} that "
                                f"targets.{target.name}.permissions_add grants")
                continue
            if e.level == grant.level:
                continue  # what the target adds to every job is not the job's own
        source, error = _source_principal(e, mapping, known)
        if error:
            problems.append(error)
        else:
            out.append(source)  # type: ignore[arg-type]
    if problems:
        return None, problems
    state = to_state(out)
    rest = left(state)
    if rest:
        return None, ["the captured permissions would not give back the live ACL (" + "; ".join(rest[:5]) + ")"]
    return state, []
