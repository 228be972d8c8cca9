"""Issue 24: the traps that bite tools promoting jobs between workspaces, each through two
emulators and the real SDK (export -> plan -> apply -> plan no-op), and the pure parts alone.
Evidence for each behaviour is cited beside the code (core/traps.py, core/defaults.py,
emulator/policies.py, emulator/jobs.py)."""

from __future__ import annotations

import json

import pytest

from bricksync.core.normalize import normalize_job, normalize_settings
from bricksync.core.references import Inventory
from bricksync.core.traps import (
    carry_write_only,
    drop_bundle,
    export_fixups,
    locate,
    only_what_state_sets,
    parse_policy,
    policy_conflicts,
    strip_policy_fixed,
    unseen_write_only,
    write_only_values,
)
from bricksync.core.yamlio import parse

from .conftest import Project

TAG = {"PROD_MIGRATION": "true"}
NB = {"notebook_path": "/Workspace/dev/etl/main"}


def _job(name: str, **settings) -> dict:
    return {"name": name, "tags": dict(TAG), "tasks": [{"task_key": "main", "notebook_task": dict(NB)}], **settings}


def _create(w, body: dict, version: str = "2.2") -> int:
    return w.api_client.do("POST", f"/api/{version}/jobs/create", body=body)["job_id"]


def _state(p: Project, name: str) -> dict:
    return parse(p.state_files[name], name)["job"]


def _prod(p: Project, name: str) -> tuple[int, dict]:
    job = next(j for j in p.prod.workspace.jobs.jobs.values() if j["settings"]["name"] == name)
    return job["job_id"], job["settings"]


def _promote(p: Project) -> str:
    """export (committed) -> plan -> apply -> plan: the last plan must be a no-op. The export's output."""
    res = p.run("export", "--branch", "main")
    assert res.code == 0, res.output
    plan = p.run("plan", "--target", "prod")
    assert plan.code == 0, plan.output
    applied = p.run("apply", "--target", "prod", "--yes")
    assert applied.code == 0, applied.output
    again = p.run("plan", "--target", "prod", "--detailed-exitcode")
    assert again.code == 0, again.output  # no perpetual diff
    return res.output


def _commit(p: Project, message: str) -> None:
    p.repo.git.add(A=True)
    p.repo.index.commit(message)


def _reexport_is_stable(p: Project) -> None:
    before = dict(p.state_files)
    for job in p.test.workspace.jobs.jobs.values():  # acknowledged by the first export: select them again
        job["settings"]["tags"]["PROD_MIGRATION"] = "true"
    res = p.run("export", "--no-ack", "--no-commit")
    assert res.code == 0, res.output
    assert p.state_files == before  # nothing churns


# --- 1. write-only fields -----------------------------------------------------------------------------

def test_write_only_condition_is_lost_at_export_kept_from_state_sent_and_never_diffed(project: Project) -> None:
    p, w = project, project.test.client()
    trigger = {"table_update": {"table_names": ["main.sales.orders"], "condition": "ALL_UPDATED"}}
    jid = _create(w, _job("On new orders", trigger=trigger))
    got = w.jobs.get(jid).as_dict()["settings"]["trigger"]["table_update"]
    assert "condition" not in got and got["table_names"] == ["main.sales.orders"]  # the service drops it on read
    assert p.test.workspace.jobs.write_only[jid] == {"trigger.table_update.condition": "ALL_UPDATED"}
    out = " ".join(p.run("export", "--branch", "main", "--no-ack").output.split())
    assert "On new orders: cannot see trigger.table_update.condition: the Jobs API takes it but never" in out, out
    assert "condition" not in _state(p, "on-new-orders.yml")["trigger"]["table_update"]
    # The reviewer sets it in the state file; a re-export keeps it (the source still hides it).
    path = p.root / "state" / "jobs" / "on-new-orders.yml"
    path.write_text(path.read_text().replace("table_update:\n", "table_update:\n      condition: ALL_UPDATED\n"))
    assert _state(p, "on-new-orders.yml")["trigger"]["table_update"]["condition"] == "ALL_UPDATED"
    _commit(p, "condition set by hand")
    res = p.run("export", "--no-ack", "--no-commit")
    assert res.code == 0, res.output
    assert _state(p, "on-new-orders.yml")["trigger"]["table_update"]["condition"] == "ALL_UPDATED"
    assert "cannot see" not in res.output and not p.repo.is_dirty()
    assert p.run("apply", "--target", "prod", "--yes").code == 0
    prod_id, _ = _prod(p, "On new orders")
    assert p.prod.workspace.jobs.write_only[prod_id] == {"trigger.table_update.condition": "ALL_UPDATED"}  # sent
    res = p.run("plan", "--target", "prod", "--detailed-exitcode")
    assert res.code == 0, res.output  # never returned, never a diff


