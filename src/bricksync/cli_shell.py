"""The CLI's plumbing (issue 15: cli.py keeps the commands): the options several commands share,
the group that turns every failure into one redacted message and exit 1, report-path checks, and
apply's terminal side (the plan shown, the confirmation asked) around the façade."""

from __future__ import annotations

import json
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from .core.errors import ApplyCancelled, BricksyncError, Interrupted, LockReleaseError
from .core.escape import json_no_commands, term
from .core.secrets import redact
from .edges.state import STDIO, check_output_path, write_output
from .reports.cli_text import (
    print_apply,
    print_comment,
    print_lock,
    print_lock_release_failure,
    print_prune,
    print_unlock,
    report_texts,
    show_plan,
)
from .reports.ui import err, esc, out, progress

if TYPE_CHECKING:
    from .project import Project

def complete_targets(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[str]:
    """`--target <TAB>`: the targets of the config file (none when it cannot be read)."""
    from .edges.config import load_config

    path = ctx.find_root().params.get("config_path")
    try:
        targets = load_config(path).targets if path else {}
    except BricksyncError:
        return []
    return [name for name in sorted(targets) if name.startswith(incomplete)]


# Options several commands share (same flag, same help everywhere).
TARGET = click.option("--target", "-t", required=True, help="Target name from the config.",
                      shell_complete=complete_targets)
JSON = click.option("--json", "json_file", type=click.Path(dir_okay=False, allow_dash=True),
                    help="Write the JSON report here ('-': stdout).")
MARKDOWN = click.option("--markdown", "markdown_file", type=click.Path(dir_okay=False, allow_dash=True),
                        help="Write Markdown here ('-': stdout).")
REFRESH_PERMISSIONS = click.option("--refresh-permissions", is_flag=True, help="Read every managed job's "
                                   "permissions (finds grants made by hand; drift always does).")
STRICT_PATHS = click.option("--strict-paths", is_flag=True,
                            help="A task path missing in the target is an error (exit 1), not a warning.")
PUSH = click.option("--push", is_flag=True, help="Push the branch to origin after committing.")
DRY_RUN = click.option("--dry-run", is_flag=True, help="Show what would be written; write nothing.")


def _group(*options: Callable) -> Callable:
    """Several options as one decorator (in the order given, as they were listed)."""
    def decorate(f: Callable) -> Callable:
        for option in reversed(options):
            f = option(f)
        return f
    return decorate


REPORTS = _group(JSON, MARKDOWN)  # plan and drift
PRUNE_GUARDS = _group(  # apply --prune's two overrides
    click.option("--allow-empty-state", is_flag=True,
                 help="Let --prune run although state/ holds no job (it deletes every managed job)."),
    click.option("--allow-mass-delete", is_flag=True,
                 help="Let --prune delete more than the target's max_prune_percent of its managed jobs."))


USAGE_EXIT = 1  # click's own is 2, which here means "changes present" (plan --detailed-exitcode)


class BricksyncGroup(click.Group):
    """Turns every failure into one redacted message and exit code 1 (a traceback only with --debug).
    Usage errors (unknown option, missing --target, ...) exit 1 too: 2 keeps one meaning."""

    def make_context(self, info_name: str | None, args: list[str], parent: click.Context | None = None,
                     **extra: Any) -> click.Context:
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except click.UsageError as exc:
            exc.exit_code = USAGE_EXIT
            raise

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), "emulator"})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        # `emulator` is imported when used: its HTTP server would slow every other command's start
        if cmd_name == "emulator" and cmd_name not in self.commands:
            from .emulator.cli import emulator_group

            self.add_command(emulator_group(announce=err.print))
        return super().get_command(ctx, cmd_name)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except click.UsageError as exc:  # a sub-command's arguments (parsed here, not in make_context)
            exc.exit_code = USAGE_EXIT
            raise
        except BricksyncError as exc:
            err.print(f"[red]error:[/red] {esc(exc.render())}")
            sys.exit(1)
        except Interrupted as exc:  # Ctrl-C once writing began: what is done, what is not, how to finish
            err.print(f"[yellow]{esc(exc.render())}[/yellow]")
            sys.exit(1)
        except (click.ClickException, click.exceptions.Exit, click.Abort, SystemExit, KeyboardInterrupt):
            raise
        except Exception as exc:
            if ctx.obj and ctx.obj.get("debug"):
                err.print(esc(redact(traceback.format_exc())))
            err.print(f"[red]error:[/red] {esc(redact(f'{type(exc).__name__}: {exc}'))}")
            sys.exit(1)


def outputs_checked(*paths: str | None) -> Any:
    """Check every report path before any work (a link, FIFO, device or missing folder is an
    error naming it). Returns the console for the human-readable output: stderr when a report
    goes to stdout ('-'), so that stdout holds the report alone."""
    given = [p for p in paths if p]
    for path in given:
        check_output_path(path)
    if given.count(STDIO) > 1:
        raise click.UsageError("only one report can go to stdout ('-')")
    return err if STDIO in given else out


