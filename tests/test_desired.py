"""state/ read in worker processes gives exactly what reading it here gives; the copy-free
normalization gives exactly the copying one and leaves its input alone."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from bricksync.commands.desired import DesiredState
from bricksync.core.errors import Problem
from bricksync.core.model import StateDoc
from bricksync.core.normalize import normalize_job, normalize_settings
from bricksync.core.references import Inventory
from bricksync.core.schema import schema_table
from bricksync.edges.config import parse_config
from bricksync.edges.state import StateStore, render_state
from bricksync.emulator.seed import SOURCE_COMPUTE, TARGET_COMPUTE, config_yaml, source_jobs

from .conftest import Project


def ids_of(compute: dict[str, list[str]], prefix: str) -> dict[str, dict[str, str]]:
    return {kind: {name: f"{prefix}-{kind}-{i}" for i, name in enumerate(names)} for kind, names in compute.items()}


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    """The seeded corpus as state files (one runs other jobs), many times over, plus one job
    naming compute the target lacks."""
    from bricksync.core.snapshot import snapshot_job  # the export path: IDs -> names

    store = StateStore(tmp_path / "state")
    src = ids_of(SOURCE_COMPUTE, "src")
    inventory = Inventory()
    for kind, names in src.items():
        for name, ident in names.items():
            inventory.add(kind, ident, name)
    docs = []
    for copy_no in range(6):
        keys = {100 + n: f"job-{copy_no}-{n}" for n in range(10)}
        for n, settings in enumerate(source_jobs(src)):
            for task in settings["tasks"]:
                if "run_job_task" in task:
                    task["run_job_task"]["job_id"] = 100  # runs this copy's first job
            job = {"job_id": 100 + n, "settings": {**settings, "name": f"{settings['name']} {copy_no}"}}
            settings, problems = snapshot_job(job, key=keys[100 + n], notebook_root="/Workspace/dev",
                                              select_tag="PROD_MIGRATION", inventory=inventory, job_keys=keys)
            if problems:  # the seed's deliberately bad job (outside the notebook root)
                continue
            docs.append(StateDoc(key=keys[100 + n], settings=settings, source_job_id=100 + n))
    docs[0].settings["tasks"][0]["existing_cluster_id"] = "${cluster:nowhere}"
    for doc in docs:
        store.write(doc.key, render_state(doc))
    return store.dir


def target_and_inventory() -> tuple:
    cfg = parse_config(config_yaml(target_host="https://prod.example").encode(), Path("config/bricksync.yml"), env={})
    inventory = Inventory()
    for kind, names in ids_of(TARGET_COMPUTE, "tgt").items():
        for name, ident in names.items():
            inventory.add(kind, ident, name)
    return cfg.target("prod"), inventory


def read(state_dir: Path, workers: int) -> tuple:
    target, inventory = target_and_inventory()
    with DesiredState(state_dir, workers=workers) as desired:
        desired.request(schema_table(), target, inventory)
        summaries, problems = desired.summaries()
        docs = desired.docs({s.key for s in summaries})
    return summaries, problems, docs


def test_workers_read_state_exactly_as_this_process_does(state_dir: Path) -> None:
    here = read(state_dir, 0)
    there = read(state_dir, 3)
    assert here == there
    summaries, problems, docs = there
    assert problems == [] and len(summaries) == len(docs) > 30
    with_digest = [s for s in summaries if s.digest]
    # Jobs that run other jobs and the one naming missing compute are left to the main process.
    assert 0 < len(with_digest) < len(summaries)
    assert all(d.node is None for d in docs)


def test_a_worker_names_the_file_and_line_of_a_bad_document(state_dir: Path) -> None:
    bad = next((state_dir / "jobs").glob("*.yml"))
    bad.write_text(bad.read_text().replace("  tasks:", "  max_concurrent_runs: two\n  tasks:"))
    _, problems, _ = read(state_dir, 2)
    assert len(problems) == 1
    problem: Problem = problems[0]
    assert problem.file and problem.file.endswith(bad.name) and problem.line and problem.line > 5
    assert problem.field == "max_concurrent_runs"


def test_plan_with_workers_matches_plan_without(project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    from bricksync.emulator.seed import seed_source, seed_target

    seed_source(project.test.client())
    seed_target(project.prod.client())
    assert project.run("export", "--branch", "main").code == 0
    for workers in ("0", "2"):
        monkeypatch.setenv("BRICKSYNC_STATE_WORKERS", workers)
        res = project.run("plan", "--target", "prod", "--json", f"plan-{workers}.json")
        assert res.code == 0, res.output
    reports = [json.loads((project.root / f"plan-{w}.json").read_text()) for w in ("0", "2")]
    for report in reports:
        report.pop("generated_at", None)
    assert reports[0] == reports[1]
    assert project.run("apply", "--target", "prod", "--yes").code == 0
    res = project.run("--debug", "plan", "--target", "prod", "--detailed-exitcode")
    assert res.code == 0 and "5 unchanged" in res.output
    # Digests matched: the workers' renderings agree with the live jobs; only the orchestrator
    # (it runs other jobs, whose target IDs only this process knows) came back in full.
    assert "1 of 5 documents planned in full" in res.output


def test_copy_free_normalization_equals_the_copying_one_and_leaves_input_alone() -> None:
    live = []
    for n, settings in enumerate(source_jobs(ids_of(SOURCE_COMPUTE, "src"))):
        for task in settings.get("tasks", []):
            task.update(run_if="ALL_SUCCESS", timeout_seconds=0, email_notifications={})
            if "notebook_task" in task:
                task["notebook_task"]["source"] = "WORKSPACE"
        live.append({"job_id": n, "creator_user_name": "me@example.com",
                     "settings": {**settings, "max_concurrent_runs": 1, "format": "MULTI_TASK"}})
    before = copy.deepcopy(live)
    for job in live:
        assert normalize_job(job, ordered=False, copy=False) == normalize_job(job, ordered=False)
        assert normalize_settings(job["settings"], copy=False) == normalize_settings(job["settings"])
    assert live == before