def test_apply_policy_default_values_is_kept_and_sent(project: Project) -> None:
    p, w = project, project.test.client()
    for ws, minutes in ((w, 30), (p.prod.client(), 45)):
        ws.cluster_policies.create(name="job-policy", definition=json.dumps({"autotermination_minutes": {
            "type": "unlimited", "defaultValue": minutes}, "num_workers": {"type": "range", "defaultValue": 3}}))
    policy = next(iter(w.cluster_policies.list())).policy_id
    cluster = {"job_cluster_key": "c", "new_cluster": {"policy_id": policy, "apply_policy_default_values": True,
                                                       "spark_version": "15.4.x-scala2.12"}}
    job = _job("Policy defaults", job_clusters=[cluster])
    job["tasks"][0]["job_cluster_key"] = "c"
    _create(w, job)
    res = p.run("export", "--branch", "main", "--no-ack")
    out = " ".join(res.output.split())
    assert "cannot see job_clusters[c].new_cluster.apply_policy_default_values" in out, res.output
    assert "kept autotermination_minutes, num_workers, equal to the default of policy 'job-policy'" in out, out
    path = p.root / "state" / "jobs" / "policy-defaults.yml"
    # the reviewer lets prod's policy fill its defaults
    path.write_text(path.read_text().replace("      autotermination_minutes: 30\n",
                                             "      apply_policy_default_values: true\n").replace(
        "      num_workers: 3\n", ""))
    _commit(p, "defaults applied")
    res = p.run("export", "--no-ack", "--no-commit")
    assert res.code == 0 and "cannot see" not in res.output, res.output
    assert "left out what policy 'job-policy' fills in the source (autotermination_minutes, num_workers)" in \
        " ".join(res.output.split()), res.output
    assert "apply_policy_default_values: true" in path.read_text() and not p.repo.is_dirty()  # kept, stable
    assert p.run("apply", "--target", "prod", "--yes").code == 0
    _, settings = _prod(p, "Policy defaults")
    prod_id = _prod(p, "Policy defaults")[0]
    assert p.prod.workspace.jobs.write_only[prod_id] == {"job_clusters[c].new_cluster.apply_policy_default_values": True}
    cluster = settings["job_clusters"][0]["new_cluster"]
    assert cluster["autotermination_minutes"] == 45 and cluster["num_workers"] == 3  # prod's policy filled them
    assert p.run("plan", "--target", "prod", "--detailed-exitcode").code == 0


# --- 2. values a cluster policy fills -------------------------------------------------------------------

TEST_POLICY = {"spark_version": {"type": "fixed", "value": "15.4.x-scala2.12", "hidden": True},
               "custom_tags.team": {"type": "fixed", "value": "test-team"},
               "cluster_log_conf.path": {"type": "fixed", "value": "dbfs:/logs/test"},
               "runtime_engine": {"type": "unlimited", "defaultValue": "PHOTON"}}
PROD_POLICY = {"spark_version": {"type": "fixed", "value": "16.4.x-scala2.12", "hidden": True},
               "custom_tags.team": {"type": "fixed", "value": "prod-team"},
               "cluster_log_conf.path": {"type": "fixed", "value": "dbfs:/logs/prod"},
               "autotermination_minutes": {"type": "range", "maxValue": 60, "defaultValue": 20}}


