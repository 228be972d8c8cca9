"""Offline checks of a set of state documents (bricksync validate, and before every plan). Pure."""

from __future__ import annotations

from pathlib import PurePath

from .errors import Problem, did_you_mean
from .keys import KEY_RE
from .references import ANY_PLACEHOLDER_RE, parse_placeholder, reference_sites
from .schema import check_job_settings
from .secrets import find_secrets
from .state import StateDoc

MAX_TAGS = 25
MANAGED_TAGS = 2  # bricksync-key and managed-by are added in the target
MAX_TAG_KEY, MAX_TAG_VALUE = 127, 255


def _strings(value: object, where: str):
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _strings(v, f"{where}.{k}" if where else str(k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            label = v.get("task_key", v.get("job_cluster_key", i)) if isinstance(v, dict) else i
            yield from _strings(v, f"{where}[{label}]")
    elif isinstance(value, str):
        yield where, value


def validate_doc(doc: StateDoc) -> list[Problem]:
    """Checks of one document alone (run where the file is parsed, in parallel for big state/)."""
    problems: list[Problem] = []
    name = doc.settings.get("name") if isinstance(doc.settings.get("name"), str) else doc.key

    def fail(message: str, where: str | None) -> None:
        problems.append(Problem(message, file=doc.file, job=name, field=where))

    if not KEY_RE.match(doc.key):
        fail(f"key '{doc.key}' must be lower-case letters, digits, '-' and '_'", "bricksync.key")
    stem = PurePath(doc.file).stem if doc.file else doc.key
    if doc.file and stem != doc.key:
        fail(f"file name '{PurePath(doc.file).name}' disagrees with its key '{doc.key}': "
             f"rename the file to {doc.key}.yml", "bricksync.key")
    problems.extend(check_job_settings(doc.node if doc.node is not None else doc.settings, file=doc.file,
                                       job=name, line=doc.lines.get("job")))
    for where, value in _strings(doc.settings, ""):
        if "${" not in value:
            continue
        for token in ANY_PLACEHOLDER_RE.findall(value):
            if token != value or parse_placeholder(value) is None:
                fail(f"malformed reference {token!r}: use ${{cluster|pool|policy|warehouse|job|pipeline:NAME}}"
                     " as the whole value", where)
    for where, why in find_secrets(doc.settings):
        fail(f"{why}", where)
    tags = doc.settings.get("tags") or {}
    if isinstance(tags, dict):
        if len(tags) > MAX_TAGS - MANAGED_TAGS:
            fail(f"{len(tags)} tags; at most {MAX_TAGS - MANAGED_TAGS} (the API allows {MAX_TAGS}, bricksync "
                 f"adds {MANAGED_TAGS})", "tags")
        for k, v in tags.items():
            if len(str(k)) > MAX_TAG_KEY:
                fail(f"tag key longer than {MAX_TAG_KEY} characters", f"tags.{str(k)[:30]}")
            if isinstance(v, str) and len(v) > MAX_TAG_VALUE:
                fail(f"tag value longer than {MAX_TAG_VALUE} characters", f"tags.{k}")
    return problems


def validate_docs(docs: list[StateDoc], *, each_checked: bool = False) -> list[Problem]:
    """Every check: each document alone (unless `each_checked`: done where they were parsed),
    then across them (unique keys, ${job:KEY} targets, run_job_task cycles)."""
    problems: list[Problem] = []
    by_key: dict[str, StateDoc] = {}
    for doc in docs:
        if not each_checked:
            problems.extend(validate_doc(doc))
        if doc.key in by_key:
            problems.append(Problem(f"key '{doc.key}' is also used by {by_key[doc.key].file}", file=doc.file,
                                    job=doc.settings.get("name"), field="bricksync.key"))
        by_key.setdefault(doc.key, doc)
    problems.extend(_check_job_refs(docs, by_key))
    return problems


def job_edges(doc: StateDoc) -> list[tuple[str, str]]:
    """(location, key) of every ${job:KEY} this document runs."""
    out = []
    for site in reference_sites(doc.settings):
        ref = parse_placeholder(site.value)
        if site.kind == "job" and ref and ref[0] == "job":
            out.append((site.location, ref[1]))
    return out


def _check_job_refs(docs: list[StateDoc], by_key: dict[str, StateDoc]) -> list[Problem]:
    problems: list[Problem] = []
    graph: dict[str, list[str]] = {}
    for doc in docs:
        graph[doc.key] = []
        for where, key in job_edges(doc):
            if key not in by_key:
                problems.append(Problem(f"${{job:{key}}} names no state file{did_you_mean(key, by_key)}",
                                        file=doc.file, job=doc.settings.get("name"), field=where))
            else:
                graph[doc.key].append(key)
    cycle = find_cycle(graph)
    if cycle:
        doc = by_key[cycle[0]]
        problems.append(Problem("run_job_task references form a cycle: " + " -> ".join(cycle), file=doc.file,
                                job=doc.settings.get("name"), field="tasks.run_job_task"))
    return problems


def find_cycle(graph: dict[str, list[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in graph.get(node, []):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt):], nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None
