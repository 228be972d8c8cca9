"""Offline checks of a set of state documents (bricksync validate, and before every plan). Pure."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePath

from .errors import Problem, did_you_mean
from .jobrules import check_rules
from .keys import KEY_RE
from .model import StateDoc
from .permissions import check_entries
from .references import KINDS, PLACEHOLDER_RE, Site, has_reference, parse_placeholder, reference_sites
from .schema import SchemaTable, check_job_settings
from .secrets import find_secrets, keys_and_strings, may_hold_secrets

MAX_TAGS = 25
MANAGED_TAGS = 2  # bricksync-key and managed-by are added in the target
MAX_TAG_KEY, MAX_TAG_VALUE = 127, 255


def _clean_strings(settings: dict) -> bool:
    """A pathless pass: True when no key or string could fail the reference or secret checks,
    so the walks that build field paths for messages can be skipped (most documents)."""
    keys, strings = keys_and_strings(settings)
    blob = "\n".join(set(strings))  # (values repeat within a job: each is scanned once)
    if may_hold_secrets(keys, blob):
        return False
    sites = list(reference_sites(settings))
    if any(_site_problem(site) for site in sites):
        return False
    if "${" in blob:  # every reference must be the whole value of a field that takes one
        refs = [value for value in strings if "${" in value and has_reference(value)]
        if len(refs) != len(sites) or not all(PLACEHOLDER_RE.match(value) for value in refs):
            return False
    return True


def _site_problem(site: Site) -> str | None:
    """A field that names a cluster/pool/policy/warehouse/pipeline/job holds `${kind:NAME}`, nothing else."""
    ref = parse_placeholder(site.value)
    if ref is not None and ref[0] == site.kind:
        return None
    return f"malformed reference {site.value!r}: this field takes ${{{site.kind}:NAME}} as the whole value"


def reference_problems(settings: dict) -> list[tuple[str, str]]:
    """(message, field) for each `${kind:...}` outside a field that takes a reference or not the
    whole value. Other `${...}` (shell, Spark, SQL, job parameters) are not bricksync's."""
    sites = {(id(site.container), site.field) for site in reference_sites(settings)}
    out: list[tuple[str, str]] = [(why, site.location) for site in reference_sites(settings)
                                  if (why := _site_problem(site))]

    def visit(container: dict | list, key: object, value: str, where: str) -> None:
        if "${" not in value or not has_reference(value):
            return
        if (id(container), key) in sites:
            return  # checked above
        literal = "$" + value if PLACEHOLDER_RE.match(value) else "the text with $${ for each ${"
        out.append((f"{value!r} is a bricksync reference (${{{'|'.join(KINDS)}:NAME}}), which only fields "
                    f"naming a cluster, pool, policy, warehouse, pipeline or job take, as their whole value; "
                    f"for literal text write {literal!r}", where))

    def walk(node: object, where: str) -> None:
        items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
        for k, v in items:
            if isinstance(node, dict):
                sub = f"{where}.{k}" if where else str(k)
            else:
                label = v.get("task_key", v.get("job_cluster_key", k)) if isinstance(v, dict) else k
                sub = f"{where}[{label}]"
            if isinstance(v, str):
                visit(node, k, v, sub)  # type: ignore[arg-type]
            else:
                walk(v, sub)

    walk(settings, "")
    return out


def validate_doc(doc: StateDoc, schema: SchemaTable | None = None) -> list[Problem]:
    """Checks of one document alone (run where the file is parsed, in parallel for big state/).
    `schema`: the JobSettings table when it came from another process."""
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
                                       job=name, line=doc.lines.get("job"), table=schema))
    for message, where in _tag_problems(doc.settings.get("tags")):
        fail(message, where)
    for where, message in check_entries(doc.permissions):
        problems.append(Problem(message, file=doc.file, job=name, field=f"permissions{where}",
                                line=doc.lines.get("permissions") or None))
    for message, where in check_rules(doc.settings, schema):  # what jobs/create refuses beyond types
        fail(message, where)
    if _clean_strings(doc.settings):
        return problems
    for message, where in reference_problems(doc.settings):
        fail(message, where)
    for where, why in find_secrets(doc.settings):
        fail(f"{why}", where)
    return problems


def _tag_problems(tags: object) -> list[tuple[str, str]]:
    """(message, field) for tags past the API's limits."""
    out: list[tuple[str, str]] = []
    if not isinstance(tags, dict):
        return out
    if len(tags) > MAX_TAGS - MANAGED_TAGS:
        out.append((f"{len(tags)} tags; at most {MAX_TAGS - MANAGED_TAGS} (the API allows {MAX_TAGS}, bricksync "
                    f"adds {MANAGED_TAGS})", "tags"))
    for k, v in tags.items():
        if len(str(k)) > MAX_TAG_KEY:
            out.append((f"tag key longer than {MAX_TAG_KEY} characters", f"tags.{str(k)[:30]}"))
        if isinstance(v, str) and len(v) > MAX_TAG_VALUE:
            out.append((f"tag value longer than {MAX_TAG_VALUE} characters", f"tags.{k}"))
    return out


@dataclass(frozen=True)
class DocLinks:
    """What the checks across documents need of each: who it is and which jobs it runs."""

    key: str
    file: str
    name: str | None
    job_edges: tuple[tuple[str, str], ...]  # (location, key) of every ${job:KEY}

    @classmethod
    def of(cls, doc: StateDoc) -> DocLinks:
        name = doc.settings.get("name")
        return cls(doc.key, doc.file, name if isinstance(name, str) else None, tuple(job_edges(doc)))


def validate_docs(docs: list[StateDoc]) -> list[Problem]:
    """Every check: each document alone, then across them."""
    problems = [p for doc in docs for p in validate_doc(doc)]
    return problems + check_across([DocLinks.of(doc) for doc in docs])


def check_across(links: list[DocLinks]) -> list[Problem]:
    """Unique keys, ${job:KEY} targets that exist, no run_job_task cycles."""
    problems: list[Problem] = []
    by_key: dict[str, DocLinks] = {}
    for doc in links:
        if doc.key in by_key:
            problems.append(Problem(f"key '{doc.key}' is also used by {by_key[doc.key].file}", file=doc.file,
                                    job=doc.name, field="bricksync.key"))
        by_key.setdefault(doc.key, doc)
    graph: dict[str, list[str]] = {}
    for doc in links:
        graph.setdefault(doc.key, [])
        for where, key in doc.job_edges:
            if key not in by_key:
                problems.append(Problem(f"${{job:{key}}} names no state file{did_you_mean(key, by_key)}",
                                        file=doc.file, job=doc.name, field=where))
            else:
                graph[doc.key].append(key)
    cycle = find_cycle(graph)
    if cycle:
        doc = by_key[cycle[0]]
        problems.append(Problem("run_job_task references form a cycle: " + " -> ".join(cycle), file=doc.file,
                                job=doc.name, field="tasks.run_job_task"))
    return problems


def job_edges(doc: StateDoc) -> list[tuple[str, str]]:
    """(location, key) of every ${job:KEY} this document runs."""
    out = []
    for site in reference_sites(doc.settings):
        ref = parse_placeholder(site.value)
        if site.kind == "job" and ref and ref[0] == "job":
            out.append((site.location, ref[1]))
    return out


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