def test_values_a_policy_fixed_stay_in_their_workspace(project: Project) -> None:
    p, w, prod = project, project.test.client(), project.prod.client()
    w.cluster_policies.create(name="job-policy", definition=json.dumps(TEST_POLICY))
    prod.cluster_policies.create(name="job-policy", definition=json.dumps(PROD_POLICY))
    policy = next(iter(w.cluster_policies.list())).policy_id
    spec = {"policy_id": policy, "apply_policy_default_values": True, "num_workers": 2,
            "custom_tags": {"owner": "sales"}, "node_type_id": "Standard_DS3_v2"}
    job = _job("Policy ETL", job_clusters=[{"job_cluster_key": "c", "new_cluster": spec}])
    job["tasks"][0]["job_cluster_key"] = "c"
    _create(w, job)
    read = w.jobs.get(next(iter(w.jobs.list())).job_id).as_dict()["settings"]["job_clusters"][0]["new_cluster"]
    assert read["spark_version"] == "15.4.x-scala2.12" and read["custom_tags"] == {"owner": "sales", "team": "test-team"}
    assert read["cluster_log_conf"] == {"dbfs": {"destination": "dbfs:/logs/test"}} and read["runtime_engine"] == "PHOTON"
    out = _promote(p)
    assert "left out what policy 'job-policy' fills in the source" in " ".join(out.split()), out
    state = _state(p, "policy-etl.yml")["job_clusters"][0]["new_cluster"]
    assert "spark_version" not in state and state["custom_tags"] == {"owner": "sales"}
    assert "cluster_log_conf" not in state and state["policy_id"] == "${policy:job-policy}"
    assert state["runtime_engine"] == "PHOTON"  # a default (not fixed): the job's value, kept
    _, live = _prod(p, "Policy ETL")
    cluster = live["job_clusters"][0]["new_cluster"]
    assert cluster["spark_version"] == "16.4.x-scala2.12" and cluster["custom_tags"]["team"] == "prod-team"
    assert cluster["cluster_log_conf"] == {"dbfs": {"destination": "dbfs:/logs/prod"}}
    # prod's defaults only with apply_policy_default_values, which export cannot see (nor state set here)
    assert "autotermination_minutes" not in cluster
    _reexport_is_stable(p)
    # A value the target's policy fixes otherwise: refused at plan, before any write.
    path = p.root / "state" / "jobs" / "policy-etl.yml"
    path.write_text(path.read_text().replace("      num_workers: 2\n",
                                             "      num_workers: 2\n      spark_version: 14.3.x-scala2.12\n"))
    res = p.run("plan", "--target", "prod")
    assert res.code == 1 and "fixes it to '16.4.x-scala2.12'" in res.output.replace("\n", " "), res.output
    # Drift the policy did not make is still drift.
    prod_id, settings = _prod(p, "Policy ETL")
    path.write_text(path.read_text().replace("      spark_version: 14.3.x-scala2.12\n", ""))
    settings = json.loads(json.dumps(settings))
    settings["job_clusters"][0]["new_cluster"]["spark_env_vars"] = {"EXTRA": "1"}
    prod.api_client.do("POST", "/api/2.2/jobs/reset", body={"job_id": prod_id, "new_settings": settings})
    res = p.run("plan", "--target", "prod", "--detailed-exitcode")
    assert res.code == 2 and "spark_env_vars" in res.output, res.output


def test_the_emulator_refuses_a_value_the_policy_fixes_otherwise(project: Project) -> None:
    w = project.test.client()
    w.cluster_policies.create(name="p", definition=json.dumps(TEST_POLICY))
    policy = next(iter(w.cluster_policies.list())).policy_id
    spec = {"policy_id": policy, "spark_version": "13.3.x-scala2.12", "num_workers": 1}
    with pytest.raises(Exception, match="spark_version"):
        _create(w, _job("Bad", tasks=[{"task_key": "t", "notebook_task": dict(NB), "new_cluster": spec}]))
    spec["spark_version"] = "15.4.x-scala2.12"  # the fixed value itself is fine
    _create(w, _job("Good", tasks=[{"task_key": "t", "notebook_task": dict(NB), "new_cluster": spec}]))


# --- 3. jobs a bundle deployed --------------------------------------------------------------------------

BUNDLE = {"kind": "BUNDLE", "metadata_file_path": "/Workspace/Users/dev@example.com/.bundle/etl/test/state/metadata.json"}


def test_bundle_fields_stay_in_the_source_and_a_target_may_lock_its_ui(project: Project) -> None:
    p, w = project, project.test.client()
    jid = _create(w, _job("Bundle ETL", deployment=dict(BUNDLE), edit_mode="UI_LOCKED"))
    assert w.jobs.get(jid).as_dict()["settings"]["deployment"]["kind"] == "BUNDLE"
    out = _promote(p)
    assert "Bundle ETL: deployed by a bundle in the source: deployment and edit_mode left out" in \
        " ".join(out.split()), out
    state = _state(p, "bundle-etl.yml")
    assert "deployment" not in state and "edit_mode" not in state
    _, live = _prod(p, "Bundle ETL")
    assert "deployment" not in live and live.get("edit_mode", "EDITABLE") == "EDITABLE"
    # every deploy in test changes the deployment: the export does not churn
    job = p.test.workspace.jobs.jobs[jid]
    job["settings"]["deployment"] = {**BUNDLE, "version_id": "v2"}
    _reexport_is_stable(p)
    # a target that wants its jobs locked says so in its overrides
    cfg = p.root / "config" / "bricksync.yml"
    cfg.write_text(cfg.read_text().replace("    overrides: {}", '    overrides: {"*": {edit_mode: UI_LOCKED}}'))
    res = p.run("plan", "--target", "prod", "--detailed-exitcode")
    assert res.code == 2 and "edit_mode" in res.output, res.output
    assert p.run("apply", "--target", "prod", "--yes").code == 0
    assert _prod(p, "Bundle ETL")[1]["edit_mode"] == "UI_LOCKED"
    assert p.run("plan", "--target", "prod", "--detailed-exitcode").code == 0


