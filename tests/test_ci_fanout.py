"""Both pipelines as their platforms compile them: valid against the published schemas, one job per
target for a three-target fleet, and no job a pull request runs holding a credential that writes.

Azure Pipelines: tests/ci_expand.py expands the `${{ each }}` / `${{ if }}` template expressions the
way Azure does when it compiles a run (only the forms the files use; anything else fails here), and
the expanded pipeline is validated against Microsoft's schema (which does not model template
expressions itself). GitHub Actions: the workflow files are validated as they are against
SchemaStore's schema; the matrix `fromJSON(vars.BRICKSYNC_TARGETS || '["prod"]')` is evaluated for
given repository variables.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
from ruamel.yaml import YAML

from .ci_expand import matrix_jobs
from .conftest import ROOT, SCHEMAS, Project
from .test_pipeline_reports import PIPELINE, compile_pipeline

WORKFLOWS = ROOT / ".github" / "workflows"
FLEET = ["prod", "staging", "prod-eu"]


def workflow(name: str) -> dict:
    return YAML(typ="safe", pure=True).load((WORKFLOWS / name).read_text())


def compiled(**parameters) -> dict:
    return compile_pipeline(PIPELINE.read_text(), **{"targets": FLEET, **parameters})


def jobs_of(pipeline: dict, stage: str) -> dict[str, dict]:
    jobs = next(s for s in pipeline["stages"] if s["stage"] == stage)["jobs"]
    return {j.get("job") or j["deployment"]: j for j in jobs}


def template_params(job: dict, template: str) -> list[dict]:
    """The parameters of every call of `template` (a path prefix) anywhere in a job."""
    found: list[dict] = []

    def walk(node) -> None:
        if isinstance(node, dict):
            if str(node.get("template", "")).startswith(template):
                found.append(node.get("parameters") or {})
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)
    walk(job)
    return found


# --- GitHub Actions ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def github_schema() -> jsonschema.Draft7Validator:
    return jsonschema.Draft7Validator(json.loads((SCHEMAS / "github-workflow.schema.json").read_text()))


@pytest.mark.parametrize("name", ["bricksync.yml", "bricksync-pr-comment.yml"])
def test_workflows_validate_and_a_broken_copy_does_not(github_schema: jsonschema.Draft7Validator, name: str) -> None:
    text = (WORKFLOWS / name).read_text()
    assert not list(github_schema.iter_errors(YAML(typ="safe", pure=True).load(text)))
    for broken in (text.replace("runs-on:", "runs_on:", 1), text.replace("    steps:", "    stepz:", 1),
                   text.replace("pull-requests: write", "pull-requests: maybe", 1) if "pull-requests" in text
                   else text.replace("contents: read", "contents: maybe", 1)):
        assert list(github_schema.iter_errors(YAML(typ="safe", pure=True).load(broken))), broken[:80]


def test_github_fans_out_one_job_per_target_each_with_its_own_environment() -> None:
    jobs = workflow("bricksync.yml")["jobs"]
    variables = {"BRICKSYNC_TARGETS": json.dumps(FLEET)}
    for name in ("plan", "apply", "drift"):
        assert jobs[name]["strategy"]["fail-fast"] is False, name  # one target's failure stops no other
        copies = matrix_jobs(jobs[name], variables)
        assert [c["steps"][-2 if name != "apply" else -1]["env"]["TARGET"] for c in copies] == FLEET, name
    applies = matrix_jobs(jobs["apply"], variables)
    assert [a["environment"] for a in applies] == [f"databricks-{t}" for t in FLEET]
    assert [a["concurrency"] for a in applies] == [{"group": f"bricksync-apply-{t}", "cancel-in-progress": False}
                                                   for t in FLEET]
    assert [c["strategy"]["matrix"] for c in matrix_jobs(jobs["plan"], {})] == [
        {"target": '${{ fromJSON(vars.BRICKSYNC_TARGETS || \'["prod"]\') }}'}]  # no variable: prod alone
    assert len(matrix_jobs(jobs["plan"], {})) == 1
    plans = matrix_jobs(jobs["plan"], variables)
    assert [p["steps"][-1]["with"]["name"] for p in plans] == [f"plan-{t}" for t in FLEET]  # artifacts
    comment = workflow("bricksync-pr-comment.yml")["jobs"]["comment"]
    post = comment["steps"][-1]
    assert post["env"]["TARGETS"] == "${{ vars.BRICKSYNC_TARGETS || '[\"prod\"]' }}"  # the same fleet
    assert "bricksync comment --github" in post["run"]


def test_github_pull_request_jobs_hold_nothing_that_writes() -> None:
    doc = workflow("bricksync.yml")
    jobs = doc["jobs"]
    assert doc["permissions"] == {} and "pull_request_target" not in doc["on"]
    for name in ("validate", "plan"):
        perms = jobs[name]["permissions"]
        assert "write" not in {v for k, v in perms.items() if k != "id-token"}, name
        assert "environment" not in jobs[name]  # OIDC subject repo:<owner>/<repo>:pull_request
        assert all(s.get("with", {}).get("persist-credentials") is False
                   for s in jobs[name]["steps"] if str(s.get("uses", "")).startswith("actions/checkout"))
    assert "id-token" not in jobs["validate"]["permissions"]  # id-token: write only where a job signs in
    signs_in = {n for n, j in jobs.items() if any("DATABRICKS_CLIENT_ID" in (s.get("env") or {}) for s in j["steps"])}
    assert signs_in == {n for n, j in jobs.items() if j["permissions"].get("id-token") == "write"}
    assert signs_in == {"export", "plan", "apply", "drift"}
    reads = "${{ vars.DATABRICKS_READ_CLIENT_ID }}"
    client = {n: next(s["env"]["DATABRICKS_CLIENT_ID"] for s in jobs[n]["steps"] if "DATABRICKS_CLIENT_ID" in
                      (s.get("env") or {})) for n in signs_in}
    assert client["plan"] == client["drift"] == reads and client["apply"] == client["export"] != reads
    assert jobs["apply"]["environment"] == "databricks-${{ matrix.target }}"  # the writer's subject claim
    assert "refs/heads/main" in jobs["apply"]["if"] and "refs/heads/main" in jobs["export"]["if"]
    assert [n for n, j in jobs.items() if "write" in (j.get("permissions") or {}).get("contents", "")] == ["export"]


def test_the_comment_workflow_runs_the_default_branch_and_reads_plans_as_data() -> None:
    doc = workflow("bricksync-pr-comment.yml")
    assert list(doc["on"]) == ["workflow_run"] and doc["on"]["workflow_run"]["workflows"] == ["bricksync"]
    assert workflow("bricksync.yml")["name"] == "bricksync"
    job = doc["jobs"]["comment"]
    assert job["permissions"] == {"actions": "read", "pull-requests": "write", "statuses": "write"}
    checkout = next(s for s in job["steps"] if str(s.get("uses", "")).startswith("actions/checkout"))
    assert checkout["with"] == {"persist-credentials": False}  # no ref: the default branch, never the PR's
    download = next(s for s in job["steps"] if str(s.get("uses", "")).startswith("actions/download-artifact"))
    assert download["with"]["run-id"] == "${{ github.event.workflow_run.id }}"
    text = (WORKFLOWS / "bricksync-pr-comment.yml").read_text()
    assert "head_branch" not in text and "head.sha" not in text and "DATABRICKS" not in text


def test_github_signs_in_with_the_sdks_github_oidc_auth_by_default() -> None:
    from databricks.sdk.credentials_provider import github_oidc

    env = workflow("bricksync.yml")["env"]
    assert env["DATABRICKS_AUTH_TYPE"] == f"${{{{ vars.BRICKSYNC_DATABRICKS_AUTH || '{github_oidc.auth_type()}' }}}}"
    assert github_oidc.auth_type() == "github-oidc" and env["BRICKSYNC_AUTH"] == "env"


# --- Azure Pipelines -----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def azure_schema() -> dict:
    return json.loads((SCHEMAS / "azure-pipelines.schema.json").read_text())


@pytest.mark.parametrize("parameters", [{}, {"auth": "variableGroup", "heal": True, "capturePR": True}],
                         ids=["defaults", "variableGroup+heal"])
def test_azure_compiles_to_a_valid_pipeline_with_one_job_per_target(azure_schema: dict, parameters: dict) -> None:
    pipeline = compiled(**parameters)
    assert not list(jsonschema.Draft7Validator(azure_schema).iter_errors(pipeline))
    validate = jobs_of(pipeline, "Validate")
    assert list(validate) == ["validate", "plan_prod", "plan_staging", "plan_prod_eu", "comment"]
    assert all(validate[f"plan_{t}"]["dependsOn"] == "validate" for t in ("prod", "staging", "prod_eu"))
    assert validate["comment"]["dependsOn"] == ["validate", "plan_prod", "plan_staging", "plan_prod_eu"]
    assert validate["comment"]["condition"] == "not(canceled())"  # a failed target's plan is still reported
    apply = jobs_of(pipeline, "Apply")
    assert [(n, j["environment"]) for n, j in apply.items()] == [
        ("apply_prod", "databricks-prod"), ("apply_staging", "databricks-staging"), ("apply_prod_eu", "databricks-prod-eu")]
    reconcile = jobs_of(pipeline, "Reconcile")
    assert list(reconcile) == ["drift_prod", "capture_prod", "drift_staging", "capture_staging", "drift_prod_eu",
                               "capture_prod_eu"]
    assert reconcile["capture_staging"]["dependsOn"] == "drift_staging"  # each target's capture waits for its own drift
    for job in [*apply.values(), *reconcile.values()]:
        target = (job.get("job") or job["deployment"]).split("_", 1)[1].replace("_", "-")
        script = template_params(job, "pipelines/databricks-")[0]["script"]
        assert f'"{target}"' in script, (target, script)


def test_azure_pull_requests_never_reach_the_writing_identity() -> None:
    for parameters in ({}, {"auth": "variableGroup"}, {"heal": True}):
        pipeline = compiled(**parameters)
        validate = jobs_of(pipeline, "Validate")
        for name, job in validate.items():
            connections = {p.get("serviceConnection") for p in template_params(job, "pipelines/databricks-")}
            assert "bricksync-databricks" not in connections, name
            assert all(p.get("identity") != "write" for p in template_params(job, "pipelines/variables-")), name
        assert {p["serviceConnection"] for p in template_params(validate["plan_prod"], "pipelines/databricks-")} == {
            "bricksync-databricks-read"}
        assert pipeline["variables"] == [{"name": "PIP_DISABLE_PIP_VERSION_CHECK", "value": "1"}]  # no group for all
        heal = bool(parameters.get("heal"))
        drift = jobs_of(pipeline, "Reconcile")["drift_prod"]
        assert template_params(drift, "pipelines/databricks-")[0]["serviceConnection"] == (
            "bricksync-databricks" if heal else "bricksync-databricks-read")
        assert template_params(drift, "pipelines/variables-")[0]["identity"] == ("write" if heal else "read")
        for job in jobs_of(pipeline, "Apply").values():
            assert template_params(job, "pipelines/databricks-")[0]["serviceConnection"] == "bricksync-databricks"
    comment = jobs_of(compiled(), "Validate")["comment"]
    install = next(s for s in comment["steps"] if "Install bricksync" in s.get("displayName", ""))
    assert "git archive" in install["script"] and "origin/$branch" in install["script"]
    assert comment["steps"][0] == {"checkout": "self", "fetchDepth": "0", "persistCredentials": "false"}
    assert not template_params(comment, "pipelines/databricks-")  # the comment job signs in to no workspace


def test_azure_job_names_are_valid_identifiers_for_every_target() -> None:
    for jobs in (jobs_of(compiled(), stage) for stage in ("Validate", "Apply", "Reconcile")):
        assert all(re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name) for name in jobs), list(jobs)


# --- the GitHub pull-request path, run as the runner would -------------------------------------------

def runner_run(script: str, cwd: Path, env: dict[str, str]) -> tuple[int, str]:
    """A `run:` step as GitHub's runner runs it on Linux: bash --noprofile --norc -eo pipefail."""
    assert "${{" not in script, script
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    proc = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script], cwd=cwd,
                          capture_output=True, text=True, timeout=120, env={**os.environ, **env, "PATH": path})
    return proc.returncode, proc.stdout + proc.stderr


