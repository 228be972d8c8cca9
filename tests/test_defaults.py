"""defaults.py and the normalizer: a value is dropped only when it equals the server default
at that place (issue 16, point 2). Pure unit tests."""

from __future__ import annotations

import copy
import re
from pathlib import Path

import pytest

from bricksync.core import defaults
from bricksync.core.normalize import normalize_job, normalize_settings


def job(*tasks: dict, **settings) -> dict:
    return {"name": "j", **settings, "tasks": list(tasks)}


def nb(key: str = "t", **extra) -> dict:
    return {"task_key": key, "notebook_task": {"notebook_path": "/Workspace/dev/x"}, **extra}


def test_every_table_entry_names_its_source() -> None:
    text = Path(defaults.__file__).read_text()
    body = text[text.index("JOB: dict"):text.index("# Accepted on write")]
    entries = [line for line in body.splitlines() if re.match(r'^    "[^"]+": ', line)]
    assert len(entries) == sum(len(t) for t in (defaults.JOB, defaults.TASK, defaults.CLUSTER))
    assert [line for line in entries if "  # " not in line] == []


def test_ui_defaults_of_a_real_get_are_dropped() -> None:
    """The values issue 16 saw as perpetual drift."""
    settings = job(
        nb("a", email_notifications={"no_alert_for_skipped_runs": False}, webhook_notifications={},
           notification_settings={"no_alert_for_skipped_runs": False, "no_alert_for_canceled_runs": False,
                                  "alert_on_last_attempt": False}, depends_on=[], disabled=False, run_if="ALL_SUCCESS",
           new_cluster={"spark_version": "15.4.x-scala2.12", "cluster_name": "", "runtime_engine": "STANDARD",
                        "aws_attributes": {"first_on_demand": 1, "availability": "SPOT_WITH_FALLBACK",
                                           "zone_id": "auto", "spot_bid_price_percent": 100, "ebs_volume_count": 0}}),
        {"task_key": "p", "pipeline_task": {"pipeline_id": "x", "full_refresh": False}},
        email_notifications={"no_alert_for_skipped_runs": False}, webhook_notifications={},
        notification_settings={"no_alert_for_skipped_runs": False, "no_alert_for_canceled_runs": False},
        performance_target="PERFORMANCE_OPTIMIZED", edit_mode="EDITABLE", format="MULTI_TASK",
        schedule={"quartz_cron_expression": "0 0 * * * ?", "timezone_id": "UTC", "pause_status": "UNPAUSED"},
        queue={"enabled": True}, timeout_seconds=0, max_concurrent_runs=1)
    assert normalize_settings(settings) == {
        "name": "j", "schedule": {"quartz_cron_expression": "0 0 * * * ?", "timezone_id": "UTC"},
        "tasks": [{"task_key": "a", "new_cluster": {"spark_version": "15.4.x-scala2.12"},
                   "notebook_task": {"notebook_path": "/Workspace/dev/x"}},
                  {"task_key": "p", "pipeline_task": {"pipeline_id": "x"}}]}


@pytest.mark.parametrize("cluster", [
    {"data_security_mode": "SINGLE_USER"}, {"data_security_mode": "NONE"}, {"enable_elastic_disk": False},
    {"enable_elastic_disk": True}, {"spark_env_vars": {"PYSPARK_PYTHON": "/databricks/python3/bin/python3"}},
    {"azure_attributes": {"availability": "ON_DEMAND_AZURE", "first_on_demand": 1}},
    {"aws_attributes": {"availability": "SPOT", "zone_id": "us-west-2a"}},
    {"cluster_name": "named"}, {"runtime_engine": "PHOTON"},
])
def test_meaningful_cluster_values_are_kept(cluster: dict) -> None:
    spec = {"spark_version": "15.4.x-scala2.12", **cluster}
    out = normalize_settings(job(nb(new_cluster=spec)))
    assert out["tasks"][0]["new_cluster"] == spec
    jc = normalize_settings({"name": "j", "job_clusters": [{"job_cluster_key": "c", "new_cluster": spec}]})
    assert jc["job_clusters"][0]["new_cluster"] == spec


