"""Issue 14.9: validate and plan refuse what jobs/create refuses (task graph, keys, limits),
in state files and in the settings as a target's overrides make them, before anything is
written; overrides are checked against the JobSettings schema (paths, types, scopes)."""

from __future__ import annotations

import copy
import json

import pytest
from databricks.sdk.errors import BadRequest

from bricksync.core.jobrules import check_rules
from bricksync.core.model import StateDoc
from bricksync.edges.state import render_state

from .conftest import Project
from .test_bad_input import GOOD, ready, world  # noqa: F401 - the fixture

NB = {"notebook_path": "/Workspace/dev/x"}


def task(key: str, *deps: str, **extra: object) -> dict:
    out: dict = {"task_key": key, "notebook_task": dict(NB), **extra}
    if deps:
        out["depends_on"] = [{"task_key": d} for d in deps]
    return out


def job(**settings: object) -> dict:
    return {"name": "Sales", "tasks": [task("a"), task("b", "a")], **settings}


# (case, settings, field named, fragment of the message, does the emulator's jobs/create refuse it too)
BAD = [
    ("unknown-depends-on", job(tasks=[task("a"), task("b", "ingest")]), "tasks[b].depends_on", "not a task", True),
    ("depends-on-itself", job(tasks=[task("a", "a")]), "tasks[a].depends_on", "itself", True),
    ("cycle", job(tasks=[task("a", "c"), task("b", "a"), task("c", "b")]), "depends_on", "cycle", True),
    ("duplicate-task-key", job(tasks=[task("a"), task("a")]), "tasks[a].task_key", "unique", True),
    ("missing-task-key", job(tasks=[{"notebook_task": dict(NB)}]), "tasks[0].task_key", "required", True),
    ("task-key-too-long", job(tasks=[task("k" * 101)]), ".task_key", "at most 100", True),
    ("no-task-type", job(tasks=[{"task_key": "a"}]), "tasks[a]", "exactly one kind", True),
    ("two-task-types", job(tasks=[task("a", spark_python_task={"python_file": "/x.py"})]), "tasks[a]",
     "exactly one kind", True),
    ("unknown-job-cluster", job(tasks=[task("a", job_cluster_key="etl")]), "tasks[a].job_cluster_key",
     "names no entry of job_clusters", True),
    ("duplicate-job-cluster", job(job_clusters=[{"job_cluster_key": "etl", "new_cluster": {}},
                                                {"job_cluster_key": "etl", "new_cluster": {}}]),
     "job_clusters[etl].job_cluster_key", "used twice", True),
    ("unknown-environment", job(tasks=[task("a", environment_key="py")]), "tasks[a].environment_key",
     "names no entry of environments", False),
    ("duplicate-environment", job(environments=[{"environment_key": "py"}, {"environment_key": "py"}]),
     "environments[py].environment_key", "used twice", False),
    ("too-many-tasks", job(tasks=[task(f"t{i}") for i in range(1001)]), "tasks", "at most 1000", True),
    ("too-many-concurrent-runs", job(max_concurrent_runs=1001), "max_concurrent_runs", "0 to 1000", False),
    ("negative-concurrent-runs", job(max_concurrent_runs=-1), "max_concurrent_runs", "0 to 1000", False),
    ("name-too-long", job(name="n" * 4097), "name", "at most 4096", False),
    ("schedule-and-continuous", job(schedule={"quartz_cron_expression": "0 0 2 * * ?", "timezone_id": "UTC"},
                                    continuous={"pause_status": "UNPAUSED"}), "continuous", "only one of", True),
    ("schedule-and-trigger", job(schedule={"quartz_cron_expression": "0 0 2 * * ?", "timezone_id": "UTC"},
                                 trigger={"periodic": {"interval": 1, "unit": "HOURS"}}), "trigger", "only one of",
     True),
    ("git-branch-and-tag", job(git_source={"git_url": "https://github.com/o/r", "git_provider": "gitHub",
                                           "git_branch": "main", "git_tag": "v1"}), "git_source", "only one of",
     False),
    ("bad-parameter-name", job(parameters=[{"name": "run date", "default": "x"}]), "parameters[run date]",
     "may only contain", False),
    ("outcome-on-plain-task", job(tasks=[task("a"), {**task("b"), "depends_on": [{"task_key": "a",
                                                                                   "outcome": "true"}]}]),
     "tasks[b].depends_on", "condition task", False),
    ("nested-for-each", job(tasks=[{"task_key": "loop", "for_each_task": {"inputs": "[1]", "task": {
        "task_key": "inner", "for_each_task": {"inputs": "[1]", "task": task("deeper")}}}}]),
     "tasks[loop].for_each_task.task.for_each_task", "cannot run another", False),
    ("inner-task-unknown-cluster", job(tasks=[{"task_key": "loop", "for_each_task": {"inputs": "[1]", "task": {
        **task("inner"), "job_cluster_key": "nope"}}}]), "for_each_task.task.job_cluster_key", "job_clusters", True),
]


@pytest.mark.parametrize("case,settings,where,fragment,emulated", BAD, ids=[c[0] for c in BAD])
def test_rules_find_what_create_refuses(case: str, settings: dict, where: str, fragment: str,
                                        emulated: bool) -> None:
    found = check_rules(settings)
    assert any(where in field and fragment in message for message, field in found), found


def test_a_good_job_breaks_no_rule() -> None:
    assert check_rules(job(tasks=[task("a"), task("b", "a"), {"task_key": "c", "depends_on": [{"task_key": "b"}],
                                                              "condition_task": {"op": "EQUAL_TO", "left": "1",
                                                                                 "right": "1"}},
                                  {**task("d"), "depends_on": [{"task_key": "c", "outcome": "true"}]}])) == []
    assert check_rules(GOOD.settings) == []


