"""Issue 24 point 1, the gap: a change to a write-only value alone (a table trigger's condition)
reaches prod. The target's write-only index (edges/trusted.py, `write_only.json`: job id -> digest
and values of what bricksync last sent) stands in for the read the API never answers. Through
both emulators and the real SDK, and the pure parts alone."""

from __future__ import annotations

import base64
import json

import pytest
from databricks.sdk.errors import PermissionDenied

from bricksync.commands.apply import updated_sent
from bricksync.core.plan import Action, Change, Plan, write_only_not_drift
from bricksync.core.traps import write_only_changes, write_only_digest, write_only_entry, write_only_values
from bricksync.emulator.faults import FaultRule

from .conftest import Project
from .test_ownership import HOME, attacker
from .test_traps import _commit, _create, _job, _prod

CONDITION = "trigger.table_update.condition"
LINE = f"~ {CONDITION}: (not readable from the API; last sent ALL_UPDATED) → ANY_UPDATED"


def _applied_with_condition(p: Project) -> tuple[int, object]:
    """A table-triggered job exported, its condition set to ALL_UPDATED in state, applied.
    (prod job id, the state file)."""
    trigger = {"table_update": {"table_names": ["main.sales.orders"], "condition": "ALL_UPDATED"}}
    _create(p.test.client(), _job("On new orders", trigger=trigger))
    assert p.run("export", "--branch", "main").code == 0
    path = p.root / "state" / "jobs" / "on-new-orders.yml"
    path.write_text(path.read_text().replace("table_update:\n", "table_update:\n      condition: ALL_UPDATED\n"))
    _commit(p, "condition set by hand")
    res = p.run("apply", "--target", "prod", "--yes")
    assert res.code == 0, res.output
    prod_id, _ = _prod(p, "On new orders")
    assert p.prod.workspace.jobs.write_only[prod_id] == {CONDITION: "ALL_UPDATED"}
    return prod_id, path


def _set_condition(p: Project, path, value: str) -> None:
    text = path.read_text()
    for old in ("ALL_UPDATED", "ANY_UPDATED"):
        text = text.replace(f"condition: {old}", f"condition: {value}")
    path.write_text(text)
    _commit(p, f"condition {value}")


def _index(p: Project) -> dict:
    got = p.prod.client().api_client.do("GET", "/api/2.0/workspace/export", query={"path": f"{HOME}/write_only.json"})
    return json.loads(base64.b64decode(got["content"]))["data"]["jobs"]


def test_a_change_to_the_condition_alone_is_planned_applied_then_no_op(project: Project) -> None:
    p = project
    prod_id, path = _applied_with_condition(p)
    assert _index(p)[str(prod_id)] == write_only_entry({CONDITION: "ALL_UPDATED"})  # recorded by that apply
    _set_condition(p, path, "ANY_UPDATED")
    res = p.run("plan", "--target", "prod", "--detailed-exitcode", "--out", "saved.json")
    assert res.code == 2, res.output
    assert LINE in " ".join(res.output.split()), res.output
    assert "0 to create, 1 to update" in res.output
    md = p.run("plan", "--target", "prod", "--markdown", "-")
    assert LINE in md.output, md.output
    assert p.run("plan", "--target", "prod", "--json", "plan.json").code == 0
    doc = json.loads((p.root / "plan.json").read_text())
    change = next(c for j in doc["jobs"] for c in j["changes"])
    assert change == {"path": CONDITION, "op": "~", "before": "ALL_UPDATED", "after": "ANY_UPDATED", "write_only": True}
    # drift cannot see it live: said, not drift
    drift = p.run("drift", "--target", "prod", "--fail-on-drift")
    assert drift.code == 0, drift.output
    assert "cannot be seen live" in " ".join(drift.output.split()), drift.output
    # the saved plan carries what apply sends and records
    applied = p.run("apply", "--target", "prod", "saved.json", "--yes")
    assert applied.code == 0, applied.output
    assert p.prod.workspace.jobs.write_only[prod_id] == {CONDITION: "ANY_UPDATED"}
    assert _index(p)[str(prod_id)]["sent"] == {CONDITION: "ANY_UPDATED"}
    again = p.run("plan", "--target", "prod", "--detailed-exitcode")
    assert again.code == 0, again.output  # never a perpetual diff
    # removing it goes back to the service's default: planned too
    path.write_text(path.read_text().replace("      condition: ANY_UPDATED\n", ""))
    _commit(p, "condition removed")
    res = p.run("plan", "--target", "prod", "--detailed-exitcode")
    assert res.code == 2 and "last sent ANY_UPDATED) → (unset: the service's default)" in " ".join(res.output.split())
    assert p.run("apply", "--target", "prod", "--yes").code == 0
    assert p.prod.workspace.jobs.write_only[prod_id] == {}
    assert p.run("plan", "--target", "prod", "--detailed-exitcode").code == 0


