"""The pipeline's two ways to sign in to Databricks (pipelines/*.yml) and its Validate stage run for
real: the plan step keeps the plan's exit code, the comment step fails only when posting fails."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
from ruamel.yaml import YAML

from bricksync.emulator.seed import seed_source, seed_target

from .azdo_fake import FakeAzdo, Fault
from .conftest import ROOT, SCHEMAS, Project
from .test_pipeline_reports import PIPELINE, load_pipeline

TEMPLATES = ROOT / "pipelines"
AUTH_CHOICES = ("workloadIdentity", "variableGroup")


@pytest.fixture(scope="module")
def schema() -> dict:
    return json.loads((SCHEMAS / "azure-pipelines.schema.json").read_text())


def validator_for(schema: dict, name: str) -> jsonschema.Draft7Validator:
    """Step templates are pipelines to the schema; variable templates are its variablesTemplate."""
    if name.startswith("variables-"):
        return jsonschema.Draft7Validator({"$ref": "#/definitions/variablesTemplate",
                                           "definitions": schema["definitions"]})
    return jsonschema.Draft7Validator(schema)


def test_every_template_validates_and_a_broken_copy_does_not(schema: dict) -> None:
    files = sorted(TEMPLATES.glob("*.yml"))
    assert {f.name for f in files} == {f"{kind}-{auth}.yml" for kind in ("databricks", "variables")
                                       for auth in AUTH_CHOICES}
    for path in files:
        validator = validator_for(schema, path.name)
        text = path.read_text()
        assert not list(validator.iter_errors(load_pipeline(text))), path.name
        broken = text.replace("steps:", "stepz:", 1) if "steps:" in text else text.replace("- name:", "- nam:", 1)
        assert list(validator.iter_errors(load_pipeline(broken))), path.name


def template_references(node, found: list[dict]) -> list[dict]:
    if isinstance(node, dict):
        if "template" in node:
            found.append(node)
        for value in node.values():
            template_references(value, found)
    elif isinstance(node, list):
        for value in node:
            template_references(value, found)
    return found


def test_each_auth_choice_names_existing_templates_with_the_parameters_they_declare() -> None:
    pipeline = load_pipeline(PIPELINE.read_text())
    auth = next(p for p in pipeline["parameters"] if p["name"] == "auth")
    assert auth["default"] == "workloadIdentity" and tuple(auth["values"]) == AUTH_CHOICES
    refs = template_references(pipeline, [])
    assert len(refs) >= 5  # variables + export, plan, apply, drift steps
    for choice in AUTH_CHOICES:
        for ref in refs:
            path = ROOT / ref["template"].replace("${{ parameters.auth }}", choice)
            assert path.is_file(), path
            declared = {p["name"]: p for p in load_pipeline(path.read_text()).get("parameters") or []}
            given = set(ref.get("parameters") or {})
            # Azure Pipelines refuses a template call with an undeclared or a missing required parameter.
            assert given <= set(declared), (path.name, given - set(declared))
            assert {n for n, p in declared.items() if "default" not in p} <= given, path.name


def test_workload_identity_stores_no_secret_and_uses_an_auth_type_the_sdk_has() -> None:
    from databricks.sdk.credentials_provider import azure_cli

    wif = (TEMPLATES / "databricks-workloadIdentity.yml").read_text()
    step = YAML(typ="safe", pure=True).load(wif)["steps"][0]
    assert step["task"] == "AzureCLI@2" and step["inputs"]["addSpnToEnvironment"] is True
    assert step["inputs"]["azureSubscription"] == "${{ parameters.serviceConnection }}"
    assert step["env"]["DATABRICKS_AUTH_TYPE"] == azure_cli.auth_type() == "azure-cli"
    assert not [k for k in step["env"] if "SECRET" in k or k.startswith("ARM_CLIENT")]
    wif_vars = YAML(typ="safe", pure=True).load((TEMPLATES / "variables-workloadIdentity.yml").read_text())
    assert not [v for v in wif_vars["variables"] if "group" in v]
    secret = YAML(typ="safe", pure=True).load((TEMPLATES / "databricks-variableGroup.yml").read_text())["steps"][0]
    assert secret["env"]["ARM_CLIENT_SECRET"] == "$(ARM_CLIENT_SECRET)"
    group_vars = YAML(typ="safe", pure=True).load((TEMPLATES / "variables-variableGroup.yml").read_text())
    assert {"group": "bricksync-credentials"} in group_vars["variables"]
    # Outside the templates, no step carries Databricks credentials, no variable group is linked,
    # and every step that talks to Databricks is signed in by a template.
    pipeline = PIPELINE.read_text()
    assert "ARM_" not in pipeline and not re.search(r"^\s*- group:", pipeline, re.MULTILINE)
    plain = [s["script"] for s in plain_steps(load_pipeline(pipeline), [])]
    assert plain and not [x for x in plain if re.search(r"bricksync (export|plan|apply|drift)\b", x)]


def plain_steps(node, found: list[dict]) -> list[dict]:
    if isinstance(node, dict):
        if "script" in node and "template" not in node:
            found.append(node)
        for key, value in node.items():
            if key != "parameters":  # a template call's script runs inside the template's step
                plain_steps(value, found)
    elif isinstance(node, list):
        for value in node:
            plain_steps(value, found)
    return found


# --- the Validate stage, run as the agent would ---------------------------------------------------

def validate_steps() -> tuple[str, str]:
    """(plan step script, comment step script) of the Validate stage, as the agent would run them."""
    pipeline = load_pipeline(PIPELINE.read_text())
    stage = next(s for s in pipeline["stages"] if s["stage"] == "Validate")
    steps = stage["jobs"][0]["steps"]
    plan = next(s for s in steps if s.get("parameters", {}).get("displayName") == "bricksync plan (every target)")
    post = next(s for s in steps if "bricksync comment" in s.get("script", ""))
    assert post["condition"] == "succeededOrFailed()"  # a failed plan is posted too
    assert post["env"] == {"SYSTEM_ACCESSTOKEN": "$(System.AccessToken)"}
    return plan["parameters"]["script"], post["script"]


def agent_run(script: str, cwd: Path, env: dict[str, str]) -> tuple[int, str, dict[str, str]]:
    """bash with the template expressions and macros the agent fills in; returns the variables the
    step set with ##vso[task.setvariable] (the agent passes them on to later steps)."""
    script = script.replace("${{ join(' ', parameters.targets) }}", "prod") \
        .replace("$(System.DefaultWorkingDirectory)", str(cwd))
    assert "${{" not in script and "$(" not in script.replace("$(git", "")
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    proc = subprocess.run(["bash", "-c", script], cwd=cwd, capture_output=True, text=True, timeout=120,
                          env={**os.environ, **env, "PATH": path, "NO_COLOR": "1"})
    variables = dict(re.findall(r"##vso\[task\.setvariable variable=(\w+)\](.*)", proc.stdout))
    return proc.returncode, proc.stdout + proc.stderr, variables