def test_defaults_depend_on_their_place() -> None:
    # runtime_engine: STANDARD is the default unless spark_version says -photon-
    photon = {"spark_version": "13.3.x-photon-scala2.12", "runtime_engine": "STANDARD"}
    assert normalize_settings(job(nb(new_cluster=photon)))["tasks"][0]["new_cluster"] == photon
    legacy = {"spark_version": "13.3.x-photon-scala2.12", "runtime_engine": "PHOTON"}
    assert "runtime_engine" not in normalize_settings(job(nb(new_cluster=legacy)))["tasks"][0]["new_cluster"]
    # source: WORKSPACE is the default without git_source, GIT with it
    git = {"git_url": "https://x/y", "git_provider": "gitHub", "git_branch": "main"}
    ws_task = nb(notebook_task={"notebook_path": "/Workspace/dev/x", "source": "WORKSPACE"})
    assert normalize_settings(job(ws_task))["tasks"][0]["notebook_task"] == {"notebook_path": "/Workspace/dev/x"}
    assert normalize_settings(job(ws_task, git_source=git))["tasks"][0]["notebook_task"]["source"] == "WORKSPACE"
    git_task = {"task_key": "g", "sql_task": {"warehouse_id": "w", "file": {"path": "q.sql", "source": "GIT"}}}
    assert normalize_settings(job(git_task, git_source=git))["tasks"][0]["sql_task"]["file"] == {"path": "q.sql"}
    assert normalize_settings(job(git_task))["tasks"][0]["sql_task"]["file"]["source"] == "GIT"
    # a job's timeout default is not a cluster's field, and cluster_name "" only in a cluster spec
    assert normalize_settings(job(nb(), cluster_name=""))["cluster_name"] == ""
    # for_each inner tasks have their own defaults
    inner = nb("i", run_if="ALL_SUCCESS", timeout_seconds=0, webhook_notifications={}, notification_settings={
        "alert_on_last_attempt": False}, email_notifications={"no_alert_for_skipped_runs": False})
    out = normalize_settings(job({"task_key": "f", "for_each_task": {"inputs": "[1]", "task": inner}}))
    assert out["tasks"][0]["for_each_task"]["task"] == {"task_key": "i",
                                                        "notebook_task": {"notebook_path": "/Workspace/dev/x"}}


def test_partly_default_blocks_keep_their_meaningful_part() -> None:
    out = normalize_settings(job(nb(), email_notifications={"no_alert_for_skipped_runs": False, "on_failure": ["a@x"]},
                                 notification_settings={"no_alert_for_skipped_runs": True,
                                                        "no_alert_for_canceled_runs": False},
                                 queue={"enabled": False}, schedule={"quartz_cron_expression": "0 0 * * * ?",
                                                                     "timezone_id": "UTC", "pause_status": "PAUSED"}))
    assert out["email_notifications"] == {"on_failure": ["a@x"]}
    assert out["notification_settings"] == {"no_alert_for_skipped_runs": True}
    assert out["queue"] == {"enabled": False} and out["schedule"]["pause_status"] == "PAUSED"


def test_settable_and_read_only_fields() -> None:
    deployment = {"kind": "BUNDLE", "metadata_file_path": "/Workspace/Users/u/.bundle/x/prod/state/metadata.json"}
    live = {"job_id": 1, "creator_user_name": "u", "run_as_user_name": "u", "run_as_owner": True, "created_time": 5,
            "settings": job(nb(), deployment=deployment, edit_mode="UI_LOCKED")}
    out = normalize_job(live)
    assert out["deployment"] == deployment and out["edit_mode"] == "UI_LOCKED"
    assert "run_as_owner" not in out


def test_booleans_are_not_numbers() -> None:
    """`disabled: 0` or `timeout_seconds: false` are not the defaults `false` / `0`."""
    out = normalize_settings(job(nb(disabled=0, timeout_seconds=False)))
    assert out["tasks"][0]["disabled"] == 0 and out["tasks"][0]["timeout_seconds"] is False


def test_normalizing_never_changes_its_input() -> None:
    settings = job(nb(email_notifications={"no_alert_for_skipped_runs": False}, new_cluster={
        "spark_version": "15.4", "aws_attributes": {"zone_id": "auto", "instance_profile_arn": "arn"}}),
        schedule={"quartz_cron_expression": "0 0 * * * ?", "timezone_id": "UTC", "pause_status": "UNPAUSED"})
    before = copy.deepcopy(settings)
    out = normalize_settings(settings, copy=False)
    assert settings == before
    assert out["tasks"][0]["new_cluster"]["aws_attributes"] == {"instance_profile_arn": "arn"}


def test_a_trigger_emptied_of_its_defaults_is_still_a_trigger() -> None:
    """`continuous: {pause_status: UNPAUSED}` is a continuous job: `{}` must stay, not vanish."""
    out = normalize_settings(job(nb(), continuous={"pause_status": "UNPAUSED"}))
    assert out["continuous"] == {}
    out = normalize_settings(job(nb(), trigger={"pause_status": "UNPAUSED", "file_arrival": {"url": "/Volumes/a"}}))
    assert out["trigger"] == {"file_arrival": {"url": "/Volumes/a"}}


