"""Who owns a job (issue 25 points 1-2): a bricksync-key tag anyone can write is a claim, not
ownership; the records bricksync trusts live where only its identity may write. Attacks run as
another prod user through the real SDK over HTTP against the emulator."""

from __future__ import annotations

import base64
import json

import pytest
from databricks.sdk.errors import PermissionDenied

from bricksync.emulator.seed import SP_PROD, seed_source, seed_target

from .conftest import Project
from .filesetup import files_project_fixture  # noqa: F401  (the files_project fixture)
from .test_permissions import PERMS, direct, perms, prod_id  # noqa: F401  (perms: the fixture)

MALLORY, MALLORY_TOKEN = "mallory@example.com", "dapi-mallory-0001"
HOME = "/Users/bricksync@example.com/.bricksync/prod"


def attacker(p: Project):
    """A real SDK client acting as another (non-admin) prod user."""
    p.prod.users[MALLORY_TOKEN] = MALLORY
    p.prod.workspace.add_user(MALLORY)
    return p.prod.client(token=MALLORY_TOKEN)


def forged_job(p: Project, key: str, name: str = "Mallory's job") -> int:
    w = attacker(p)
    job_id = int(w.api_client.do("POST", "/api/2.2/jobs/create", body={
        "name": name, "tags": {"bricksync-key": key, "managed-by": "bricksync"},
        "tasks": [{"task_key": "t", "notebook_task": {"notebook_path": "/Workspace/prod/x"}}]})["job_id"])
    # Mallory owns it (the creator is IS_OWNER) and says so once more
    w.api_client.do("PUT", f"{PERMS}/{job_id}", body={"access_control_list": [
        {"user_name": MALLORY, "permission_level": "IS_OWNER"}]})
    return job_id


@pytest.fixture
def exported(project: Project) -> Project:
    seed_source(project.test.client())
    seed_target(project.prod.client())
    project.prod.workspace.add_principals(service_principals=[SP_PROD])
    assert project.run("export", "--branch", "main").code == 0
    return project


def test_a_forged_key_on_a_job_about_to_be_created_is_a_claim_never_updated(exported: Project) -> None:
    p = exported
    fake = forged_job(p, "ml-training-git")  # the job state gives a privileged run_as
    res = p.run("plan", "--target", "prod")
    assert res.code == 0, res.output
    assert "5 to create" in res.output and "untrusted claim" in res.output and str(fake) in res.output, res.output
    res = p.run("apply", "--target", "prod", "--yes")
    assert res.code == 0, res.output
    job = p.prod.workspace.jobs.jobs[fake]
    assert job["settings"]["name"] == "Mallory's job" and job["run_as_user_name"] == MALLORY  # untouched
    assert direct(p.prod, fake) == {f"user_name:{MALLORY}": "IS_OWNER"}
    real = [j for j, v in p.prod.workspace.jobs.jobs.items() if j != fake
            and v["settings"].get("tags", {}).get("bricksync-key") == "ml-training-git"]
    assert len(real) == 1 and p.prod.workspace.jobs.jobs[real[0]]["run_as_user_name"] == SP_PROD
    # The claim never blocks: the next plan is clean (exit 0) and still names it.
    res = p.run("plan", "--target", "prod", "--detailed-exitcode")
    assert res.code == 0 and "untrusted claim" in res.output, res.output


def test_a_forged_existing_key_blocks_nothing_and_prune_never_deletes_a_claim(exported: Project) -> None:
    p = exported
    assert p.run("apply", "--target", "prod", "--yes").code == 0
    fake = forged_job(p, "daily-sales-etl")
    orphan_claim = forged_job(p, "no-such-key", name="Claims a key no file has")
    res = p.run("plan", "--target", "prod", "--detailed-exitcode", "--json", "plan.json")
    assert res.code == 0, res.output  # no conflict, nothing to do
    report = json.loads((p.root / "plan.json").read_text())
    assert report["summary"]["conflict"] == 0 and report["summary"]["orphan"] == 0
    assert any(str(fake) in w and "untrusted claim" in w for w in report["warnings"])
    edit(p, "daily-sales-etl")
    res = p.run("apply", "--target", "prod", "--yes", "--prune")
    assert res.code == 0 and "1 to update" in res.output, res.output
    assert p.prod.workspace.jobs.jobs[fake]["settings"]["name"] == "Mallory's job"
    assert orphan_claim in p.prod.workspace.jobs.jobs  # a claim is never an orphan to delete


