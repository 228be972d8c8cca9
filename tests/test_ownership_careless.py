"""Who owns a job, tried as a careless user (issue 25 points 1-2, review round): a record bricksync
cannot read, a saved plan older than the record, target names that are not one path segment."""

from __future__ import annotations

import base64
import json

from .conftest import Project
from .test_ownership import HOME, attacker, exported, prod_id_by_key  # noqa: F401  (exported: the fixture)


def _adopted(p: Project) -> int:
    """daily-sales-etl adopted from a job someone else made (its creator is not bricksync)."""
    attacker(p).api_client.do("POST", "/api/2.2/jobs/create", body={
        "name": "Daily sales ETL", "tasks": [{"task_key": "t", "notebook_task": {"notebook_path": "/x"}}]})
    res = p.run("apply", "--target", "prod", "--yes", "--adopt")
    assert res.code == 0 and "adopt" in res.output, res.output
    return prod_id_by_key(p, "daily-sales-etl")


def _keyed(p: Project, key: str) -> list[int]:
    return [j for j, v in p.prod.workspace.jobs.jobs.items() if v["settings"].get("tags", {}).get("bricksync-key") == key]


def test_an_unreadable_record_stops_apply_before_it_duplicates_adopted_jobs(exported: Project) -> None:  # noqa: F811
    p = exported
    adopted = _adopted(p)
    # an admin's hand edit leaves the record broken: adopted jobs would look like claims
    p.prod.client().api_client.do("POST", "/api/2.0/workspace/import", body={
        "path": f"{HOME}/owned.json", "format": "AUTO", "overwrite": True,
        "content": base64.b64encode(b'{"version": 1, "data": {"jobs": ').decode()})
    before = json.dumps(p.prod.workspace.jobs.jobs, sort_keys=True)
    res = p.run("plan", "--target", "prod")
    assert res.code == 0 and "could not be read" in res.output, res.output  # plan: a warning
    res = p.run("apply", "--target", "prod", "--yes")
    assert res.code == 1 and f"{HOME}/owned.json" in res.output, res.output
    assert json.dumps(p.prod.workspace.jobs.jobs, sort_keys=True) == before  # nothing created twice
    assert _keyed(p, "daily-sales-etl") == [adopted]
    # and the broken record was not overwritten with a record that forgets the adopted job
    raw = base64.b64decode(p.prod.workspace.objects[f"{HOME}/owned.json"]["content"])
    assert raw == b'{"version": 1, "data": {"jobs": '


def test_a_saved_plan_older_than_the_record_is_stale(exported: Project) -> None:  # noqa: F811
    p = exported
    assert p.run("apply", "--target", "prod", "--yes").code == 0
    attacker(p).api_client.do("POST", "/api/2.2/jobs/create", body={
        "name": "Extra", "tasks": [{"task_key": "t", "notebook_task": {"notebook_path": "/x"}}]})
    edit_path = p.root / "state" / "jobs" / "daily-sales-etl.yml"
    edit_path.write_text(edit_path.read_text().replace("\njob:\n", "\njob:\n  max_concurrent_runs: 4\n", 1))
    assert p.run("plan", "--target", "prod", "--out", "saved.json").code == 0
    # meanwhile another apply changes the record (here: an admin's restore of an older copy)
    record = json.loads(base64.b64decode(p.prod.workspace.objects[f"{HOME}/owned.json"]["content"]))
    record["data"]["jobs"].pop("daily-sales-etl")
    p.prod.client().api_client.do("POST", "/api/2.0/workspace/import", body={
        "path": f"{HOME}/owned.json", "format": "AUTO", "overwrite": True,
        "content": base64.b64encode(json.dumps(record).encode()).decode()})
    res = p.run("apply", "--target", "prod", "--yes", "saved.json")
    assert res.code != 0 and "record of its jobs changed since this plan" in res.output, res.output


def test_a_target_name_is_one_path_segment() -> None:
    from pathlib import Path

    import pytest

    from bricksync.core.errors import BricksyncError
    from bricksync.edges.config import parse_config

    assert set(parse_config(b"targets:\n  prod-eu.2: {}\n  Prod_1: {}\n", Path("c.yml"), env={}).targets) == {
        "prod-eu.2", "Prod_1"}
    for bad in ("prod/eu", "../prod", "..", ".hidden", "a..b", "prod eu", "pr\u202eod"):
        with pytest.raises(BricksyncError) as err:
            parse_config(f"targets:\n  {json.dumps(bad)}: {{}}\n".encode(), Path("c.yml"), env={})
        assert "target name" in err.value.render() and "c.yml" in err.value.render(), bad


