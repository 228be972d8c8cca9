"""Notebooks and files (state/files/, issue 21) in export summaries and plans: terminal, Markdown,
JSON. Every path and diff line is workspace or state data: escaped for its medium."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..core.escape import md_code, md_fence, md_text, term
from ..core.fileplan import FileAction
from ..core.plan import Plan

ROWS = 200  # file rows printed; the rest are counted
SYMBOL = {"create": "+", "update": "~", "adopt": "~", "orphan": "!", "conflict": "x", "no-op": "=", "delete": "-"}
STYLE = {"create": "green", "update": "yellow", "adopt": "yellow", "orphan": "magenta", "conflict": "red",
         "no-op": "dim", "delete": "red"}


def export_file_lines(result: Any, *, dry_run: bool) -> list[str]:
    """Under the export table: which state/files/ were written, and each path not copied and why."""
    files = getattr(result, "files", [])
    removed = getattr(result, "files_removed", [])
    skipped = getattr(result, "files_skipped", [])
    if not (files or removed or skipped):
        return []
    verb = "would be " if dry_run else ""
    count = {s: sum(f.status == s for f in files) for s in ("added", "changed", "unchanged")}
    lines = [f"state/files/: {count['added']} {verb}added, {count['changed']} {verb}changed, "
             f"{len(removed)} {verb}removed, {count['unchanged']} unchanged"]
    changed = [f for f in files if f.status != "unchanged"]
    for f in changed[:ROWS]:
        lines.append(f"  [{'green' if f.status == 'added' else 'yellow'}]{verb}{f.status}[/] "
                     f"state/files/{term(f.name)} [dim](used by {term(', '.join(f.jobs))})[/dim]")
    lines.extend(f"  [red]{verb}removed[/] {term(gone)} [dim](no job uses it)[/dim]" for gone in removed[:ROWS])
    if len(changed) > ROWS:
        lines.append(f"  ... and {len(changed) - ROWS} more")
    if skipped:
        lines.append(f"Not copied ({len(skipped)} path(s)):")
        lines.extend(f"  {term(path)} [dim]({term(job)}: {term(why)})[/dim]" for path, job, why in skipped[:ROWS])
    return lines


def file_rows(plan: Plan, show_noop: bool = False) -> list[FileAction]:
    return [f for f in plan.files if show_noop or f.action != "no-op"]


def print_files(plan: Plan, console: Any, *, show_noop: bool = False) -> None:
    rows = file_rows(plan, show_noop)
    if not rows:
        return
    console.print(f"\n[bold]Files[/bold] ({len(plan.files)} in state/files/ for '{term(plan.target)}')")
    for f in rows[:ROWS]:
        jobs = f" [dim](jobs: {term(', '.join(f.jobs))})[/dim]" if f.jobs else ""
        console.print(f"[{STYLE[f.action]}]{SYMBOL[f.action]} {f.action}[/] {term(f.path)} "
                      f"[dim]{term(f.kind)}[/dim]{jobs}")
        for note in f.notes:
            console.print(f"    [dim]# {term(note)}[/dim]")
        for line in detail_lines(f):
            style = "green" if line.startswith("+") else "red" if line.startswith("-") else "dim"
            console.print(f"    [{style}]{term(line)}[/]", highlight=False)
    if len(rows) > ROWS:
        console.print(f"... and {len(rows) - ROWS} more file actions")


def detail_lines(f: FileAction) -> list[str]:
    """What changes in one file: a bounded unified diff for text, size and hash for binaries."""
    if f.action not in ("create", "update", "adopt"):
        return []
    if f.binary:
        before = f"{f.before_size:,} bytes, sha256 {f.before_sha[:12]}" if f.before_sha else "(none)"
        return [f"binary: {before} -> {f.size:,} bytes, sha256 {f.sha[:12]}"]
    if f.action == "create":
        return [f"new {f.kind}: {f.size:,} bytes"]
    return [*f.diff, f"({f.added} line(s) added, {f.removed} removed)"] if f.diff else []


def files_markdown(plan: Plan) -> list[str]:
    rows = file_rows(plan)
    if not rows:
        return []
    out = ["", f"### Files ({len(rows)} to change of {len(plan.files)})", ""]
    for f in rows[:ROWS]:
        jobs = f" (jobs: {md_text(', '.join(f.jobs))})" if f.jobs else ""
        out.append(f"- **{f.action}** {md_code(f.path)} {md_text(f.kind)}{jobs}")
        for note in f.notes:
            out.append(f"  - {md_text(note)}")
        lines = detail_lines(f)
        if lines:
            out.extend(["", *("  " + ln for ln in md_fence(lines, "diff")), ""])
    if len(rows) > ROWS:
        out.append(f"- ... and {len(rows) - ROWS} more")
    return out


def files_json(plan: Plan) -> list[dict]:
    return [f.to_dict() for f in plan.files]


DRIFT_LABEL = {"create": "missing in target (would be written)", "update": "edited outside git (would be rewritten)",
               "adopt": "not written by bricksync (would be adopted)", "orphan": "orphaned managed file",
               "conflict": "not written by bricksync (conflict)", "no-op": "in sync"}


def files_azure(plan: Plan, kind: str, group: Callable[[str], str], escape: Callable[[str], str],
                settle: dict[str, str] | None = None) -> list[str]:
    """Azure DevOps logging commands per file action: a group with its diff, a warning line
    (`settle`: path -> how to settle it, appended to the message)."""
    out = []
    for f in file_rows(plan):
        out.append(group(f"{SYMBOL[f.action]} {f.path} ({f.action})"))
        out.extend(detail_lines(f) + [f"# {n}" for n in f.notes])
        out.append("##[endgroup]")
        label = DRIFT_LABEL[f.action] if kind == "drift" else f.action
        message = f"{f.path}: {label}" + (settle or {}).get(f.path, "")
        out.append(f"##vso[task.logissue type=warning]{escape(message)}")
    return out