def test_an_adopted_job_is_recorded_in_the_trusted_store_and_stays_managed(exported: Project) -> None:
    p = exported
    w = attacker(p)  # someone else made the job bricksync adopts: its creator is not bricksync
    w.api_client.do("POST", "/api/2.2/jobs/create", body={
        "name": "Daily sales ETL", "tasks": [{"task_key": "t", "notebook_task": {"notebook_path": "/x"}}]})
    res = p.run("apply", "--target", "prod", "--yes", "--adopt")
    assert res.code == 0 and "adopt" in res.output, res.output
    record = json.loads(base64.b64decode(p.prod.workspace.objects[f"{HOME}/owned.json"]["content"]))
    adopted = prod_id_by_key(p, "daily-sales-etl")
    assert record["data"]["jobs"]["daily-sales-etl"] == adopted
    res = p.run("plan", "--target", "prod", "--detailed-exitcode")
    assert res.code == 0 and "untrusted" not in res.output, res.output


def edit(p: Project, key: str) -> None:
    """A reviewed change to one state file: max_concurrent_runs 4."""
    path = p.root / "state" / "jobs" / f"{key}.yml"
    text = path.read_text()
    assert "max_concurrent_runs" not in text and "\njob:\n" in text, text[:400]
    path.write_text(text.replace("\njob:\n", "\njob:\n  max_concurrent_runs: 4\n", 1))


def prod_id_by_key(p: Project, key: str) -> int:
    return next(j for j, v in p.prod.workspace.jobs.jobs.items() if v["settings"].get("tags", {}).get(
        "bricksync-key") == key)


def test_a_foreign_owner_never_gets_a_privileged_run_as(exported: Project) -> None:
    p = exported
    assert p.run("apply", "--target", "prod", "--yes").code == 0
    ml, etl = prod_id_by_key(p, "ml-training-git"), prod_id_by_key(p, "daily-sales-etl")
    attacker(p)
    # an admin hands the job to another user (bricksync keeps CAN_MANAGE)
    p.prod.client().api_client.do("PUT", f"{PERMS}/{ml}", body={"access_control_list": [
        {"user_name": MALLORY, "permission_level": "IS_OWNER"},
        {"user_name": "bricksync@example.com", "permission_level": "CAN_MANAGE"}]})
    for key in ("ml-training-git", "daily-sales-etl"):
        edit(p, key)
    res = p.run("plan", "--target", "prod")
    assert f"refused: job {ml} is owned by {MALLORY}" in res.output, res.output
    before = p.prod.workspace.jobs.jobs[ml]["settings"].get("max_concurrent_runs")
    res = p.run("apply", "--target", "prod", "--yes")
    assert res.code == 1 and "refused" in res.output, res.output
    assert p.prod.workspace.jobs.jobs[ml]["settings"].get("max_concurrent_runs") == before
    assert p.prod.workspace.jobs.jobs[etl]["settings"]["max_concurrent_runs"] == 4  # the others proceed


def test_a_forged_acl_index_hides_no_revocation(perms: Project) -> None:  # noqa: F811
    p = perms
    assert p.run("apply", "--target", "prod", "--yes").code == 0
    jid = prod_id(p, "perm-job")
    path = p.root / "state" / "jobs" / "perm-job.yml"
    path.write_text(path.read_text().replace("- user_name: bob@example.com\n  level: CAN_MANAGE_RUN\n", ""))
    # What the index would say once the revocation is applied: the digest the attacker needs.
    assert p.run("plan", "--target", "prod", "--out", "saved.json").code == 0
    saved = json.loads((p.root / "saved.json").read_text())
    want = next(a["acl_digest"] for a in saved["actions"] if a["key"] == "perm-job")
    w = attacker(p)
    forged = base64.b64encode(json.dumps({"version": 1, "jobs": {str(jid): want}}).encode()).decode()
    # the old place, any user's to write: ignored
    w.workspace.mkdirs("/Shared/.bricksync/permissions")
    w.api_client.do("POST", "/api/2.0/workspace/import", body={
        "path": "/Shared/.bricksync/permissions/prod.json", "format": "AUTO", "content": forged, "overwrite": True})
    # the trusted place: the workspace refuses another user's write (and read)
    for name in ("permissions", "files", "owned"):
        with pytest.raises(PermissionDenied):
            w.api_client.do("POST", "/api/2.0/workspace/import", body={
                "path": f"{HOME}/{name}.json", "format": "AUTO", "content": forged, "overwrite": True})
    with pytest.raises(PermissionDenied):
        w.api_client.do("GET", "/api/2.0/workspace/export", query={"path": f"{HOME}/permissions.json"})
    res = p.run("plan", "--target", "prod", "--detailed-exitcode")
    assert res.code == 2 and "- permissions[user:bob@example.com]: CAN_MANAGE_RUN" in res.output, res.output
    assert p.run("apply", "--target", "prod", "--yes").code == 0
    assert "user_name:bob@example.com" not in direct(p.prod, jid)


