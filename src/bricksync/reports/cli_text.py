"""What the CLI prints for export, validate, plan, capture/import, drift, apply, unlock and `comment` (issue 15:
cli.py parses, calls the façade, prints through these). Heavier modules (rich.table, report.py)
are imported inside the functions, as cli.py always did, so that the CLI starts as fast."""

from __future__ import annotations

import shlex
from typing import Any

import click

from ..core.escape import term
from ..core.secrets import redact
from .ui import err, esc, out

LIST_ROWS = 50  # capture/import and drift's hints list this many jobs, then count the rest


def print_capture(result: Any, target: str, dry_run: bool) -> int:
    """A CaptureResult (capture or import) as a table, then its commit, notes, refusals and outcome.
    Returns the exit code (1 when jobs were refused)."""
    verb = "would be " if dry_run else ""
    title = term(f"{result.kind.capitalize()} from '{target}': {len(result.captured)} written, "
                 f"{len(result.refused)} refused, {len(result.unchanged)} unchanged")
    from rich.table import Table

    table = Table(title=title, box=None, header_style="bold")
    for col in ("status", "key", "job", "detail"):
        table.add_column(col)
    for job in result.captured[:LIST_ROWS]:
        fields = ", ".join(job.fields[:6]) + (f" (+{len(job.fields) - 6})" if len(job.fields) > 6 else "")
        table.add_row(f"[green]{verb}{job.status}[/]", term(job.key), term(job.name),
                      term(f"{target} job {job.job_id}: {fields}"))
    if len(result.captured) > LIST_ROWS:
        table.add_row("[dim]...[/]", "", f"{len(result.captured) - LIST_ROWS} more", "")
    for f in getattr(result, "files", [])[:LIST_ROWS]:
        table.add_row(f"[green]{verb}changed[/]", term(f"state/files/{f.name}"), "", term(f"from {target} {f.path}"))
    for key, problems in result.refused:
        table.add_row("[red]refused[/]", term(key), "", term("; ".join(p.message for p in problems)))
    out.print(table)
    if result.commit:
        pushed = " and pushed" if result.pushed else ""
        out.print(term(f"Committed {result.commit[:12]} on branch {result.branch}{pushed}"))
    for note in result.notes:
        out.print(f"[dim]{term(note)}[/dim]")
    if result.refused:
        err.print(f"[red]error:[/red] {len(result.refused)} job(s) refused (their files are left as they are):")
        for key, problems in result.refused:
            for p in problems:
                err.print(f"  - {term(key)}: {esc(str(p))}")
    if not result.captured and not result.refused and not getattr(result, "files", []):
        out.print("Nothing to capture: every selected job matches its state file." if result.kind == "capture"
                  else "Nothing to import: no unmanaged job matched (or their files are already written).")
    elif result.kind == "import" and result.adopted and not dry_run:
        out.print(f"On apply, {len(result.adopted)} job(s) are adopted in place (tagged with their key, not "
                  "re-created).")
    return 1 if result.refused else 0


def print_export(result: Any, *, dry_run: bool, commit: bool, branch: str | None, acknowledge: bool) -> int:
    """An ExportResult: the table, what was written, committed and acknowledged, then the rejected
    jobs (stderr). Returns the exit code (1 when jobs were rejected)."""
    from .report import export_lines, export_table, rejected_lines

    out.print(export_table(result, dry_run=dry_run))
    for line in export_lines(result, dry_run=dry_run, commit=commit, branch=branch, acknowledge=acknowledge):
        out.print(line)
    if not result.rejected:
        return 0
    for line in rejected_lines(result):
        err.print(line)
    return 1


def print_valid(config_path: str, count: int, targets: Any) -> None:
    """`validate`'s one line: the config, the number of state files, the targets."""
    out.print(f"[green]ok[/green]: {term(config_path)} and {count} state file(s) are valid "
              f"({len(targets)} target(s): {', '.join(sorted(targets)) or 'none'})")


def show_plan(plan: Any, console: Any = None, *, kind: str = "apply") -> None:
    """A plan as plan and apply show it (`console`: stdout unless a report goes there), and in a
    pipeline its findings (print_ci: `kind` "plan" for the plan command)."""
    from .report import print_plan

    print_plan(plan, console or out)
    print_ci(plan, kind)


def print_drift(found: Any, target: str, check_source: bool, console: Any) -> None:
    """A DriftResult: the plan titled Drift, how to settle each drifted job, the source jobs awaiting export."""
    from .report import print_plan

    print_plan(found.plan, console, title="Drift")
    print_settle(found.plan, target, console)
    print_awaiting(found.awaiting, check_source, console)


