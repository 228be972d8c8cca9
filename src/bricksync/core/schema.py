"""Check job settings against the Jobs API's own types, as databricks-sdk declares them.

The SDK's dataclasses (JobSettings, Task, ClusterSpec, ...) are generated from the public
OpenAPI spec, so checking against them catches misspelled and unknown fields and wrong
types without a hand-written schema that would drift from the API.

The dataclasses are read once into a plain table (`schema_table()`): checking needs no
typing introspection, and the table can be sent to the processes that check state files,
which then never import the SDK (importing it costs ~2 s of CPU).
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import json
import re
import typing
from typing import Any

from .errors import Problem, did_you_mean
from .references import PLACEHOLDER_RE
from .yamlio import line_of

ROOT = "JobSettings"

# A type descriptor: ("any",) ("str",) ("int",) ("float",) ("bool",) ("obj", class name)
# ("list", item) ("map", value) ("enum", enum name, allowed values).
Desc = tuple
SchemaTable = dict[str, dict[str, Desc]]


@functools.cache
def schema_table() -> SchemaTable:
    """Class name -> field -> descriptor, for JobSettings and every type it reaches."""
    from databricks.sdk.service.jobs import JobSettings

    table: SchemaTable = {}

    def describe(tp: Any) -> Desc:
        if typing.get_origin(tp) is typing.Union:
            args = [a for a in typing.get_args(tp) if a is not type(None)]
            tp = args[0] if len(args) == 1 else Any
        origin = typing.get_origin(tp)
        if tp is Any:
            return ("any",)
        if dataclasses.is_dataclass(tp):
            add(tp)
            return ("obj", tp.__name__)
        if origin in (list, typing.List):  # noqa: UP006 - the SDK's annotations use typing.List
            (item,) = typing.get_args(tp) or (Any,)
            return ("list", describe(item))
        if origin in (dict, typing.Dict):  # noqa: UP006
            _, value = typing.get_args(tp) or (str, Any)
            return ("map", describe(value))
        if isinstance(tp, type) and issubclass(tp, enum.Enum):
            return ("enum", tp.__name__, frozenset(m.value for m in tp))
        return {str: ("str",), int: ("int",), bool: ("bool",), float: ("float",)}.get(tp, ("any",))

    def add(cls: type) -> None:
        if cls.__name__ in table:
            return
        table[cls.__name__] = {}  # registered first: the types are recursive (for_each_task)
        hints = typing.get_type_hints(cls)
        table[cls.__name__] = {f.name: describe(hints[f.name]) for f in dataclasses.fields(cls)}

    add(JobSettings)
    return table


# The table as JSON, for edges/schema_cache.py: offline commands read it from disk instead of
# importing the SDK. JSON, not pickle or marshal: a cache file is data, never code.

def table_to_json(table: SchemaTable) -> str:
    def raw(desc: Desc) -> list:
        if desc[0] in ("list", "map"):
            return [desc[0], raw(desc[1])]
        if desc[0] == "enum":
            return [desc[0], desc[1], sorted(desc[2])]
        return list(desc)

    return json.dumps({cls: {name: raw(d) for name, d in fields.items()} for cls, fields in table.items()})


def table_from_json(text: str) -> SchemaTable:
    """The inverse of table_to_json; ValueError (never a half-read table) when the text is not one."""
    def desc(raw: Any) -> Desc:
        kind = raw[0]
        if kind in ("list", "map") and len(raw) == 2:
            return (kind, desc(raw[1]))
        if kind == "enum" and len(raw) == 3 and isinstance(raw[1], str):
            return (kind, raw[1], frozenset(raw[2]))
        if kind == "obj" and len(raw) == 2 and isinstance(raw[1], str):
            return (kind, raw[1])
        if kind in ("any", "str", "int", "float", "bool") and len(raw) == 1:
            return (kind,)
        raise ValueError(f"not a type descriptor: {raw!r}"[:200])

    try:
        data = json.loads(text)
        table = {cls: {name: desc(d) for name, d in fields.items()} for cls, fields in data.items()}
    except (TypeError, AttributeError, IndexError, RecursionError) as exc:
        raise ValueError(f"not a schema table ({type(exc).__name__})") from None
    def named(d: Desc) -> set[str]:
        return {d[1]} if d[0] == "obj" else named(d[1]) if d[0] in ("list", "map") else set()

    missing = {name for fields in table.values() for d in fields.values() for name in named(d)} - set(table)
    if ROOT not in table or missing:
        raise ValueError(f"not a schema table (missing {sorted({ROOT} - set(table)) or sorted(missing)[:3]})")
    return table


def _type_name(desc: Desc) -> str:
    kind = desc[0]
    if kind == "enum":
        return "one of " + ", ".join(sorted(desc[2]))
    return {"list": "a list", "map": "a mapping", "obj": "a mapping", "str": "a string", "int": "an integer",
            "bool": "true or false", "float": "a number"}.get(kind, kind)


def _number_ok(value: Any, kind: str) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return True
    if isinstance(value, float):
        return kind == "float" or value.is_integer()
    return isinstance(value, str) and bool(PLACEHOLDER_RE.match(value))


def _valid(value: Any, desc: Desc, table: SchemaTable) -> bool:
    """The fast pass: no paths, no messages. Most documents are valid."""
    if value is None:
        return True
    kind = desc[0]
    if kind == "str":
        return isinstance(value, str)
    if kind == "obj":
        if not isinstance(value, dict):
            return False
        fields = table[desc[1]]
        for key, item in value.items():
            sub = fields.get(key)
            if sub is None or not _valid(item, sub, table):
                return False
        return True
    if kind == "list":
        return isinstance(value, list) and all(_valid(item, desc[1], table) for item in value)
    if kind == "map":
        return isinstance(value, dict) and all(_valid(item, desc[1], table) for item in value.values())
    if kind == "enum":
        return isinstance(value, str) and value in desc[2]
    if kind == "bool":
        return isinstance(value, bool)
    if kind in ("int", "float"):
        return _number_ok(value, kind)
    return True


class _Checker:
    """The slow pass, run only on documents the fast pass rejects: every problem, with paths
    and line numbers."""

    def __init__(self, table: SchemaTable, file: str | None, job: str | None):
        self.table = table
        self.file = file
        self.job = job
        self.problems: list[Problem] = []

    def fail(self, message: str, path: str, line: int | None) -> None:
        self.problems.append(Problem(message, file=self.file, line=line, job=self.job, field=path or None))

    def check(self, value: Any, desc: Desc, path: str, line: int | None) -> None:
        kind = desc[0]
        if kind == "any" or value is None:
            return
        if kind == "obj":
            self.check_object(value, desc[1], path, line)
        elif kind == "list":
            if not isinstance(value, list):
                return self.fail(f"expected {_type_name(desc)}, got {type(value).__name__}", path, line)
            for i, item in enumerate(value):
                self.check(item, desc[1], f"{path}[{_label(item, i)}]", line_of(value, i) or line)
        elif kind == "map":
            if not isinstance(value, dict):
                return self.fail(f"expected {_type_name(desc)}, got {type(value).__name__}", path, line)
            for k, v in value.items():
                self.check(v, desc[1], f"{path}.{k}", line_of(value, k) or line)
        elif kind == "enum":
            if not isinstance(value, str) or value not in desc[2]:
                self.fail(f"'{value}' is not {_type_name(desc)}{did_you_mean(str(value), desc[2])}", path, line)
        elif kind == "bool":
            if not isinstance(value, bool):
                self.fail(f"expected true or false, got {value!r}", path, line)
        elif kind in ("int", "float"):
            if not _number_ok(value, kind):
                self.fail(f"expected {_type_name(desc)}, got {value!r}", path, line)
        elif kind == "str" and not isinstance(value, str):
            self.fail(f"expected a string, got {value!r}", path, line)

    def check_object(self, value: Any, cls: str, path: str, line: int | None) -> None:
        if not isinstance(value, dict):
            return self.fail(f"expected a mapping, got {type(value).__name__}", path, line)
        fields = self.table[cls]
        for key, item in value.items():
            sub = f"{path}.{key}" if path else str(key)
            item_line = line_of(value, key) or line
            if key not in fields:
                self.fail(f"unknown field{did_you_mean(str(key), fields)}", sub, item_line)
                continue
            self.check(item, fields[key], sub, item_line)


def _label(item: Any, index: int) -> str:
    if isinstance(item, dict):
        for key in ("task_key", "job_cluster_key", "environment_key"):
            if isinstance(item.get(key), str):
                return item[key]
    return str(index)


_INT_TEXT = re.compile(r"^[-+]?[0-9]+$")
_FLOAT_TEXT = re.compile(r"^[-+]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][-+]?[0-9]+)?$")


def typed_text(value: str, kind: str) -> bool | int | float | None:
    """What a string sent in a boolean or numeric field stands for, as the Jobs API parses it
    ("false", "3600", "-1.5"; see emulator/jobs.py _scalar_from_text for the evidence), or None."""
    if kind == "bool" and value in ("true", "false"):
        return value == "true"
    if kind == "int" and _INT_TEXT.match(value):
        return int(value)
    if kind == "float" and _FLOAT_TEXT.match(value):
        return float(value)
    return None


def coerce_scalars(settings: dict, table: SchemaTable) -> dict:
    """`settings` with the booleans and numbers a workspace holds as strings (`"false"`,
    `"3600"`: what the Jobs API accepts on write, emulator/jobs.py _scalar_from_text) as the
    JSON types the API has. Copy-on-write: the very same object when the document is valid (the
    common case costs one fast pass). Anything else stays as it is, for the checks to name."""
    if _valid(settings, ("obj", ROOT), table):
        return settings
    return _coerce(settings, ("obj", ROOT), table)


def _coerce(value: Any, desc: Desc, table: SchemaTable) -> Any:
    kind = desc[0]
    if isinstance(value, str):
        typed = typed_text(value, kind)
        return value if typed is None else typed
    if kind in ("obj", "map") and isinstance(value, dict):
        fields = table[desc[1]] if kind == "obj" else None
        out = value
        for key, item in value.items():
            sub = fields.get(key) if fields is not None else desc[1]
            if sub is None:
                continue
            new = _coerce(item, sub, table)
            if new is not item:
                if out is value:
                    out = dict(value)
                out[key] = new
        return out
    if kind == "list" and isinstance(value, list):
        items = [_coerce(item, desc[1], table) for item in value]
        return items if any(a is not b for a, b in zip(items, value, strict=True)) else value
    return value


def check_job_settings(settings: Any, *, file: str | None = None, job: str | None = None,
                       line: int | None = None, table: SchemaTable | None = None) -> list[Problem]:
    """Every field name and type in `settings` checked against JobSettings. `table`: a
    schema_table() received from another process (else it is built here, importing the SDK)."""
    table = table if table is not None else schema_table()
    if _valid(settings, ("obj", ROOT), table):
        return []
    checker = _Checker(table, file, job)
    checker.check_object(settings, ROOT, "", line)
    return checker.problems