def test_emulator_home_folders_follow_the_docs(project: Project) -> None:
    p = project
    w, admin = attacker(p), p.prod.client()
    w.workspace.mkdirs(f"/Users/{MALLORY}/mine")  # one's own home folder
    w.workspace.mkdirs("/Shared/anyone")  # /Shared: every user
    with pytest.raises(PermissionDenied):
        w.workspace.mkdirs("/Users/bricksync@example.com/.bricksync")
    admin.workspace.mkdirs(f"/Users/{MALLORY}/from-an-admin")  # admins manage every folder
    assert w.current_user.me().user_name == MALLORY


def test_drift_names_the_command_that_reverts_a_hand_made_grant(perms: Project) -> None:  # noqa: F811
    p = perms
    assert p.run("apply", "--target", "prod", "--yes").code == 0
    jid = prod_id(p, "perm-job")
    p.prod.client().api_client.do("PATCH", f"{PERMS}/{jid}", body={"access_control_list": [
        {"user_name": "carol@example.com", "permission_level": "CAN_MANAGE"}]})
    res = p.run("drift", "--target", "prod", "--no-source", "--markdown", "drift.md")
    assert "perm-job (permissions): accept `bricksync capture --target prod perm-job` · revert `bricksync apply " \
           "--target prod --refresh-permissions` or `bricksync drift --target prod --heal`" in res.output, res.output
    md = (p.root / "drift.md").read_text()
    assert "`bricksync apply --target prod --refresh-permissions`" in md and "`bricksync drift --target prod --heal`" in md
    # what the old hint said changes nothing; what the new one says revokes the grant
    assert p.run("apply", "--target", "prod", "--yes").code == 0
    assert "user_name:carol@example.com" in direct(p.prod, jid)
    assert p.run("apply", "--target", "prod", "--yes", "--refresh-permissions").code == 0
    assert "user_name:carol@example.com" not in direct(p.prod, jid)


def test_settle_hints_per_kind_of_drift() -> None:
    from bricksync.core.fileplan import FileAction
    from bricksync.core.plan import Action, Change, Plan
    from bricksync.reports.report import settle_hints

    plan = Plan("prod", "h", actions=[
        Action("a", "update", "A", job_id=1, settings={}, changes=[Change("max_concurrent_runs", 1, 2)]),
        Action("b", "update", "B", job_id=2, settings=None, changes=[Change("permissions[user:x]", "CAN_VIEW", None, "-")]),
        Action("c", "update", "C", job_id=3, settings={}, changes=[Change("name", "x", "y"),
                                                                   Change("permissions[user:x]", None, "CAN_VIEW", "+")]),
    ], files=[FileAction("/Workspace/prod/x", "update")])
    assert settle_hints(plan) == [
        ("a", "bricksync capture --target prod a", ["bricksync apply --target prod"]),
        ("b (permissions)", "bricksync capture --target prod b",
         ["bricksync apply --target prod --refresh-permissions", "bricksync drift --target prod --heal"]),
        ("c (settings and permissions)", "bricksync capture --target prod c",
         ["bricksync apply --target prod --refresh-permissions"]),
        ("/Workspace/prod/x (file)", "bricksync capture --target prod", ["bricksync apply --target prod"])]