# --- 4. lists the service reorders, equivalent spellings ---------------------------------------------------

def _destinations(ws, names: list[str]) -> dict[str, str]:
    out = {}
    for name in names:
        made = ws.api_client.do("POST", "/api/2.0/notification-destinations",
                                body={"display_name": name, "config": {"generic_webhook": {"url": "https://h"}}})
        out[name] = made["id"]
    return out


def test_reordered_lists_and_other_spellings_never_diff(project: Project) -> None:
    p, w, prod = project, project.test.client(), project.prod.client()
    # prod's IDs sort the other way round from test's: the order state holds is no order at all
    test_ids = _destinations(w, ["ops", "oncall"])
    _destinations(prod, ["oncall", "ops"])
    hooks = {"on_failure": [{"id": test_ids["ops"]}, {"id": test_ids["oncall"]}]}
    jar = {"task_key": "jar", "spark_jar_task": {"main_class_name": "a.Main"}, "environment_key": "default"}
    env = [{"environment_key": "default", "spec": {"client": "2", "dependencies": ["x==1"]}}]
    job = _job("Alerts", webhook_notifications=hooks, environments=env)
    job["tasks"].append({**jar, "webhook_notifications": hooks})
    jid = _create(w, job)
    got = w.jobs.get(jid).as_dict()["settings"]
    assert [h["id"] for h in got["webhook_notifications"]["on_failure"]] == sorted(test_ids.values())
    assert next(t for t in got["tasks"] if t["task_key"] == "jar")["spark_jar_task"]["run_as_repl"] is True
    _promote(p)
    state = _state(p, "alerts.yml")
    assert state["environments"][0]["spec"] == {"dependencies": ["x==1"], "environment_version": "2"}
    assert "run_as_repl" not in p.state_files["alerts.yml"].decode()
    # the same things, spelled as a hand-written file would: client, the list in another order
    path = p.root / "state" / "jobs" / "alerts.yml"
    text = path.read_text().replace("environment_version: '2'", "client: '2'").replace(
        "environment_version: \"2\"", "client: \"2\"")
    assert "client" in text
    path.write_text(text)
    assert p.run("plan", "--target", "prod", "--detailed-exitcode").code == 0
    p.repo.git.checkout("--", str(path))
    _reexport_is_stable(p)


# --- 5. queueing by API version ------------------------------------------------------------------------

def test_a_job_created_through_2_1_without_queue_does_not_queue_in_prod_either(project: Project) -> None:
    p, w = project, project.test.client()
    old = _create(w, _job("Legacy 2.1"), version="2.1")
    new = _create(w, _job("Made with 2.2"))
    assert "queue" not in w.jobs.get(old).as_dict()["settings"]  # what a 2.2 read returns for it
    assert w.jobs.get(new).as_dict()["settings"]["queue"] == {"enabled": True}
    _promote(p)
    assert _state(p, "legacy-2-1.yml")["queue"] == {"enabled": False}
    assert "queue" not in _state(p, "made-with-2-2.yml")
    assert _prod(p, "Legacy 2.1")[1]["queue"] == {"enabled": False}
    assert _prod(p, "Made with 2.2")[1]["queue"] == {"enabled": True}
    # an old prod job (made through 2.1, never queued) that state wants queued: planned as a change
    prod_id, settings = _prod(p, "Made with 2.2")
    settings = {k: v for k, v in settings.items() if k != "queue"}
    p.prod.workspace.jobs.jobs[prod_id]["settings"] = settings
    res = p.run("plan", "--target", "prod", "--detailed-exitcode")
    assert res.code == 2 and "queue" in res.output, res.output
    assert p.run("apply", "--target", "prod", "--yes").code == 0
    assert _prod(p, "Made with 2.2")[1]["queue"] == {"enabled": True}  # sent explicitly
    assert p.run("plan", "--target", "prod", "--detailed-exitcode").code == 0


# --- the pure parts -------------------------------------------------------------------------------------

def _cluster_job(spec: dict, **settings) -> dict:
    return {"name": "j", "job_clusters": [{"job_cluster_key": "c", "new_cluster": spec}],
            "tasks": [{"task_key": "t", "job_cluster_key": "c", "notebook_task": dict(NB),
                       "for_each_task": {"inputs": "[1]", "task": {"task_key": "i", "notebook_task": dict(NB),
                                                                    "new_cluster": dict(spec)}}}], **settings}


