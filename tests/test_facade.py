"""The whole loop through the library API (bricksync.project.Project), no CLI, on two emulators:
export -> validate -> plan -> apply -> plan (empty) -> drift -> a saved plan refused once prod moved."""

from __future__ import annotations

import json

import pytest

from bricksync.core.errors import ApplyCancelled, BricksyncError, PlanFileError, StalePlanError
from bricksync.core.render import KEY_TAG
from bricksync.emulator.seed import deploy_paths, seed_source, seed_target
from bricksync.project import Project

from .conftest import Project as Checkout


def _managed(client) -> dict[str, dict]:
    """prod's jobs carrying a bricksync key: key -> settings."""
    jobs = {}
    for job in client.jobs.list(expand_tasks=True):
        settings = job.settings.as_dict()
        if KEY_TAG in (settings.get("tags") or {}):
            jobs[settings["tags"][KEY_TAG]] = {"job_id": job.job_id, **settings}
    return jobs


def _hand_edit(client, job_id: int, runs: int) -> None:
    client.api_client.do("POST", "/api/2.2/jobs/update",
                         body={"job_id": job_id, "new_settings": {"max_concurrent_runs": runs}})


@pytest.fixture
def facade(project: Checkout, monkeypatch: pytest.MonkeyPatch) -> Project:
    seed_source(project.test.client())
    seed_target(project.prod.client())
    deploy_paths(project.prod.client())
    monkeypatch.chdir(project.root)
    return Project(project.root / "config" / "bricksync.yml")


def test_the_loop_through_the_facade(facade: Project, project: Checkout, capsys: pytest.CaptureFixture) -> None:
    exported = facade.export(branch="main")
    keys = sorted(j.key for j in exported.exported)
    assert keys and exported.commit and exported.host == project.test.url
    assert sorted(project.state_files) == [f"{k}.yml" for k in keys]
    assert project.repo.head.commit.hexsha == exported.commit
    assert facade.validate() == len(keys)

    plan = facade.plan("prod")
    assert plan.has_changes and sorted(a.key for a in plan.of("create")) == keys
    assert _managed(project.prod.client()) == {}  # planning wrote nothing

    applied = facade.apply(plan)
    assert applied.applied and not applied.failed and not applied.conflicts
    assert sorted(o.key for o in applied.outcomes) == keys and applied.api_calls > 0
    live = _managed(project.prod.client())
    assert sorted(live) == keys
    assert {o.key: o.job_id for o in applied.outcomes} == {k: v["job_id"] for k, v in live.items()}

    assert not facade.plan("prod").has_changes
    again = facade.apply(target="prod")  # nothing to do: no write, no error
    assert not again.applied and again.outcomes == []
    drift = facade.drift("prod", check_source=False)
    assert not drift.drifted and drift.awaiting is None
    assert capsys.readouterr().out == ""  # a library prints nothing


def test_a_saved_plan_goes_stale_when_prod_changes(facade: Project, project: Checkout) -> None:
    facade.export(branch="main")
    facade.apply(target="prod")
    prod = project.prod.client()
    key, job = sorted(_managed(prod).items())[0]
    _hand_edit(prod, job["job_id"], 5)
    drift = facade.drift("prod", check_source=False)
    assert drift.drifted and [a.key for a in drift.plan.of("update")] == [key]

    saved = Project.load_plan(json.dumps(drift.plan.to_dict()), source="prod.plan")  # as `plan --out` saves it
    _hand_edit(prod, job["job_id"], 7)  # prod moves under the saved plan
    with pytest.raises(StalePlanError, match=r"prod\.plan: the target changed since this plan was made"):
        facade.apply(saved, source="prod.plan")
    assert _managed(prod)[key]["max_concurrent_runs"] == 7  # nothing applied

    with pytest.raises(PlanFileError, match="the plan is for target 'prod', not 'staging'"):
        facade.apply(saved, target="staging")
    with pytest.raises(PlanFileError, match=r"x\.plan: not a bricksync plan file"):
        Project.load_plan("{}", source="x.plan")

    fresh = facade.plan("prod")
    result = facade.apply(fresh)
    assert [o.key for o in result.outcomes] == [key] and not result.failed
    assert _managed(prod)[key]["max_concurrent_runs"] == job.get("max_concurrent_runs", 1)
    assert not facade.drift("prod", check_source=False).drifted


def test_every_facade_error_is_a_bricksync_error(facade: Project) -> None:
    facade.export(branch="main")
    with pytest.raises(ApplyCancelled, match="apply cancelled"):
        facade.apply(target="prod", confirm=lambda plan, writes, deletes: False)
    assert facade.plan("prod").has_changes  # nothing was applied
    with pytest.raises(BricksyncError):
        facade.plan("no-such-target")


def test_no_module_imports_the_cli_not_even_lazily() -> None:
    """cli -> demo/project/... only: demo gets its command runner from the CLI (issue 15's cycle)."""
    import ast
    from pathlib import Path

    src = Path(__file__).resolve().parent.parent / "src" / "bricksync"
    offenders = []
    for path in src.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.ImportFrom):
                continue
            if node.module in ("cli", "bricksync.cli") or (node.module in (None, "bricksync")
                                                          and any(a.name == "cli" for a in node.names)):
                offenders.append(f"{path.relative_to(src)}:{node.lineno}")
    assert offenders == []


def test_capture_through_the_facade_commits_the_live_settings(facade: Project, project: Checkout) -> None:
    facade.export(branch="main")
    facade.apply(target="prod")
    prod = project.prod.client()
    key, job = sorted(_managed(prod).items())[0]
    _hand_edit(prod, job["job_id"], 5)
    head = project.repo.head.commit.hexsha

    captured = facade.capture("prod", [key], branch="capture-it")
    assert [j.key for j in captured.captured] == [key] and not captured.refused
    assert captured.commit and captured.commit != head and captured.branch == "capture-it"
    assert project.repo.head.commit.hexsha == captured.commit
    assert "max_concurrent_runs: 5" in (project.root / "state" / "jobs" / f"{key}.yml").read_text()
    assert not facade.plan("prod").has_changes  # git now says what prod runs

    again = facade.capture("prod", [key], branch="capture-it")  # nothing drifted: no commit
    assert again.captured == [] and again.commit is None
    with pytest.raises(BricksyncError, match="exactly one of"):
        facade.import_jobs("prod")
