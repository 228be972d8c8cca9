"""What the Jobs API does between a write and the next read beyond filling defaults: the traps
that bite tools promoting jobs between workspaces (issue 24). Pure. Each rule names its evidence.

1. Write-only fields: taken on create/reset, never returned by jobs/get.
   - `trigger.table_update.condition`: "accepted by the Jobs API on create/update but never
     returned by GET ... both ANY_UPDATED and ALL_UPDATED are dropped from the response"
     (databricks/cli#6315, fixed by databricks/cli#6442).
   - `new_cluster.apply_policy_default_values`: "The Jobs API accepts apply_policy_default_values
     but does not return it in GET responses" (databricks/cli#5731; resources.yml
     `not_returned_by_api`).
   normalize.py drops them from every canonical form (so plans compare neither side's); the
   rendered settings a plan sends still carry what a state file sets; export keeps what the
   state file already sets (a re-export must not wipe them) and says which it cannot see.
2. Values a cluster policy fills: "inside a cluster spec that sets policy_id, a field present in
   the remote but absent from both state and config is skipped" (databricks/cli#6531, after
   databricks/cli#6512: custom_tags, runtime_engine, spark_version supplied by the policy);
   the policy definition format (types fixed / unlimited / allowlist / range ..., `value`,
   `defaultValue`, `hidden`, dotted attribute paths, `custom_tags.<tag>`):
   https://docs.databricks.com/admin/clusters/policy-definition.html
3. Bundle deployments: `deployment` (JobDeployment: kind BUNDLE, metadata_file_path) and
   `edit_mode: UI_LOCKED` (SDK JobEditMode: "The job is in a locked UI state and cannot be
   modified") belong to the bundle that deployed the source job.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping
from typing import Any

from .defaults import WRITE_ONLY_CLUSTER, WRITE_ONLY_TRIGGER

# --- 1. write-only fields (the table is defaults.py's: WRITE_ONLY_TRIGGER, WRITE_ONLY_CLUSTER) ----


def cluster_specs(settings: dict) -> Iterator[tuple[str, dict]]:
    """(plan-style path, spec) of every cluster spec in job settings: job clusters, task clusters
    and the clusters of for_each inner tasks."""
    for jc in settings.get("job_clusters") or []:
        if isinstance(jc, dict) and isinstance(jc.get("new_cluster"), dict):
            yield f"job_clusters[{jc.get('job_cluster_key')}].new_cluster", jc["new_cluster"]
    for task in settings.get("tasks") or []:
        if not isinstance(task, dict):
            continue
        where = f"tasks[{task.get('task_key')}]"
        if isinstance(task.get("new_cluster"), dict):
            yield f"{where}.new_cluster", task["new_cluster"]
        inner = (task.get("for_each_task") or {}).get("task") if isinstance(task.get("for_each_task"), dict) else None
        if isinstance(inner, dict) and isinstance(inner.get("new_cluster"), dict):
            yield f"{where}.for_each_task.task.new_cluster", inner["new_cluster"]


def trigger_sites(settings: dict) -> list[tuple[str, dict]]:
    """(path, configuration) of `trigger` and of each entry of `triggers`."""
    out = [("trigger", settings["trigger"])] if isinstance(settings.get("trigger"), dict) else []
    triggers = settings.get("triggers")
    if isinstance(triggers, list):
        out += [(f"triggers[{i}]", t) for i, t in enumerate(triggers) if isinstance(t, dict)]
    return out


def without_trigger_write_only(settings: dict) -> dict:
    """`settings` without the write-only fields of its triggers (copy-on-write: the very same
    object when there are none; changed containers are new ones)."""
    def clean(trigger: dict) -> dict:
        for parts in WRITE_ONLY_TRIGGER:
            holder = _dig(trigger, parts[:-1])
            if isinstance(holder, dict) and parts[-1] in holder:
                trigger = _popped(trigger, parts)
        return trigger

    out = settings
    if isinstance(settings.get("trigger"), dict):
        cleaned = clean(settings["trigger"])
        if cleaned is not settings["trigger"]:
            out = {**out, "trigger": cleaned}
    if isinstance(settings.get("triggers"), list):
        cleaned_list = [clean(t) if isinstance(t, dict) else t for t in settings["triggers"]]
        if any(a is not b for a, b in zip(cleaned_list, settings["triggers"], strict=True)):
            out = {**out, "triggers": cleaned_list}
    return out


def _popped(obj: dict, parts: tuple[str, ...]) -> dict:
    """A copy of `obj` without parts[-1] under parts[:-1] (only the containers on the way copied)."""
    out = dict(obj)
    if len(parts) == 1:
        out.pop(parts[0], None)
    else:
        out[parts[0]] = _popped(out[parts[0]], parts[1:])
    return out


def _dig(obj: Any, parts: tuple[str, ...]) -> Any:
    for part in parts:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(part)
    return obj


def write_only_values(settings: dict) -> dict[str, Any]:
    """Every write-only field `settings` sets: plan-style path -> value."""
    out: dict[str, Any] = {}
    for where, trigger in trigger_sites(settings):
        for parts in WRITE_ONLY_TRIGGER:
            value = _dig(trigger, parts)
            if value is not None:
                out[f"{where}.{'.'.join(parts)}"] = value
    for where, spec in cluster_specs(settings):
        for field in sorted(WRITE_ONLY_CLUSTER):
            if spec.get(field) is not None:
                out[f"{where}.{field}"] = spec[field]
    return out


def carry_write_only(settings: dict, carried: dict[str, Any]) -> list[str]:
    """Put back into `settings` (in place) the write-only values a state file held (`carried`,
    from write_only_values) where the object holding them is still there and sets none itself:
    the source never returns them, so a re-export must not wipe them. Returns the paths kept."""
    kept = []
    for where, trigger in trigger_sites(settings):
        for parts in WRITE_ONLY_TRIGGER:
            path = f"{where}.{'.'.join(parts)}"
            holder = _dig(trigger, parts[:-1])
            if path in carried and isinstance(holder, dict) and parts[-1] not in holder:
                holder[parts[-1]] = carried[path]
                kept.append(path)
    for where, spec in cluster_specs(settings):
        for field in sorted(WRITE_ONLY_CLUSTER):
            path = f"{where}.{field}"
            if path in carried and field not in spec:
                spec[field] = carried[path]
                kept.append(path)
    return kept


def unseen_write_only(settings: dict) -> list[str]:
    """The write-only fields a source job may set but export cannot see: a table_update trigger's
    condition, a policy cluster's apply_policy_default_values (paths of those `settings` lacks)."""
    out = []
    for where, trigger in trigger_sites(settings):
        for parts in WRITE_ONLY_TRIGGER:
            if isinstance(_dig(trigger, parts[:-1]), dict) and _dig(trigger, parts) is None:
                out.append(f"{where}.{'.'.join(parts)}")
    for where, spec in cluster_specs(settings):
        if spec.get("policy_id") is not None:
            out.extend(f"{where}.{f}" for f in sorted(WRITE_ONLY_CLUSTER) if f not in spec)
    return out