def test_github_plan_with_the_read_identity_then_the_comment_workflow_posts_it(project: Project,
                                                                              tmp_path: Path) -> None:
    from bricksync.emulator.seed import seed_source, seed_target

    from .github_fake import HEAD, FakeGitHub

    p = project
    seed_source(p.test.client())
    seed_target(p.prod.client())
    assert p.run("export", "--branch", "main").code == 0
    p.prod.readonly_tokens = ("dapi-read-only",)
    plan_step = next(s for s in workflow("bricksync.yml")["jobs"]["plan"]["steps"] if s.get("name") == "bricksync plan")
    env = {"TARGET": "prod", "BRICKSYNC_AUTH": "env", "DATABRICKS_AUTH_TYPE": "pat", "DATABRICKS_TOKEN": "dapi-read-only"}
    code, output = runner_run(plan_step["run"], p.root, env)
    assert code == 0, output  # changes (exit 2) are a successful plan
    plans = tmp_path / "runner-temp" / "plans" / "plan-prod"
    plans.mkdir(parents=True)
    shutil.copy(p.root / "plan-out" / "plan-prod.md", plans)  # upload-artifact, then download-artifact

    post = workflow("bricksync-pr-comment.yml")["jobs"]["comment"]["steps"][-1]
    with FakeGitHub(token="ghs_token-under-test") as gh:
        event = tmp_path / "event.json"
        event.write_text(json.dumps(gh.event("workflow_run")))
        env = {**gh.env(str(event), "workflow_run"), "RUNNER_TEMP": str(tmp_path / "runner-temp"),
               "TARGETS": '["prod", "staging"]'}
        code, output = runner_run(post["run"], tmp_path, env)
        assert code == 0, output
        assert len(gh.comments) == 1 and "to create" in gh.comments[0]["body"]
        assert [(s["sha"], s["state"]) for s in gh.statuses] == [(HEAD, "failure")]  # staging never planned
        assert "no plan file plan-staging.md" in gh.statuses[0]["description"]
