"""Check a target's `overrides` against the JobSettings schema, once per target. Pure.

An override is `scope: {dotted.path: value}` where scope is "*" (every job) or a state key.
Every path must name JobSettings fields through mappings (a list cannot be entered: replace
it whole), every value must have the field's type (null removes the field), and a scope must
be a key that has a state file: a misspelt key would silently not apply (a prod job left
unpaused). The rendered settings are then checked again with jobrules (render.py)."""

from __future__ import annotations

from typing import Any

from .errors import Problem, did_you_mean
from .schema import ROOT, SchemaTable, _Checker, _type_name


def applies(scope: str, dotted: str, settings: dict) -> bool:
    """Whether an override sets its field in a job with these settings: the ONE rule render
    (plan, apply, validate) and its inverse (capture, import) follow. A key's override always
    applies; a "*" override only where the field's parent mapping exists, so
    `"*": {schedule.pause_status: PAUSED}` leaves a job without a schedule alone (a schedule
    with no cron expression is what jobs/create would refuse)."""
    if scope != "*":
        return True
    node: Any = settings
    for part in dotted.split(".")[:-1]:
        node = node.get(part) if isinstance(node, dict) else None
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
    """The type descriptor a dotted JobSettings path leads to, or why it leads nowhere."""
    desc: Any = ("obj", ROOT)
    walked: list[str] = []
    for part in dotted.split("."):
        if not part:
            return None, f"'{dotted}' is not a dotted path of JobSettings fields"
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
    return desc, None