def test_write_only_values_are_found_carried_and_reported() -> None:
    settings = _cluster_job({"policy_id": "P", "apply_policy_default_values": True},
                            trigger={"table_update": {"table_names": ["a.b.c"], "condition": "ANY_UPDATED"}})
    values = write_only_values(settings)
    assert values == {"trigger.table_update.condition": "ANY_UPDATED",
                      "job_clusters[c].new_cluster.apply_policy_default_values": True,
                      "tasks[t].for_each_task.task.new_cluster.apply_policy_default_values": True}
    canonical = normalize_settings(settings)
    assert write_only_values(canonical) == {}  # neither side's canonical form holds them
    assert unseen_write_only(canonical) == ["trigger.table_update.condition",
                                            "job_clusters[c].new_cluster.apply_policy_default_values",
                                            "tasks[t].for_each_task.task.new_cluster.apply_policy_default_values"]
    assert sorted(carry_write_only(canonical, values)) == sorted(values) and write_only_values(canonical) == values
    assert unseen_write_only(canonical) == []
    listed = {"name": "j", "triggers": [{"periodic": {"interval": 1, "unit": "HOURS"}},
                                        {"table_update": {"table_names": ["a"], "condition": "ALL_UPDATED"}}]}
    assert write_only_values(listed) == {"triggers[1].table_update.condition": "ALL_UPDATED"}
    bare = normalize_settings(listed)
    assert bare["triggers"][1] == {"table_update": {"table_names": ["a"]}} and "condition" in str(listed)
    assert unseen_write_only(bare) == ["triggers[1].table_update.condition"]
    assert carry_write_only(bare, write_only_values(listed)) == ["triggers[1].table_update.condition"]
    gone = normalize_settings({"name": "j"})  # the trigger is gone: nothing to carry it in
    assert carry_write_only(gone, values) == [] and gone == {"name": "j"}


def test_policy_paths_and_what_is_stripped() -> None:
    assert locate("custom_tags.team") == ("custom_tags", "team")
    assert locate("spark_conf.spark.databricks.io.cache.enabled") == ("spark_conf", "spark.databricks.io.cache.enabled")
    assert locate("cluster_log_conf.path") == ("cluster_log_conf",)
    assert locate("init_scripts.0.workspace.destination") is None and locate("dbus_per_hour") is None
    assert locate("autoscale.max_workers") == ("autoscale", "max_workers")
    rules = parse_policy(json.dumps(TEST_POLICY))
    assert parse_policy("{not json") == {} and parse_policy(None) == {} and parse_policy('{"a": 1}') == {}
    spec = {"spark_version": "15.4.x-scala2.12", "custom_tags": {"team": "test-team", "owner": "x"},
            "cluster_log_conf": {"dbfs": {"destination": "dbfs:/logs/test"}}, "runtime_engine": "PHOTON"}
    out, dropped = strip_policy_fixed(spec, rules)
    assert out == {"custom_tags": {"owner": "x"}, "runtime_engine": "PHOTON"}
    assert dropped == ["cluster_log_conf.path", "custom_tags.team", "spark_version"]
    assert spec["custom_tags"] == {"team": "test-team", "owner": "x"}  # input untouched
    only_tag, _ = strip_policy_fixed({"custom_tags": {"team": "test-team"}}, rules)
    assert only_tag == {}  # an emptied map goes with it
    assert policy_conflicts({"spark_version": "13.3.x-scala2.12"}, rules) == [
        ("spark_version", "13.3.x-scala2.12", "15.4.x-scala2.12")]
    assert policy_conflicts({"spark_version": "15.4.x-scala2.12"}, rules) == []
    typed_by_hand = {"num_workers": {"type": "fixed", "value": "2"},
                     "enable_elastic_disk": {"type": "fixed", "value": "true"}}
    assert policy_conflicts({"num_workers": 2, "enable_elastic_disk": True}, typed_by_hand) == []
    assert strip_policy_fixed({"num_workers": 2, "enable_elastic_disk": True}, typed_by_hand)[0] == {}
    assert policy_conflicts({"num_workers": 3}, typed_by_hand) == [("num_workers", 3, "2")]


def test_only_what_the_target_policy_filled_is_left_out_of_the_comparison() -> None:
    rules = parse_policy(PROD_POLICY)
    desired = _cluster_job({"policy_id": "P", "num_workers": 2, "custom_tags": {"owner": "x"}})
    live = _cluster_job({"policy_id": "P", "num_workers": 2, "spark_version": "16.4.x-scala2.12",
                         "custom_tags": {"owner": "x", "team": "prod-team"}, "autotermination_minutes": 20,
                         "spark_env_vars": {"EXTRA": "1"}})
    seen = only_what_state_sets(live, desired, {"P": rules})
    spec = seen["job_clusters"][0]["new_cluster"]
    assert spec == {"policy_id": "P", "num_workers": 2, "custom_tags": {"owner": "x"}, "spark_env_vars": {"EXTRA": "1"}}
    inner = seen["tasks"][0]["for_each_task"]["task"]["new_cluster"]
    assert inner == spec
    assert live["job_clusters"][0]["new_cluster"]["custom_tags"]["team"] == "prod-team"  # input untouched
    unknown = only_what_state_sets(live, desired, {})["job_clusters"][0]["new_cluster"]  # no definition
    assert unknown == {"policy_id": "P", "num_workers": 2, "custom_tags": {"owner": "x"}}
    no_policy = _cluster_job({"num_workers": 2})
    assert only_what_state_sets(live, no_policy, {"P": rules}) is live


