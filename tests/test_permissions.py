"""Job permissions travel with every job (issue 11): export -> state -> plan/apply -> drift, over
real HTTP on the emulators with the real SDK."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bricksync.emulator import FaultRule
from bricksync.emulator.seed import config_yaml

from .conftest import Project, make_project

SP_TEST = "11111111-2222-4333-8444-555555555555"
SP_PROD = "99999999-8888-4777-8666-555555555555"
PERMS = "/api/2.0/permissions/jobs"


def config(prod_url: str, mode: str = "manage", extra: str = "") -> str:
    return config_yaml(target_host=prod_url) + f"""\
    permissions: {mode}
    principals:
      alice@example.com: alice.prod@example.com
      data-eng: data-eng-prod
      {SP_TEST}: {SP_PROD}
    permissions_add:
      - {{group_name: ops, level: CAN_MANAGE_RUN}}
{extra}"""


def source_job(p: Project, name: str, acl: list[dict]) -> int:
    w = p.test.client()
    job_id = int(w.api_client.do("POST", "/api/2.2/jobs/create", body={
        "name": name, "tags": {"PROD_MIGRATION": "true"},
        "tasks": [{"task_key": "t", "notebook_task": {"notebook_path": "/Workspace/dev/x"}}]})["job_id"])
    w.api_client.do("PUT", f"{PERMS}/{job_id}", body={"access_control_list": acl})
    return job_id


def direct(emu, job_id: int) -> dict[str, str]:
    """label -> level of a job's direct grants, read over HTTP."""
    acl = emu.client().api_client.do("GET", f"{PERMS}/{job_id}")["access_control_list"]
    out = {}
    for e in acl:
        kind = next(k for k in ("user_name", "group_name", "service_principal_name") if k in e)
        for perm in e["all_permissions"]:
            if not perm["inherited"]:
                out[f"{kind}:{e[kind]}"] = perm["permission_level"]
    return out


def prod_id(p: Project, key: str) -> int:
    return next(j for j, job in p.prod.workspace.jobs.jobs.items()
                if job["settings"].get("tags", {}).get("bricksync-key") == key)


def writes(emu) -> dict[str, int]:
    return {k: v for k, v in emu.faults.counts().items() if not k.startswith("GET")}


@pytest.fixture
def perms(tmp_path: Path, test_ws, prod_ws, monkeypatch: pytest.MonkeyPatch) -> Project:
    p = make_project(tmp_path, test_ws, prod_ws, monkeypatch, config(prod_ws.url))
    test_ws.workspace.add_principals(users=["alice@example.com", "bob@example.com"], groups=["data-eng"],
                                     service_principals=[SP_TEST])
    prod_ws.workspace.add_principals(users=["alice.prod@example.com", "bob@example.com", "carol@example.com"],
                                     groups=["data-eng-prod", "ops"], service_principals=[SP_PROD])
    source_job(p, "Perm job", [
        {"user_name": "alice@example.com", "permission_level": "IS_OWNER"},
        {"group_name": "data-eng", "permission_level": "CAN_VIEW"},
        {"user_name": "bob@example.com", "permission_level": "CAN_MANAGE_RUN"},
        {"service_principal_name": SP_TEST, "permission_level": "CAN_MANAGE"},
        {"user_name": "bricksync@example.com", "permission_level": "CAN_MANAGE"}])
    res = p.run("export", "--branch", "main")
    assert res.code == 0, res.output
    return p