def print_lock(target: str, record: Any, claims: list[str], now: float, legacy: Any = None,
               legacy_path: str = "") -> None:
    """`unlock`: who holds the lock (None: nobody), the claims left beside it, and an old /Shared lock."""
    from ..core.lease import describe

    if legacy is not None:  # cleared with the lock: an older bricksync's apply may hold it
        out.print(f"An older bricksync's lock of '{term(target)}' is at {term(legacy_path)}, held by "
                  f"{term(describe(legacy, now))}; it is cleared too.")
    if record is not None:
        out.print(f"The apply lock of '{term(target)}' is held by {term(describe(record, now))}.")
        if record.expiry() is not None and not record.expired(now):
            out.print("[yellow]Its lease is live: that run may still be applying. Clearing the lock lets another "
                      "apply start; the running one stops starting writes at its next renewal.[/yellow]")
    elif not claims and legacy is None:
        out.print(f"'{term(target)}' is not locked.")
    for claim in claims:
        out.print(f"A claim was left behind (by a run that could not finish taking over, renewing or releasing "
                  f"the lock): {term(claim)}")


def print_unlock(target: str, record: Any, legacy: Any = None) -> None:
    """`unlock`'s outcome: the record removed (None: there was no lock, only claims or nothing)."""
    if record is not None:
        out.print(f"Released the lock of '{term(target)}' (held by {term(record.holder)}).")
    elif legacy is not None:
        out.print(f"Released the older bricksync's lock of '{term(target)}' (held by {term(legacy.holder)}).")
    else:
        out.print(f"'{term(target)}' was not locked.")


def print_settle(the_plan: Any, target: str, console: Any = None) -> None:
    """For each drifted job and file, the command that accepts the drift beside the one that reverts
    it (report.settle_hints: a hand-made grant is reverted only by an apply that reads every ACL).
    `console`: where the human-readable output goes (stderr when a report goes to stdout)."""
    from .report import settle_hints, settle_line

    console = console or out
    hints = settle_hints(the_plan)
    if not hints:
        return
    console.print("To settle the drift: accept it into git, or revert the workspace to git:")
    for what, accept, revert in hints[:LIST_ROWS]:
        console.print(term("  " + settle_line(what, accept, revert, lambda c: f"`{c}`")))
    if len(hints) > LIST_ROWS:
        t = shlex.quote(target)
        console.print(term(f"  ... and {len(hints) - LIST_ROWS} more: `bricksync capture --target {t}` accepts all, "
                           f"`bricksync drift --target {t} --heal` reverts all"))


def print_awaiting(awaiting: list[dict] | None, check_source: bool, console: Any) -> None:
    """drift: the tagged source jobs awaiting export (None: the source was not checked)."""
    if awaiting:
        console.print(f"[yellow]{len(awaiting)} tagged source job(s) awaiting export:[/yellow] "
                      + ", ".join(f"{term(j['key'])} ({term(j['status'])})" for j in awaiting))
    elif awaiting is None and check_source:
        console.print("[dim]source workspace not checked (unreachable or not configured)[/dim]")


def print_ci(plan: Any, kind: str, summary_file: str | None = None) -> None:
    """In a pipeline, the plan's findings as its platform's commands; nothing anywhere else.
    Azure Pipelines (TF_BUILD): each warning as a run warning, and for drift a group and warning per
    drifted job and the uploaded summary, on stdout. GitHub Actions (GITHUB_ACTIONS): groups and
    annotations (report.github_lines) on stderr, which the runner reads for commands as it does
    stdout, so `--json -` keeps stdout to the report."""
    from .report import azure_lines, azure_warning_lines, github_lines, in_azure_pipelines, in_github_actions

    if in_github_actions():
        for line in github_lines(plan, kind=kind):
            click.echo(redact(line), err=True)
    elif in_azure_pipelines():
        lines = azure_lines(plan, summary_file=summary_file, kind="drift") if kind == "drift" \
            else azure_warning_lines(plan)
        for line in lines:
            click.echo(redact(line))


def print_prune(deletes: list) -> None:
    """Before confirming an apply: the jobs --prune deletes."""
    if deletes:
        out.print("[red]Will delete (prune):[/red] " + ", ".join(f"{term(a.key)} (job {a.job_id})" for a in deletes))


def print_apply(result: Any, target: str) -> int:
    """An ApplyResult: the table, the summary, conflicts and the next step. Returns the exit code."""
    from .report import apply_summary, apply_table, conflicts_line

    if not result.applied:
        if result.lock_lost:  # nothing was written: nothing at risk, but the lock is someone else's now
            err.print(f"[yellow]warning:[/yellow] {esc(result.lock_lost)}")
        if result.conflicts:  # their changes are not deployed: that is not success
            err.print(conflicts_line(result.conflicts))
            return 1
        out.print("[green]Nothing to apply.[/green]")
        return 0
    out.print(apply_table(result, target))
    out.print(apply_summary(result))
    if result.conflicts:
        err.print(conflicts_line(result.conflicts))
    if result.lock_lost:
        err.print(f"[red]error:[/red] {esc(result.lock_lost)}")
    if result.failed:
        out.print(f"Next step: fix what the failures say, then re-run `bricksync apply --target {term(target)}`: it "
                  "re-reads the target and converges (jobs are found by their key, nothing is created twice).")
    return 1 if result.failed or result.conflicts or result.lock_lost else 0