def test_bundle_fields_dropped_and_said() -> None:
    settings = {"name": "j", "deployment": dict(BUNDLE), "edit_mode": "UI_LOCKED"}
    assert drop_bundle(settings) == ["deployment", "edit_mode"] and settings == {"name": "j"}
    locked = {"name": "j", "edit_mode": "UI_LOCKED"}  # locked by hand, no bundle: the job's own choice
    assert drop_bundle(locked) == [] and locked["edit_mode"] == "UI_LOCKED"
    inv = Inventory()
    inv.add("policy", "P", "job-policy")
    inv.policies["P"] = parse_policy(TEST_POLICY)
    canonical = normalize_settings(_cluster_job({"policy_id": "P", "spark_version": "15.4.x-scala2.12"},
                                                deployment=dict(BUNDLE)))
    notes = export_fixups(canonical, inv.policies, inv.by_id["policy"])
    assert notes[0].startswith("deployed by a bundle") and "deployment" not in canonical
    assert any("policy 'job-policy'" in n and n.startswith("job_clusters[c]") for n in notes)
    assert any(n.startswith("tasks[t].for_each_task.task.new_cluster") for n in notes)
    assert "spark_version" not in canonical["job_clusters"][0]["new_cluster"]


def test_reordered_lists_spellings_and_queue_in_normalize() -> None:
    a = {"name": "j", "webhook_notifications": {"on_failure": [{"id": "b"}, {"id": "a"}]},
         "environments": [{"environment_key": "e", "spec": {"client": "3"}}],
         "tasks": [{"task_key": "t", "spark_jar_task": {"main_class_name": "M", "run_as_repl": True},
                    "webhook_notifications": {"on_start": [{"id": "z"}, {"id": "y"}]}}]}
    b = {"name": "j", "webhook_notifications": {"on_failure": [{"id": "a"}, {"id": "b"}]},
         "environments": [{"environment_key": "e", "spec": {"environment_version": "3"}}],
         "tasks": [{"task_key": "t", "spark_jar_task": {"main_class_name": "M"},
                    "webhook_notifications": {"on_start": [{"id": "y"}, {"id": "z"}]}}]}
    assert normalize_settings(a) == normalize_settings(b)
    both = {"name": "j", "environments": [{"environment_key": "e", "spec": {"client": "2", "environment_version": "3"}}]}
    assert normalize_settings(both)["environments"][0]["spec"] == {"client": "2", "environment_version": "3"}  # kept
    assert normalize_settings({"name": "j", "tasks": [{"task_key": "t", "spark_jar_task": {
        "main_class_name": "M", "run_as_repl": False}}]})["tasks"][0]["spark_jar_task"]["run_as_repl"] is False
    # a job read without `queue` does not queue; a state document without it does
    assert normalize_job({"job_id": 1, "settings": {"name": "j"}})["queue"] == {"enabled": False}
    assert "queue" not in normalize_job({"job_id": 1, "settings": {"name": "j", "queue": {"enabled": True}}})
    assert "queue" not in normalize_settings({"name": "j"})


def test_the_emulator_fills_a_spec_as_its_policy_says() -> None:
    from bricksync.emulator.errors import ApiError
    from bricksync.emulator.policies import apply_policy

    spec = {"num_workers": 1}
    apply_policy(spec, json.dumps(PROD_POLICY), "c")  # fixed values only: defaults were not asked for
    assert spec == {"num_workers": 1, "spark_version": "16.4.x-scala2.12", "custom_tags": {"team": "prod-team"},
                    "cluster_log_conf": {"dbfs": {"destination": "dbfs:/logs/prod"}}}
    spec = {"apply_policy_default_values": True, "autotermination_minutes": 5}
    apply_policy(spec, PROD_POLICY, "c")
    assert spec["autotermination_minutes"] == 5  # set by the request: the default does not apply
    spec = {"apply_policy_default_values": True}
    apply_policy(spec, PROD_POLICY, "c")
    assert spec["autotermination_minutes"] == 20
    with pytest.raises(ApiError, match=r"custom_tags\.team"):
        apply_policy({"custom_tags": {"team": "someone-else"}}, PROD_POLICY, "c")
    untouched = {"num_workers": 1}
    apply_policy(untouched, "{broken", "c")
    assert untouched == {"num_workers": 1}