def test_validate_stage_keeps_the_plan_verdict_and_fails_the_comment_step_only_on_posting(
        project: Project, tmp_path: Path) -> None:
    p = project
    seed_source(p.test.client())
    seed_target(p.prod.client())
    assert p.run("export", "--branch", "main").code == 0  # state/ now has jobs prod lacks: changes
    plan_script, post_script = validate_steps()
    with FakeAzdo(token="azdo-token-under-test") as ado:
        ado_env = {k: v for k, v in ado.env().items() if k != "TF_BUILD"}

        # 1. The plan has changes (exit 2 is success here); posting fails: only the comment step fails.
        code, output, variables = agent_run(plan_script, p.root, {})
        assert code == 0, output
        assert variables == {"BRICKSYNC_PLAN_EXIT_CODE": "0"}
        assert f"##vso[task.uploadsummary]{p.root}/plan-prod.md" in output
        ado.faults.append(Fault("GET", r"/threads$", 404, count=99))
        code, output, _ = agent_run(post_script, p.root, {**ado_env, **variables})
        assert code == 1
        assert "could not list the pull request's comment threads: HTTP 404" in output

        # 2. The plan fails (prod refuses the token): the plan step fails with the plan's own code;
        #    the comment step succeeds and posts a failed status.
        p.prod.token = "dapi-rotated"
        code, output, variables = agent_run(plan_script, p.root, {})
        assert code == 1 and variables == {"BRICKSYNC_PLAN_EXIT_CODE": "1"}
        assert not (p.root / "plan-prod.md").exists()  # the earlier run's file is gone, not reposted
        ado.faults.clear()
        code, output, _ = agent_run(post_script, p.root, {**ado_env, **variables})
        assert code == 0, output
        assert ado.statuses[-1]["state"] == "failed"
        assert ado.statuses[-1]["description"] == "plan failed (exit code 1; no plan file plan-*.md)"
        assert "azdo-token-under-test" not in output
