"""The pipeline's two ways to sign in to Databricks (pipelines/*.yml) and its Validate stage run for
real: the plan step keeps the plan's exit code, the comment step fails only when posting fails."""

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


def expanded_template(text: str, **parameters) -> dict:
    """A template as Azure expands it for a call with these parameters (tests/ci_expand.py)."""
    from .ci_expand import defaults, expand

    doc = load_pipeline(text)
    return expand({k: v for k, v in doc.items() if k != "parameters"},
                  {"parameters": {**defaults(doc), **parameters}})


def test_every_template_validates_and_a_broken_copy_does_not(schema: dict) -> None:
    files = sorted(TEMPLATES.glob("*.yml"))
    assert {f.name for f in files} == {f"{kind}-{auth}.yml" for kind in ("databricks", "variables")
                                       for auth in AUTH_CHOICES}
    for path in files:
        validator = validator_for(schema, path.name)
        text = path.read_text()
        assert not list(validator.iter_errors(load_pipeline(text) if "${{ if" not in text else
                                              expanded_template(text, identity="read"))), path.name
        if path.name.startswith("variables-"):
            for identity in ("read", "write"):
                assert not list(validator.iter_errors(expanded_template(text, identity=identity))), path.name
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
    from .test_pipeline_reports import compile_pipeline

    raw = load_pipeline(PIPELINE.read_text())
    auth = next(p for p in raw["parameters"] if p["name"] == "auth")
    assert auth["default"] == "workloadIdentity" and tuple(auth["values"]) == AUTH_CHOICES
    for choice in AUTH_CHOICES:
        for heal in (False, True):
            refs = template_references(compile_pipeline(PIPELINE.read_text(), auth=choice, heal=heal,
                                                        targets=["prod", "staging"]), [])
            assert len(refs) >= 10  # variables + export, plan, apply, drift, capture steps, per target
            for ref in refs:
                path = ROOT / ref["template"]
                assert path.is_file(), path
                declared = {p["name"]: p for p in load_pipeline(path.read_text()).get("parameters") or []}
                given = ref.get("parameters") or {}
                # Azure Pipelines refuses a template call with an undeclared or a missing required parameter,
                # or a value a parameter's `values` does not list.
                assert set(given) <= set(declared), (path.name, set(given) - set(declared))
                assert {n for n, p in declared.items() if "default" not in p} <= set(given), path.name
                for name, value in given.items():
                    assert value in declared[name].get("values", [value]), (path.name, name, value)


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
    group_text = (TEMPLATES / "variables-variableGroup.yml").read_text()
    assert {"group": "bricksync-credentials"} in expanded_template(group_text, identity="write")["variables"]
    read = expanded_template(group_text, identity="read")["variables"]
    assert {"group": "bricksync-credentials-read"} in read and {"group": "bricksync-credentials"} not in read
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

def validate_jobs() -> tuple[str, str, str]:
    """(target prod's plan script, the comment job's install script, its post script), compiled."""
    from .test_ci_fanout import jobs_of, template_params
    from .test_pipeline_reports import compile_pipeline

    jobs = jobs_of(compile_pipeline(PIPELINE.read_text()), "Validate")
    plan = template_params(jobs["plan_prod"], "pipelines/databricks-")[0]
    assert plan["serviceConnection"] == "bricksync-databricks-read"
    steps = jobs["comment"]["steps"]
    install = next(s for s in steps if "Install bricksync" in s.get("displayName", ""))["script"]
    post = next(s for s in steps if "bricksync comment" in s.get("script", ""))
    assert post["env"] == {"SYSTEM_ACCESSTOKEN": "$(System.AccessToken)"}
    return plan["script"], install, post["script"]


def agent_run(script: str, cwd: Path, env: dict[str, str], dirs: dict[str, Path]) -> tuple[int, str]:
    """bash with the macros the agent fills in (template expressions are already expanded)."""
    for macro, path in dirs.items():
        script = script.replace(f"$({macro})", str(path))
    assert "${{" not in script and not re.search(r"\$\((?!git )[A-Z]", script), script
    path = env.pop("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    proc = subprocess.run(["bash", "-c", script], cwd=cwd, capture_output=True, text=True, timeout=120,
                          env={**os.environ, **env, "PATH": path, "NO_COLOR": "1"})
    return proc.returncode, proc.stdout + proc.stderr


READ_ONLY = "dapi-read-only-identity"


