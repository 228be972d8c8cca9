"""Guards against deleting what should not be deleted (apply --prune). Pure.

A state directory that reads as empty (a wrong checkout, a bad merge, files renamed to
something bricksync does not read) turns every managed job into an orphan; prune would then
delete production. Two limits stand in the way, each lifted only by its own flag."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .errors import Problem, PruneRefused

if TYPE_CHECKING:
    from .plan import Plan


def managed_count(plan: Plan) -> int:
    """Live jobs carrying a bricksync key that the plan saw."""
    return (len(plan.of("no-op")) + len(plan.of("update")) + len(plan.of("orphan"))
            + sum(len(a.job_ids) for a in plan.of("conflict")))


def check_prune(plan: Plan, *, allow_empty_state: bool, allow_mass_delete: bool, max_percent: float) -> None:
    """Raise unless the plan's deletes (its orphans) pass both limits."""
    deletes = len(plan.of("orphan"))
    wanted = len([a for a in plan.actions if a.action != "orphan"])
    _check("job", deletes, managed_count(plan), plan.target, empty=wanted == 0, where="state/",
           allow_empty_state=allow_empty_state, allow_mass_delete=allow_mass_delete, max_percent=max_percent)


def check_file_prune(plan: Plan, *, allow_empty_state: bool, allow_mass_delete: bool, max_percent: float) -> None:
    """The same two limits for managed notebooks and files (plan.files' orphans)."""
    deletes = sum(f.action == "orphan" for f in plan.files)
    managed = sum(f.action in ("orphan", "no-op", "update") for f in plan.files)
    _check("file", deletes, managed, plan.target, empty=deletes == len(plan.files), where="state/files/",
           allow_empty_state=allow_empty_state, allow_mass_delete=allow_mass_delete, max_percent=max_percent)


def _check(kind: str, deletes: int, managed: int, target: str, *, empty: bool, where: str, allow_empty_state: bool,
           allow_mass_delete: bool, max_percent: float) -> None:
    if not deletes:
        return
    problems = []
    if empty and not allow_empty_state:
        problems.append(Problem(
            f"{where} holds no {kind}, so prune would delete all {deletes} managed {kind}(s) of target '{target}'. "
            "If that is really meant, pass --allow-empty-state (and --allow-mass-delete)"))
    share = 100.0 * deletes / managed if managed else 100.0
    if share > max_percent and not allow_mass_delete:
        problems.append(Problem(
            f"prune would delete {deletes} of {managed} managed {kind}(s) of target '{target}' ({share:.0f}%), "
            f"more than max_prune_percent ({max_percent:g}%, targets.{target}.max_prune_percent). "
            f"Check {where} first; if it is right, pass --allow-mass-delete"))
    if problems:
        raise PruneRefused(problems)