def test_capture_never_takes_a_claimed_job_into_git(exported: Project) -> None:
    p = exported
    forged_job(p, "daily-sales-etl")  # nothing applied yet: the only job with the key is Mallory's
    before = p.state_files
    res = p.run("capture", "--target", "prod", "daily-sales-etl", "--dry-run")
    assert res.code == 1 and "no job in the target carries this key" in res.output, res.output
    assert p.state_files == before


def test_claimed_ids_record_first_then_creator() -> None:
    from bricksync.core.ownership import claimed_ids

    def job(job_id: int, key: str | None, creator: str) -> dict:
        return {"job_id": job_id, "creator_user_name": creator,
                "settings": {"tags": {"bricksync-key": key} if key else {}}}

    me = "Bricksync@example.com"
    live = [job(1, "a", "bricksync@example.com"),  # created by bricksync (case-insensitive), no record: its own
            job(2, "b", MALLORY),  # adopted: in the record
            job(3, "a", MALLORY),  # claims a key
            job(4, "b", "bricksync@example.com"),  # a second job bricksync made with key b: a conflict, not a claim
            job(5, None, MALLORY),  # untagged: not a claim, merely unmanaged
            job(6, "b", "bricksync@example.com")]  # recorded under key c, re-tagged b by hand: a claim
    assert claimed_ids(live, {"b": 2, "c": 6}, me) == {3, 6}
    assert claimed_ids(live, {"b": 99}, me) == {2, 3}  # the recorded job is gone: the creator decides
    assert claimed_ids(live, {}, None) == {1, 2, 3, 4, 6}  # identity unknown: only the record counts


def test_adopting_a_claim_still_refuses_a_privileged_run_as_and_saved_plans_ignore_claims(exported: Project) -> None:
    p = exported
    fake = forged_job(p, "ml-training-git")
    res = p.run("plan", "--target", "prod", "--adopt")
    assert f"refused: job {fake} is owned by {MALLORY}" in res.output, res.output
    assert p.run("plan", "--target", "prod", "--out", "saved.json").code == 0
    forged_job(p, "another-claim", name="Made after the plan")  # a claim is not a change of the target
    res = p.run("apply", "--target", "prod", "--yes", "saved.json")
    assert res.code == 0, res.output
    assert p.prod.workspace.jobs.jobs[fake]["settings"]["name"] == "Mallory's job"


def as_user(p: Project, token: str) -> None:
    """The prod profile signs in with another user's token."""
    p.databrickscfg.write_text(p.databrickscfg.read_text().replace(f"token = {p.prod.token}", f"token = {token}"))


def test_targets_identity_lets_another_identity_plan_and_refuses_its_apply(exported: Project) -> None:
    p = exported
    assert p.run("apply", "--target", "prod", "--yes").code == 0
    p.prod.users["dapi-reader"] = "reader@example.com"
    p.prod.workspace.add_user("reader@example.com")
    as_user(p, "dapi-reader")
    res = p.run("plan", "--target", "prod", "--detailed-exitcode")
    assert res.code == 2 and "untrusted claim" in res.output, res.output  # judged as the reader: none is its own
    text = (p.root / "config" / "bricksync.yml").read_text()
    host = "    host: " + p.prod.url
    p.write_config(text.replace(host, host + "\n    identity: bricksync@example.com", 1))
    assert "identity: bricksync@example.com" in (p.root / "config" / "bricksync.yml").read_text()
    res = p.run("plan", "--target", "prod", "--detailed-exitcode")
    assert res.code == 0 and "untrusted" not in res.output, res.output
    # its home folder is private (not shared with the reader here): the plan says so
    assert f"record of its jobs could not be read ({HOME}/owned.json: PermissionDenied)" in res.output, res.output
    edit(p, "daily-sales-etl")
    before = json.dumps(p.prod.workspace.jobs.jobs, sort_keys=True)
    res = p.run("apply", "--target", "prod", "--yes")
    assert res.code == 1 and "targets.prod.identity" in res.output and "reader@example.com" in res.output, res.output
    assert json.dumps(p.prod.workspace.jobs.jobs, sort_keys=True) == before