def test_what_the_backend_computes_is_not_drift_unless_state_sets_it() -> None:
    desired = normalize_settings(job(nb(new_cluster={"spark_version": "15.4", "num_workers": 1}),
                                     job_clusters=[{"job_cluster_key": "c", "new_cluster": {
                                         "spark_version": "15.4", "aws_attributes": {"instance_profile_arn": "arn"},
                                         "data_security_mode": "NONE"}}]), ordered=False)
    live = normalize_settings(job(nb(new_cluster={"spark_version": "15.4", "num_workers": 1,
                                                  "data_security_mode": "SINGLE_USER", "enable_elastic_disk": True,
                                                  "azure_attributes": {"availability": "ON_DEMAND_AZURE"}}),
                                  job_clusters=[{"job_cluster_key": "c", "new_cluster": {
                                      "spark_version": "15.4", "data_security_mode": "NONE",
                                      "aws_attributes": {"instance_profile_arn": "arn", "zone_id": "us-east-1c"}}}]),
                              ordered=False)
    assert defaults.ignore_computed(live, desired) == desired
    # a value state sets is compared: the backend's SINGLE_USER is drift against state's NONE
    live["job_clusters"][0]["new_cluster"]["data_security_mode"] = "SINGLE_USER"
    assert defaults.ignore_computed(live, desired) != desired
    assert live["tasks"][0]["new_cluster"]["data_security_mode"] == "SINGLE_USER"  # input untouched


def test_a_prod_job_with_a_computed_access_mode_plans_as_no_op(project, monkeypatch) -> None:
    """A workspace that fills data_security_mode on job clusters (databricks/cli: "backend sets
    this when not specified") shows no drift; an explicit state value still wins."""
    from bricksync.emulator.seed import seed_source, seed_target

    seed_source(project.test.client())
    seed_target(project.prod.client())
    assert project.run("export", "--branch", "main").code == 0
    assert project.run("apply", "--target", "prod", "--yes").code == 0
    w = project.prod.client()
    etl = next(j for j in project.prod.workspace.jobs.jobs.values() if j["settings"]["name"] == "Daily sales ETL")
    settings = copy.deepcopy(etl["settings"])
    settings["job_clusters"][0]["new_cluster"].update(data_security_mode="SINGLE_USER", enable_elastic_disk=True)
    w.api_client.do("POST", "/api/2.2/jobs/reset", body={"job_id": etl["job_id"], "new_settings": settings})
    assert project.run("plan", "--target", "prod", "--detailed-exitcode").code == 0
    state = project.root / "state" / "jobs" / "daily-sales-etl.yml"
    state.write_text(state.read_text().replace("      num_workers: 4\n",
                                               "      num_workers: 4\n      data_security_mode: NONE\n"))
    res = project.run("plan", "--target", "prod", "--detailed-exitcode")
    assert res.code == 2 and "data_security_mode" in res.output


def _parent(obj: dict, dotted: str) -> dict:
    node = obj
    for part in dotted.split(".")[:-1]:
        node = node.setdefault(part, {"zz_kept": 1})  # the parent stays in desired: only the leaf goes
    return node


def _other_than(value):
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 7
    if isinstance(value, str):
        return value + "-x"
    return {"zz_other": 1}


PLACE_PATHS = {  # place -> (where the place object sits in the job, diff path prefix)
    "job": (lambda s: s, ""),
    "task": (lambda s: s["tasks"][0], "tasks[t]."),
    "inner_task": (lambda s: s["tasks"][0].setdefault("for_each_task", {"inputs": "[1]", "task": nb("i")})["task"],
                   "tasks[t].for_each_task.task."),
    "cluster": (lambda s: s["tasks"][0].setdefault("new_cluster", {"spark_version": "15.4.x-photon-scala2.12"}),
                "tasks[t].new_cluster."),
}


@pytest.mark.parametrize("place", sorted(defaults.PLACES))
def test_a_field_going_back_to_its_default_shows_the_value_it_gets(place: str) -> None:
    """Issue 22.12: `max_concurrent_runs: 5 → 1 (default)`, not `→ (unset)`, for every entry of
    every place (a value the service fills when the field is left out)."""
    from bricksync.core.plan import field_changes

    where, prefix = PLACE_PATHS[place]
    for dotted, default in defaults.PLACES[place].items():
        desired = job(nb())
        obj = where(desired)
        _parent(obj, dotted).pop(dotted.split(".")[-1], None)  # left out of desired (job(): a name)
        expected = default.fn(obj, False) if isinstance(default, defaults.Depends) else default
        if expected == {}:  # a block: what its fields get
            expected = {k.split(".", 1)[1]: (v.fn(obj, False) if isinstance(v, defaults.Depends) else v)
                        for k, v in defaults.PLACES[place].items() if k.startswith(dotted + ".")}
        live = copy.deepcopy(desired)
        _parent(where(live), dotted)[dotted.split(".")[-1]] = _other_than(expected)
        changes = field_changes(live, desired)
        assert [(c.path, c.after, c.default, c.op) for c in changes] == [
            (prefix + dotted, expected, True, "~")], (place, dotted)
        assert changes[0].describe().endswith("(default)")
    assert field_changes({"name": "j", "description": "d"}, {"name": "j"})[0].describe() == \
        "- description: d → (unset)"  # no default known: left out is unset