def test_round_trip_source_acl_to_state_to_prod_with_mapped_principals(perms: Project) -> None:
    p = perms
    text = p.state_files["perm-job.yml"].decode()
    # direct entries only (no inherited admins), sorted users, groups, service principals
    assert text.split("permissions:\n", 1)[1].split("job:\n", 1)[0] == (
        "- user_name: alice@example.com\n  level: IS_OWNER\n"
        "- user_name: bob@example.com\n  level: CAN_MANAGE_RUN\n"
        "- user_name: bricksync@example.com\n  level: CAN_MANAGE\n"
        "- group_name: data-eng\n  level: CAN_VIEW\n"
        f"- service_principal_name: {SP_TEST}\n  level: CAN_MANAGE\n")
    assert "admins" not in text
    res = p.run("plan", "--target", "prod")
    assert res.code == 0 and "1 to create" in res.output, res.output
    res = p.run("apply", "--target", "prod", "--yes")
    assert res.code == 0, res.output
    assert direct(p.prod, prod_id(p, "perm-job")) == {
        "user_name:alice.prod@example.com": "IS_OWNER", "user_name:bob@example.com": "CAN_MANAGE_RUN",
        "user_name:bricksync@example.com": "CAN_MANAGE", "group_name:data-eng-prod": "CAN_VIEW",
        "group_name:ops": "CAN_MANAGE_RUN", f"service_principal_name:{SP_PROD}": "CAN_MANAGE"}
    # The second plan is a no-op and reads no ACL: the index vouches for it.
    p.prod.faults.reset_log()
    res = p.run("plan", "--target", "prod", "--detailed-exitcode")
    assert res.code == 0 and "0 to update" in res.output and "1 unchanged" in res.output, res.output
    assert not any(k.startswith(f"GET {PERMS}/") for k in p.prod.faults.counts())
    # ... and reading every ACL agrees.
    res = p.run("plan", "--target", "prod", "--detailed-exitcode", "--refresh-permissions")
    assert res.code == 0, res.output


def test_permissions_only_change_is_an_update_with_only_permission_calls(perms: Project) -> None:
    p = perms
    assert p.run("apply", "--target", "prod", "--yes").code == 0
    path = p.root / "state" / "jobs" / "perm-job.yml"
    path.write_text(path.read_text().replace("level: CAN_MANAGE_RUN", "level: CAN_VIEW"))
    p.prod.faults.reset_log()
    res = p.run("plan", "--target", "prod", "--json", "plan.json")
    assert "~ permissions[user:bob@example.com]: CAN_MANAGE_RUN → CAN_VIEW" in res.output, res.output
    job = json.loads((p.root / "plan.json").read_text())["jobs"][0]
    assert job["action"] == "update"
    assert job["changes"] == [{"path": "permissions[user:bob@example.com]", "op": "~", "before": "CAN_MANAGE_RUN",
                               "after": "CAN_VIEW"}]
    p.prod.faults.reset_log()
    assert p.run("apply", "--target", "prod", "--yes").code == 0
    job_writes = {k: v for k, v in writes(p.prod).items() if "/jobs/" in k}
    assert job_writes == {f"PUT {PERMS}/{prod_id(p, 'perm-job')}": 1}
    assert direct(p.prod, prod_id(p, "perm-job"))["user_name:bob@example.com"] == "CAN_VIEW"


def test_hand_grant_is_drift_manage_revokes_additive_keeps(perms: Project) -> None:
    p = perms
    assert p.run("apply", "--target", "prod", "--yes").code == 0
    jid = prod_id(p, "perm-job")
    p.prod.client().api_client.do("PATCH", f"{PERMS}/{jid}", body={"access_control_list": [
        {"user_name": "carol@example.com", "permission_level": "CAN_MANAGE"}]})
    res = p.run("drift", "--target", "prod", "--no-source", "--json", "drift.json", "--markdown", "drift.md")
    assert "- permissions[user:carol@example.com]: CAN_MANAGE" in res.output, res.output
    report = json.loads((p.root / "drift.json").read_text())
    assert report["summary"]["update"] == 1
    assert "permissions[user:carol@example.com]" in (p.root / "drift.md").read_text()
    res = p.run("apply", "--target", "prod", "--yes", "--refresh-permissions")
    assert res.code == 0, res.output
    assert "user_name:carol@example.com" not in direct(p.prod, jid)
    assert p.run("drift", "--target", "prod", "--no-source", "--fail-on-drift").code == 0
    # additive: the same grant is kept (and is not drift: additive never revokes)
    p.write_config(config(p.prod.url, mode="additive"))
    p.prod.client().api_client.do("PATCH", f"{PERMS}/{jid}", body={"access_control_list": [
        {"user_name": "carol@example.com", "permission_level": "CAN_MANAGE"}]})
    res = p.run("drift", "--target", "prod", "--no-source", "--fail-on-drift")
    assert res.code == 0, res.output
    res = p.run("apply", "--target", "prod", "--yes", "--refresh-permissions")
    assert res.code == 0, res.output
    assert direct(p.prod, jid)["user_name:carol@example.com"] == "CAN_MANAGE"