# --- capture and import: the target is their source (the same rules, the target's policies) -------------

PROD_NB = {"notebook_path": "/Workspace/prod/etl/main"}


def _with_stage(p: Project) -> None:
    """A second target, `stage`, in the test workspace (its own policy: TEST_POLICY)."""
    cfg = p.root / "config" / "bricksync.yml"
    cfg.write_text(cfg.read_text() + "  stage:\n    profile: test\n    prune: false\n")
    _commit(p, "stage target")


def _prod_policy_job(p: Project) -> int:
    w, prod = p.test.client(), p.prod.client()
    w.cluster_policies.create(name="job-policy", definition=json.dumps(TEST_POLICY))
    prod.cluster_policies.create(name="job-policy", definition=json.dumps(PROD_POLICY))
    policy = next(iter(prod.cluster_policies.list())).policy_id
    spec = {"policy_id": policy, "num_workers": 2, "custom_tags": {"owner": "sales"}, "node_type_id": "Standard_DS3_v2"}
    job = {"name": "Prod policy ETL", "job_clusters": [{"job_cluster_key": "c", "new_cluster": spec}],
           "tasks": [{"task_key": "main", "notebook_task": dict(PROD_NB), "job_cluster_key": "c"}]}
    return _create(prod, job)


def test_import_and_capture_leave_the_targets_policy_values_out(project: Project) -> None:
    p, prod = project, project.prod.client()
    _with_stage(p)
    prod_id = _prod_policy_job(p)
    read = prod.jobs.get(prod_id).as_dict()["settings"]["job_clusters"][0]["new_cluster"]
    assert read["spark_version"] == "16.4.x-scala2.12" and read["custom_tags"]["team"] == "prod-team"
    res = p.run("import", "--target", "prod", "--job-id", str(prod_id))
    assert res.code == 0, res.output
    out = " ".join(res.output.split())
    assert "Prod policy ETL: job_clusters[c].new_cluster: left out what policy 'job-policy' fills in 'prod' " \
           "(cluster_log_conf.path, custom_tags.team, spark_version)" in out, out
    state = _state(p, "prod-policy-etl.yml")["job_clusters"][0]["new_cluster"]
    assert "spark_version" not in state and "cluster_log_conf" not in state
    assert state["custom_tags"] == {"owner": "sales"} and state["policy_id"] == "${policy:job-policy}"
    assert p.run("apply", "--target", "prod", "--yes").code == 0  # adopts it in place
    assert p.run("plan", "--target", "prod", "--detailed-exitcode").code == 0
    # another target, whose policy fixes other values, takes the file as it is (its policy fills its own)
    res = p.run("plan", "--target", "stage")
    assert res.code == 0 and "fixes it" not in res.output, res.output
    assert p.run("apply", "--target", "stage", "--yes").code == 0
    staged = next(j for j in p.test.workspace.jobs.jobs.values() if j["settings"]["name"] == "Prod policy ETL")
    assert staged["settings"]["job_clusters"][0]["new_cluster"]["custom_tags"] == {"owner": "sales", "team": "test-team"}
    # a hand edit in prod, captured: the edit comes back, prod's policy values stay out
    settings = json.loads(json.dumps(_prod(p, "Prod policy ETL")[1]))
    settings["job_clusters"][0]["new_cluster"]["num_workers"] = 4
    prod.api_client.do("POST", "/api/2.2/jobs/reset", body={"job_id": prod_id, "new_settings": settings})
    res = p.run("capture", "--target", "prod")
    assert res.code == 0 and "fills in 'prod'" in " ".join(res.output.split()), res.output
    state = _state(p, "prod-policy-etl.yml")["job_clusters"][0]["new_cluster"]
    assert state["num_workers"] == 4 and state["custom_tags"] == {"owner": "sales"}
    assert "spark_version" not in state and "cluster_log_conf" not in state
    assert p.run("plan", "--target", "prod", "--detailed-exitcode").code == 0  # the capture round-trips
    assert p.run("plan", "--target", "stage").code == 0


