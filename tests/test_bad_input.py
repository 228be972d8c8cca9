"""Bad input: one clear error naming file, job and field, exit code 1, and nothing written anywhere."""

from __future__ import annotations

import json

import pytest

from bricksync.core.model import StateDoc
from bricksync.edges.state import render_state
from bricksync.emulator.seed import create_compute, seed_target

from .conftest import Project

GOOD = StateDoc(key="sales", source_job_id=7, settings={
    "name": "Sales", "tags": {"team": "sales"},
    "tasks": [{"task_key": "ingest", "existing_cluster_id": "${cluster:dev-shared}",
               "notebook_task": {"notebook_path": "/Workspace/dev/sales/ingest"}},
              {"task_key": "publish", "depends_on": [{"task_key": "ingest"}],
               "existing_cluster_id": "${cluster:dev-shared}",
               "notebook_task": {"notebook_path": "/Workspace/dev/sales/publish"}}]})


def good_text() -> str:
    return render_state(GOOD)


def with_params(params: dict) -> str:
    doc = StateDoc(key=GOOD.key, source_job_id=GOOD.source_job_id, settings=json.loads(json.dumps(GOOD.settings)))
    doc.settings["tasks"][0]["notebook_task"]["base_parameters"] = params
    return render_state(doc)


def caller(key: str, target: str) -> str:
    return render_state(StateDoc(key=key, settings={"name": key, "tasks": [
        {"task_key": "call", "run_job_task": {"job_id": f"${{job:{target}}}"}}]}))


# (case id, files to write under state/jobs: name -> text or bytes, expected fragments of the error)
STATE_CASES = [
    ("malformed-yaml", {"sales.yml": good_text().replace("  name: Sales", "  name: [Sales")},
     ["sales.yml:", "invalid YAML"]),
    ("duplicate-key", {"sales.yml": good_text().replace("  name: Sales", "  name: Sales\n  name: Other")},
     [f"sales.yml:{good_text().splitlines().index('  name: Sales') + 2}", "duplicate key 'name'"]),  # the 2nd name
    ("unknown-top-level", {"sales.yml": good_text() + "jobs: {}\n"}, ["sales.yml", "field 'jobs'", "did you mean 'job'"]),
    ("misspelled-field", {"sales.yml": good_text().replace("  tags:", "  tagz:")},
     ["sales.yml:", "job 'Sales'", "field 'tagz'", "did you mean 'tags'"]),
    ("misspelled-task-field", {"sales.yml": good_text().replace("notebook_task:", "notebok_task:", 1)},
     ["job 'Sales'", "tasks[ingest].notebok_task", "did you mean 'notebook_task'"]),
    ("wrong-type", {"sales.yml": good_text().replace("  tags:", "  max_concurrent_runs: two\n  tags:")},
     ["field 'max_concurrent_runs'", "expected an integer"]),
    ("wrong-enum", {"sales.yml": good_text().replace("  - task_key: publish",
                                                     "  - task_key: publish\n    run_if: ALL_SUCESS")},
     ["tasks[publish].run_if", "did you mean 'ALL_SUCCESS'"]),
    ("wrong-list-type", {"sales.yml": good_text().replace("  tags:\n    team: sales", "  tags: [team]")},
     ["field 'tags'", "expected a mapping"]),
    ("malformed-reference", {"sales.yml": good_text().replace("${cluster:dev-shared}", "${clstr:dev-shared}", 1)},
     ["tasks[ingest].existing_cluster_id", "malformed reference"]),
    ("empty-reference", {"sales.yml": good_text().replace("${cluster:dev-shared}", "${cluster:}", 1)},
     ["malformed reference"]),
    ("embedded-reference", {"sales.yml": good_text().replace("${cluster:dev-shared}", "x-${cluster:dev-shared}", 1)},
     ["malformed reference", "as the whole value"]),
    ("unknown-job-reference", {"caller.yml": caller("caller", "nope")},
     ["caller.yml", "${job:nope} names no state file"]),
    ("run-job-cycle", {"a.yml": caller("a", "b"), "b.yml": caller("b", "a")}, ["cycle", "a -> b -> a"]),
    ("two-files-one-key", {"sales.yml": good_text(), "sales2.yml": good_text()},
     ["sales2.yml", "disagrees with its key 'sales'"]),
    ("file-name-disagrees", {"other.yml": good_text()}, ["other.yml", "disagrees with its key 'sales'"]),
    ("same-key-two-spellings", {"sales.yml": good_text(), "sales.yaml": good_text()},
     ["sales.yaml", "not a state file name"]),
    ("alias-bomb", {"sales.yml": "a: &a [x, x, x]\nb: &b [*a, *a, *a]\nc: &c [*b, *b, *b]\nbricksync: {key: sales}\n"},
     ["sales.yml:2", "aliases"]),
    ("huge-file", {"sales.yml": good_text() + "# " + "x" * (3 * 1024 * 1024) + "\n"}, ["sales.yml", "limit"]),
    ("non-utf8", {"sales.yml": good_text().encode().replace(b"Sales", b"Sal\xe9s", 1)}, ["sales.yml:", "UTF-8"]),
    ("too-many-tags", {"sales.yml": good_text().replace("    team: sales", "\n".join(f"    t{i}: v" for i in range(24)))},
     ["field 'tags'", "24 tags; at most 23"]),
    ("tag-value-too-long", {"sales.yml": good_text().replace("team: sales", "team: " + "s" * 300)},
     ["tags.team", "longer than 255"]),
    ("literal-secret", {"sales.yml": with_params({"db_password": "hunter2", "api": "{{secrets/s/k}}"})},
     ["tasks[ingest].notebook_task.base_parameters.db_password", "secrets/scope/key"]),
    ("token-in-state", {"sales.yml": good_text().replace("team: sales", "team: dapi0123456789abcdef0123456789abcdef")},
     ["tags.team", "looks like a credential"]),
    ("missing-job", {"sales.yml": "bricksync: {key: sales}\n"}, ["sales.yml", "missing 'job'"]),
    ("missing-key", {"sales.yml": "job: {name: x}\n"}, ["sales.yml", "bricksync.key"]),
    ("bad-key-characters", {"Sales.yml": good_text().replace("key: sales", "key: Sales")},
     ["Sales.yml", "lower-case"]),
    ("source-id-not-int", {"sales.yml": good_text().replace("source_job_id: 7", "source_job_id: seven")},
     ["bricksync.source_job_id", "expected an integer"]),
    ("not-a-mapping", {"sales.yml": "- just\n- a list\n"}, ["sales.yml", "expected a mapping"]),
]