def test_additive_adds_what_is_missing_with_patch(perms: Project) -> None:
    p = perms
    assert p.run("apply", "--target", "prod", "--yes").code == 0
    jid = prod_id(p, "perm-job")
    p.prod.client().api_client.do("PUT", f"{PERMS}/{jid}", body={"access_control_list": [
        {"user_name": "alice.prod@example.com", "permission_level": "IS_OWNER"},
        {"user_name": "bricksync@example.com", "permission_level": "CAN_MANAGE"}]})
    p.write_config(config(p.prod.url, mode="additive"))
    p.prod.faults.reset_log()
    res = p.run("apply", "--target", "prod", "--yes", "--refresh-permissions")
    assert res.code == 0 and "+ permissions[group:ops]: CAN_MANAGE_RUN" in res.output, res.output
    assert f"PATCH {PERMS}/{jid}" in writes(p.prod)
    assert direct(p.prod, jid)["group_name:data-eng-prod"] == "CAN_VIEW"


def test_user_that_is_a_service_principal_is_matched_as_the_service_returns_it(perms: Project) -> None:
    p = perms
    path = p.root / "state" / "jobs" / "perm-job.yml"
    path.write_text(path.read_text().replace(f"service_principal_name: {SP_TEST}", f"user_name: {SP_TEST}"))
    assert p.run("apply", "--target", "prod", "--yes").code == 0
    assert direct(p.prod, prod_id(p, "perm-job"))[f"service_principal_name:{SP_PROD}"] == "CAN_MANAGE"
    res = p.run("plan", "--target", "prod", "--detailed-exitcode", "--refresh-permissions")
    assert res.code == 0, res.output


@pytest.mark.parametrize("edit, message", [
    (("level: CAN_MANAGE_RUN", "level: IS_OWNER"), "exactly one IS_OWNER is required"),
    (("- user_name: alice@example.com\n  level: IS_OWNER\n", ""), "exactly one IS_OWNER is required, found 0"),
    (("level: CAN_VIEW", "level: IS_OWNER"), "group:data-eng-prod cannot be IS_OWNER"),
])
def test_owner_rules_refused_before_any_write(perms: Project, edit: tuple[str, str], message: str) -> None:
    p = perms
    path = p.root / "state" / "jobs" / "perm-job.yml"
    path.write_text(path.read_text().replace(*edit))
    p.prod.faults.reset_log()
    for cmd in (("plan",), ("apply", "--yes")):
        res = p.run(*cmd, "--target", "prod")
        assert res.code == 1 and message in res.output and "perm-job.yml" in res.output, res.output
    assert not p.prod.workspace.jobs.jobs
    assert not [k for k in writes(p.prod) if "/jobs/" in k]


def test_lockout_refused_before_any_write(perms: Project) -> None:
    p = perms
    p.prod.workspace.add_principals(admin=False)  # the applying identity is no workspace admin
    path = p.root / "state" / "jobs" / "perm-job.yml"
    path.write_text(path.read_text().replace("- user_name: bricksync@example.com\n  level: CAN_MANAGE\n", ""))
    p.prod.faults.reset_log()
    res = p.run("apply", "--target", "prod", "--yes")
    assert res.code == 1 and "bricksync@example.com is not a workspace admin and would lose CAN_MANAGE" in res.output
    assert not p.prod.workspace.jobs.jobs and not [k for k in writes(p.prod) if "/jobs/" in k]
    # granted through permissions_add: no lockout, but a non-admin cannot hand the job to alice
    p.write_config(config(p.prod.url, extra="      - {user_name: bricksync@example.com, level: CAN_MANAGE}\n"))
    res = p.run("apply", "--target", "prod", "--yes")
    assert res.code == 1 and "owner change from user:bricksync@example.com to user:alice.prod@example.com would be " \
        "refused" in res.output, res.output
    assert not p.prod.workspace.jobs.jobs
    # the owner mapped to the applying identity: it applies
    p.write_config(config(p.prod.url, extra="      - {user_name: bricksync@example.com, level: CAN_MANAGE}\n")
                   .replace("alice@example.com: alice.prod@example.com", "alice@example.com: bricksync@example.com"))
    res = p.run("apply", "--target", "prod", "--yes")
    assert res.code == 0, res.output
    assert direct(p.prod, prod_id(p, "perm-job"))["user_name:bricksync@example.com"] == "IS_OWNER"