def write_only_digest(values: Mapping[str, Any]) -> str:
    """Digest of a job's write-only values (write_only_values of the settings sent): what the
    target's write-only index records per job, since the API can never show them (issue 24 point 1).
    No value at all is a digest too: a state file that drops a condition changes it."""
    return hashlib.sha256(json.dumps(dict(values), sort_keys=True, default=str).encode()).hexdigest()[:32]


def write_only_entry(values: Mapping[str, Any]) -> dict[str, Any]:
    """One job's entry in the write-only index: the digest compared, and the values shown."""
    return {"digest": write_only_digest(values), "sent": dict(sorted(values.items()))}


def write_only_changes(entry: Mapping[str, Any] | None, values: Mapping[str, Any]) -> list[tuple[str, Any, Any]]:
    """(path, value last sent, value to send) of each write-only value that differs from what the
    index says bricksync last sent. No entry (a job no write of this version touched): unknown,
    nothing planned; it is recorded at the job's next write."""
    if not isinstance(entry, Mapping) or entry.get("digest") == write_only_digest(values):
        return []
    sent = entry.get("sent") if isinstance(entry.get("sent"), Mapping) else {}
    paths = sorted(set(sent) | set(values))
    return [(path, sent.get(path), values.get(path)) for path in paths if sent.get(path) != values.get(path)]


