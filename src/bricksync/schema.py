"""Check job settings against the Jobs API's own types, as databricks-sdk declares them.

The SDK's dataclasses (JobSettings, Task, ClusterSpec, ...) are generated from the public
OpenAPI spec, so checking against them catches misspelled and unknown fields and wrong
types without a hand-written schema that would drift from the API.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import re
import typing
from typing import Any

from databricks.sdk.service.jobs import JobSettings

from .errors import Problem, did_you_mean
from .yamlio import line_of

PLACEHOLDER_RE = re.compile(r"^\$\{(cluster|pool|policy|warehouse|job|pipeline):([^}]+)\}$")


@functools.cache
def _fields(cls: type) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls)}


@functools.cache
def _enum_values(tp: type) -> frozenset:
    return frozenset(m.value for m in tp)


def _unwrap_optional(tp: Any) -> Any:
    if typing.get_origin(tp) is typing.Union:
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return args[0] if len(args) == 1 else Any
    return tp


def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin in (list, typing.List):  # noqa: UP006 - the SDK's annotations use typing.List
        return "a list"
    if origin in (dict, typing.Dict) or dataclasses.is_dataclass(tp):  # noqa: UP006
        return "a mapping"
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return "one of " + ", ".join(m.value for m in tp)
    return {str: "a string", int: "an integer", bool: "true or false", float: "a number"}.get(tp, str(tp))


class _Checker:
    def __init__(self, file: str | None, job: str | None):
        self.file = file
        self.job = job
        self.problems: list[Problem] = []

    def fail(self, message: str, path: str, line: int | None) -> None:
        self.problems.append(Problem(message, file=self.file, line=line, job=self.job, field=path or None))

    def check(self, value: Any, tp: Any, path: str, line: int | None) -> None:
        tp = _unwrap_optional(tp)
        origin = typing.get_origin(tp)
        if tp is Any or value is None:
            return
        if dataclasses.is_dataclass(tp):
            self.check_object(value, tp, path, line)
        elif origin in (list, typing.List):  # noqa: UP006
            if not isinstance(value, list):
                return self.fail(f"expected {_type_name(tp)}, got {type(value).__name__}", path, line)
            (item_tp,) = typing.get_args(tp) or (Any,)
            for i, item in enumerate(value):
                self.check(item, item_tp, f"{path}[{_label(item, i)}]", line_of(value, i) or line)
        elif origin in (dict, typing.Dict):  # noqa: UP006
            if not isinstance(value, dict):
                return self.fail(f"expected {_type_name(tp)}, got {type(value).__name__}", path, line)
            _, val_tp = typing.get_args(tp) or (str, Any)
            for k, v in value.items():
                self.check(v, val_tp, f"{path}.{k}", line_of(value, k) or line)
        elif isinstance(tp, type) and issubclass(tp, enum.Enum):
            if value not in _enum_values(tp):
                hint = did_you_mean(str(value), _enum_values(tp))
                self.fail(f"'{value}' is not {_type_name(tp)}{hint}", path, line)
        elif tp is bool:
            if not isinstance(value, bool):
                self.fail(f"expected true or false, got {value!r}", path, line)
        elif tp in (int, float):
            ok = isinstance(value, (int, float)) and not isinstance(value, bool)
            if tp is int and isinstance(value, float):
                ok = value.is_integer()
            if not ok and not (isinstance(value, str) and PLACEHOLDER_RE.match(value)):
                self.fail(f"expected {_type_name(tp)}, got {value!r}", path, line)
        elif tp is str and not isinstance(value, str):
            self.fail(f"expected a string, got {value!r}", path, line)

    def check_object(self, value: Any, cls: type, path: str, line: int | None) -> None:
        if not isinstance(value, dict):
            return self.fail(f"expected a mapping, got {type(value).__name__}", path, line)
        fields = _fields(cls)
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


def check_job_settings(settings: Any, *, file: str | None = None, job: str | None = None,
                       line: int | None = None) -> list[Problem]:
    """Every field name and type in `settings` checked against JobSettings."""
    checker = _Checker(file, job)
    checker.check_object(settings, JobSettings, "", line)
    return checker.problems