def test_emulator_refuses_what_the_service_refuses(perms: Project) -> None:
    w = perms.prod.client()
    jid = int(w.api_client.do("POST", "/api/2.2/jobs/create", body={"name": "x"})["job_id"])
    assert direct(perms.prod, jid) == {"user_name:bricksync@example.com": "IS_OWNER"}  # the creator owns it
    acl = w.api_client.do("GET", f"{PERMS}/{jid}")["access_control_list"]
    assert {"group_name": "admins", "all_permissions": [
        {"permission_level": "CAN_MANAGE", "inherited": True, "inherited_from_object": ["/jobs/"]}]} in acl
    from databricks.sdk.errors import BadRequest

    for body, text in (
        ([{"user_name": "bob@example.com", "permission_level": "CAN_VIEW"}], "exactly one owner"),
        ([{"group_name": "ops", "permission_level": "IS_OWNER"}], "cannot be the owner"),
        ([{"user_name": "nobody@example.com", "permission_level": "IS_OWNER"}], "does not exist"),
    ):
        with pytest.raises(BadRequest, match=text):
            w.api_client.do("PUT", f"{PERMS}/{jid}", body={"access_control_list": body})
    w.api_client.do("PUT", f"{PERMS}/{jid}", body={"access_control_list": [
        {"user_name": SP_PROD, "permission_level": "IS_OWNER"}]})  # a user name that is a service principal
    assert direct(perms.prod, jid) == {f"service_principal_name:{SP_PROD}": "IS_OWNER"}
    from databricks.sdk.errors import PermissionDenied

    perms.prod.workspace.add_principals(admin=False)  # no admin, no manage: nothing may be changed
    with pytest.raises(PermissionDenied):
        w.api_client.do("PATCH", f"{PERMS}/{jid}", body={"access_control_list": [
            {"user_name": "bob@example.com", "permission_level": "CAN_VIEW"}]})


@pytest.mark.parametrize("after", [False, True], ids=["refused", "response-lost"])
def test_failed_permission_call_is_reported_and_rerun_converges(perms: Project, after: bool) -> None:
    p = perms
    source_job(p, "Second job", [{"user_name": "alice@example.com", "permission_level": "IS_OWNER"},
                                 {"user_name": "bricksync@example.com", "permission_level": "CAN_MANAGE"}])
    assert p.run("export", "--branch", "main").code == 0
    assert p.run("apply", "--target", "prod", "--yes").code == 0
    path = p.root / "state" / "jobs" / "perm-job.yml"
    path.write_text(path.read_text().replace("level: CAN_MANAGE_RUN", "level: CAN_VIEW"))
    path = p.root / "state" / "jobs" / "second-job.yml"
    path.write_text(path.read_text().replace("name: Second job", "name: Second job v2"))
    jid = prod_id(p, "perm-job")
    # 4 faults outlast bricksync's retries; `after`: the PUT happened, its responses were lost
    p.prod.faults.add(FaultRule("PUT", f"{PERMS}/{jid}", 500, count=4, after=after))
    res = p.run("apply", "--target", "prod", "--yes")
    assert res.code == 1 and "failed" in res.output and "permissions not set" in res.output, res.output
    assert p.prod.workspace.jobs.jobs[prod_id(p, "second-job")]["settings"]["name"] == "Second job v2"
    assert direct(p.prod, jid)["user_name:bob@example.com"] == ("CAN_VIEW" if after else "CAN_MANAGE_RUN")
    # The failed job is not in the index: the re-run reads its ACL and converges.
    res = p.run("apply", "--target", "prod", "--yes")
    assert res.code == 0 and ("0 to update" if after else "1 to update") in res.output, res.output
    assert direct(p.prod, jid)["user_name:bob@example.com"] == "CAN_VIEW"
    res = p.run("plan", "--target", "prod", "--detailed-exitcode", "--refresh-permissions")
    assert res.code == 0, res.output
    p.prod.faults.reset_log()  # the re-run recorded the job in the index (even with nothing to apply)
    assert p.run("plan", "--target", "prod", "--detailed-exitcode").code == 0
    assert not any(k.startswith(f"GET {PERMS}/") for k in p.prod.faults.counts())


