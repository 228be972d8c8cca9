"""Only `${kind:NAME}` with a known kind is a bricksync reference (issue 14.19): shell, Spark,
SQL and bundle variables pass through export, validate, plan and apply untouched, and a
literal that looks like a reference is written `$${kind:NAME}` in state files."""

from __future__ import annotations

import pytest

from bricksync.core.model import StateDoc
from bricksync.core.references import KINDS, escape_literal, has_reference, unescape_literal
from bricksync.core.validate import validate_doc
from bricksync.emulator.seed import seed_target

from .conftest import Project

FOREIGN = ["${HOME}/logs", "-Dlog.dir=${LOG_DIR} -Xmx2g", "${run_date}", "${var.catalog}", "${bundle.target}",
           "SELECT * FROM t WHERE d = '${run_date}'", "${env:PATH}", "${secrets:x}", "$${HOME}", "${", "}${"]
LITERALS = ["${cluster:x}", "prefix ${job:other} suffix", "$${pool:y}", "${warehouse:a}${policy:b}", "$$$${pipeline:z}"]


@pytest.mark.parametrize("value", FOREIGN + LITERALS)
def test_escaping_round_trips(value: str) -> None:
    assert unescape_literal(escape_literal(value)) == value
    assert not has_reference(escape_literal(value))  # an escaped value is never read as a reference


@pytest.mark.parametrize("value", FOREIGN)
def test_foreign_variables_are_not_ours(value: str) -> None:
    assert escape_literal(value) == value and unescape_literal(value) == value and not has_reference(value)


def _doc(env: dict, params: list | None = None) -> StateDoc:
    settings = {"name": "J", "job_clusters": [{"job_cluster_key": "c", "new_cluster": {
        "spark_version": "15.4.x-scala2.12", "num_workers": 1, "spark_env_vars": env,
        "instance_pool_id": "${pool:p}"}}],
        "tasks": [{"task_key": "t", "job_cluster_key": "c", "notebook_task": {"notebook_path": "/Workspace/dev/x"}}]}
    if params:
        settings["parameters"] = params
    return StateDoc(key="j", settings=settings, file="state/jobs/j.yml")


@pytest.mark.parametrize("value", FOREIGN + [escape_literal(v) for v in LITERALS])
def test_validate_passes_foreign_variables_and_escaped_literals(value: str) -> None:
    assert validate_doc(_doc({"V": value}, [{"name": "p", "default": value}])) == []


@pytest.mark.parametrize("kind", KINDS)
def test_a_reference_outside_a_reference_field_is_an_error_that_shows_the_escape(kind: str) -> None:
    problems = validate_doc(_doc({"V": f"${{{kind}:x}}"}))
    assert len(problems) == 1, problems
    text = str(problems[0])
    assert "job_clusters[c].new_cluster.spark_env_vars.V" in text and f"$${{{kind}:x}}" in text


SOURCE_SETTINGS = {
    "name": "Shell vars", "tags": {"PROD_MIGRATION": "true"},
    "parameters": [{"name": "run_date", "default": "${run_date}"}],
    "job_clusters": [{"job_cluster_key": "c", "new_cluster": {
        "spark_version": "15.4.x-scala2.12", "node_type_id": "Standard_DS3_v2", "num_workers": 1,
        "spark_env_vars": {"LOG": "${HOME}/logs", "LIT": "${cluster:x}", "LIT2": "$${pool:y}", "VAR": "${var.x}"},
        "spark_conf": {"spark.driver.extraJavaOptions": "-Dlog.dir=${LOG_DIR}"}}}],
    "tasks": [{"task_key": "t", "job_cluster_key": "c", "notebook_task": {
        "notebook_path": "/Workspace/dev/x", "base_parameters": {"d": "${run_date}", "lit": "a ${job:b} c"}}}],
}


def test_export_apply_plan_round_trip_keeps_literals_and_converges(project: Project) -> None:
    p = project
    seed_target(p.prod.client())
    p.test.client().api_client.do("POST", "/api/2.2/jobs/create", body=SOURCE_SETTINGS)
    res = p.run("export")
    assert res.code == 0, res.output
    text = p.state_files["shell-vars.yml"].decode()
    for fragment in ("${HOME}/logs", "-Dlog.dir=${LOG_DIR}", "${run_date}", "${var.x}", "LIT: $${cluster:x}",
                     "LIT2: $$${pool:y}", "a $${job:b} c"):
        assert fragment in text, (fragment, text)
    assert p.run("validate").code == 0
    res = p.run("apply", "--target", "prod", "--yes")
    assert res.code == 0, res.output
    prod = next(j["settings"] for j in p.prod.workspace.jobs.jobs.values() if j["settings"]["name"] == "Shell vars")
    source_cluster = SOURCE_SETTINGS["job_clusters"][0]["new_cluster"]
    prod_cluster = prod["job_clusters"][0]["new_cluster"]
    assert prod_cluster["spark_env_vars"] == source_cluster["spark_env_vars"]  # literals come back exactly
    assert prod_cluster["spark_conf"] == source_cluster["spark_conf"]
    assert prod["tasks"][0]["notebook_task"]["base_parameters"] == {"d": "${run_date}", "lit": "a ${job:b} c"}
    res = p.run("plan", "--target", "prod", "--detailed-exitcode")
    assert res.code == 0, res.output  # no perpetual diff
    before = p.state_files
    source = next(j for j in p.test.workspace.jobs.jobs.values() if j["settings"]["name"] == "Shell vars")
    p.test.client().api_client.do("POST", "/api/2.2/jobs/update", body={
        "job_id": source["job_id"], "new_settings": {"tags": {"PROD_MIGRATION": "true"}}})
    res = p.run("export", "--no-ack")
    assert res.code == 0 and "shell-vars" in res.output, res.output
    assert p.state_files == before  # exporting again gives the same bytes
