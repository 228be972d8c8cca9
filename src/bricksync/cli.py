"""The bricksync command line: export, validate, plan, apply, drift, capture, import, comment, unlock, init,
schema, emulator, demo.

Exit codes (Terraform's): 0 success / no changes, 1 error (usage errors included), 2 changes
present (plan with --detailed-exitcode, drift with --fail-on-drift) and nothing else, 3 apply did its
work but could not release the target's lock (the result is printed first).
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from . import __version__
from .cli_shell import (
    DRY_RUN,
    PRUNE_GUARDS,
    PUSH,
    REFRESH_PERMISSIONS,
    REPORTS,
    STRICT_PATHS,
    TARGET,
    BricksyncGroup,
    outputs_checked,
    post_comment,
    run_apply,
    run_unlock,
    save_plan,
    summary_file,
    write_reports,
)
from .commands.init import CI_CHOICES
from .core.errors import ExportError
from .edges.file_schemas import KINDS as SCHEMA_KINDS
from .edges.file_schemas import schema_text
from .project import DEFAULT_CONFIG, Project
from .reports import cli_text
from .reports.ui import progress, setup_logging


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
    project = _project(ctx)
    try:
        result = project.export(branch=branch, commit=not no_commit, push=push,
                                acknowledge=False if no_ack else None, dry_run=dry_run, progress=progress,
                                ack_parallelism=ack_parallelism)
    except ExportError as exc:  # the table still shows what was exported
        result = exc.result
    if cli_text.print_export(result, dry_run=dry_run, commit=not no_commit, branch=branch,
                    acknowledge=project.config.source.acknowledge and not no_ack):
        sys.exit(1)


# --- validate -----------------------------------------------------------------------------

@cli.command()
@click.pass_context
def validate(ctx: click.Context) -> None:
    """Check config and every state file offline (no workspace needed)."""
    project = _project(ctx)
    cli_text.print_valid(ctx.obj["config_path"], project.validate(), project.config.targets)


# --- plan ---------------------------------------------------------------------------------

@cli.command()
@TARGET
@REPORTS
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
    cli_text.show_plan(the_plan, human, kind="plan")
    write_reports(the_plan, json_file, markdown_file, "plan")
    if plan_file:
        save_plan(the_plan, plan_file, target, human)
    if detailed_exitcode and the_plan.has_changes:
        sys.exit(2)


# --- apply --------------------------------------------------------------------------------

@cli.command()
@click.argument("plan_file", required=False, type=click.Path(dir_okay=False, allow_dash=True))
@TARGET
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option("--prune", is_flag=True, help="Also delete managed jobs that have no state file.")
@click.option("--adopt", is_flag=True, help="Take over unmanaged jobs with the same name.")
@click.option("--parallelism", default=8, show_default=True, type=click.IntRange(1, 64))
@REFRESH_PERMISSIONS
@STRICT_PATHS
@PRUNE_GUARDS
@click.pass_context
def apply(ctx: click.Context, plan_file: str | None, target: str, yes: bool, **options: bool | int) -> None:
    """Create and update target jobs to match state/ (only what the plan needs)."""
    # options: prune, adopt, parallelism, refresh_permissions, strict_paths, allow_*: Project.apply's keywords
    sys.exit(run_apply(_project(ctx), target, plan_file=plan_file, yes=yes, **options))


# --- drift --------------------------------------------------------------------------------

@cli.command()
@TARGET
@REPORTS
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
    cli_text.print_drift(found, target, check_source, human)
    write_reports(found.plan, json_file, markdown_file, "drift", found.awaiting)
    cli_text.print_ci(found.plan, "drift", summary_file(markdown_file))
    if heal and found.plan.has_changes:
        code = run_apply(project, target, plan_file=None, yes=True, refresh_permissions=True, strict_paths=strict_paths)
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
    if cli_text.print_capture(result, target, dry_run):  # 1: jobs refused
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
    if cli_text.print_capture(result, target, dry_run):  # 1: jobs refused
        sys.exit(1)


# --- unlock -------------------------------------------------------------------------------

@cli.command()
@TARGET
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.pass_context
def unlock(ctx: click.Context, target: str, yes: bool) -> None:
    """Clear a target's apply lock: shows the holder and its lease, then asks (or --yes)."""
    run_unlock(_project(ctx), target, yes=yes)


# --- comment (pull requests) ---------------------------------------------------------------

@cli.command()
@click.argument("plan_files", nargs=-1, metavar="PLAN.md...")
@click.option("--azure-devops", "azure_devops", is_flag=True,
              help="Post to the Azure Repos pull request of this Azure Pipelines run.")
@click.option("--github", "github", is_flag=True,
              help="Post to the GitHub pull request of this GitHub Actions run (pull_request or workflow_run).")
@click.option("--plan-exit-code", type=int, envvar="BRICKSYNC_PLAN_EXIT_CODE",
              help="The plan step's exit code (0 or 2: planned; anything else: the plan failed). "
                   "Default: $BRICKSYNC_PLAN_EXIT_CODE.")
@click.option("--pending", is_flag=True, help="Only set the status to pending (the plans are running).")
def comment(plan_files: tuple[str, ...], azure_devops: bool, github: bool, plan_exit_code: int | None,
            pending: bool) -> None:
    """Post every target's plan as one pull-request comment (kept current) and set the bricksync/plan status.

    Exits 0 when both are posted (or outside a pull-request run), 1 when posting failed: the plan's
    own exit code stays with the plan step.
    """
    if azure_devops == github:
        raise click.UsageError("name where to post: --azure-devops or --github (one of them)")
    if pending and plan_files:
        raise click.UsageError("--pending posts the status only: give it no plan files")
    post_comment("github" if github else "azure-devops", list(plan_files), plan_exit_code, pending=pending)


# --- init and schema (a repository of one's own) -----------------------------------------------

@cli.command()
@click.argument("directory", default=".", type=click.Path(file_okay=False))
@click.option("--ci", type=click.Choice(CI_CHOICES), default="azure", show_default=True,
              help="The pipeline files to add: Azure Pipelines, GitHub Actions, or none.")
def init(directory: str, ci: str) -> None:
    """Set up a repository of your own in DIRECTORY (default: here): a commented config, state/, schemas/,
    a .gitignore and the pipeline files. Never replaces a file: one already there is left as it is."""
    from .commands.init import run_init

    cli_text.print_init(run_init(Path(directory), ci))



@cli.command()
@click.argument("kind", type=click.Choice(SCHEMA_KINDS))
def schema(kind: str) -> None:
    """Print the JSON Schema of config/bricksync.yml (config), of a state file (state) or of an adoption
    record (adopt): what schemas/ holds, for editors (yaml-language-server)."""
    click.echo(schema_text(kind), nl=False)


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
