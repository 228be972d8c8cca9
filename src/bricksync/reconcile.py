"""Plan for a target from state/ and the live workspace (shared by plan, apply and drift)."""

from __future__ import annotations

from .config import Config
from .errors import BricksyncError
from .plan import Plan, build_plan
from .state import StateDoc, StateStore
from .validate import validate_docs
from .workspace import Workspace


def load_state(cfg: Config) -> list[StateDoc]:
    """Every state document, validated; all problems reported at once."""
    docs, problems = StateStore(cfg.state_dir).read_all()
    problems += validate_docs(docs)
    if problems:
        raise BricksyncError(problems)
    return docs


def connect_target(cfg: Config, target_name: str) -> Workspace:
    target = cfg.target(target_name)
    ws = Workspace.connect(target, label=target_name)
    ws.check_host(target.host, f"target '{target_name}'")
    return ws


def plan_target(cfg: Config, target_name: str, ws: Workspace, docs: list[StateDoc] | None = None, *,
                adopt: bool = False, on_page=None) -> Plan:
    docs = load_state(cfg) if docs is None else docs
    target = cfg.target(target_name)
    live = ws.list_jobs(on_page=on_page)
    inventory = ws.inventory()
    plan, problems = build_plan(docs, live, target, inventory, host=ws.host, adopt=adopt)
    if problems:
        raise BricksyncError(problems)
    return plan


def live_fingerprint(plan: Plan, ws: Workspace) -> str:
    """Recompute a saved plan's fingerprint from the workspace as it is now."""
    from .plan import fingerprint
    from .render import managed_key

    live = ws.list_jobs()
    watched = [j for j in live if managed_key(j) or int(j["job_id"]) in set(plan.watched)]
    return fingerprint(watched)
