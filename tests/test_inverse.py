"""The inverse of render, piece by piece (pure): each inexact case is refused, never approximated."""

from __future__ import annotations

from bricksync.core.inverse import (
    invert_compute,
    invert_job,
    invert_path,
    invert_permissions,
    invert_run_as,
    round_trip,
)
from bricksync.core.model import TargetConfig
from bricksync.core.references import Inventory

REWRITES = {"/Workspace/dev": "/Workspace/prod", "/Workspace/dev/x": "/Workspace/other"}


def target(**kw) -> TargetConfig:
    t = TargetConfig(name="prod", path_rewrites=dict(REWRITES))
    for k, v in kw.items():
        setattr(t, k, v)
    return t


def test_paths_invert_longest_prefix_first_and_exactly() -> None:
    assert invert_path("/Workspace/prod/sales/a", REWRITES) == ("/Workspace/dev/sales/a", None)
    assert invert_path("/Workspace/other/b", REWRITES) == ("/Workspace/dev/x/b", None)
    # /Workspace/prod/x/nb would come back as /Workspace/dev/x/nb, which renders to /Workspace/other/nb.
    source, error = invert_path("/Workspace/prod/x/nb", REWRITES)
    assert source is None and "renders as /Workspace/other/nb" in error
    source, error = invert_path("/Shared/nb", REWRITES)
    assert source is None and "outside every path rewrite target" in error
    source, error = invert_path("/prod/a", {"/Workspace/dev": "/Workspace/prod"})  # spelled otherwise
    assert source is None and "renders as /Workspace/prod/a" in error
    both = {"/Workspace/dev": "/Workspace/prod", "/Workspace/qa": "/Workspace/prod"}
    source, error = invert_path("/Workspace/prod/a", both)
    assert source is None and "several path rewrites" in error
    assert invert_path("/anything", {}) == ("/anything", None)


def test_compute_names_invert_through_the_map() -> None:
    t = target(compute={"clusters": {"dev-shared": "prod-shared", "a": "b", "c": "b"}})
    assert invert_compute(t, "cluster", "prod-shared") == ("dev-shared", None)
    assert invert_compute(t, "cluster", "ml-gpu") == ("ml-gpu", None)  # no counterpart: as is
    assert "mapping of several names (a, c)" in invert_compute(t, "cluster", "b")[1]
    assert "no source name renders to it" in invert_compute(t, "cluster", "dev-shared")[1]


def test_run_as_inverts_through_the_principal_map() -> None:
    sp = "6f1c0b7e-2d4a-4c1e-9a53-0c2f6b1d8e77"
    t = target(run_as={"alice@example.com": sp, "bob@example.com": "carol@example.com",
                       "dave@example.com": "carol@example.com"})
    assert invert_run_as(t, {"service_principal_name": sp}) == ({"user_name": "alice@example.com"}, None)
    assert "is not what" in invert_run_as(t, {"user_name": sp})[1]
    assert "several principals" in invert_run_as(t, {"user_name": "carol@example.com"})[1]
    assert invert_run_as(t, {"user_name": "erin@example.com"}) == ({"user_name": "erin@example.com"}, None)
    assert "no source principal renders to it" in invert_run_as(t, {"user_name": "alice@example.com"})[1]


def _job(**settings) -> dict:
    # `queue` as a job created through API 2.2 has it (a read without it does not queue: issue 24.5)
    return {"job_id": 7, "creator_user_name": "ci@example.com", "settings": {
        "name": "J", "tags": {"bricksync-key": "j", "managed-by": "bricksync"}, "queue": {"enabled": True},
        **settings}}


def test_round_trip_is_the_last_word() -> None:
    inv = Inventory()
    t = target()
    job = _job(max_concurrent_runs=3)
    assert round_trip({"name": "J", "max_concurrent_runs": 3}, job, key="j", target=t, inventory=inv, job_ids={}) == []
    problems = round_trip({"name": "J", "max_concurrent_runs": 4}, job, key="j", target=t, inventory=inv, job_ids={})
    assert problems and "would not render back" in problems[0].message and "max_concurrent_runs" in problems[0].message


def test_overrides_are_taken_out_and_a_differing_live_value_refused() -> None:
    inv = Inventory()
    t = target(overrides={"*": {"max_concurrent_runs": 2}, "j": {"schedule.pause_status": "PAUSED"}})
    sched = {"quartz_cron_expression": "0 0 1 * * ?", "timezone_id": "UTC", "pause_status": "PAUSED"}
    settings, problems = invert_job(_job(max_concurrent_runs=2, schedule=sched), key="j", target=t, inventory=inv,
                                    job_keys={}, job_ids={},
                                    existing={"name": "J", "schedule": {**sched, "pause_status": "UNPAUSED"}})
    assert problems == []
    # the existing state's UNPAUSED, which is the server default (defaults.py): not written
    assert "max_concurrent_runs" not in settings and "pause_status" not in settings["schedule"]
    assert "tags" not in settings  # the ownership tags are not the job's own
    settings, problems = invert_job(_job(max_concurrent_runs=5), key="j", target=t, inventory=inv, job_keys={},
                                    job_ids={})
    assert settings is None and any("differs from the target's override max_concurrent_runs" in p.message
                                    for p in problems)