def test_a_long_dependency_chain_needs_no_deep_recursion() -> None:
    tasks = [task("t0")] + [task(f"t{i}", f"t{i - 1}") for i in range(1, 1000)]
    assert check_rules(job(tasks=tasks)) == []
    tasks[0] = task("t0", "t999")
    assert any("cycle" in m for m, _ in check_rules(job(tasks=tasks)))


@pytest.mark.parametrize("case,settings,where,fragment,emulated", [c for c in BAD if c[4]],
                         ids=[c[0] for c in BAD if c[4]])
def test_state_file_is_refused_before_any_write_as_create_would(ready: Project, case: str,  # noqa: F811
                                                                settings: dict, where: str, fragment: str,
                                                                emulated: bool) -> None:
    with pytest.raises(BadRequest):  # the (emulated) service refuses it...
        ready.prod.client().api_client.do("POST", "/api/2.2/jobs/create", body=copy.deepcopy(settings))
    (ready.root / "state" / "jobs" / "sales.yml").write_text(render_state(StateDoc("sales", settings, 7)))
    before = world(ready)
    for command in (["validate"], ["apply", "--target", "prod", "--yes"]):  # ... and so does bricksync, first
        res = ready.run(*command)
        assert res.code == 1, res.output
        assert "sales.yml" in res.output and "job 'Sales'" in res.output and where in res.output, res.output
        assert fragment in res.output
    assert world(ready) == before


# --- overrides ----------------------------------------------------------------------------------

def _good_file(p: Project) -> None:
    (p.root / "state" / "jobs" / "sales.yml").write_text(render_state(GOOD))


OVERRIDES = [  # (case, overrides YAML, fragments expected)
    ("unknown-field", "{'*': {schedul.pause_status: PAUSED}}",
     ["targets.prod.overrides.*.schedul.pause_status", "unknown field 'schedul'", "did you mean 'schedule'"]),
    ("unknown-nested-field", "{sales: {schedule.pause: PAUSED}}",
     ["targets.prod.overrides.sales.schedule.pause", "unknown field 'pause' in schedule"]),
    ("wrong-type", "{sales: {max_concurrent_runs: many}}",
     ["targets.prod.overrides.sales.max_concurrent_runs", "expected an integer"]),
    ("wrong-enum", "{'*': {schedule.pause_status: PAUSD}}", ["schedule.pause_status", "did you mean 'PAUSED'"]),
    ("into-a-list", "{sales: {tasks.ingest.timeout_seconds: 5}}", ["'tasks' is a list", "override the whole field"]),
    ("into-a-string", "{sales: {name.first: x}}", ["'name' is a string"]),
    ("unknown-scope", "{slaes: {max_concurrent_runs: 2}}",
     ["targets.prod.overrides.slaes", "nor the key of a state file", "did you mean 'sales'"]),
    ("breaks-a-limit", "{'*': {max_concurrent_runs: 5000}}",
     ["sales.yml", "field 'max_concurrent_runs'", "0 to 1000", "with targets.prod.overrides applied"]),
    ("breaks-depends-on", "{sales: {tasks: [{task_key: publish, depends_on: [{task_key: ingest}], "
                          "notebook_task: {notebook_path: /Workspace/dev/p}}]}}",
     ["tasks[publish].depends_on", "'ingest', which is not a task", "overrides applied"]),
    ("breaks-tag-limit", "{sales: {tags: {" + ", ".join(f"t{i}: v" for i in range(24)) + "}}}",
     ["field 'tags'", "26 tags", "at most 25"]),
    ("adds-a-second-schedule", "{sales: {continuous.pause_status: UNPAUSED, schedule.timezone_id: UTC}}",
     ["only one of schedule, trigger and continuous"]),
]


@pytest.mark.parametrize("case,overrides,expected", OVERRIDES, ids=[c[0] for c in OVERRIDES])
def test_bad_overrides_are_refused_before_any_write(ready: Project, case: str, overrides: str,  # noqa: F811
                                                    expected: list[str]) -> None:
    _good_file(ready)
    ready.repo.git.add("-A")
    ready.repo.git.commit("-qm", "sales")
    cfg = ready.root / "config" / "bricksync.yml"
    cfg.write_text(cfg.read_text().replace("overrides: {}", f"overrides: {overrides}"))
    before = world(ready)
    for command in (["validate"], ["plan", "--target", "prod"], ["apply", "--target", "prod", "--yes"]):
        res = ready.run(*command)
        assert res.code == 1, (command, res.output)
        for fragment in expected:
            assert fragment in res.output, (command, fragment, res.output)
        assert "Traceback" not in res.output
    assert world(ready) == before


def test_good_overrides_still_apply(ready: Project) -> None:  # noqa: F811
    _good_file(ready)
    cfg = ready.root / "config" / "bricksync.yml"
    cfg.write_text(cfg.read_text().replace("overrides: {}", "overrides: {'*': {max_concurrent_runs: 4, "
                                           "schedule: null}, sales: {tags.team: finance, description: null}}"))
    assert ready.run("validate").code == 0
    res = ready.run("apply", "--target", "prod", "--yes")
    assert res.code == 0, res.output
    live = next(j for j in ready.prod.workspace.jobs.jobs.values() if j["settings"]["name"] == "Sales")
    assert live["settings"]["max_concurrent_runs"] == 4 and live["settings"]["tags"]["team"] == "finance"
    assert json.loads(json.dumps(live["settings"]["tasks"]))[1]["depends_on"] == [{"task_key": "ingest"}]
