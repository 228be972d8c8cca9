"""Plans and drift as people and tools read them: terminal, JSON, Markdown, Azure DevOps logging
commands, GitHub Actions workflow commands.

Pure functions from a Plan to text/data; the CLI decides where it goes. The JSON document
is versioned (REPORT_VERSION) and documented in the README.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table

from ..core.createbody import BodyView, body_changes, body_views, hidden_line
from ..core.escape import log_text, md_code, md_fence, md_html, md_text, term, workflow_data, workflow_property
from ..core.plan import Action, Change, Plan
from ..core.secrets import strip_userinfo
from ..core.traps import only_bundle_fields
from .files_report import export_file_lines, file_rows, files_azure, files_json, files_markdown, print_files

if TYPE_CHECKING:
    from ..commands.apply import ApplyResult
    from ..commands.export import ExportResult

REPORT_VERSION = 1
SYMBOL = {"create": "+", "update": "~", "adopt": "~", "orphan": "!", "conflict": "x", "no-op": "=",
          "delete": "-"}
STYLE = {"create": "green", "update": "yellow", "adopt": "yellow", "orphan": "magenta", "conflict": "red",
         "no-op": "dim", "delete": "red"}
DRIFT_LABEL = {"create": "missing in target (would be created)", "update": "edited outside git (would be updated)",
               "adopt": "unmanaged namesake (would be adopted)", "orphan": "orphaned managed job",
               "conflict": "conflict: several jobs carry one key", "no-op": "in sync"}


def in_github_actions() -> bool:
    """GITHUB_ACTIONS is "true" in every step of a GitHub Actions run (its default variables)."""
    return os.environ.get("GITHUB_ACTIONS", "").lower() == "true"


def in_azure_pipelines() -> bool:
    """TF_BUILD=True in an Azure Pipelines job; never in GitHub Actions, whose runner would print
    Azure logging commands as text (one platform's commands at a time)."""
    return os.environ.get("TF_BUILD", "").lower() == "true" and not in_github_actions()


# --- terminal -----------------------------------------------------------------------------

def _count(a: Action, bodies: dict[str, BodyView]) -> str:
    """The changes column: a create's is the number of fields it sends."""
    if a.action == "create":
        return str(bodies[a.key].total) if bodies[a.key].total else ""
    return str(len(a.changes)) if a.changes else ""


def _lines(a: Action, bodies: dict[str, BodyView]) -> list[Change | str]:
    """What a job's block lists below its notes: its changes, or a create's body (bounded: a
    str says what was left out)."""
    if a.action != "create":
        return list(a.changes)
    view = bodies[a.key]
    return [*view.shown, *([hidden_line(view, a)] if view.hidden else [])]


def print_plan(plan: Plan, console: Console, *, title: str = "Plan", show_noop: bool = False) -> None:
    console.print(f"[bold]{term(title)} for target '{term(plan.target)}'[/bold] ({term(_host(plan))}): "
                  f"{plan.headline()}")
    bodies = body_views(plan.actions)
    rows = [a for a in plan.actions if show_noop or a.action != "no-op"]
    if rows:
        table = Table(show_header=True, header_style="bold", box=None, pad_edge=False)
        for col in ("", "action", "key", "job", "job id", "changes"):
            table.add_column(col)
        for a in rows:
            ident = a.job_id if a.job_id is not None else ", ".join(map(str, a.job_ids)) or "(new)"
            table.add_row(f"[{STYLE[a.action]}]{SYMBOL[a.action]}[/]", f"[{STYLE[a.action]}]{a.action}[/]",
                          term(a.key), term(a.name), term(ident), _count(a, bodies))
        console.print(table)
    for a in plan.actions:
        lines = _lines(a, bodies) if a.action != "no-op" else []
        if not (lines or (a.notes and a.action != "no-op")):
            continue
        console.print(f"\n[{STYLE[a.action]}]{SYMBOL[a.action]} {term(a.key)}[/] ({term(a.name)})")
        for note in a.notes:
            console.print(f"    [dim]# {term(note)}[/dim]")
        for line in lines:  # a create: the whole job as it will be sent, as Terraform shows it
            if isinstance(line, str):
                console.print(f"    [dim]{term(line)}[/dim]")
                continue
            style = {"+": "green", "-": "red", "~": "yellow"}[line.op]
            console.print(f"    [{style}]{term(line.describe())}[/]")
    print_files(plan, console, show_noop=show_noop)
    for warning in plan.warnings:
        console.print(f"[yellow]warning:[/yellow] {term(warning)}")


def _host(plan: Plan) -> str:
    """The plan's host as printed: userinfo never (a plan file may carry an old, unstripped one)."""
    return strip_userinfo(plan.host or "")


# --- JSON ---------------------------------------------------------------------------------

def report_json(plan: Plan, *, kind: str = "plan", awaiting_export: list[dict] | None = None) -> dict[str, Any]:
    """The documented report document (see README, "JSON report")."""
    doc: dict[str, Any] = {
        "bricksync_report": REPORT_VERSION,
        "kind": kind,
        "target": plan.target,
        "host": _host(plan),
        "headline": plan.headline(),
        "has_changes": plan.has_changes or bool(awaiting_export),
        "summary": plan.counts(),
        "fingerprint": plan.fingerprint,
        "jobs": [_job_json(a) for a in plan.actions],
        "warnings": list(plan.warnings),
        "missing_paths": list(plan.missing_paths),
        "files": files_json(plan),
        "files_summary": plan.file_counts(),
    }
    if awaiting_export is not None:
        doc["awaiting_export"] = awaiting_export
    if kind == "drift":  # added within version 1: readers of the other fields are unaffected
        doc["settle"] = [{"kind": x.kind, "item": x.item, "what": x.what, "accept": x.accept, "revert": x.revert}
                         for x in settle_items(plan)]
    return doc


def _job_json(a: Action) -> dict[str, Any]:
    changes = body_changes(a) if a.action == "create" else a.changes  # a create: its whole body, every field
    return {
        "key": a.key, "name": a.name, "action": a.action, "job_id": a.job_id,
        "job_ids": a.job_ids or None, "file": a.file, "notes": a.notes,
        "changes": [{"path": c.path, "op": c.op, "before": c.before, "after": c.after,
                     **({"default": True} if c.default else {}),
                     **({"write_only": True} if c.write_only else {})} for c in changes],
    }


# --- Markdown -----------------------------------------------------------------------------

def report_markdown(plan: Plan, *, title: str = "bricksync plan", awaiting_export: list[dict] | None = None,
                    collapse_over: int = 10, settle: bool = False) -> str:
    """Headline first, then a table, then per-job diffs (collapsible when the plan is long)."""
    headline = plan.headline()
    if awaiting_export:
        headline += f", {len(awaiting_export)} awaiting export"
    lines = [f"**{headline}**", "", f"### {md_text(title)}: target {md_code(plan.target)} ({md_text(_host(plan))})", ""]
    changed = [a for a in plan.actions if a.action != "no-op"]
    bodies = body_views(changed)
    if changed:
        lines += ["| | action | key | job | job id | changes |", "|---|---|---|---|---|---|"]
        for a in changed:
            ident = a.job_id if a.job_id is not None else ", ".join(map(str, a.job_ids)) or "(new)"
            lines.append(f"| {SYMBOL[a.action]} | {a.action} | {md_code(a.key)} | {md_text(a.name)} | "
                         f"{md_text(ident)} | {_count(a, bodies)} |")
        lines.append("")
    else:
        lines += ["No changes: the target matches state/.", ""]
    collapse = len(changed) > collapse_over
    for a in changed:
        body = [f"# {n}" for n in a.notes]
        body += [x if isinstance(x, str) else x.describe() for x in _lines(a, bodies)]
        if not body:
            continue
        block = md_fence([_diff_line(x) for x in body], "diff")
        if collapse:
            counted = f"{bodies[a.key].total} fields" if a.action == "create" else f"{len(a.changes)} changes"
            lines += [f"<details><summary>{SYMBOL[a.action]} <code>{md_html(a.key)}</code> — {md_html(a.name)} "
                      f"({a.action}, {counted})</summary>", "", *block, "", "</details>", ""]
        else:
            lines += [f"#### {SYMBOL[a.action]} {md_code(a.key)} — {md_text(a.name)} ({a.action})", "",
                      *block, ""]
    if awaiting_export:
        lines += ["#### Awaiting export (tagged in the source, differs from state/)", ""]
        lines += [f"- {md_code(j['key'])} — {md_text(j['name'])} ({md_text(j['status'])})" for j in awaiting_export]
        lines.append("")
    lines += files_markdown(plan)
    hints = settle_hints(plan) if settle else []
    if hints:
        lines += ["", "#### To settle the drift: accept it into git, or revert the workspace to git", ""]
        lines += [f"- {settle_line(md_code(what), accept, revert, md_code)}" for what, accept, revert in hints[:50]]
        if len(hints) > 50:
            lines.append(f"- ... and {len(hints) - 50} more")
        lines.append("")
    for warning in plan.warnings:
        lines.append(f"> ⚠️ {md_text(warning)}")
    return "\n".join(lines).rstrip() + "\n"


@dataclass(frozen=True)
class Settle:
    """How one drifted job or file settles: `accept` takes the workspace into git (None: capture cannot,
    the difference is in fields state never holds), `revert` puts git back into the workspace."""
    kind: str  # job | file
    item: str  # the job's key, the file's workspace path
    what: str
    accept: str | None
    revert: list[str]

    def text(self) -> str:
        """One line, for a pipeline's message about this item."""
        revert = " or ".join(f"`{r}`" for r in self.revert)
        if self.accept is None:
            return f"to settle: {revert} (capture cannot: state never holds these fields)"
        return f"to settle: accept `{self.accept}` or revert {revert}"


def settle_items(plan: Plan) -> list[Settle]:
    """Per drifted job and file, how to settle it (issue 22.6, 25.3). A plain apply trusts the permissions
    index, which a grant made by hand leaves unchanged: reverting a permission takes an apply that reads
    every ACL. A difference only in a bundle's deployment fields is apply's alone: capture drops them
    (core/traps.py drop_bundle), so suggesting it would loop, drift after drift."""
    t = shlex.quote(plan.target)
    out = []
    for a in plan.of("update"):
        perms = any(c.path.startswith("permissions[") for c in a.changes)
        settings = a.settings is not None and any(not c.path.startswith("permissions[") for c in a.changes)
        revert = [f"bricksync apply --target {t}" + (" --refresh-permissions" if perms else "")]
        if perms and not settings:
            revert.append(f"bricksync drift --target {t} --heal")
        if only_bundle_fields([c.path for c in a.changes]):
            fields = ", ".join(sorted({c.path.split(".", 1)[0] for c in a.changes}))
            out.append(Settle("job", a.key, f"{a.key} ({fields}: fields state never holds)", None, revert))
            continue
        what = a.key + (" (settings and permissions)" if perms and settings else " (permissions)" if perms else "")
        out.append(Settle("job", a.key, what, f"bricksync capture --target {t} {shlex.quote(a.key)}", revert))
    for f in plan.files:
        if f.action == "update":
            out.append(Settle("file", f.path, f.path + " (file)", f"bricksync capture --target {t}",
                              [f"bricksync apply --target {t}"]))
    return out


def settle_hints(plan: Plan) -> list[tuple[str, str | None, list[str]]]:
    """(what drifted, the command that accepts it into git or None, the ones that revert the workspace
    to git) per drifted job and file: settle_items, as the terminal and Markdown list them."""
    return [(s.what, s.accept, s.revert) for s in settle_items(plan)]


def settle_line(what: str, accept: str | None, revert: list[str], code: Callable[[str], str]) -> str:
    """One hint as a list item, each command through `code` (the medium's escaping)."""
    if accept is None:
        return f"{what}: settle " + " or ".join(map(code, revert)) + " (capture cannot: state never holds them)"
    return f"{what}: accept {code(accept)} · revert " + " or ".join(map(code, revert))


def _diff_line(line: str) -> str:
    # diff fences colour + and - lines; "~" (changed) shows as "!" which most renderers tint.
    return ("!" + line[1:]) if line.startswith("~") else line


# --- Azure DevOps logging commands --------------------------------------------------------

def _vso_escape(text: str) -> str:
    """Escaping for ##vso message/property text (the agent's documented rules)."""
    text = log_text(text)  # one line, and a second ##vso[ inside a message is data, and stays data
    return text.replace("%", "%AZP25").replace("\r", "%0D").replace("\n", "%0A").replace("]", "%5D") \
        .replace(";", "%3B")


def azure_warning_lines(plan: Plan) -> list[str]:
    """One warning per plan warning (missing paths included): Azure lists them on the run."""
    return [f"##vso[task.logissue type=warning]{_vso_escape(w)}" for w in plan.warnings]


def _settle_texts(plan: Plan) -> dict[tuple[str, str], str]:
    """(kind, key or path) -> "; to settle: ..." for a drifted item's pipeline message."""
    return {(x.kind, x.item): f"; {x.text()}" for x in settle_items(plan)}


def azure_lines(plan: Plan, *, summary_file: str | None = None, kind: str = "drift") -> list[str]:
    """Logging commands for Azure Pipelines. Callers emit them only when TF_BUILD=True."""
    lines: list[str] = azure_warning_lines(plan)
    drifted = [a for a in plan.actions if a.action != "no-op"]
    settle = _settle_texts(plan) if kind == "drift" else {}
    for a in drifted:
        lines.append(f"##[group]{SYMBOL[a.action]} {log_text(a.key)} ({a.action})")
        lines.extend([log_text(f"# {n}") for n in a.notes] + [log_text(c.describe()) for c in a.changes])
        lines.append("##[endgroup]")
        label = DRIFT_LABEL[a.action] if kind == "drift" else a.action
        message = f"{a.key} ({a.name}): {label}" + settle.get(("job", a.key), "")
        lines.append(f"##vso[task.logissue type=warning]{_vso_escape(message)}")
    lines += [log_text(x) if not x.startswith("##") else x
              for x in files_azure(plan, kind, lambda t: f"##[group]{log_text(t)}", _vso_escape,
                                   {path: text for (what, path), text in settle.items() if what == "file"})]
    drifted = drifted or file_rows(plan)
    if summary_file:
        lines.append(f"##vso[task.uploadsummary]{_vso_escape(summary_file)}")
    if drifted and kind == "drift":
        lines.append("##vso[task.complete result=SucceededWithIssues;]"
                     f"{_vso_escape(plan.headline())}")
    return lines


# --- GitHub Actions workflow commands --------------------------------------------------------

# GitHub shows at most 10 annotations of each kind (error, warning, notice) per step, 50 per job,
# and drops the rest without a word (zizmorcore/zizmor#634; orgs/community discussion 68471):
# past that, the last one of a kind says how many more there are.
ANNOTATIONS_PER_KIND = 10
# Each job's level: a conflict is an error anywhere; drift is a warning (someone edited prod);
# a plan's change is a notice (it is what the pull request asks for).
_LEVEL = {"drift": "warning", "plan": "notice"}


def _workflow_command(name: str, properties: dict[str, str], message: str) -> str:
    props = ",".join(f"{k}={workflow_property(v)}" for k, v in properties.items() if v)
    return f"::{name}{' ' + props if props else ''}::{workflow_data(message)}"


def github_lines(plan: Plan, *, kind: str = "drift") -> list[str]:
    """Workflow commands for GitHub Actions (callers emit them only when GITHUB_ACTIONS=true):
    a collapsed ::group:: per changed job with its field diff, and annotations: one per plan
    warning, and (plan, drift) one per changed job, pointing at its state file. `kind` "apply":
    the warnings alone (apply's own table says the rest)."""
    title = f"bricksync {kind} ({plan.target})"
    notes: list[tuple[str, dict[str, str], str]] = []
    lines: list[str] = []
    settle = _settle_texts(plan) if kind == "drift" else {}
    for a in [a for a in plan.actions if a.action != "no-op"] if kind != "apply" else []:
        lines.append(_workflow_command("group", {}, f"{SYMBOL[a.action]} {a.key} ({a.action})"))
        lines.extend([log_text(f"# {n}") for n in a.notes] + [log_text(c.describe()) for c in a.changes])
        lines.append("::endgroup::")
        level = "error" if a.action == "conflict" else _LEVEL.get(kind, "notice")
        label = DRIFT_LABEL[a.action] if kind == "drift" else a.action
        file = a.file if a.file and not a.file.startswith("/") else ""  # annotations take repository paths
        notes.append((level, {"file": file, "title": f"{title}: {a.key}"},
                      f"{a.key} ({a.name}): {label}" + settle.get(("job", a.key), "")))
    # The jobs first: when the cap cuts, it cuts the plan's warnings (one per missing path) before them.
    notes += [("warning", {"title": title}, w) for w in plan.warnings]
    return lines + _capped(notes)


def _capped(notes: list[tuple[str, dict[str, str], str]]) -> list[str]:
    """At most ANNOTATIONS_PER_KIND of each kind; the last one names how many more the log holds."""
    out: list[str] = []
    for level in ("error", "warning", "notice"):
        mine = [n for n in notes if n[0] == level]
        if len(mine) > ANNOTATIONS_PER_KIND:
            rest = len(mine) - ANNOTATIONS_PER_KIND + 1
            more = (level, {"title": "bricksync"}, f"{rest} more {level}s: see this step's log and summary")
            mine = [*mine[:ANNOTATIONS_PER_KIND - 1], more]
        out.extend(_workflow_command(*n) for n in mine)
    return out


# --- export and apply results on the terminal (the CLI prints them; rich markup, values escaped) ---

EXPORT_ROWS = 50  # export lists this many jobs, then counts the rest


def export_table(result: ExportResult, *, dry_run: bool) -> Table:
    from collections import Counter

    from .ui import esc

    table = Table(title=f"Export from {result.host}: {result.scanned} jobs read, {len(result.exported)} selected "
                        f"and valid, {len(result.rejected)} rejected", box=None, header_style="bold")
    for col in ("status", "key", "job", "detail"):
        table.add_column(col)
    verb = "would be " if dry_run else ""
    # Thousands of rows help nobody: past EXPORT_ROWS, show changes first and count the rest.
    shown = result.exported if len(result.exported) <= EXPORT_ROWS else \
        [j for j in result.exported if j.status != "unchanged"][:EXPORT_ROWS]
    acknowledged = set(result.acknowledged)
    for job in shown:
        style = {"added": "green", "changed": "yellow", "unchanged": "dim"}[job.status]
        acked = " · acknowledged" if job.key in acknowledged else ""
        table.add_row(f"[{style}]{verb}{job.status}[/]", term(job.key), term(job.name),
                      f"source job {job.job_id}{acked}")
    if len(shown) < len(result.exported):
        listed = {j.key for j in shown}
        rest = Counter(j.status for j in result.exported if j.key not in listed)
        table.add_row("[dim]...[/]", "", ", ".join(f"{n} more {status}" for status, n in sorted(rest.items())),
                      f"{len(acknowledged)} acknowledged" if acknowledged else "")
    for name, problems in result.rejected:
        table.add_row("[red]rejected[/]", "", term(name), esc("; ".join(str(p).split(": ", 1)[-1]
                                                                       if p.job else str(p) for p in problems)))
    return table


def _first_keys(keys: list[str]) -> str:
    more = f" and {len(keys) - EXPORT_ROWS} more" if len(keys) > EXPORT_ROWS else ""
    return term(", ".join(keys[:EXPORT_ROWS])) + more


def export_lines(result: ExportResult, *, dry_run: bool, commit: bool, acknowledge: bool,
                 branch: str | None) -> list[str]:
    """The lines under the export table: the commit, what a dry run would do, notes."""
    lines = []
    if result.commit:
        pushed = " and pushed" if result.pushed else ""
        lines.append(f"Committed {result.commit[:12]} on branch {term(result.branch)}{pushed}")
    elif result.exported and not dry_run and commit:
        lines.append("Nothing new to commit: state/ already matches the source.")
    if dry_run and result.changed:
        lines.append(f"Would commit on {term(result.branch or branch or 'the export branch')}: "
                     + _first_keys([j.key for j in result.changed]))
        if acknowledge:
            lines.append("Would acknowledge (set the tag to false): " + _first_keys([j.key for j in result.exported]))
    lines.extend(export_file_lines(result, dry_run=dry_run))
    lines.extend(f"[dim]{term(note)}[/dim]" for note in result.notes)
    return lines


def rejected_lines(result: ExportResult) -> list[str]:
    from .ui import esc

    lines = [f"[red]error:[/red] {len(result.rejected)} job(s) rejected:"]
    for name, problems in result.rejected:
        lines.extend(f"  - {esc(str(p)) if p.job else term(name) + ': ' + esc(str(p))}" for p in problems)
    return lines


def apply_table(result: ApplyResult, target: str) -> Table:
    table = Table(title=f"Apply to '{term(target)}'", box=None, header_style="bold")
    for col in ("result", "action", "key", "job id", "detail"):
        table.add_column(col)
    for o in sorted(result.outcomes, key=lambda o: (o.ok, o.key)):
        table.add_row("[green]ok[/]" if o.ok else "[red]failed[/]", o.action, term(o.key), str(o.job_id or ""),
                      term(o.detail))
    return table


def apply_summary(result: ApplyResult) -> str:
    return (f"{sum(o.ok for o in result.outcomes)} done, {len(result.failed)} failed in {result.elapsed:.2f}s "
            f"(writes only); {result.api_calls} API calls in all")


def conflicts_line(conflicts: list[Action]) -> str:
    several = [a for a in conflicts if not _refused(a)]
    refused = [a for a in conflicts if _refused(a)]
    parts = []
    if several:
        parts.append(f"{len(several)} key(s) in conflict, not applied (several jobs carry one key): "
                     + ", ".join(f"{term(a.key)} (jobs {', '.join(map(str, a.job_ids))})" for a in several)
                     + ". Delete the extra jobs (or remove their bricksync-key tag) and apply again.")
    if refused:
        parts.append(f"{len(refused)} job(s) refused, not applied: "
                     + "; ".join(f"{term(a.key)}: {term(a.notes[0])}" for a in refused))
    return "[red]error:[/red] " + " ".join(parts)


def _refused(a: Action) -> bool:
    """A conflict that is bricksync's refusal (commands/ownercheck.py), not several jobs with one key."""
    return bool(a.notes) and a.notes[0].startswith("refused:")
