"""Never hand a job someone else owns a privileged `run_as` (issue 25 point 1).

A job's owner (IS_OWNER) can edit it, and a job runs its tasks as its `run_as` principal: setting
`run_as` to a service principal on a job owned by another user gives that user the principal's
rights. The creator is IS_OWNER by default, workspace admins (bricksync usually is one) "can change
the job owner or Run as configuration to any user or service principal" (docs:
https://docs.databricks.com/jobs/privileges.html), and an owner holds CAN_MANAGE (edit the tasks).
So before an update that sends `run_as` naming someone other than
the job's live owner, the owner must be bricksync's own identity or the owner state asks for
(targets.<t>.permissions: manage); when state names an owner and the job's own permission call
gives it the job, that call goes first (the foreign owner never holds the job with the new
run_as); any other case turns that job's action into a refusal (a conflict, left alone, apply
exits 1), while the other jobs proceed.
"""

from __future__ import annotations

from ..core.model import TargetConfig
from ..core.permissions import desired, from_api, from_state
from ..core.plan import Action, Plan
from ..edges.workspace import Workspace
from .desired import Summary


def _run_as(settings: dict | None) -> str | None:
    run_as = (settings or {}).get("run_as")
    if not isinstance(run_as, dict):
        return None
    name = run_as.get("user_name") or run_as.get("service_principal_name")
    return str(name) if name else None


def _state_owners(summaries: list[Summary], target: TargetConfig) -> dict[str, str]:
    """key -> the owner state gives the job (only where bricksync sets owners: permissions: manage)."""
    if target.permissions != "manage":
        return {}
    mapping, out = target.principal_mapping(), {}
    for s in summaries:
        if s.permissions is None:
            continue
        owners = [e.name for e in desired(from_state(s.permissions), mapping, target.permissions_add)
                  if e.level == "IS_OWNER"]
        if len(owners) == 1:
            out[s.key] = owners[0]
    return out


def _hands_over(a: Action, state_owner: str | None) -> bool:
    """Does the action's own permission call (a PUT) make state's owner the job's owner?"""
    if not state_owner or a.acl is None or not a.acl_replace:
        return False
    return any(e.get("permission_level") == "IS_OWNER" and state_owner.lower() in
               (str(e.get("user_name") or "").lower(), str(e.get("service_principal_name") or "").lower())
               for e in a.acl)


def refuse_foreign_owners(plan: Plan, ws: Workspace, me: str, summaries: list[Summary],
                          target: TargetConfig) -> None:
    """Turn each update/adopt that would set a privileged run_as on a foreign-owned job into a
    refusal (in place). One permissions read per such job, in parallel."""
    asks = {a.job_id: a for a in plan.actions if a.action in ("update", "adopt") and a.job_id is not None
            and _run_as(a.settings) is not None}
    if not asks:
        return
    state_owner = _state_owners(summaries, target)
    acls = ws.job_permissions_many(sorted(asks))  # type: ignore[arg-type]
    for i, a in enumerate(plan.actions):
        if a.job_id not in asks:
            continue
        owners = [e.name for e in from_api(acls[a.job_id]) if e.level == "IS_OWNER"]
        owner = owners[0] if owners else None
        runs_as = _run_as(a.settings)
        allowed = {me.lower(), runs_as.lower() if runs_as else ""}
        if a.key in state_owner:
            allowed.add(state_owner[a.key].lower())
        if owner is not None and owner.lower() in allowed:
            continue
        if _hands_over(a, state_owner.get(a.key)):  # manage: the reviewed owner takes the job first
            a.acl_first = True
            a.notes.append(f"job {a.job_id} is owned by {owner}: its permissions (owner {state_owner[a.key]}) are "
                           f"set before run_as {runs_as} is")
            continue
        plan.actions[i] = Action(a.key, "conflict", a.name, job_ids=[a.job_id], file=a.file, notes=[
            f"refused: job {a.job_id} is owned by {owner or 'nobody the API names'}, not by bricksync ({me})"
            + (f" or the owner state gives it ({state_owner[a.key]})" if a.key in state_owner else "")
            + f"; setting run_as {runs_as} would let that owner run anything as {runs_as}. Make {me} (or the "
            "owner in the state file) the job's owner, then plan again"
            + (" (`apply --refresh-permissions` does it first: permissions are managed and state names the owner)"
               if a.key in state_owner and a.acl is None else "")])
        plan.warnings.append(f"'{a.name}' ({a.key}): {plan.actions[i].notes[0]}")