def test_no_record_of_a_job_is_unknown_not_an_update_and_is_recorded_at_its_next_write(project: Project) -> None:
    p = project
    prod_id, path = _applied_with_condition(p)
    p.prod.client().workspace.delete(f"{HOME}/write_only.json")  # as after an upgrade: nothing recorded
    assert p.run("plan", "--target", "prod", "--detailed-exitcode").code == 0  # no spurious update
    _set_condition(p, path, "ANY_UPDATED")
    assert p.run("plan", "--target", "prod", "--detailed-exitcode").code == 0  # unknown: not planned
    # the job's next write sends it, and records it
    text = path.read_text().replace("max_concurrent_runs: 1\n", "")
    path.write_text(text.replace("name: On new orders", "name: On new orders\n  max_concurrent_runs: 3"))
    _commit(p, "another change")
    res = p.run("apply", "--target", "prod", "--yes")
    assert res.code == 0, res.output
    assert p.prod.workspace.jobs.write_only[prod_id] == {CONDITION: "ANY_UPDATED"}
    assert _index(p)[str(prod_id)]["sent"] == {CONDITION: "ANY_UPDATED"}
    assert p.run("plan", "--target", "prod", "--detailed-exitcode").code == 0


def test_a_failed_update_is_not_recorded_and_is_planned_again(project: Project) -> None:
    p = project
    prod_id, path = _applied_with_condition(p)
    _set_condition(p, path, "ANY_UPDATED")
    p.prod.faults.add(FaultRule("POST", "/api/2.[12]/jobs/reset", 400, error_code="INVALID_PARAMETER_VALUE"))
    assert p.run("apply", "--target", "prod", "--yes").code != 0
    assert p.prod.workspace.jobs.write_only[prod_id] == {CONDITION: "ALL_UPDATED"}  # not sent
    assert _index(p)[str(prod_id)]["sent"] == {CONDITION: "ALL_UPDATED"}  # so not recorded
    res = p.run("plan", "--target", "prod", "--detailed-exitcode")
    assert res.code == 2 and LINE in " ".join(res.output.split()), res.output


def test_another_user_cannot_forge_the_write_only_index(project: Project) -> None:
    p = project
    forged = base64.b64encode(json.dumps({"version": 1, "data": {"jobs": {}}}).encode()).decode()
    with pytest.raises(PermissionDenied):
        attacker(p).api_client.do("POST", "/api/2.0/workspace/import", body={
            "path": f"{HOME}/write_only.json", "format": "AUTO", "content": forged, "overwrite": True})


# --- pure -------------------------------------------------------------------------------------------

def test_write_only_digest_and_changes() -> None:
    a = {CONDITION: "ALL_UPDATED", "job_clusters[c].new_cluster.apply_policy_default_values": True}
    assert write_only_digest(a) == write_only_digest(dict(reversed(list(a.items()))))  # order-free
    assert write_only_digest(a) != write_only_digest({**a, CONDITION: "ANY_UPDATED"})
    assert write_only_digest({}) != write_only_digest(a)  # none sent is a value too
    entry = write_only_entry(a)
    assert write_only_changes(entry, a) == []
    assert write_only_changes(None, {CONDITION: "ANY_UPDATED"}) == []  # no record: unknown, nothing planned
    assert write_only_changes(entry, {CONDITION: "ANY_UPDATED"}) == [
        ("job_clusters[c].new_cluster.apply_policy_default_values", True, None), (CONDITION, "ALL_UPDATED", "ANY_UPDATED")]
    assert write_only_changes(write_only_entry({}), {CONDITION: "ALL_UPDATED"}) == [(CONDITION, None, "ALL_UPDATED")]
    assert write_only_changes({"digest": "bogus"}, {}) == []  # nothing to show: nothing planned
    settings = {"trigger": {"table_update": {"table_names": ["t"], "condition": "ANY_UPDATED"}}}
    assert write_only_values(settings) == {CONDITION: "ANY_UPDATED"}


def test_change_lines_drift_and_the_index_after_apply() -> None:
    c = Change(CONDITION, "ALL_UPDATED", "ANY_UPDATED", write_only=True)
    assert c.describe() == LINE
    assert Change(CONDITION, None, "ALL_UPDATED", write_only=True).describe().endswith("last sent nothing) → ALL_UPDATED")
    plan = Plan("prod", "h", actions=[
        Action("a", "update", "A", job_id=1, settings={}, changes=[c]),
        Action("b", "update", "B", job_id=2, settings={}, changes=[c, Change("name", "x", "y")])])
    write_only_not_drift(plan)
    assert [a.action for a in plan.actions] == ["no-op", "update"]
    assert [ch.path for ch in plan.actions[1].changes] == ["name"]
    assert len(plan.warnings) == 2 and "cannot be seen live" in plan.warnings[0]
    old = {"1": write_only_entry({}), "2": write_only_entry({}), "3": write_only_entry({})}
    new = updated_sent(old, {"2": write_only_entry({CONDITION: "X"})}, {"3"})
    assert new == {"1": old["1"], "2": write_only_entry({CONDITION: "X"})}
    # a saved plan carries the values apply records
    again = Plan.from_dict(json.loads(json.dumps(Plan("prod", "h", actions=[
        Action("a", "update", "A", job_id=1, settings={}, changes=[c], write_only={CONDITION: "ANY_UPDATED"})]).to_dict())))
    assert again.actions[0].write_only == {CONDITION: "ANY_UPDATED"} and again.actions[0].changes[0].write_only