# --- 2. values a cluster policy fills ----------------------------------------------------------

# Cluster spec maps whose keys a policy names one by one (`custom_tags.<tag>`, `spark_conf.<key>`:
# keys may hold dots, so the rest of the path is the key): the policy reference's attribute table.
MAP_FIELDS = ("custom_tags", "spark_conf", "spark_env_vars")
# Attributes whose policy paths do not follow the spec's shape: `cluster_log_conf.type` / `.path`
# stand for the `cluster_log_conf.{dbfs,s3,volumes}.destination` block as a whole.
WHOLE_FIELDS = ("cluster_log_conf",)


def parse_policy(definition: Any) -> dict[str, dict]:
    """A policy definition (the JSON text cluster-policies/get returns, or its dict) -> attribute
    path -> rule. Anything unreadable is no rule at all."""
    if isinstance(definition, str):
        try:
            definition = json.loads(definition)
        except ValueError:
            return {}
    if not isinstance(definition, dict):
        return {}
    return {str(k): v for k, v in definition.items() if isinstance(v, dict)}


def fixed_value(rule: dict) -> Any:
    """The value a `fixed` rule imposes (None: not fixed)."""
    return rule.get("value") if rule.get("type") == "fixed" else None


def filled_value(rule: dict) -> Any:
    """What a rule fills in when a request leaves the attribute out: a fixed rule's value always;
    another rule's defaultValue when defaults are applied (None: nothing)."""
    fixed = fixed_value(rule)
    return fixed if fixed is not None else rule.get("defaultValue")


def same_value(a: Any, b: Any) -> bool:
    """Whether a spec's value is a policy's: policy definitions are JSON typed by hand, and a
    number or boolean written as text ("2", "true") is the same value to the service."""
    if a == b and isinstance(a, bool) == isinstance(b, bool):
        return True
    scalar = (str, int, float, bool)
    return isinstance(a, scalar) and isinstance(b, scalar) and str(a).lower() == str(b).lower()


def locate(path: str) -> tuple[str, ...] | None:
    """Where a policy attribute path lands in a cluster spec, as keys (None: nowhere a job
    cluster spec holds, e.g. virtual attributes such as dbus_per_hour, or list entries)."""
    head, _, rest = path.partition(".")
    if head in MAP_FIELDS:
        return (head, rest) if rest else None
    if head in WHOLE_FIELDS:
        return (head,)
    parts = tuple(path.split("."))
    if any(p.isdigit() or p == "*" for p in parts) or head in ("dbus_per_hour", "cluster_type"):
        return None
    return parts


def _pop(spec: dict, keys: tuple[str, ...]) -> Any:
    """Remove keys[-1] under spec (copy-on-write of the containers on the way); the value or None."""
    if len(keys) == 1:
        return spec.pop(keys[0], None)
    child = spec.get(keys[0])
    if not isinstance(child, dict):
        return None
    spec[keys[0]] = child = dict(child)
    value = _pop(child, keys[1:])
    if not child:
        del spec[keys[0]]
    return value


def strip_policy_fixed(spec: dict, rules: dict[str, dict]) -> tuple[dict, list[str]]:
    """A (canonical) cluster spec without the values its policy fixed: the source policy's values
    are not the target's (test's custom_tags, spark_version, cluster_log_conf would leak into
    prod and differ forever from what prod's policy fixes). Returns (spec, attribute paths dropped)."""
    out, dropped = dict(spec), []
    for path, rule in sorted(rules.items()):
        value = fixed_value(rule)
        keys = locate(path)
        if value is None or keys is None:
            continue
        here = _dig(out, keys)
        if here is None or (keys[0] not in WHOLE_FIELDS and not same_value(here, value)):
            continue  # not there, or not the policy's value (the service would have refused it)
        _pop(out, keys)
        dropped.append(path)
    return out, dropped


