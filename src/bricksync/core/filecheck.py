"""Offline checks of state/files/ against the jobs in state/ (validate, and every plan). Pure.

Each problem names the state file (and line) or the job and field, as the job checks do:
- every workspace path a job uses below the notebook root has its file (with `files: referenced`);
- no file without a job (export removes the files no job uses: one left over is a mistake);
- names: no two files equal but for case, no object that is also a folder, no `..` or control
  characters; notebooks' source is UTF-8; nothing over the import limit;
- no credential in a file's content (the line is named, the value never printed).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from .errors import Problem
from .files import (
    NOTEBOOK,
    FileDoc,
    below,
    case_collisions,
    content_problems,
    folder_collisions,
    name_problem,
    relative,
    run_targets,
    secret_lines,
    source_path,
    state_name,
)


def content_checks(docs: Iterable[FileDoc]) -> list[Problem]:
    out = []
    docs = list(docs)
    for doc in docs:
        why = name_problem(doc.rel)
        if why:
            out.append(Problem(f"not a usable name: {why}", file=doc.file))
        out += [Problem(message, file=doc.file) for message in content_problems(doc)]
        out += [Problem(f"line {line}: {reason}; refusing it in state/files/", file=doc.file)
                for line, reason in secret_lines(doc.data)]
    names: dict[str, FileDoc] = {}
    for d in docs:
        other = names.setdefault(state_name(d.rel, d.kind), d)
        if other is not d:  # x.py a file, and x.py a notebook x: one workspace path each, one state name
            out.append(Problem(f"names the same workspace object as {other.file}", file=d.file))
    for a, b in case_collisions(names):
        out.append(Problem(f"differs only in case from {names[a].file}: a checkout on macOS or Windows keeps one",
                           file=names[b].file))
    by_rel = {d.rel: d for d in docs}
    for parent, child in folder_collisions(by_rel):
        out.append(Problem(f"is below {by_rel[parent].file}, which is a {by_rel[parent].kind.describe()}: a "
                           "workspace path cannot be an object and a folder at once", file=by_rel[child].file))
    return out


def use_checks(docs: Iterable[FileDoc], uses: Mapping[str, Iterable[tuple[str, str, str]]], root: str, *,
               required: bool, exempt: Iterable[str] = ()) -> list[Problem]:
    """`uses`: job key -> (job name, field, workspace path) of every path it uses, spelled on the side
    of `root` (the source's notebook root, or the target's rewritten one). `required`: every path
    below the root must have its file (source.files: referenced)."""
    by_rel = {d.rel: d for d in docs}
    folders = below(by_rel)
    skipped = {relative(p, root) or p for p in exempt}
    used: set[str] = set()
    out = []
    for key, rows in uses.items():
        for name, where, path in rows:
            rel = relative(path, root)
            if rel is None:
                continue
            if rel in by_rel or rel in folders:
                used.add(rel)
                used.update(folders.get(rel, ()))
            elif required and not any(rel == s or rel.startswith(s + "/") for s in skipped):
                out.append(Problem(f"uses {path}, which has no file in state/files/ (deleted while the job "
                                   f"still uses it?): export the job again, or restore the file", job=name,
                                   field=where, file=f"state/jobs/{key}.yml"))
    todo = list(used)
    while todo:  # what the used notebooks %run is used too
        doc = by_rel.get(todo.pop())
        if doc is None or doc.kind.object_type != NOTEBOOK:
            continue
        for target in run_targets(source_path(doc.rel, root), doc.data):
            rel = relative(target, root)
            if rel and rel in by_rel and rel not in used:
                used.add(rel)
                todo.append(rel)
    out += [Problem("no job in state/ uses this file (export removes such files): delete it, or export the job "
                    "that runs it", file=d.file) for rel, d in sorted(by_rel.items()) if rel not in used]
    return out
