"""Check a target's `overrides` against the JobSettings schema, once per target; and the one
reading of an override's path every command shares. Pure.

An override is `scope: {path: value}` where scope is "*" (every job) or a state key. A path is
dotted JobSettings fields through mappings; a list of named items is entered by name in
brackets, `tasks[ingest].timeout_seconds`, `parameters[run_date].default` (tasks by task_key,
job clusters by job_cluster_key, environments by environment_key, parameters by name); any
other list is replaced whole. Every value must have the field's type (null removes the field),
and a scope must be a key that has a state file: a misspelt key would silently not apply (a prod
job left unpaused). The rendered settings are then checked again with jobrules (render.py)."""

from __future__ import annotations

import functools
import re
from typing import Any

from .errors import Problem, did_you_mean
from .schema import ROOT, SchemaTable, _Checker, _type_name

ITEM_KEYS = ("task_key", "job_cluster_key", "environment_key", "name")  # an item's name, first found
# A name in brackets may hold dots (job parameter names may: jobrules.PARAMETER_NAME_RE).
_PART = r"[^.\[\]]+(?:\[[^\[\]]+\])?"
_PATH_RE = re.compile(rf"{_PART}(?:\.{_PART})*")
_PART_RE = re.compile(r"([^.\[\]]+)(?:\[([^\[\]]+)\])?")


@functools.lru_cache(maxsize=1024)
def path_parts(dotted: str) -> tuple[tuple[str, str | None], ...]:
    """`tasks[ingest].timeout_seconds` -> (("tasks", "ingest"), ("timeout_seconds", None)).
    ValueError when it is no such path (empty parts, stray brackets, a path ending at an item)."""
    if not _PATH_RE.fullmatch(dotted):
        raise ValueError(f"'{dotted}' is not a dotted path of JobSettings fields (a list item as FIELD[NAME])")
    parts = tuple((m[1], m[2]) for m in _PART_RE.finditer(dotted))
    if parts[-1][1] is not None:
        raise ValueError(f"'{dotted}' ends at a whole list item: override one of its fields ({dotted}.FIELD)")
    return parts


def item_name(item: Any) -> str | None:
    """What names a list item in a path: its task_key, job_cluster_key, environment_key or name."""
    if isinstance(item, dict):
        for key in ITEM_KEYS:
            if isinstance(item.get(key), str):
                return item[key]
    return None


def named_item(node: Any, field: str, name: str) -> dict:
    """The item of list `node[field]` named `name`; ValueError naming what is there when none is."""
    items = node.get(field) if isinstance(node, dict) else None
    if not isinstance(items, list):
        raise ValueError(f"{field}[{name}]: there is no list '{field}' to find '{name}' in")
    names = [n for n in map(item_name, items) if n is not None]
    found = [x for x in items if item_name(x) == name]
    if not found:
        listed = ", ".join(names[:10]) + (", ..." if len(names) > 10 else "") if names else "none"
        raise ValueError(f"{field}[{name}]: no item of {field} is named '{name}'{did_you_mean(name, names)} "
                         f"(named: {listed})")
    return found[0]


def applies(scope: str, dotted: str, settings: dict) -> bool:
    """Whether an override sets its field in a job with these settings: the ONE rule render
    (plan, apply, validate) and its inverse (capture, import) follow. A key's override always
    applies (a list item it names that the job lacks is an error there); a "*" override only
    where the field's parent exists, so `"*": {schedule.pause_status: PAUSED}` leaves a job
    without a schedule alone (a schedule with no cron expression is what jobs/create would
    refuse), and `"*": {tasks[ingest].timeout_seconds: 600}` a job without an `ingest` task."""
    if scope != "*":
        return True
    try:
        parts = path_parts(dotted)
    except ValueError:
        return True  # render reports it
    node: Any = settings
    for field, name in parts[:-1]:
        node = node.get(field) if isinstance(node, dict) else None
        if name is not None:
            node = next((x for x in node if item_name(x) == name), None) if isinstance(node, list) else None
        if not isinstance(node, dict):
            return False
    return isinstance(node, dict)


def check_overrides(target_name: str, overrides: dict[str, Any], table: SchemaTable, keys: set[str],
                    file: str | None) -> list[Problem]:
    problems: list[Problem] = []
    base = f"targets.{target_name}.overrides"
    for scope, entries in overrides.items():
        if scope != "*" and scope not in keys:
            problems.append(Problem(f"'{scope}' is neither '*' nor the key of a state file"
                                    f"{did_you_mean(str(scope), keys)}", file=file, field=f"{base}.{scope}"))
        if not isinstance(entries, dict):
            continue  # config.py reports it
        for dotted, value in entries.items():
            where = f"{base}.{scope}.{dotted}"
            desc, error = _resolve(str(dotted), table)
            if error:
                problems.append(Problem(error, file=file, field=where))
                continue
            checker = _Checker(table, file, None)
            checker.check(value, desc, where, None)
            problems.extend(checker.problems)
    return problems


def _resolve(dotted: str, table: SchemaTable) -> tuple[Any, str | None]:
    """The type descriptor a JobSettings override path leads to, or why it leads nowhere."""
    try:
        parts = path_parts(dotted)
    except ValueError as exc:
        return None, str(exc)
    desc: Any = ("obj", ROOT)
    walked: list[str] = []
    for part, name in parts:
        kind = desc[0]
        if kind == "obj":
            fields = table[desc[1]]
            if part not in fields:
                at = ".".join(walked) or "JobSettings"
                return None, f"unknown field '{part}' in {at}{did_you_mean(part, fields)}"
            desc = fields[part]
        elif kind == "map":
            desc = desc[1]
        elif kind == "any":
            return ("any",), None
        else:
            return None, (f"'{'.'.join(walked)}' is {_type_name(desc)}: an override cannot reach inside it "
                          "(override the whole field)")
        walked.append(part)
        if name is not None:
            item = desc[1] if desc[0] == "list" else None
            named = item is not None and item[0] == "obj" and any(k in table[item[1]] for k in ITEM_KEYS)
            if not named:
                return None, (f"'{'.'.join(walked)}' is {_type_name(desc)} without named items: an override "
                              f"cannot pick '{name}' in it (override the whole field)")
            desc = item
            walked[-1] += f"[{name}]"
    return desc, None