def policy_defaulted(spec: dict, rules: dict[str, dict]) -> list[str]:
    """Attribute paths whose value in the spec equals the policy's defaultValue (not fixed): the
    policy may have filled them, or the job chose the same; export keeps them and says so."""
    out = []
    for path, rule in sorted(rules.items()):
        keys = locate(path)
        if keys is None or keys[0] in WHOLE_FIELDS or fixed_value(rule) is not None or "defaultValue" not in rule:
            continue
        if _dig(spec, keys) is not None and same_value(_dig(spec, keys), rule["defaultValue"]):
            out.append(path)
    return out


def policy_conflicts(spec: dict, rules: dict[str, dict]) -> list[tuple[str, Any, Any]]:
    """(attribute path, value state sets, value the policy fixes) for every value a cluster spec
    sets that its policy fixes otherwise: the service refuses such a job."""
    out = []
    for path, rule in sorted(rules.items()):
        value, keys = fixed_value(rule), locate(path)
        if value is None or keys is None or keys[0] in WHOLE_FIELDS:
            continue
        here = _dig(spec, keys)
        if here is not None and not same_value(here, value):
            out.append((path, here, value))
    return out


def only_what_state_sets(live: dict, desired: dict, policies: dict[str, dict[str, dict]]) -> dict:
    """Canonical live settings without, inside each cluster spec that sets a policy, the values the
    target's policy filled where the desired spec sets none (its fixed values and defaults): they
    are the policy's, not drift. With the policy's definition unknown, every field (and map key)
    state does not set is left out (databricks/cli#6531's rule). Copy-on-write: `live` is kept."""
    want = dict(cluster_specs(desired))
    if not any(s.get("policy_id") is not None for s in want.values()):
        return live
    out = dict(live)
    for where, spec in list(cluster_specs(out)):
        wanted = want.get(where)
        if not isinstance(wanted, dict) or wanted.get("policy_id") is None:
            continue
        rules = policies.get(str(wanted["policy_id"]))
        _replace_spec(out, where, _unfilled(spec, wanted, rules))
    return out


def _unfilled(spec: dict, wanted: dict, rules: dict[str, dict] | None) -> dict:
    if rules is None:  # the definition is unknown: compare only what state sets
        kept = {k: v for k, v in spec.items() if k in wanted}
        for field in MAP_FIELDS:
            if isinstance(kept.get(field), dict) and isinstance(wanted.get(field), dict):
                kept[field] = {k: v for k, v in kept[field].items() if k in wanted[field]}
        return kept
    kept = dict(spec)
    for path, rule in rules.items():
        keys = locate(path)
        if keys is None or filled_value(rule) is None:
            continue
        if _dig(kept, keys) is not None and _dig(wanted, keys) is None:
            _pop(kept, keys)
    return kept


def _replace_spec(settings: dict, where: str, spec: dict) -> None:
    """Put `spec` at plan-style path `where` (containers on the way copied, they may be shared)."""
    if where.startswith("job_clusters["):
        key = where[len("job_clusters["):where.index("]")]
        settings["job_clusters"] = [{**jc, "new_cluster": spec} if isinstance(jc, dict)
                                    and str(jc.get("job_cluster_key")) == key else jc
                                    for jc in settings["job_clusters"]]
        return
    key = where[len("tasks["):where.index("]")]
    inner = where.endswith("for_each_task.task.new_cluster")
    out = []
    for task in settings["tasks"]:
        if isinstance(task, dict) and str(task.get("task_key")) == key:
            if inner:
                each = dict(task["for_each_task"])
                each["task"] = {**each["task"], "new_cluster": spec}
                task = {**task, "for_each_task": each}
            else:
                task = {**task, "new_cluster": spec}
        out.append(task)
    settings["tasks"] = out


# --- 3. jobs a bundle deployed -------------------------------------------------------------------