def write_files(project: Project, files: dict[str, str | bytes]) -> None:
    for name, text in files.items():
        path = project.root / "state" / "jobs" / name
        path.write_bytes(text if isinstance(text, bytes) else text.encode())


def world(project: Project) -> tuple:
    return (json.dumps(project.prod.workspace.jobs.jobs, sort_keys=True), project.state_files,
            project.repo.head.commit.hexsha)


@pytest.fixture
def ready(project: Project) -> Project:
    seed_target(project.prod.client())
    create_compute(project.prod.client(), {"cluster": ["dev-shared"]})
    return project


@pytest.mark.parametrize("case,files,expected", STATE_CASES, ids=[c[0] for c in STATE_CASES])
def test_bad_state_file(ready: Project, case: str, files: dict, expected: list[str]) -> None:
    write_files(ready, files)
    before = world(ready)
    for args in (["validate"], ["apply", "--target", "prod", "--yes"]):
        res = ready.run(*args)
        assert res.code == 1, (case, res.output)
        for fragment in expected:
            assert fragment in res.output, (case, fragment, res.output)
        assert "Traceback" not in res.output
    assert world(ready) == before


CONFIG_CASES = [
    ("config-malformed", lambda c: c.replace("targets:", "targets: [", 1), ["bricksync.yml:", "invalid YAML"]),
    ("config-duplicate-key", lambda c: c.replace("state_dir: state", "state_dir: state\nstate_dir: other"),
     ["bricksync.yml:", "duplicate key 'state_dir'"]),
    ("config-misspelled", lambda c: c.replace("notebook_root:", "notebok_root:"),
     ["bricksync.yml:", "source.notebok_root", "did you mean 'notebook_root'"]),
    ("config-wrong-type", lambda c: c.replace("acknowledge: true", "acknowledge: sometimes"),
     ["source.acknowledge", "expected true or false"]),
    ("config-relative-rewrite", lambda c: c.replace("{/Workspace/dev: /Workspace/prod}", "{dev: /Workspace/prod}"),
     ["targets.prod.path_rewrites", "absolute"]),
    ("config-compute-not-a-map", lambda c: c.replace("clusters: {dev-shared: prod-shared}", "clusters: [dev-shared]"),
     ["targets.prod.compute.clusters", "mapping"]),
]


@pytest.mark.parametrize("case,edit,expected", CONFIG_CASES, ids=[c[0] for c in CONFIG_CASES])
def test_bad_config(ready: Project, case: str, edit, expected: list[str]) -> None:
    path = ready.root / "config" / "bricksync.yml"
    path.write_text(edit(path.read_text()))
    before = world(ready)
    res = ready.run("plan", "--target", "prod")
    assert res.code == 1
    for fragment in expected:
        assert fragment in res.output, (case, fragment, res.output)
    assert world(ready) == before


def test_no_such_target_suggests_one(ready: Project) -> None:
    res = ready.run("plan", "--target", "prd")
    assert res.code == 1 and "no target 'prd'" in res.output and "did you mean 'prod'" in res.output


def test_config_file_missing(ready: Project) -> None:
    res = ready.run("--config", "nope.yml", "validate")
    assert res.code == 1 and "nope.yml" in res.output and "not found" in res.output


def test_malformed_mapping_variable(ready: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BRICKSYNC_PROD_CLUSTERS", "dev-shared")
    res = ready.run("validate")
    assert res.code == 1 and "$BRICKSYNC_PROD_CLUSTERS" in res.output and "from=to" in res.output


def test_unresolvable_name_and_bad_override_fail_the_plan_with_every_error(ready: Project) -> None:
    write_files(ready, {"sales.yml": good_text().replace("${cluster:dev-shared}", "${cluster:gpu-xl}")})
    cfg = ready.root / "config" / "bricksync.yml"
    cfg.write_text(cfg.read_text().replace("overrides: {}", "overrides: {sales: {name.first: x}}"))
    before = world(ready)
    res = ready.run("apply", "--target", "prod", "--yes")
    assert res.code == 1
    assert "no cluster named 'gpu-xl'" in res.output and "tasks[ingest].existing_cluster_id" in res.output
    assert "tasks[publish].existing_cluster_id" in res.output and "'name' is not a mapping" in res.output
    assert world(ready) == before


def test_stale_or_foreign_plan_files_are_refused(ready: Project) -> None:
    (ready.root / "junk.plan").write_text("{not json")
    res = ready.run("apply", "--target", "prod", "junk.plan")
    assert res.code == 1 and "not a bricksync plan file" in res.output
