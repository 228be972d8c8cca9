"""export --ack-parallelism / source.ack_parallelism (issue 15): how many jobs/update calls
acknowledge tags at once, measured as the emulator sees them (real HTTP, real SDK)."""

from __future__ import annotations

import pytest

from bricksync.emulator.seed import config_yaml

from .conftest import Project

JOBS = 12  # more than the default 8, so every parallelism up to 8 can be reached


def tag_jobs(project: Project, count: int = JOBS) -> None:
    w = project.test.client()
    for i in range(count):
        w.api_client.do("POST", "/api/2.2/jobs/create", body={
            "name": f"Ack job {i:02d}", "tags": {"PROD_MIGRATION": "true"},
            "tasks": [{"task_key": "main", "notebook_task": {"notebook_path": f"/Workspace/dev/ack/n{i}"}}]})


def with_ack_parallelism(project: Project, value: str) -> None:
    text = config_yaml(target_host=project.prod.url).replace(
        "  acknowledge: true\n", f"  acknowledge: true\n  ack_parallelism: {value}\n")
    project.write_config(text)
    project.repo.index.add(["config/bricksync.yml"])
    project.repo.index.commit("config: ack_parallelism")


def peak_updates(project: Project) -> int:
    return max((n for key, n in project.test.faults.peak_in_flight().items() if key.endswith("/jobs/update")),
               default=0)


def acknowledged(project: Project) -> int:
    return sum(1 for j in project.test.workspace.jobs.jobs.values()
               if j["settings"].get("tags", {}).get("PROD_MIGRATION") == "false")


@pytest.mark.parametrize(("config", "flag", "expected"), [
    (None, None, 8),  # the default
    (None, "3", 3),  # the flag
    ("2", None, 2),  # the config key
    ("5", "1", 1),  # the flag wins over the config; 1 is strictly serial
])
def test_ack_parallelism_bounds_concurrent_tag_updates(project: Project, config: str | None, flag: str | None,
                                                       expected: int) -> None:
    tag_jobs(project)
    if config is not None:
        with_ack_parallelism(project, config)
    project.test.latency_ms = 60  # each update is still in flight when the next ones start
    args = ["export", "--branch", "main"] + (["--ack-parallelism", flag] if flag else [])
    res = project.run(*args)
    assert res.code == 0, res.output
    assert acknowledged(project) == JOBS
    assert peak_updates(project) == expected


@pytest.mark.parametrize("bad", ["0", "65", "eight", "2.5", "true"])
def test_a_bad_ack_parallelism_is_refused_naming_file_and_field(project: Project, bad: str) -> None:
    tag_jobs(project, 1)
    with_ack_parallelism(project, bad)
    res = project.run("export", "--branch", "main")
    assert res.code != 0
    assert "bricksync.yml" in res.output and "source.ack_parallelism" in res.output, res.output
    assert "a whole number from 1 to 64" in res.output
    assert not project.state_files and acknowledged(project) == 0  # refused before anything was read or written


@pytest.mark.parametrize("bad", ["0", "65", "x"])
def test_a_bad_ack_parallelism_flag_is_refused(project: Project, bad: str) -> None:
    res = project.run("export", "--ack-parallelism", bad)
    assert res.code != 0 and "Invalid value for '--ack-parallelism'" in res.output
