"""`bricksync demo`: the whole loop on two emulated workspaces, in a throwaway git repository."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from rich.rule import Rule
from rich.table import Table

from .reports.ui import out, setup_logging

DEMO_TOKEN = "dapi-demo-0000"


@contextmanager
def _chdir(path: Path) -> Iterator[None]:
    old = Path.cwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(old)


Runner = Callable[..., object]  # runs one bricksync command in-process: run("plan", "--target", "prod")


def _run(run: Runner, *args: str) -> int:
    """Run a bricksync command in-process, as a user would type it (the CLI passes its own runner:
    demo imports no shell, so cli -> demo is the only direction)."""
    out.print(f"\n[bold cyan]$ bricksync {' '.join(args)}[/bold cyan]")
    try:
        run(*args)
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out.print(f"[dim](exit code {code})[/dim]")
    return code


def _jobs_table(title: str, client) -> Table:
    table = Table(title=title, box=None, header_style="bold")
    for col in ("job id", "name", "tags", "first notebook / cluster"):
        table.add_column(col)
    for job in client.jobs.list(expand_tasks=True, limit=100):
        s = job.settings
        task = (s.tasks or [None])[0]
        where = ""
        if task is not None:
            where = (task.notebook_task.notebook_path if task.notebook_task else "") or (
                task.existing_cluster_id or task.job_cluster_key or "")
        tags = ", ".join(f"{k}={v}" for k, v in sorted((s.tags or {}).items()))
        table.add_row(str(job.job_id), s.name or "", tags, where)
    return table


def _catalogs(test, prod) -> str:
    """The value that differs per workspace (targets.prod.values: dev_sales -> prod_sales), side by side."""
    def catalog(client) -> str:
        job = next(iter(client.jobs.list(name="Daily sales ETL", expand_tasks=True)))
        return next((p.default for p in job.settings.parameters or [] if p.name == "catalog"), "") or ""

    return (f"'Daily sales ETL' parameter catalog: {catalog(test)} in test (and in state/), "
            f"{catalog(prod)} in prod (targets.prod.values)")


def _git(repo: Path, *args: str) -> str:
    import git

    return git.Repo(repo).git.execute(["git", *args])


def init_repo(root: Path, remote: Path, config_text: str) -> None:
    """A bricksync project in git (config, empty state/) with a bare `origin` to push to."""
    import git

    git.Repo.init(remote, bare=True, initial_branch="main")
    repo = git.Repo.init(root, initial_branch="main")
    (root / "config").mkdir(parents=True)
    (root / "config" / "bricksync.yml").write_text(config_text)
    (root / "state" / "jobs").mkdir(parents=True)
    (root / "state" / "jobs" / ".gitkeep").write_text("")
    repo.git.add(".")
    repo.git.commit("-m", "bricksync config")
    repo.create_remote("origin", str(remote))
    repo.git.push("origin", "main")


NOTEBOOK = "/Workspace/dev/sales/transform"


def _write_code(w, paths: list[str]) -> None:
    """Real-looking content for the seeded notebooks (and a dbt project file in each dbt folder)."""
    import base64

    for path in paths:
        if path.endswith("/dbt"):
            body = b"name: sales\nversion: '1.0'\nprofile: sales\n"
            w.api_client.do("POST", "/api/2.0/workspace/import", body={
                "path": f"{path}/dbt_project.yml", "format": "RAW", "content": base64.b64encode(body).decode()})
        elif "." not in path.rsplit("/", 1)[1]:
            body = f"# Databricks notebook source\n# {path.rsplit('/', 1)[1]}\nspark.range(10).count()\n".encode()
            w.api_client.do("POST", "/api/2.0/workspace/import", body={
                "path": path, "format": "SOURCE", "language": "PYTHON", "overwrite": True,
                "content": base64.b64encode(body).decode()})


def _notebook_change(run: Runner, repo: Path, test, prod) -> int:
    """7: a notebook edited in test travels through the PR (its diff beside the job's) and lands in prod."""
    import base64

    out.print(Rule("7. a notebook changes in test: the PR shows its diff, apply lands it in prod"))
    w = test.client()
    body = b"# Databricks notebook source\n# transform\nspark.range(10).count()\n\n# COMMAND ----------\n\n" \
           b"spark.sql('OPTIMIZE sales.daily')\n"
    w.api_client.do("POST", "/api/2.0/workspace/import", body={
        "path": NOTEBOOK, "format": "SOURCE", "language": "PYTHON", "overwrite": True,
        "content": base64.b64encode(body).decode()})
    job = next(j for j in w.jobs.list(name="Daily sales ETL"))
    tags = {**(job.settings.tags or {}), "PROD_MIGRATION": "true"}
    w.api_client.do("POST", "/api/2.2/jobs/update", body={"job_id": job.job_id, "new_settings": {"tags": tags}})
    out.print(f"edited {NOTEBOOK} in test and tagged 'Daily sales ETL' for promotion again")
    _run(run, "export", "--branch", "bricksync/notebook-change", "--push")
    out.print(_git(repo, "show", "--format=%h %s", "HEAD", "--", "state/files"), markup=False, highlight=False)
    _git(repo, "checkout", "-q", "main")
    _git(repo, "merge", "-q", "--ff-only", "bricksync/notebook-change")
    _run(run, "plan", "--target", "prod")
    _run(run, "apply", "--target", "prod", "--yes")
    live = prod.client().workspace.export(NOTEBOOK.replace("/dev/", "/prod/"))
    out.print(f"\n[bold]{NOTEBOOK.replace('/dev/', '/prod/')} in prod now:[/bold]")
    out.print(base64.b64decode(live.content or "").decode(), markup=False, highlight=False)
    return _run(run, "drift", "--target", "prod", "--fail-on-drift", "--no-source")


# long: a script read top to bottom (the numbered steps of the demo), not logic to split
def run_demo(keep: str | None = None, *, run: Runner) -> int:
    from .emulator import EmulatorServer
    from .emulator.seed import config_yaml, deploy_paths, seed_source, seed_target

    setup_logging(debug=False)  # quiet the SDK's host-metadata warning for the demo's own clients
    started = time.monotonic()
    base = Path(keep) if keep else Path(tempfile.mkdtemp(prefix="bricksync-demo-"))
    base.mkdir(parents=True, exist_ok=True)
    repo, remote = base / "repo", base / "origin.git"
    old_env = {k: os.environ.get(k) for k in ("DATABRICKS_CONFIG_FILE", "GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL",
                                              "GIT_COMMITTER_NAME", "GIT_COMMITTER_EMAIL")}
    test = EmulatorServer("test", token=DEMO_TOKEN, latency_ms=5, id_base=1001).start()
    prod = EmulatorServer("prod", token=DEMO_TOKEN, latency_ms=5, id_base=9001).start()
    try:
        cfgfile = base / "databrickscfg"
        cfgfile.write_text(f"[test]\nhost = {test.url}\ntoken = {DEMO_TOKEN}\n\n"
                           f"[prod]\nhost = {prod.url}\ntoken = {DEMO_TOKEN}\n")
        os.environ["DATABRICKS_CONFIG_FILE"] = str(cfgfile)
        for var, value in (("GIT_AUTHOR_NAME", "bricksync demo"), ("GIT_AUTHOR_EMAIL", "demo@example.com"),
                           ("GIT_COMMITTER_NAME", "bricksync demo"), ("GIT_COMMITTER_EMAIL", "demo@example.com")):
            os.environ.setdefault(var, value)
        out.print(Rule("bricksync demo: two emulated workspaces"))
        out.print(f"test workspace: {test.url}    prod workspace: {prod.url}    repository: {repo}")
        seed_source(test.client())
        seed_target(prod.client())
        _write_code(test.client(), deploy_paths(test.client(), "/Workspace/dev"))  # what the jobs run, in test
        out.print(_jobs_table("Jobs in test (PROD_MIGRATION=true marks what to promote)", test.client()))
        out.print(_jobs_table("Jobs in prod before the sync", prod.client()))

        # source.files: referenced: the notebooks and files the jobs run travel with them (state/files/)
        init_repo(repo, remote, config_yaml(target_host=prod.url).replace(
            "  acknowledge: true\n", "  acknowledge: true\n  files: referenced\n", 1))

        with _chdir(repo):
            out.print(Rule("1. export: tagged test jobs -> state/ on a branch (a PR to review)"))
            _run(run, "export", "--push")
            out.print(_git(repo, "log", "--stat", "-1", "--format=%h %s%n%b"))
            first = sorted((repo / "state" / "jobs").glob("*.yml"))[0]
            out.print(f"\n[bold]{first.relative_to(repo)}[/bold]")
            out.print(first.read_text(), markup=False, highlight=False)
            out.print(_jobs_table("Jobs in test after export (tags acknowledged)", test.client()))
            out.print("\n[dim]... the pull request is reviewed and merged ...[/dim]")
            branch = _git(repo, "rev-parse", "--abbrev-ref", "HEAD")
            _git(repo, "checkout", "-q", "main")
            _git(repo, "merge", "-q", "--ff-only", branch)

            out.print(Rule("2. validate and plan against prod"))
            _run(run, "validate")
            _run(run, "plan", "--target", "prod")
            out.print(Rule("3. apply"))
            _run(run, "apply", "--target", "prod", "--yes")
            out.print(_jobs_table("Jobs in prod after apply", prod.client()))
            out.print(_catalogs(test.client(), prod.client()))
            out.print(Rule("4. plan again: nothing to do (no perpetual diff)"))
            _run(run, "plan", "--target", "prod", "--detailed-exitcode")

            out.print(Rule("5. someone edits a prod job by hand"))
            w = prod.client()
            job = next(j for j in w.jobs.list(name="Daily sales ETL"))
            w.api_client.do("POST", "/api/2.2/jobs/update", body={"job_id": job.job_id, "new_settings": {
                "max_concurrent_runs": 5, "schedule": {"quartz_cron_expression": "0 0 5 * * ?",
                                                       "timezone_id": "Europe/Amsterdam", "pause_status": "PAUSED"}}})
            out.print(f"updated job {job.job_id}: max_concurrent_runs 5, schedule paused at 05:00")
            _run(run, "drift", "--target", "prod", "--markdown", str(base / "drift.md"), "--json", str(base / "drift.json"))
            out.print(f"[dim]Markdown report: {base / 'drift.md'}; JSON report: {base / 'drift.json'}[/dim]")
            out.print(Rule("6. apply reverts the hand edit; drift is clean"))
            _run(run, "apply", "--target", "prod", "--yes")
            code = _run(run, "drift", "--target", "prod", "--fail-on-drift")
            code = code or _notebook_change(run, repo, test, prod)
        out.print(Rule(f"demo finished in {time.monotonic() - started:.1f}s"))
        return 0 if code == 0 else 1
    finally:
        test.stop()
        prod.stop()
        for key, value in old_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        if not keep:
            shutil.rmtree(base, ignore_errors=True)