def test_another_owner_tag_and_unmanaged_job_ids_are_refused() -> None:
    t = target()
    job = _job(tasks=[{"task_key": "a", "run_job_task": {"job_id": 99}}])
    job["settings"]["tags"] = {"managed-by": "terraform"}
    settings, problems = invert_job(job, key="j", target=t, inventory=Inventory(), job_keys={}, job_ids={})
    messages = " ".join(p.message for p in problems)
    assert settings is None and "managed-by=terraform" in messages and "runs job 99" in messages
    settings, problems = invert_job(_job(tasks=[{"task_key": "a", "run_job_task": {"job_id": 99}}]), key="j",
                                    target=t, inventory=Inventory(), job_keys={99: "other"}, job_ids={"other": 99})
    assert problems == [] and settings["tasks"][0]["run_job_task"]["job_id"] == "${job:other}"


def test_plan_adopts_a_recorded_job_by_id_and_never_one_another_key_owns() -> None:
    from bricksync.core.model import StateDoc
    from bricksync.core.plan import build_plan

    t = TargetConfig(name="prod")
    doc = StateDoc(key="legacy", settings={"name": "Legacy", "max_concurrent_runs": 2}, file="state/jobs/legacy.yml")
    unmanaged = {"job_id": 5, "settings": {"name": "Renamed since", "max_concurrent_runs": 2, "queue": {"enabled": True}}}
    plan, problems = build_plan([doc], [unmanaged], t, Inventory(), adopt_ids={"legacy": 5})
    assert problems == [] and [(a.action, a.job_id) for a in plan.actions] == [("adopt", 5)]
    assert [c.path for c in plan.actions[0].changes] == ["name", "tags"] and 5 in plan.watched
    owned = {"job_id": 5, "settings": {"name": "Legacy", "tags": {"bricksync-key": "other"}}}
    plan, problems = build_plan([doc], [owned], t, Inventory(), adopt_ids={"legacy": 5},
                                adopt_file="state/adopt/prod.yml")
    assert [str(p) for p in problems] == ["state/adopt/prod.yml: field 'adopt.legacy': job 5 is recorded for "
                                          "adoption as 'legacy', but key 'other' manages it (it carries "
                                          "bricksync-key=other): remove this entry (adopting it would take the job "
                                          "from other's state file)"]
    assert not [a for a in plan.actions if a.key == "legacy"]
    plan, _ = build_plan([doc], [], t, Inventory(), adopt_ids={"legacy": 5})  # gone: created, with a warning
    assert [a.action for a in plan.actions] == ["create"] and "no longer exists" in plan.warnings[0]


def test_literal_references_budget_policies_and_unmappable_ids() -> None:
    t = target(budget_policies={"analytics": "bp-prod-1", "a": "bp-dup", "b": "bp-dup"})
    job = _job(budget_policy_id="bp-prod-1", tasks=[{"task_key": "a", "notebook_task": {
        "notebook_path": "/Workspace/prod/n", "base_parameters": {"x": "${cluster:literal}"}}}])
    settings, problems = invert_job(job, key="j", target=t, inventory=Inventory(), job_keys={}, job_ids={})
    assert problems == [], problems
    assert settings["budget_policy_id"] == "${budget_policy:analytics}"
    assert settings["tasks"][0]["notebook_task"]["base_parameters"]["x"] == "$${cluster:literal}"  # kept literal
    settings, problems = invert_job(_job(budget_policy_id="bp-dup"), key="j", target=t, inventory=Inventory(),
                                    job_keys={}, job_ids={})
    assert settings is None and "named 2 times" in problems[0].message
    job = _job(trigger={"job_completion": {"jobs": [{"job_id": 5}]}})
    settings, problems = invert_job(job, key="j", target=t, inventory=Inventory(), job_keys={}, job_ids={})
    refused = [p for p in problems if "cannot map between workspaces" in p.message]
    assert settings is None and refused, problems


def test_permissions_invert_through_the_principal_map_without_added_grants() -> None:
    from bricksync.core.permissions import entry

    acl = {"access_control_list": [
        {"user_name": "alice.prod@example.com", "all_permissions": [{"permission_level": "IS_OWNER", "inherited": False}]},
        {"group_name": "ops", "all_permissions": [{"permission_level": "CAN_MANAGE_RUN", "inherited": False}]},
        {"group_name": "admins", "all_permissions": [{"permission_level": "CAN_MANAGE", "inherited": True}]}]}
    t = target(permissions="manage", principals={"alice@example.com": "alice.prod@example.com"},
               permissions_add=[entry("group_name", "ops", "CAN_MANAGE_RUN")])
    assert invert_permissions(acl, t, None) == ([{"user_name": "alice@example.com", "level": "IS_OWNER"}], [])
    t.principals["alice2@example.com"] = "alice.prod@example.com"  # not injective: refused
    perms, problems = invert_permissions(acl, t, None)
    assert perms is None and "mapping of several principals" in problems[0]
