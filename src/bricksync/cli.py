"""The bricksync command line: export, validate, plan, apply, drift, capture, import, comment, unlock, emulator,
demo.

Exit codes (Terraform's): 0 success / no changes, 1 error (usage errors included), 2 changes
present (plan with --detailed-exitcode, drift with --fail-on-drift) and nothing else.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Any

import click

from . import __version__
from .cli_shell import (
    DRY_RUN,
    JSON,
    MARKDOWN,
    PUSH,
    REFRESH_PERMISSIONS,
    STRICT_PATHS,
    TARGET,
    BricksyncGroup,
    ask_yes,
    outputs_checked,
    write_reports,
)
from .core.errors import BricksyncError, ExportError, PlanFileError
from .core.escape import term
from .edges.state import STDIO, write_output
from .project import DEFAULT_CONFIG, Project
from .reports.cli_text import (
    print_apply,
    print_awaiting,
    print_azure_drift,
    print_azure_errors,
    print_azure_warnings,
    print_capture,
    print_comment,
    print_prune,
    print_settle,
)
from .reports.ui import err, esc, out, progress, setup_logging

log = logging.getLogger("bricksync")



@click.group(cls=BricksyncGroup)
@click.option("--config", "config_path", default=DEFAULT_CONFIG, show_default=True, envvar="BRICKSYNC_CONFIG",
              help="Path to bricksync.yml.")
@click.option("--debug", is_flag=True, help="Verbose logs (secrets are still redacted).")
@click.version_option(__version__, prog_name="bricksync")
@click.pass_context
def cli(ctx: click.Context, config_path: str, debug: bool) -> None:
    """Declarative GitOps sync for Databricks Jobs: export -> PR -> plan -> apply -> drift."""
    ctx.ensure_object(dict)
    ctx.obj.update(config_path=config_path, debug=debug)
    setup_logging(debug)


def _project(ctx: click.Context) -> Project:
    return Project(ctx.obj["config_path"])


# --- export -------------------------------------------------------------------------------

@cli.command()
@click.option("--branch", help="Branch to commit on (default bricksync/export-<UTC date>).")
@click.option("--no-commit", is_flag=True, help="Write state files only; no git commit (and so no ack).")
@PUSH
@click.option("--no-ack", is_flag=True, help="Leave the selection tag as it is.")
@click.option("--dry-run", is_flag=True, help="Show what would be written, committed and acknowledged.")
@click.option("--ack-parallelism", type=click.IntRange(1, 64), default=None,
              help="jobs/update calls at a time when acknowledging tags [default: source.ack_parallelism, 8].")
@click.pass_context
def export(ctx: click.Context, branch: str | None, no_commit: bool, push: bool, no_ack: bool, dry_run: bool,
           ack_parallelism: int | None) -> None:
    """Snapshot the tagged jobs of the source workspace into state/."""
    from .reports.report import export_lines, export_table, rejected_lines

    project = _project(ctx)
    try:
        result = project.export(branch=branch, commit=not no_commit, push=push,
                                acknowledge=False if no_ack else None, dry_run=dry_run, progress=progress,
                                ack_parallelism=ack_parallelism)
    except ExportError as exc:  # the table still shows what was exported
        result = exc.result
    out.print(export_table(result, dry_run=dry_run))
    for line in export_lines(result, dry_run=dry_run, commit=not no_commit, branch=branch,
                             acknowledge=project.config.source.acknowledge and not no_ack):
        out.print(line)
    if result.rejected:
        for line in rejected_lines(result):
            err.print(line)
        sys.exit(1)


# --- validate -----------------------------------------------------------------------------

@cli.command()
@click.pass_context
def validate(ctx: click.Context) -> None:
    """Check config and every state file offline (no workspace needed)."""
    project = _project(ctx)
    count = project.validate()
    cfg = project.config
    out.print(f"[green]ok[/green]: {term(ctx.obj['config_path'])} and {count} state file(s) are valid "
              f"({len(cfg.targets)} target(s): {', '.join(sorted(cfg.targets)) or 'none'})")


# --- plan ---------------------------------------------------------------------------------

@cli.command()
@TARGET
@JSON
@MARKDOWN
@click.option("--out", "plan_file", type=click.Path(dir_okay=False, allow_dash=True),
              help="Save the plan for `apply PLANFILE` ('-': stdout).")
@click.option("--detailed-exitcode", is_flag=True, help="Exit 2 when there are changes.")
@click.option("--adopt", is_flag=True, help="Plan to take over unmanaged jobs with the same name.")
@REFRESH_PERMISSIONS
@STRICT_PATHS
@click.pass_context
def plan(ctx: click.Context, target: str, json_file: str | None, markdown_file: str | None,
         plan_file: str | None, detailed_exitcode: bool, adopt: bool, refresh_permissions: bool,
         strict_paths: bool) -> None:
    """Show what apply would change in a target."""
    human = outputs_checked(json_file, markdown_file, plan_file)
    the_plan = _project(ctx).plan(target, adopt=adopt, refresh_permissions=refresh_permissions,
                                  strict_paths=strict_paths, progress=progress)
    from .reports.report import print_plan

    print_plan(the_plan, human)
    print_azure_warnings(the_plan)
    write_reports(the_plan, json_file, markdown_file, "plan")
    if plan_file:
        write_output(plan_file, json.dumps(the_plan.to_dict(), indent=1) + "\n")
        if plan_file != STDIO:
            human.print(f"Saved the plan to {term(plan_file)}: apply it with "
                        f"`bricksync apply --target {term(target)} {term(plan_file)}`")
    if detailed_exitcode and the_plan.has_changes:
        sys.exit(2)


# --- apply --------------------------------------------------------------------------------

def _run_apply(project: Project, target: str, *, plan_file: str | None, yes: bool, **options: Any) -> int:
    """Apply through the façade, printing as the plan is shown, before asking and after. Returns the exit code."""
    from .reports.report import print_plan

    saved = Project.read_plan(plan_file) if plan_file else None
    if saved and saved.target != target:
        raise PlanFileError(f"{plan_file}: the plan is for target '{saved.target}', not '{target}'")
    if not saved and not yes and not sys.stdin.isatty():
        raise BricksyncError("no terminal to confirm on: pass --yes, or a plan file saved by `plan --out`")

    def shown(the_plan: Any) -> None:
        print_plan(the_plan, out)
        print_azure_warnings(the_plan)

    def confirm(the_plan: Any, writes: list, deletes: list) -> bool:
        print_prune(deletes)
        return bool(yes or saved) or ask_yes(f"Apply {len(writes) + len(deletes)} change(s) to '{target}'?")

    result = project.apply(saved, target=target, source=plan_file, confirm=confirm, on_plan=shown,
                           progress=progress, **options)
    return print_apply(result, target)


@cli.command()
@click.argument("plan_file", required=False, type=click.Path(dir_okay=False, allow_dash=True))
@TARGET
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option("--prune", is_flag=True, help="Also delete managed jobs that have no state file.")
@click.option("--adopt", is_flag=True, help="Take over unmanaged jobs with the same name.")
@click.option("--parallelism", default=8, show_default=True, type=click.IntRange(1, 64))
@REFRESH_PERMISSIONS
@STRICT_PATHS
@click.option("--allow-empty-state", is_flag=True,
              help="Let --prune run although state/ holds no job (it deletes every managed job).")
@click.option("--allow-mass-delete", is_flag=True,
              help="Let --prune delete more than the target's max_prune_percent of its managed jobs.")
@click.pass_context
def apply(ctx: click.Context, plan_file: str | None, target: str, yes: bool, prune: bool, adopt: bool,
          parallelism: int, refresh_permissions: bool, strict_paths: bool, allow_empty_state: bool,
          allow_mass_delete: bool) -> None:
    """Create and update target jobs to match state/ (only what the plan needs)."""
    sys.exit(_run_apply(_project(ctx), target, plan_file=plan_file, yes=yes, prune=prune, adopt=adopt,
                        parallelism=parallelism, refresh_permissions=refresh_permissions, strict_paths=strict_paths,
                        allow_empty_state=allow_empty_state, allow_mass_delete=allow_mass_delete))


# --- drift --------------------------------------------------------------------------------

@cli.command()
@TARGET
@JSON
@MARKDOWN
@click.option("--fail-on-drift", is_flag=True, help="Exit 2 when anything drifted.")
@click.option("--heal", is_flag=True, help="Apply what the plan would (same code path as apply --yes).")
@click.option("--source/--no-source", "check_source", default=True, show_default=True,
              help="Also report tagged source jobs that differ from state/ (when the source is reachable).")
@STRICT_PATHS
@click.pass_context
def drift(ctx: click.Context, target: str, json_file: str | None, markdown_file: str | None,
          fail_on_drift: bool, heal: bool, check_source: bool, strict_paths: bool) -> None:
    """The scheduled check: report where the target differs from state/."""
    human = outputs_checked(json_file, markdown_file)
    project = _project(ctx)
    found = project.drift(target, check_source=check_source, strict_paths=strict_paths)
    from .reports.report import print_plan

    the_plan, awaiting = found.plan, found.awaiting
    print_plan(the_plan, human, title="Drift")
    print_settle(the_plan, target, human)
    print_awaiting(awaiting, check_source, human)
    write_reports(the_plan, json_file, markdown_file, "drift", awaiting)
    summary = markdown_file and markdown_file != STDIO and str(Path(markdown_file).resolve())
    print_azure_drift(the_plan, summary or None)
    if heal and the_plan.has_changes:
        code = _run_apply(project, target, plan_file=None, yes=True, refresh_permissions=True,
                          strict_paths=strict_paths)
        if code:
            sys.exit(code)
    if fail_on_drift and found.drifted:
        sys.exit(2)


# --- capture and import --------------------------------------------------------------------

@cli.command()
@click.argument("keys", nargs=-1)
@TARGET
@click.option("--branch", help="Branch to commit on (default bricksync/capture-<target>-<UTC date>).")
@PUSH
@DRY_RUN
@click.pass_context
def capture(ctx: click.Context, keys: tuple[str, ...], target: str, branch: str | None, push: bool,
            dry_run: bool) -> None:
    """Accept drift: write the live settings of drifted managed jobs (all, or KEYS) into state/."""
    result = _project(ctx).capture(target, list(keys), branch=branch, push=push, dry_run=dry_run)
    print_capture(result, target, dry_run)
    if result.refused:
        sys.exit(1)


@cli.command("import")
@TARGET
@click.option("--all", "all_jobs", is_flag=True, help="Every unmanaged job of the target.")
@click.option("--name", "pattern", help="Unmanaged jobs whose name matches this glob (case-insensitive).")
@click.option("--job-id", "job_ids", multiple=True, type=int, help="This unmanaged job (repeatable).")
@click.option("--branch", help="Branch to commit on (default bricksync/import-<target>-<UTC date>).")
@PUSH
@DRY_RUN
@click.pass_context
def import_(ctx: click.Context, target: str, all_jobs: bool, pattern: str | None, job_ids: tuple[int, ...],
            branch: str | None, push: bool, dry_run: bool) -> None:
    """Take unmanaged target jobs under management: state files, adopted in place on apply."""
    if sum((all_jobs, pattern is not None, bool(job_ids))) != 1:
        raise click.UsageError("give exactly one of --all, --name PATTERN, --job-id ID...")
    result = _project(ctx).import_jobs(target, all_jobs=all_jobs, pattern=pattern, job_ids=list(job_ids),
                                       branch=branch, push=push, dry_run=dry_run)
    print_capture(result, target, dry_run)
    if result.refused:
        sys.exit(1)


# --- unlock -------------------------------------------------------------------------------

@cli.command()
@TARGET
@click.pass_context
def unlock(ctx: click.Context, target: str) -> None:
    """Clear a stale apply lock (only when no apply is running against the target)."""
    holder = _project(ctx).unlock(target)
    if holder is not None:
        out.print(f"Released the lock of '{term(target)}' (held by {term(holder.get('holder') if holder else '?')}).")
    else:
        out.print(f"'{term(target)}' was not locked.")


# --- comment (pull requests) ---------------------------------------------------------------

@cli.command()
@click.argument("plan_files", nargs=-1, metavar="PLAN.md...")
@click.option("--azure-devops", "azure_devops", is_flag=True,
              help="Post to the Azure Repos pull request of this Azure Pipelines run.")
@click.option("--plan-exit-code", type=int, envvar="BRICKSYNC_PLAN_EXIT_CODE",
              help="The plan step's exit code (0 or 2: planned; anything else: the plan failed). "
                   "Default: $BRICKSYNC_PLAN_EXIT_CODE.")
def comment(plan_files: tuple[str, ...], azure_devops: bool, plan_exit_code: int | None) -> None:
    """Post every target's plan as one pull-request comment (kept current) and set the bricksync/plan status.

    Exits 0 when both are posted (or outside a pull-request run), 1 when posting failed: the plan's
    own exit code stays with the plan step.
    """
    from .edges.azdo import NotAPullRequest, post_plan_comment

    if not azure_devops:
        raise click.UsageError("name where to post: --azure-devops (the only platform so far)")
    try:
        posted = post_plan_comment(list(plan_files), plan_exit_code)
    except NotAPullRequest as exc:
        out.print(f"{esc(str(exc))}: nothing posted.")
        return
    failures = posted.failures or []
    print_comment(posted)
    if failures:
        print_azure_errors(failures)
        raise BricksyncError(failures[0] if len(failures) == 1 else
                             f"{len(failures)} problems:\n" + "\n".join(f"  - {f}" for f in failures))


# --- demo (the emulator group: emulator/cli.py, added by cli_shell.BricksyncGroup) ---------------

@cli.command()
@click.option("--keep", type=click.Path(file_okay=False), help="Run in this directory and keep it.")
def demo(keep: str | None) -> None:
    """The whole loop on two emulated workspaces: export -> commit -> plan -> apply -> drift."""
    from .demo import run_demo

    # demo runs the commands as a user types them, through this CLI (passed in: demo imports no shell)
    sys.exit(run_demo(keep, run=lambda *args: cli.main(args=list(args), prog_name="bricksync",
                                                         standalone_mode=False)))


def main() -> None:
    cli(prog_name="bricksync")


if __name__ == "__main__":
    main()