def drop_bundle(settings: dict) -> list[str]:
    """Remove (in place) what belongs to the bundle that deployed a source job: `deployment` and,
    with it, `edit_mode: UI_LOCKED`. Copied, prod's UI would be locked to a test bundle's path, and
    `deployment` changes on every deploy. Returns the fields removed. A target that wants its jobs
    locked says so in its overrides (`edit_mode: UI_LOCKED`)."""
    if not isinstance(settings.get("deployment"), dict):
        return []
    dropped = ["deployment"]
    del settings["deployment"]
    if settings.get("edit_mode") == "UI_LOCKED":
        del settings["edit_mode"]
        dropped.append("edit_mode")
    return dropped


def bundle_fields(settings: Mapping[str, Any]) -> list[str]:
    """The fields drop_bundle would remove from these settings (nothing is changed)."""
    return drop_bundle(dict(settings))


def only_bundle_fields(paths: list[str]) -> bool:
    """Do these plan change paths touch nothing but a bundle's `deployment` (and with it `edit_mode`)?
    State never holds them (drop_bundle, at export and capture), so capture cannot settle such a
    difference; apply, which sends the job without them, removes them: jobs/reset "new_settings ...
    These settings completely replace the old settings" (SDK ResetJobRequest,
    https://databricks.github.io/sdk-js/api/interfaces/_databricks_sdk-jobs.v2.ResetJobRequest.html)."""
    top = {p.split(".", 1)[0].split("[", 1)[0] for p in paths}
    return "deployment" in top and top <= {"deployment", "edit_mode"}


# --- at export: the three together, with what the summary says ---------------------------------

def export_fixups(canonical: dict, policies: dict[str, dict[str, dict]], policy_names: dict[str, str],
                  carried: dict[str, Any] | None = None, *, existing: dict | None = None,
                  side: str = "the source", command: str = "export") -> list[str]:
    """A source job's canonical settings (IDs not yet named) made fit to promote, in place:
    bundle fields dropped, values the source policies fixed left out, and their defaults too where
    the state file says the policy's defaults apply (`apply_policy_default_values: true`, carried:
    the target's policy then fills its own). Returns the summary's notes.

    capture and import call it too, with the target's policies (their source is the target):
    `existing` is the state file's settings, whose cluster specs keep every value they set (a value
    the file sets was chosen there, not filled by the policy); `side` and `command` word the notes."""
    carried = carried or {}
    kept_specs = dict(cluster_specs(existing or {}))
    notes = []
    dropped = drop_bundle(canonical)
    if dropped:
        notes.append(f"deployed by a bundle in {side}: {' and '.join(dropped)} left out of state "
                     "(a target may still set edit_mode in its overrides)")
    for where, spec in list(cluster_specs(canonical)):
        ident = spec.get("policy_id")
        rules = policies.get(str(ident)) if ident is not None else None
        if where in kept_specs and rules:
            rules = {path: rule for path, rule in rules.items()
                     if (keys := locate(path)) is None or _dig(kept_specs[where], keys) is None}
        if not rules:
            continue
        name = policy_names.get(str(ident), str(ident))
        stripped, paths = strip_policy_fixed(spec, rules)
        defaulted = policy_defaulted(stripped, rules)
        if carried.get(f"{where}.apply_policy_default_values") is True:
            for path in defaulted:
                _pop(stripped, locate(path) or ())
            paths, defaulted = sorted(paths + defaulted), []
        if paths:
            _replace_spec(canonical, where, stripped)
            notes.append(f"{where}: left out what policy '{name}' fills in {side} ({', '.join(paths)}); "
                         "the target's policy fills its own")
        if defaulted:
            notes.append(f"{where}: kept {', '.join(defaulted)}, equal to the default of policy '{name}' in "
                         f"{side}; with apply_policy_default_values: true on this cluster in the state file, "
                         f"{command} leaves them to the target's policy")
    return notes


def export_write_only(settings: dict, carried: dict[str, Any]) -> list[str]:
    """State settings (after the snapshot) with the write-only values the state file already set
    put back; returns the notes on those export cannot see and state does not set."""
    carry_write_only(settings, carried)
    unseen = unseen_write_only(settings)
    if not unseen:
        return []
    return [f"cannot see {', '.join(unseen)}: the Jobs API takes it but never returns it, so a target gets "
            "the service's default unless the state file sets it (export keeps what it sets)"]