def test_new_owned_records_creates_adopts_and_forgets_deleted_jobs() -> None:
    from bricksync.core.ownership import new_owned
    from bricksync.core.plan import Action

    actions = [Action("new", "create", "N"), Action("kept", "no-op", "K", job_id=2), Action("upd", "update", "U", job_id=3),
               Action("adopted", "adopt", "A", job_id=4), Action("failed-adopt", "adopt", "F", job_id=5),
               Action("gone", "orphan", "G", job_id=6), Action("stays", "orphan", "S", job_id=7),
               Action("dup", "conflict", "D", job_ids=[8, 9])]
    done = {("new", "create"): 1, ("adopted", "adopt"): 4, ("gone", "delete"): 6}
    assert new_owned(actions, {"dup": 8, "stale": 99}, done) == {
        "new": 1, "kept": 2, "upd": 3, "adopted": 4, "stays": 7, "dup": 8}


def test_a_forged_files_index_in_the_old_place_hides_no_file_change(files_project: Project) -> None:
    from bricksync.core.files import content_hash

    from .filesetup import PY

    p = files_project
    assert p.run("export", "--branch", "export-1").code == 0
    assert p.run("apply", "--target", "prod", "--yes").code == 0
    new = PY + b"def util():\n    return 42\n"
    (p.root / "state" / "files" / "lib" / "util.py").write_bytes(new)
    w = attacker(p)  # vouches for git's new content before it is applied, where any user may write
    forged = {"version": 1, "files": {"/Workspace/prod/lib/util": {"sha": content_hash(new)}}}
    w.workspace.mkdirs("/Shared/.bricksync/files")
    w.api_client.do("POST", "/api/2.0/workspace/import", body={
        "path": "/Shared/.bricksync/files/prod.json", "format": "AUTO", "overwrite": True,
        "content": base64.b64encode(json.dumps(forged).encode()).decode()})
    res = p.run("plan", "--target", "prod", "--detailed-exitcode")
    assert res.code == 2 and "~ update /Workspace/prod/lib/util" in res.output, res.output


def test_a_lost_create_is_never_matched_to_a_claim_of_its_key(exported: Project) -> None:
    from bricksync.emulator import FaultRule

    p = exported
    fake = forged_job(p, "daily-sales-etl", name="Daily sales ETL")  # same key and name, made beforehand
    p.prod.faults.add(FaultRule("POST", "/api/2.2/jobs/create", 500, after=True))  # every response lost
    res = p.run("apply", "--target", "prod", "--yes")
    assert res.code == 0 and "response lost; found by key" in res.output, res.output
    record = json.loads(base64.b64decode(p.prod.workspace.objects[f"{HOME}/owned.json"]["content"]))
    real = record["data"]["jobs"]["daily-sales-etl"]
    assert real != fake and p.prod.workspace.jobs.jobs[real]["creator_user_name"] == "bricksync@example.com"
    assert p.prod.workspace.jobs.jobs[fake]["settings"]["tasks"][0]["task_key"] == "t"  # untouched


def test_manage_mode_takes_the_job_from_a_foreign_owner_before_setting_run_as(
        tmp_path, test_ws, prod_ws, monkeypatch) -> None:
    from bricksync.emulator import FaultRule
    from bricksync.emulator.seed import config_yaml

    from .conftest import make_project

    p = make_project(tmp_path, test_ws, prod_ws, monkeypatch, config_yaml(target_host=prod_ws.url)
                     + "    permissions: manage\n")
    seed_source(p.test.client())
    seed_target(p.prod.client())
    p.prod.workspace.add_principals(users=["carol@example.com"], service_principals=[SP_PROD])
    assert p.run("export", "--branch", "main").code == 0
    path = p.root / "state" / "jobs" / "ml-training-git.yml"
    text = path.read_text()
    assert "- user_name: bricksync@example.com\n  level: IS_OWNER\n" in text, text
    path.write_text(text.replace("- user_name: bricksync@example.com\n  level: IS_OWNER\n",
                                 "- user_name: bricksync@example.com\n  level: CAN_MANAGE\n"
                                 "- user_name: carol@example.com\n  level: IS_OWNER\n"))
    assert p.run("apply", "--target", "prod", "--yes").code == 0
    ml = prod_id_by_key(p, "ml-training-git")
    assert direct(p.prod, ml)["user_name:carol@example.com"] == "IS_OWNER"
    attacker(p)
    p.prod.client().api_client.do("PATCH", f"{PERMS}/{ml}", body={"access_control_list": [
        {"user_name": MALLORY, "permission_level": "IS_OWNER"}]})  # handed to someone else by hand
    edit(p, "ml-training-git")
    res = p.run("plan", "--target", "prod", "--refresh-permissions")
    assert f"is owned by {MALLORY}: its permissions (owner carol@example.com) are set before" in res.output, res.output
    p.prod.faults.add(FaultRule("POST", "/api/2.2/jobs/reset", 400, count=1))  # the settings call fails...
    assert p.run("apply", "--target", "prod", "--yes", "--refresh-permissions").code == 1
    assert direct(p.prod, ml)["user_name:carol@example.com"] == "IS_OWNER"  # ...after the owner changed
    assert p.prod.workspace.jobs.jobs[ml]["settings"].get("max_concurrent_runs") != 4
    assert p.run("apply", "--target", "prod", "--yes", "--refresh-permissions").code == 0
    assert p.prod.workspace.jobs.jobs[ml]["settings"]["max_concurrent_runs"] == 4