def print_lock_release_failure(exc: Any, target: str) -> int:
    """Apply did its work and could not release the lock: the result first (what was written), then the
    failure and the command that clears the lock. Returns the exit code: 3 (README, Exit codes)."""
    if exc.result is not None:
        print_apply(exc.result, target)
    err.print(f"[red]error:[/red] {esc(exc.render())}")
    return LOCK_NOT_RELEASED


LOCK_NOT_RELEASED = 3


def print_comment(posted: Any) -> None:
    """`comment`: what was posted (the comment, the status) and whether the plan failed."""
    result = posted.outcome
    if posted.comment:
        action, ident = posted.comment
        out.print(f"{action.capitalize()} the plan comment on pull request {posted.pull_request} "
                  f"({posted.unit} {ident}).")
    if posted.skipped:
        out.print(f"Status bricksync/plan left as it is: {esc(posted.skipped)}.")
    if posted.status_set:
        out.print(f"Status bricksync/plan: {result.state} ({esc(result.description())}).")
    if result.failed:
        out.print(f"[yellow]The plan failed ({esc(result.reason)}): the status says so; the plan step's own "
                  "exit code is the build's verdict.[/yellow]")
    if posted.failures:
        print_ci_errors(posted.failures)


def print_ci_errors(failures: list[str]) -> None:
    """In a pipeline, each posting failure as a run error (Azure) or an error annotation (GitHub)."""
    from ..core.escape import workflow_data
    from .report import _vso_escape, in_azure_pipelines, in_github_actions

    for failure in failures:
        if in_github_actions():
            click.echo(redact(f"::error title=bricksync comment::{workflow_data(failure)}"), err=True)
        elif in_azure_pipelines():
            click.echo(redact(f"##vso[task.logissue type=error]{_vso_escape(failure)}"))


def report_texts(plan: Any, kind: str, awaiting: list[dict] | None, *, json_report: bool,
                 markdown_report: bool) -> tuple[str | None, str | None]:
    """The JSON and Markdown reports of a plan or drift (None: not asked for)."""
    import json

    from ..core.escape import json_no_commands
    from .report import report_json, report_markdown

    as_json = (json_no_commands(json.dumps(report_json(plan, kind=kind, awaiting_export=awaiting), indent=2)) + "\n"
               if json_report else None)
    title = "bricksync drift" if kind == "drift" else "bricksync plan"
    as_md = report_markdown(plan, title=title, awaiting_export=awaiting, settle=kind == "drift") \
        if markdown_report else None
    return as_json, as_md


def print_init(result: Any) -> None:
    """`init`: what was written, what was left as it was, and the next steps for this folder."""
    where = term(str(result.root))
    out.print(f"bricksync init in {where}: {len(result.written)} file(s) written, {len(result.skipped)} already "
              "there (left as they are)")
    for rel in result.written:
        out.print(f"  [green]+[/green] {term(rel)}")
    for rel in result.skipped:
        lacks = f" (it lacks: {', '.join(term(x) for x in result.gitignore_lacks)})" if (
            rel == ".gitignore" and result.gitignore_lacks) else ""
        out.print(f"  = {term(rel)}{lacks}")
    for line in init_steps(result):
        out.print(line)


def init_steps(result: Any) -> list[str]:
    steps = ["1. config/bricksync.yml: set the profiles (or hosts) of the source and of each target, the path "
             "rewrites and compute names; `bricksync validate` checks it offline."]
    commit = 'git add -A && git commit -m "bricksync init"'
    if result.git == "none":
        steps.append(f"2. This folder is not a git repository: `git init -b main`, then `{commit}` "
                     "(an export commits on a branch off it).")
    elif result.git == "empty":
        steps.append(f"2. The repository has no commit yet: `{commit}` on the default branch first (an export "
                     "branches off it, and its pull request targets it).")
    else:
        steps.append(f"2. `{commit}` and push it.")
    if result.git_top is not None and result.git_top.resolve() != result.root.resolve() and result.ci != "none":
        steps.append(f"   Note: the repository's top folder is {term(str(result.git_top))}: CI reads its pipeline "
                     "files from there.")
    steps.append("3. Tag jobs PROD_MIGRATION=true in the source workspace, then `bricksync export --push`: one "
                 "state file per job, committed on the branch bricksync/export-<date>.")
    steps.append("4. Open the pull request from that branch; `bricksync plan --target prod` shows what it changes "
                 "(the pipeline posts it on the PR), and after the merge `bricksync apply --target prod`.")
    if result.ci == "azure":
        steps.append("5. Azure Pipelines: README.md, \"Azure Pipelines\" (service connection, environment, branch "
                     "policy); requirements-bricksync.txt is what it installs.")
    elif result.ci == "github":
        steps.append("5. GitHub Actions: .github/workflows/bricksync.yml validates and plans every pull request "
                     "(its secret: DATABRICKS_READ_TOKEN, a read-only identity); requirements-bricksync.txt is what "
                     "it installs.")
    return ["", "Next:", *(f"  {s}" for s in steps)]
