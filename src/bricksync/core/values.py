"""Values that differ per environment (`targets.<t>.values`): exact rewrites of parameter values
and Git refs, one table of the fields they apply to, and the rewrite in both directions. Pure.

A rewrite `dev_sales: prod_sales` replaces `dev_sales` where it is the whole value or a delimited
token of it, never a piece of a word:
- word characters are letters and digits (any script), `_` and `-`; every other character
  delimits (`.`, `/`, `:`, `,`, `=`, `@`, `;`, quotes, brackets, braces, whitespace, ...), and so
  do the start and the end of the value;
- a match never splits a word: where the rewrite's source begins with a word character, the
  character before the match is not one; where it ends with one, the character after is not.
  So `dev_sales.orders` -> `prod_sales.orders`, `'dev_sales'` -> `'prod_sales'`, but
  `mydev_sales`, `dev_sales2` and `dev-sales` are left alone. A source may hold delimiters itself
  (`abfss://dev@acct.dfs.core.windows.net` rewrites the front of `abfss://dev@acct.dfs.core.windows.net/raw`);
- matching is case-sensitive; every rewrite applies at once, left to right, the longest source
  first where several match at one place (a rewrite's output is never rewritten again).

Capture and import apply the inverse (target value -> source value). Two sources with one target
value could not be told apart, so config refuses them (check_values); and a source value that
would render to something capture reads back differently (it already holds a target value, as
`prod_sales` in test) fails the plan (render_value): the two directions always agree.

The fields (databricks-sdk 0.167 `service/jobs.py`; Jobs API 2.2 JobSettings / Task reference):
JobParameterDefinition.default; GitSource.git_branch / git_tag / git_commit; NotebookTask.base_parameters,
PythonWheelTask.named_parameters / parameters, SparkPythonTask / SparkJarTask / SparkSubmitTask
.parameters, SqlTask.parameters, DbtTask.catalog / schema ("the top level in the 3-level namespace
of Unity Catalog", "schema to write to") / commands, RunJobTask's job_parameters and the legacy
*_params it passes on, ForEachTask.inputs, CleanRoomsNotebookTask.notebook_base_parameters; the
inner task of a for_each_task too. Workspace paths are path_rewrites' (paths.py), IDs the name
mappings' (references.py): neither is a row here.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

_WORD = r"[\w-]"
_WORD_RE = re.compile(_WORD)

# `.*`: every value of a mapping; `[]`: every item of a list.
JOB_VALUES: tuple[str, ...] = (
    "parameters[].default",
    "git_source.git_branch",
    "git_source.git_tag",
    "git_source.git_commit",
)
TASK_VALUES: tuple[str, ...] = (
    "notebook_task.base_parameters.*",
    "python_wheel_task.named_parameters.*",
    "python_wheel_task.parameters[]",
    "spark_python_task.parameters[]",
    "spark_jar_task.parameters[]",
    "spark_submit_task.parameters[]",
    "sql_task.parameters.*",
    "dbt_task.catalog",
    "dbt_task.schema",
    "dbt_task.commands[]",
    "run_job_task.job_parameters.*",
    "run_job_task.notebook_params.*",
    "run_job_task.python_named_params.*",
    "run_job_task.sql_params.*",
    "run_job_task.python_params[]",
    "run_job_task.jar_params[]",
    "run_job_task.spark_submit_params[]",
    "run_job_task.dbt_commands[]",
    "for_each_task.inputs",
    "clean_rooms_notebook_task.notebook_base_parameters.*",
)
_ITEM_NAMES = ("task_key", "name")  # how a location names a list item (as plan diffs and overrides do)


@dataclass
class ValueSite:
    """One string value a rewrite applies to: container[field] holds it."""

    location: str  # e.g. parameters[catalog].default, tasks[ingest].notebook_task.base_parameters.catalog
    container: Any
    field: Any

    @property
    def value(self) -> Any:
        return self.container[self.field]

    def set(self, value: Any) -> None:
        self.container[self.field] = value


def _walk(node: Any, parts: tuple[str, ...], where: str) -> Iterator[ValueSite]:
    if not parts:
        return
    head, rest = parts[0], parts[1:]
    if head == "*":
        for k in node if isinstance(node, dict) else ():
            if isinstance(node[k], str):
                yield ValueSite(f"{where}.{k}", node, k)
        return
    if not isinstance(node, dict):
        return
    name = head.removesuffix("[]")
    if name not in node:
        return
    here = f"{where}.{name}" if where else name
    if head.endswith("[]"):
        items = node[name]
        for i, item in enumerate(items if isinstance(items, list) else []):
            if rest:
                label = next((str(item[k]) for k in _ITEM_NAMES if isinstance(item, dict) and k in item), str(i))
                yield from _walk(item, rest, f"{here}[{label}]")
            elif isinstance(item, str):
                yield ValueSite(f"{here}[{i}]", items, i)
    elif rest:
        yield from _walk(node[name], rest, here)
    elif isinstance(node[name], str):
        yield ValueSite(here, node, name)


@functools.cache
def _split(row: str) -> tuple[str, ...]:
    return tuple(row.split("."))


@functools.cache
def _task_rows() -> tuple[tuple[str, tuple[tuple[str, ...], ...]], ...]:
    """TASK_VALUES grouped by the task field they start at: most tasks hold one or two of them."""
    groups: dict[str, list[tuple[str, ...]]] = {}
    for row in TASK_VALUES:
        groups.setdefault(row.split(".", 1)[0], []).append(_split(row))
    return tuple((first, tuple(rows)) for first, rows in groups.items())


def _task_sites(task: dict, where: str) -> Iterator[ValueSite]:
    for first, rows in _task_rows():
        if first in task:
            for parts in rows:
                yield from _walk(task, parts, where)
    inner = task.get("for_each_task")
    if isinstance(inner, dict) and isinstance(inner.get("task"), dict):
        yield from _task_sites(inner["task"], f"{where}.for_each_task.task")


def value_sites(settings: dict) -> Iterator[ValueSite]:
    """Every string value of job settings that `targets.<t>.values` rewrites, job fields first."""
    for row in JOB_VALUES:
        yield from _walk(settings, _split(row), "")
    for i, task in enumerate(settings.get("tasks") or []):
        if isinstance(task, dict):
            yield from _task_sites(task, f"tasks[{task.get('task_key', i)}]")


# --- the matcher ------------------------------------------------------------------------------

@functools.lru_cache(maxsize=64)
def _pattern(sources: tuple[str, ...]) -> re.Pattern[str]:
    alternatives = []
    for src in sorted(sources, key=lambda s: (-len(s), s)):  # the longest source wins at one place
        left = rf"(?<!{_WORD})" if _WORD_RE.fullmatch(src[0]) else ""
        right = rf"(?!{_WORD})" if _WORD_RE.fullmatch(src[-1]) else ""
        alternatives.append(left + re.escape(src) + right)
    return re.compile("|".join(alternatives))


@functools.lru_cache(maxsize=1 << 14)  # jobs share parameter values: 10,000 jobs ask again and again
def _rewrite(value: str, pairs: tuple[tuple[str, str], ...]) -> str:
    mapping = dict(pairs)
    return _pattern(tuple(mapping)).sub(lambda m: mapping[m.group(0)], value)


def rewrite_value(value: str, mapping: dict[str, str]) -> str:
    """`value` with every delimited occurrence of a source in `mapping` replaced by its target."""
    if not mapping or not value:
        return value
    return _rewrite(value, tuple(mapping.items()))


def inverse(mapping: dict[str, str]) -> dict[str, str]:
    """target value -> source value (check_values has refused two sources with one target)."""
    return {dst: src for src, dst in mapping.items()}


def check_values(mapping: dict[str, str]) -> list[str]:
    """What makes a `values:` mapping unusable, as messages: empty or blank sides, sides with no
    word character (they would rewrite punctuation everywhere), and two sources with one target
    value (capture could not tell which to write back)."""
    problems = []
    for src, dst in mapping.items():
        for side, text in (("source", src), ("target", dst)):
            if not isinstance(text, str) or not text:
                problems.append(f"'{src}': the {side} value is empty")
            elif text != text.strip():
                problems.append(f"'{src}': the {side} value {text!r} begins or ends with whitespace")
            elif not _WORD_RE.search(text):
                problems.append(f"'{src}': the {side} value {text!r} has no letter or digit")
    by_target: dict[str, list[str]] = {}
    for src, dst in mapping.items():
        by_target.setdefault(dst, []).append(src)
    for dst, sources in by_target.items():
        if len(sources) > 1:
            both = " and ".join(f"'{s}'" for s in sorted(sources))
            problems.append(f"{both} both map to '{dst}': capture could not tell which to write back")
    return problems


def render_value(value: str, mapping: dict[str, str], where: str) -> tuple[str, str | None]:
    """(the target's value, error). An error where capture would not read the result back as
    `value` (the value already holds a target value as it is: `prod_sales` in test)."""
    out = rewrite_value(value, mapping)
    back = rewrite_value(out, inverse(mapping))
    if back == value:
        return out, None
    held = next((m.group(0) for m in _pattern(tuple(inverse(mapping))).finditer(value)), None)
    why = (f"it already holds '{held}', what {where} rewrites '{inverse(mapping)[held]}' to"
           if held is not None else "the rewrites overlap there")
    return out, (f"value {value!r} renders as {out!r}, which capture would read back as {back!r} ({why}): "
                 f"change the value or {where}")


def invert_value(value: str, mapping: dict[str, str], where: str) -> tuple[str | None, str | None]:
    """(the source value, error) for a target value: refused where the source value found would
    not render back to exactly `value`."""
    source = rewrite_value(value, inverse(mapping))
    back = rewrite_value(source, mapping)
    if back != value:
        return None, (f"value {value!r} maps back to {source!r} through {where}, which renders as {back!r}: "
                      "not expressible exactly")
    return source, None


def _each_site(settings: dict, step: Callable[[str], tuple[str | None, str | None]]) -> list[tuple[str, str]]:
    """Set every value site to what `step` gives (None: leave it); [(location, error)] of its errors."""
    errors = []
    for site in value_sites(settings):
        out, error = step(site.value)
        if error:
            errors.append((site.location, error))
        if out is not None:
            site.set(out)
    return errors


def rewrite_settings(settings: dict, mapping: dict[str, str], where: str) -> list[tuple[str, str]]:
    """Render every value site in place; [(location, error)] of those capture could not invert."""
    return _each_site(settings, lambda v: render_value(v, mapping, where)) if mapping else []


def invert_settings(settings: dict, mapping: dict[str, str], where: str) -> list[tuple[str, str]]:
    """Capture's direction, in place; [(location, error)] of the values that cannot be inverted."""
    return _each_site(settings, lambda v: invert_value(v, mapping, where)) if mapping else []


def covered(location: str, paths: list[str]) -> bool:
    """Is this value site at or below one of these override paths (then the override's value is
    the target's, not a rewrite of the document's)?"""
    return any(location == p or location.startswith((p + ".", p + "[")) for p in paths)