def test_settle_hint_of_a_bundle_only_difference_is_apply() -> None:
    from bricksync.core.plan import Action, Change, Plan
    from bricksync.core.traps import only_bundle_fields
    from bricksync.reports.report import settle_hints

    bundle = [Change("deployment", {"kind": "BUNDLE"}, None, "-"), Change("edit_mode", "UI_LOCKED", "EDITABLE")]
    plan = Plan("prod", "h", actions=[
        Action("a", "update", "A", job_id=1, settings={}, changes=bundle),
        Action("b", "update", "B", job_id=2, settings={}, changes=[Change("edit_mode", "UI_LOCKED", "EDITABLE")]),
        Action("c", "update", "C", job_id=3, settings={}, changes=[*bundle, Change("name", "x", "y")])])
    assert settle_hints(plan) == [
        ("a (deployment, edit_mode: fields state never holds)", None, ["bricksync apply --target prod"]),
        ("b", "bricksync capture --target prod b", ["bricksync apply --target prod"]),  # locked by hand: state holds it
        ("c", "bricksync capture --target prod c", ["bricksync apply --target prod"])]
    assert only_bundle_fields(["deployment.kind"]) and not only_bundle_fields([])


def test_import_says_what_a_claimed_job_is_and_what_takes_it(exported: Project) -> None:
    """A job that only carries a key is no job of bricksync's: import refuses it for what it is, and each
    way out it names works (apply --adopt into the state file with that key; the tag removed, import)."""
    p = exported
    fake = forged_job(p, "daily-sales-etl")  # nothing applied yet: no trusted job has the key
    res = p.run("import", "--target", "prod", "--job-id", str(fake))
    text = " ".join(res.output.split())
    assert res.code == 1 and "already managed" not in text, res.output
    assert (f"job {fake} carries bricksync-key=daily-sales-etl, but bricksync neither created nor adopted it (an "
            "untrusted claim): import takes only untagged jobs; to manage it as state/jobs/daily-sales-etl.yml, "
            "`bricksync apply --target prod --adopt` adopts it") in text, text
    assert p.run("apply", "--target", "prod", "--yes", "--adopt").code == 0
    res = p.run("import", "--target", "prod", "--job-id", str(fake))  # adopted: bricksync's own now
    assert res.code == 1 and "is already managed (key daily-sales-etl): use capture" in res.output, res.output
    again = forged_job(p, "daily-sales-etl", name="Second claim")
    res = p.run("import", "--target", "prod", "--job-id", str(again))
    assert res.code == 1 and "bricksync's own job with that key is another one" in " ".join(res.output.split())
    stray = forged_job(p, "no-such-key", name="Stray claim")
    res = p.run("import", "--target", "prod", "--job-id", str(stray))
    assert res.code == 1 and ("no state file has that key; to import it, remove its bricksync-key tag in 'prod' "
                              "and import it again") in " ".join(res.output.split()), res.output
    w = p.prod.client()
    w.api_client.do("POST", "/api/2.2/jobs/update", body={"job_id": stray, "new_settings": {"tags": {}}})
    res = p.run("import", "--target", "prod", "--job-id", str(stray))
    assert res.code == 0 and "stray-claim" in res.output, res.output