def test_a_record_entry_of_the_wrong_type_is_a_problem_not_a_dropped_job(exported: Project) -> None:  # noqa: F811
    p = exported
    adopted = _adopted(p)
    for wrong in (str(adopted) + "x", True, [adopted], None):
        doc = {"version": 1, "data": {"jobs": {"daily-sales-etl": wrong}}}
        p.prod.client().api_client.do("POST", "/api/2.0/workspace/import", body={
            "path": f"{HOME}/owned.json", "format": "AUTO", "overwrite": True,
            "content": base64.b64encode(json.dumps(doc).encode()).decode()})
        res = p.run("apply", "--target", "prod", "--yes")
        assert res.code == 1 and "not a job ID for daily-sales-etl" in res.output, (wrong, res.output)
        assert _keyed(p, "daily-sales-etl") == [adopted]


def test_records_live_in_the_identitys_own_home_folder_never_a_look_alike(exported: Project) -> None:  # noqa: F811
    from .test_ownership import as_user

    p = exported
    me, look_alike = "o'brien@example.com", "o_brien@example.com"  # an apostrophe is valid in an e-mail
    p.prod.users["dapi-obrien"] = me
    p.prod.workspace.add_user(me)
    p.prod.workspace.directory.groups["admins"].add(me)
    as_user(p, "dapi-obrien")
    p.prod.users["dapi-look-alike"] = look_alike
    p.prod.workspace.add_user(look_alike)
    w = p.prod.client(token="dapi-look-alike")
    fake = int(w.api_client.do("POST", "/api/2.2/jobs/create", body={
        "name": "Look-alike's job", "tags": {"bricksync-key": "ml-training-git"},
        "tasks": [{"task_key": "t", "notebook_task": {"notebook_path": "/x"}}]})["job_id"])
    home = f"/Users/{look_alike}/.bricksync/prod"  # the look-alike's own home folder: theirs to write
    w.workspace.mkdirs(home)
    w.api_client.do("POST", "/api/2.0/workspace/import", body={
        "path": f"{home}/owned.json", "format": "AUTO", "overwrite": True, "content": base64.b64encode(
            json.dumps({"version": 1, "data": {"jobs": {"ml-training-git": fake}}}).encode()).decode()})
    res = p.run("plan", "--target", "prod")
    assert res.code == 0 and f"job {fake} (created by {look_alike})" in res.output, res.output  # a claim
    assert "5 to create" in res.output, res.output
    assert p.run("apply", "--target", "prod", "--yes").code == 0
    assert f"/Users/{me}/.bricksync/prod/owned.json" in p.prod.workspace.objects


def test_targets_identity_is_spelled_as_the_workspace_spells_it(exported: Project) -> None:  # noqa: F811
    p = exported
    text = (p.root / "config" / "bricksync.yml").read_text()
    host = "    host: " + p.prod.url
    p.write_config(text.replace(host, host + "\n    identity: BricksYnc@example.com", 1))
    res = p.run("apply", "--target", "prod", "--yes")
    assert res.code == 1 and "spell it as the workspace does" in res.output, res.output
    assert not p.prod.workspace.objects.get("/Users/BricksYnc@example.com/.bricksync/prod/owned.json")
    assert not [j for j in p.prod.workspace.jobs.jobs.values() if j["settings"].get("tags", {}).get("bricksync-key")]


def test_a_typo_in_targets_identity_is_named_when_every_job_looks_like_a_claim(exported: Project) -> None:  # noqa: F811
    p = exported
    assert p.run("apply", "--target", "prod", "--yes").code == 0
    res = p.run("plan", "--target", "prod")
    assert "none of the" not in res.output, res.output
    text = (p.root / "config" / "bricksync.yml").read_text()
    host = "    host: " + p.prod.url
    p.write_config(text.replace(host, host + "\n    identity: bricksync@exmaple.com", 1))
    res = p.run("plan", "--target", "prod")
    assert "none of the 5 jobs carrying a bricksync-key is bricksync's" in res.output, res.output
    assert "targets.prod.identity" in res.output and "/Users/bricksync@exmaple.com" in res.output, res.output


def test_an_adopt_is_recorded_before_it_is_sent(exported: Project) -> None:  # noqa: F811
    from bricksync.emulator import FaultRule

    p = exported
    theirs = int(attacker(p).api_client.do("POST", "/api/2.2/jobs/create", body={
        "name": "Daily sales ETL", "tasks": [{"task_key": "t", "notebook_task": {"notebook_path": "/x"}}]})["job_id"])
    # every workspace write after the lock's own fails: the record cannot be written
    p.prod.faults.add(FaultRule("POST", "/api/2.0/workspace/import", 400, error_code="INVALID_PARAMETER_VALUE",
                                count=None, skip=1))
    res = p.run("apply", "--target", "prod", "--yes", "--adopt")
    assert res.code == 1 and "not sent" in res.output, res.output
    # the job was not tagged: no later plan can see it as a claim of its key and create the key again
    assert "bricksync-key" not in p.prod.workspace.jobs.jobs[theirs]["settings"].get("tags", {})
    p.prod.faults.rules.clear()
    res = p.run("apply", "--target", "prod", "--yes", "--adopt")
    assert res.code == 0 and _keyed(p, "daily-sales-etl") == [theirs], res.output