def test_pull_request_plans_with_the_read_only_identity_and_posts_with_the_target_branchs_code(
        project: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # long: the stage's three jobs
    p = project
    seed_source(p.test.client())
    seed_target(p.prod.client())
    assert p.run("export", "--branch", "main").code == 0  # state/ now has jobs prod lacks: changes
    p.prod.readonly_tokens = (READ_ONLY,)
    read_env = {"BRICKSYNC_AUTH": "env", "DATABRICKS_AUTH_TYPE": "pat", "DATABRICKS_TOKEN": READ_ONLY}
    plan_script, install_script, post_script = validate_jobs()
    workspace = tmp_path / "pipeline"
    dirs = {"System.DefaultWorkingDirectory": p.root, "Pipeline.Workspace": workspace,
            "Agent.TempDirectory": tmp_path / "agent-temp"}

    # 1. The plan job, signed in as the read-only identity: it plans (changes: exit 2 is success).
    code, output = agent_run(plan_script, p.root, dict(read_env), dirs)
    assert code == 0, output
    assert (p.root / "plan-out" / "exit-code").read_text().strip() == "2"
    assert f"##vso[task.uploadsummary]{p.root}/plan-out/plan-prod.md" in output
    before = len(list(p.prod.client().jobs.list()))
    with monkeypatch.context() as m:  # and it can not write
        for name, value in read_env.items():
            m.setenv(name, value)
        refused = p.run("apply", "--target", "prod", "--yes")
    assert refused.code == 1 and "does not have permission" in refused.output, refused.output
    assert len(list(p.prod.client().jobs.list())) == before
    shutil.copytree(p.root / "plan-out", workspace / "plan-prod")  # publish + download: current

    # 2. The comment job installs bricksync from origin/<target branch>, never from the PR checkout.
    p.repo.git.push("origin", "HEAD:main")
    p.repo.git.fetch("origin")
    (p.root / "config" / "bricksync.yml").write_text("# the pull request's edit\n")
    calls = tmp_path / "pip-calls"
    shim = tmp_path / "shim"
    shim.mkdir()
    (shim / "python").write_text(f"#!/bin/sh\necho \"$PWD\" \"$@\" >> {calls}\n")
    (shim / "python").chmod(0o755)
    shim_path = f"{shim}{os.pathsep}{os.environ['PATH']}"
    env = {"SYSTEM_PULLREQUEST_TARGETBRANCH": "refs/heads/main", "PATH": shim_path}
    code, output = agent_run(install_script, p.root, env, dirs)
    assert code == 0, output
    trusted = tmp_path / "agent-temp" / "bricksync-trusted"
    assert calls.read_text().split() == [str(trusted), "-m", "pip", "install", "--quiet", "-r",
                                        "requirements-bricksync.txt"]  # the target branch's file, in its tree
    assert (trusted / "config" / "bricksync.yml").read_text() .rstrip("\n") == \
        p.repo.git.show("origin/main:config/bricksync.yml")
    code, output = agent_run(install_script, p.root, {**env, "SYSTEM_PULLREQUEST_TARGETBRANCH": "refs/heads/nope"},
                             dirs)
    assert code == 1 and "##vso[task.logissue type=error]origin/nope was not fetched" in output

    # 3. The post step: every target's plan in one comment; a target whose plan failed fails the status.
    with FakeAzdo(token="azdo-token-under-test") as ado:
        ado_env = {k: v for k, v in ado.env().items() if k != "TF_BUILD"}
        code, output = agent_run(post_script, p.root, dict(ado_env), dirs)
        assert code == 0, output
        assert ado.statuses[-1]["state"] == "succeeded" and "to create" in ado.statuses[-1]["description"]
        p.prod.token = p.prod.readonly_tokens = "dapi-rotated"  # now the plan fails: no file, exit 1
        code, output = agent_run(plan_script, p.root, dict(read_env), dirs)
        assert code == 1 and not (p.root / "plan-out" / "plan-prod.md").exists()
        shutil.rmtree(workspace / "plan-prod")
        shutil.copytree(p.root / "plan-out", workspace / "plan-prod")
        ado.faults.append(Fault("GET", r"/threads$", 404, count=99))
        code, output = agent_run(post_script, p.root, dict(ado_env), dirs)
        assert code == 1 and "could not list the pull request's comment threads: HTTP 404" in output
        assert ado.statuses[-1]["state"] == "failed"  # posted although the comment failed
        assert ado.statuses[-1]["description"] == "plan failed (no plan file plan-prod.md)"
        assert "azdo-token-under-test" not in output