def write_reports(plan: Any, json_file: str | None, markdown_file: str | None, kind: str,
                   awaiting: list[dict] | None = None) -> None:
    """The asked-for reports; in GitHub Actions the Markdown one also goes to the step summary."""
    from .edges.runner import append_step_summary
    from .reports.report import in_github_actions

    summary = in_github_actions()
    as_json, as_md = report_texts(plan, kind, awaiting, json_report=bool(json_file),
                                  markdown_report=bool(markdown_file) or summary)
    if json_file:
        write_output(json_file, as_json or "")
    if markdown_file:
        write_output(markdown_file, as_md or "")
    if summary and as_md:
        append_step_summary(as_md)


def ask_yes(question: str) -> bool:
    if not sys.stdin.isatty():
        return False
    answer = click.prompt(f"{question} Only 'yes' will be accepted", default="", show_default=False)
    return answer.strip() == "yes"


def summary_file(markdown_file: str | None) -> str | None:
    """The Markdown report as drift uploads it to an Azure Pipelines run (absolute; None: on stdout or none)."""
    return str(Path(markdown_file).resolve()) if markdown_file and markdown_file != STDIO else None


def save_plan(plan: Any, plan_file: str, target: str, console: Any) -> None:
    """`plan --out`: the plan as JSON for `apply PLANFILE` ('-': stdout), then how to apply it."""
    write_output(plan_file, json_no_commands(json.dumps(plan.to_dict(), indent=1)) + "\n")
    if plan_file != STDIO:
        console.print(f"Saved the plan to {term(plan_file)}: apply it with "
                      f"`bricksync apply --target {term(target)} {term(plan_file)}`")


def confirmer(target: str, *, ask: bool) -> Callable[[Any, list, list], bool]:
    """apply's confirmation: --prune's deletes shown, then only 'yes' goes ahead (`ask` False: --yes
    or a saved plan, nothing asked). Without a terminal to ask on: ApplyCancelled before any work."""
    if ask and not sys.stdin.isatty():
        raise ApplyCancelled("no terminal to confirm on: pass --yes, or a plan file saved by `plan --out`")

    def confirm(plan: Any, writes: list, deletes: list) -> bool:
        print_prune(deletes)
        return not ask or ask_yes(f"Apply {len(writes) + len(deletes)} change(s) to '{target}'?")

    return confirm


def run_apply(project: Project, target: str, *, plan_file: str | None, yes: bool, **options: Any) -> int:
    """apply (and drift --heal) through the façade: a saved plan read first (its target, host and
    freshness are checked by Project.apply), the plan shown, confirmed, the result printed. Returns the exit code."""
    saved = project.read_plan(plan_file) if plan_file else None
    try:
        result = project.apply(saved, target=target, source=plan_file,
                               confirm=confirmer(target, ask=not (yes or saved)), on_plan=show_plan,
                               progress=progress, **options)
    except LockReleaseError as exc:  # the work is done: its table first, then the lock to clear
        return print_lock_release_failure(exc, target)
    return print_apply(result, target)


def run_unlock(project: Project, target: str, *, yes: bool) -> None:
    """`unlock`: the lock shown (holder, lease, leftover claims), confirmed (only 'yes'; --yes skips the
    question; without a terminal and without --yes: refused, saying so), then cleared if unchanged."""
    import time

    status = project.lock(target)
    print_lock(target, status.record, status.claims, time.time(), status.legacy, status.legacy_path)
    if status.record is None and not status.claims and status.legacy is None:
        return
    if not yes:
        if not sys.stdin.isatty():
            raise ApplyCancelled("unlock: no terminal to confirm on: pass --yes to clear the lock; it is left as it is")
        if not ask_yes(f"Clear the apply lock of '{target}'?"):
            raise ApplyCancelled("unlock cancelled: the lock is left as it is")
    removed = project.unlock(target, expected=status.record, check=True, expected_legacy=status.legacy)
    print_unlock(target, removed, status.legacy)


def post_comment(platform: str, plan_files: list[str], plan_exit_code: int | None, *, pending: bool = False) -> None:
    """`comment --azure-devops | --github`: post, print what was posted (in a pipeline each failure as
    a run error too), then raise the failures (exit 1). Outside a pull-request run: nothing posted, exit 0."""
    from .commands.comment import post_plan_comment
    from .edges.rest import NotAPullRequest

    try:
        posted = post_plan_comment(platform, plan_files, plan_exit_code, pending=pending)
    except NotAPullRequest as exc:
        out.print(f"{esc(str(exc))}: nothing posted.")
        return
    print_comment(posted)
    if posted.failures:
        raise posted.error()