def test_ignore_is_the_default_and_reads_nothing(tmp_path: Path, test_ws, prod_ws,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    p = make_project(tmp_path, test_ws, prod_ws, monkeypatch, config_yaml(target_host=prod_ws.url))
    source_job(p, "Plain", [{"user_name": "bricksync@example.com", "permission_level": "IS_OWNER"}])
    assert p.run("export", "--branch", "main").code == 0
    assert p.run("apply", "--target", "prod", "--yes").code == 0
    # No permission call (SCIM Me is read once: who bricksync is decides which jobs are its own, issue 25)
    assert not any("permissions/jobs" in k for k in prod_ws.faults.counts())
    assert sum(v for k, v in prod_ws.faults.counts().items() if "scim" in k) == 1


def test_bad_permissions_config_is_named(tmp_path: Path, test_ws, prod_ws, monkeypatch: pytest.MonkeyPatch) -> None:
    p = make_project(tmp_path, test_ws, prod_ws, monkeypatch, config(prod_ws.url, mode="manged",
                     extra="      - {group_name: ops, level: CAN_RUN}\n"))
    res = p.run("validate")
    assert res.code == 1
    assert "targets.prod.permissions" in res.output and "did you mean 'manage'" in res.output
    assert "targets.prod.permissions_add[1].level" in res.output and "CAN_RUN" in res.output


def test_bad_permissions_in_a_state_file_are_named(perms: Project) -> None:
    p = perms
    path = p.root / "state" / "jobs" / "perm-job.yml"
    path.write_text(path.read_text().replace("level: CAN_VIEW", "level: CAN_READ"))
    res = p.run("validate")
    assert res.code == 1 and "perm-job.yml" in res.output and "permissions[3].level" in res.output, res.output
    assert "CAN_READ" in res.output


def test_saved_plan_carries_the_permission_calls(perms: Project) -> None:
    p = perms
    assert p.run("apply", "--target", "prod", "--yes").code == 0
    path = p.root / "state" / "jobs" / "perm-job.yml"
    path.write_text(path.read_text().replace("level: CAN_MANAGE_RUN", "level: CAN_VIEW"))
    assert p.run("plan", "--target", "prod", "--out", "plan.json").code == 0
    res = p.run("apply", "--target", "prod", "plan.json")
    assert res.code == 0 and "1 permission(s) changed (PUT)" in res.output, res.output
    assert direct(p.prod, prod_id(p, "perm-job"))["user_name:bob@example.com"] == "CAN_VIEW"
    assert p.run("plan", "--target", "prod", "--detailed-exitcode").code == 0


def test_emulator_non_admin_owner_transfer_and_lockout_are_refused(perms: Project) -> None:
    from databricks.sdk.errors import BadRequest, PermissionDenied

    w = perms.prod.client()
    jid = int(w.api_client.do("POST", "/api/2.2/jobs/create", body={"name": "x"})["job_id"])
    perms.prod.workspace.add_principals(admin=False)
    with pytest.raises(PermissionDenied, match="Only workspace admins can change the owner"):
        w.api_client.do("PUT", f"{PERMS}/{jid}", body={"access_control_list": [
            {"user_name": "bob@example.com", "permission_level": "IS_OWNER"},
            {"user_name": "bricksync@example.com", "permission_level": "CAN_MANAGE"}]})
    w.api_client.do("PATCH", f"{PERMS}/{jid}", body={"access_control_list": [
        {"group_name": "ops", "permission_level": "CAN_VIEW"}]})
    assert direct(perms.prod, jid) == {"user_name:bricksync@example.com": "IS_OWNER", "group_name:ops": "CAN_VIEW"}
    perms.prod.workspace.add_principals(admin=True)
    w.api_client.do("PUT", f"{PERMS}/{jid}", body={"access_control_list": [
        {"user_name": "bob@example.com", "permission_level": "IS_OWNER"}]})  # an admin may; admins keep CAN_MANAGE
    perms.prod.workspace.directory.groups["ops"].add("bricksync@example.com")
    perms.prod.workspace.add_principals(admin=False)
    with pytest.raises(PermissionDenied):  # no longer manages it at all
        w.api_client.do("PATCH", f"{PERMS}/{jid}", body={"access_control_list": [
            {"group_name": "ops", "permission_level": "CAN_VIEW"}]})
    perms.prod.workspace.add_principals(admin=True)
    w.api_client.do("PUT", f"{PERMS}/{jid}", body={"access_control_list": [
        {"user_name": "bob@example.com", "permission_level": "IS_OWNER"},
        {"group_name": "ops", "permission_level": "CAN_MANAGE"}]})
    perms.prod.workspace.add_principals(admin=False)  # manages through its group ops
    with pytest.raises(BadRequest, match="not possible to decrease administrative permissions"):
        w.api_client.do("PUT", f"{PERMS}/{jid}", body={"access_control_list": [
            {"user_name": "bob@example.com", "permission_level": "IS_OWNER"},
            {"group_name": "ops", "permission_level": "CAN_VIEW"}]})


def with_source_permissions(p: Project, value: str) -> None:
    text = (p.root / "config" / "bricksync.yml").read_text().replace(
        "  acknowledge: true\n", f"  acknowledge: true\n  permissions: {value}\n", 1)
    p.write_config(text)
    p.repo.index.add(["config/bricksync.yml"])
    p.repo.index.commit(f"config: source.permissions {value}")


def test_source_permissions_keep_reads_no_acl_and_keeps_what_each_file_has(perms: Project) -> None:
    """source.permissions: keep (issue 15, export at the page floor): no permission call at all;
    a state file keeps its `permissions:` (never written with less), a new file gets none."""
    p = perms
    before = p.state_files["perm-job.yml"].decode()
    assert "permissions:\n- user_name: alice@example.com" in before
    job_id = next(j for j, job in p.test.workspace.jobs.jobs.items() if job["settings"]["name"] == "Perm job")
    w = p.test.client()
    w.api_client.do("PUT", f"{PERMS}/{job_id}", body={"access_control_list": [  # would drop bob if read
        {"user_name": "alice@example.com", "permission_level": "IS_OWNER"}]})
    w.api_client.do("POST", "/api/2.2/jobs/update", body={"job_id": job_id, "new_settings": {
        "tags": {"PROD_MIGRATION": "true"}, "max_concurrent_runs": 2}})
    source_job(p, "New job", [{"user_name": "alice@example.com", "permission_level": "IS_OWNER"}])
    with_source_permissions(p, "keep")
    p.test.faults.reset_log()
    res = p.run("export", "--branch", "main")
    assert res.code == 0, res.output
    assert not [c for c in p.test.faults.counts() if "/permissions/" in c]
    after = p.state_files["perm-job.yml"].decode()
    assert "max_concurrent_runs: 2" in after  # exported ...
    assert after.split("job:\n", 1)[0] == before.split("job:\n", 1)[0]  # ... its grants as the file had them
    assert "permissions:" not in p.state_files["new-job.yml"].decode()


@pytest.mark.parametrize("value", ["Keep", "none", "reed"])
def test_source_permissions_typo_is_an_error_naming_the_field(perms: Project, value: str) -> None:
    p = perms
    with_source_permissions(p, value)
    res = p.run("export", "--branch", "main")
    if value == "Keep":  # case does not matter, as for targets.<t>.permissions
        assert res.code == 0, res.output
        return
    assert res.code == 1 and "source.permissions" in res.output and "read, keep" in res.output, res.output


@pytest.mark.parametrize("workers", ["0", "2"])
def test_source_permissions_keep_keeps_them_for_a_claimed_file_and_a_renamed_job(
        perms: Project, monkeypatch: pytest.MonkeyPatch, workers: str) -> None:
    """keep mode, rendered here or early in worker processes: a file `import` wrote (no source
    job) claimed by the source job of its name keeps its grants; a job renamed in the source
    keeps its key and its grants."""
    import bricksync.commands.export_read as export_read

    p = perms
    monkeypatch.setattr(export_read, "EARLY_BATCH", 1)
    monkeypatch.setenv("BRICKSYNC_STATE_WORKERS", workers)
    perm = p.state_files["perm-job.yml"].decode()
    grants = "permissions:" + perm.split("permissions:", 1)[1].split("job:\n", 1)[0]
    adopted = p.root / "state" / "jobs" / "adopted-job.yml"
    adopted.write_text(f"bricksync:\n  key: adopted-job\n{grants}job:\n  name: Adopted job\n  tasks:\n"
                       "  - task_key: t\n    notebook_task:\n      notebook_path: /Workspace/dev/x\n")
    p.repo.index.add([str(adopted)])
    p.repo.index.commit("imported")
    new_id = source_job(p, "Adopted job", [{"user_name": "alice@example.com", "permission_level": "IS_OWNER"}])
    perm_id = next(j for j, job in p.test.workspace.jobs.jobs.items() if job["settings"]["name"] == "Perm job")
    p.test.client().api_client.do("POST", "/api/2.2/jobs/update", body={"job_id": perm_id, "new_settings": {
        "name": "Perm job renamed", "tags": {"PROD_MIGRATION": "true"}}})
    with_source_permissions(p, "keep")
    res = p.run("export", "--branch", "main")
    assert res.code == 0, res.output
    files = p.state_files
    assert set(files) == {"perm-job.yml", "adopted-job.yml"}
    assert f"source_job_id: {new_id}\n" in files["adopted-job.yml"].decode() and grants in files["adopted-job.yml"].decode()
    assert "name: Perm job renamed" in files["perm-job.yml"].decode() and grants in files["perm-job.yml"].decode()


@pytest.mark.parametrize("mode", ["keep", "read"])
def test_export_never_writes_a_second_file_beside_a_state_file_renamed_by_hand(perms: Project, mode: str) -> None:
    """The job's state file renamed by hand (its key unchanged inside): export wrote <key>.yml
    beside it (two files, one key: `validate` fails), in keep mode without the grants the renamed
    file holds. It is refused, naming the other file."""
    p = perms
    jobs = p.root / "state" / "jobs"
    p.repo.git.mv(str(jobs / "perm-job.yml"), str(jobs / "perm-job-old.yml"))
    p.repo.index.commit("renamed by hand")
    perm_id = next(j for j, job in p.test.workspace.jobs.jobs.items() if job["settings"]["name"] == "Perm job")
    p.test.client().api_client.do("POST", "/api/2.2/jobs/update", body={"job_id": perm_id, "new_settings": {
        "tags": {"PROD_MIGRATION": "true"}, "max_concurrent_runs": 3}})
    with_source_permissions(p, mode)
    res = p.run("export", "--branch", "main")
    assert res.code == 1 and "key 'perm-job' is also used by state/jobs/perm-job-old.yml" in res.output, res.output
    assert set(p.state_files) == {"perm-job-old.yml"}  # nothing written beside it (was: perm-job.yml, no grants)
    assert p.repo.git.status("--porcelain") == ""


def test_source_permissions_keep_never_drops_grants_the_export_branch_has(perms: Project) -> None:
    """keep mode takes each file's `permissions:` from state/ as read; export then switches to its
    branch. A grant added on that branch (reviewed in its PR) must not be overwritten with less."""
    p = perms
    repo = p.repo
    with_source_permissions(p, "keep")
    repo.git.checkout("-b", "exp")
    path = p.root / "state" / "jobs" / "perm-job.yml"
    text = path.read_text()
    path.write_text(text.replace("permissions:\n", "permissions:\n- group_name: ops\n  level: CAN_VIEW\n", 1))
    repo.index.add([str(path)])
    repo.index.commit("grant ops on the export branch")
    repo.git.checkout("main")
    perm_id = next(j for j, job in p.test.workspace.jobs.jobs.items() if job["settings"]["name"] == "Perm job")
    p.test.client().api_client.do("POST", "/api/2.2/jobs/update", body={"job_id": perm_id, "new_settings": {
        "tags": {"PROD_MIGRATION": "true"}, "max_concurrent_runs": 4}})
    before = repo.commit("exp").hexsha
    res = p.run("export", "--branch", "exp")
    assert res.code == 1 and "branch 'exp' has other permissions" in res.output, res.output
    assert "state/jobs/perm-job.yml" in res.output and "'permissions'" in res.output
    assert repo.commit("exp").hexsha == before and "group_name: ops" in path.read_text()
    assert repo.git.status("--porcelain") == ""
    res = p.run("export", "--branch", "exp")  # from the export branch: its grants are kept
    assert res.code == 0, res.output
    assert "group_name: ops" in repo.git.show("exp:state/jobs/perm-job.yml")
    assert "max_concurrent_runs: 4" in repo.git.show("exp:state/jobs/perm-job.yml")