def test_capture_keeps_a_policy_value_the_state_file_sets(project: Project) -> None:
    p, prod = project, project.prod.client()
    prod_id = _prod_policy_job(p)
    assert p.run("import", "--target", "prod", "--job-id", str(prod_id)).code == 0
    path = p.root / "state" / "jobs" / "prod-policy-etl.yml"
    # the file chose the value the policy fixes (its own choice, kept), and applies the policy's defaults
    path.write_text(path.read_text().replace("      num_workers: 2\n", "      apply_policy_default_values: true\n"
                                             "      num_workers: 2\n      spark_version: 16.4.x-scala2.12\n"))
    _commit(p, "spark_version chosen")
    assert p.run("apply", "--target", "prod", "--yes").code == 0
    settings = json.loads(json.dumps(_prod(p, "Prod policy ETL")[1]))
    assert settings["job_clusters"][0]["new_cluster"]["autotermination_minutes"] == 20  # prod's default, filled
    settings["job_clusters"][0]["new_cluster"]["num_workers"] = 5
    prod.api_client.do("POST", "/api/2.2/jobs/reset", body={"job_id": prod_id, "new_settings": settings})
    res = p.run("capture", "--target", "prod")
    assert res.code == 0, res.output
    state = _state(p, "prod-policy-etl.yml")["job_clusters"][0]["new_cluster"]
    assert state["spark_version"] == "16.4.x-scala2.12" and state["num_workers"] == 5
    assert state["apply_policy_default_values"] is True  # write-only: never read back, kept from the file
    assert "autotermination_minutes" not in state  # the default prod's policy filled
    assert p.run("plan", "--target", "prod", "--detailed-exitcode").code == 0


def test_import_of_a_job_a_bundle_deployed_in_the_target(project: Project) -> None:
    p, prod = project, project.prod.client()
    prod_id = _create(prod, {"name": "Prod bundle ETL", "deployment": dict(BUNDLE), "edit_mode": "UI_LOCKED",
                             "tasks": [{"task_key": "main", "notebook_task": dict(PROD_NB)}]})
    res = p.run("import", "--target", "prod", "--job-id", str(prod_id))
    assert res.code == 0, res.output
    assert "Prod bundle ETL: deployed by a bundle in 'prod': deployment and edit_mode left out of state" in \
        " ".join(res.output.split()), res.output
    state = _state(p, "prod-bundle-etl.yml")
    assert "deployment" not in state and "edit_mode" not in state
    # apply takes the job out of the bundle's hands: the next plan is a no-op, prod's UI unlocked
    assert p.run("apply", "--target", "prod", "--yes").code == 0
    assert p.run("plan", "--target", "prod", "--detailed-exitcode").code == 0
    _, live = _prod(p, "Prod bundle ETL")
    assert "deployment" not in live and live.get("edit_mode", "EDITABLE") == "EDITABLE"


def test_a_bundle_deployed_over_a_prod_job_settles_by_apply_not_capture(project: Project) -> None:
    """Drift shows `deployment`/`edit_mode` that capture leaves out: the hint names apply, and capture
    says why it finds the job unchanged, so drift -> capture -> drift is no loop."""
    p, prod = project, project.prod.client()
    prod_id = _create(prod, {"name": "Prod ETL", "tasks": [{"task_key": "main", "notebook_task": dict(PROD_NB)}]})
    assert p.run("import", "--target", "prod", "--job-id", str(prod_id)).code == 0
    assert p.run("apply", "--target", "prod", "--yes").code == 0
    settings = {**_prod(p, "Prod ETL")[1], "deployment": dict(BUNDLE), "edit_mode": "UI_LOCKED"}
    prod.api_client.do("POST", "/api/2.2/jobs/reset", body={"job_id": prod_id, "new_settings": settings})
    res = p.run("drift", "--target", "prod", "--json", "d.json", "--markdown", "d.md")
    assert "- `prod-etl (deployment, edit_mode: fields state never holds)`: settle `bricksync apply --target prod`" \
        in (p.root / "d.md").read_text()
    flat = " ".join(res.output.split())
    assert "prod-etl (deployment, edit_mode: fields state never holds): settle `bricksync apply --target prod`" \
        in flat and "capture --target prod prod-etl" not in flat, res.output
    assert json.loads((p.root / "d.json").read_text())["settle"] == [
        {"kind": "job", "item": "prod-etl", "what": "prod-etl (deployment, edit_mode: fields state never holds)",
         "accept": None, "revert": ["bricksync apply --target prod"]}]
    res = p.run("capture", "--target", "prod")
    assert res.code == 0 and "1 unchanged" in res.output, res.output
    assert ("prod-etl: differs from its state file only in deployment, edit_mode, fields state never holds (a "
            "bundle's): `bricksync apply --target prod` settles it") in " ".join(res.output.split()), res.output
    assert p.run("apply", "--target", "prod", "--yes").code == 0
    assert p.run("drift", "--target", "prod", "--fail-on-drift").code == 0
    assert "deployment" not in _prod(p, "Prod ETL")[1]
    assert "differs from its state file" not in p.run("capture", "--target", "prod").output
