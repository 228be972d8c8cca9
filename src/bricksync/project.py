"""The library API beside the CLI: one `Project` per config file (in the spirit of SQLMesh's Context).

    from bricksync.project import Project
    p = Project("config/bricksync.yml")
    result = p.export()                 # ExportResult (raises ExportError when jobs are rejected)
    plan = p.plan("prod")               # Plan
    if plan.has_changes:
        applied = p.apply(plan)         # ApplyResult; raises StalePlanError if prod moved since
    report = p.drift("prod")            # DriftResult(plan, awaiting)

Every failure is a BricksyncError (typed subclasses in errors.py: PlanFileError, StalePlanError,
ApplyCancelled, PruneRefused, LockedError, LockReleaseError, ExportError, WorkspaceError). Nothing is printed:
progress, the plan shown before confirmation and the confirmation itself are callbacks (the CLI
passes its terminal ones). Modules are imported inside the methods, as the CLI always did: state/
is opened (desired.py reads it in worker processes) before the SDK is imported.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .core.errors import BricksyncError, ExportError, PlanFileError
from .edges.config import Config, load_config

if TYPE_CHECKING:
    from .commands.apply import ApplyResult, Confirm, Progress
    from .commands.capture import CaptureResult
    from .commands.export import ExportResult
    from .core.lease import LockRecord
    from .core.plan import Plan
    from .edges.lock import LockStatus

DEFAULT_CONFIG = "config/bricksync.yml"


@dataclass
class DriftResult:
    plan: Plan
    awaiting: list[dict] | None  # tagged source jobs that differ from state/; None: source not checked

    @property
    def drifted(self) -> bool:
        return self.plan.has_changes or bool(self.awaiting)


def _no_progress(label: str) -> AbstractContextManager:  # apply.no_progress, without importing apply early
    return nullcontext(None)


class Project:
    """One bricksync project: a config file, its state/ directory and git checkout, its targets."""

    def __init__(self, config_path: str | Path = DEFAULT_CONFIG) -> None:
        self.config_path = str(config_path)
        self.config: Config = load_config(self.config_path)  # BricksyncError naming file:line on bad config

    # -- offline -----------------------------------------------------------------------------------

    def validate(self) -> int:
        """Config, profiles and every state file, offline. Returns the number of valid state files."""
        from .commands.desired import DesiredState
        from .edges.profiles import check_profiles
        from .edges.state import read_adoptions

        check_profiles(self.config)  # every profile named is in the profiles file (when there is one)
        with DesiredState(self.config.state_dir) as desired:
            from .commands.validate import validate_state  # imports no SDK (tests/test_offline.py)

            count = validate_state(desired, self.config)
        for name in self.config.targets:  # adoption records written by `bricksync import`
            read_adoptions(self.config.state_dir, name)
        return count

    @staticmethod
    def load_plan(text: str, *, source: str = "<plan>") -> Plan:
        """A plan saved by `plan --out` (Plan.to_dict as JSON)."""
        from .core.plan import Plan

        try:
            return Plan.from_dict(json.loads(text))
        except (ValueError, KeyError, TypeError, RecursionError) as exc:  # (JSON nested too deep)
            raise PlanFileError(f"{source}: not a bricksync plan file ({type(exc).__name__})") from None

    @staticmethod
    def read_plan(path: str) -> Plan:
        """A plan file ('-': stdin) saved by `plan --out`."""
        from .edges.state import read_output

        try:
            text = read_output(path)
        except OSError as exc:
            raise PlanFileError(f"{path}: not a bricksync plan file ({type(exc).__name__})") from None
        return Project.load_plan(text, source=path)

    # -- source -> git -----------------------------------------------------------------------------

    def export(self, *, branch: str | None = None, commit: bool = True, push: bool = False,
               acknowledge: bool | None = None, dry_run: bool = False,
               progress: Progress = _no_progress, ack_parallelism: int | None = None) -> ExportResult:
        """Tagged source jobs -> state/ -> a commit (and the tags acknowledged, `ack_parallelism`
        jobs/update calls at a time; None: source.ack_parallelism). Raises ExportError
        (with `.result`: what was still written and committed) when jobs were rejected."""
        from .commands.desired import DesiredState

        with DesiredState(self.config.state_dir) as desired:  # before the SDK import: see desired.py
            from .commands.export import run_export
            from .edges.workspace import Workspace

            ws = Workspace.connect(self.config.source, label="source")
            ws.check_host(self.config.source.host, "source")
            with progress("Reading source jobs") as advance:
                result = run_export(self.config, ws, branch=branch, commit=commit, push=push,
                                    acknowledge=acknowledge, dry_run=dry_run, on_page=advance,
                                    ack_parallelism=ack_parallelism, desired=desired)
        result.host = ws.host
        if result.rejected:
            problems = [p for _, found in result.rejected for p in found]
            raise ExportError(problems, result=result)
        return result

    # -- git -> target -----------------------------------------------------------------------------

    def plan(self, target: str, *, adopt: bool = False, refresh_permissions: bool = False,
             strict_paths: bool = False, progress: Progress = _no_progress) -> Plan:
        """What apply would change in a target."""
        from .commands.desired import DesiredState

        with DesiredState(self.config.state_dir) as desired:  # before the SDK import: see desired.py
            from .commands.reconcile import connect_target, plan_target

            ws = connect_target(self.config, target)
            with progress(f"Reading {target} jobs") as advance:
                return plan_target(self.config, target, ws, desired, adopt=adopt, on_page=advance,
                                   refresh_acls=refresh_permissions, strict_paths=strict_paths)

    def apply(self, plan: Plan | None = None, *, target: str | None = None, source: str | None = None,
              prune: bool = False, adopt: bool = False, parallelism: int = 8, refresh_permissions: bool = False,
              strict_paths: bool = False, allow_empty_state: bool = False, allow_mass_delete: bool = False,
              confirm: Confirm | None = None, on_plan: Callable[[Plan], None] | None = None,
              progress: Progress = _no_progress) -> ApplyResult:
        """Apply a saved plan (checked: same target, same host, target unchanged since), or plan
        `target` now and apply it. `confirm=None` applies without asking. `result.applied` is False
        when there was nothing to write; `result.failed` / `result.conflicts` say what did not land."""
        if plan is None and target is None:
            raise BricksyncError("apply needs a plan or a target")
        target = target or plan.target  # type: ignore[union-attr]
        options = dict(source=source, prune=prune, adopt=adopt, parallelism=parallelism,
                       refresh_acls=refresh_permissions, strict_paths=strict_paths,
                       allow_empty_state=allow_empty_state, allow_mass_delete=allow_mass_delete,
                       confirm=confirm, on_plan=on_plan, progress=progress)
        if plan is not None:
            from .commands.apply import run_apply

            return run_apply(self.config, target, plan=plan, **options)
        from .commands.desired import DesiredState

        with DesiredState(self.config.state_dir) as desired:  # read while the SDK is imported
            from .commands.apply import run_apply

            return run_apply(self.config, target, desired=desired, **options)

    def drift(self, target: str, *, check_source: bool = True, strict_paths: bool = False) -> DriftResult:
        """The scheduled check: every ACL read and every path checked, plus (with `check_source`)
        the tagged source jobs awaiting export."""
        from .commands.desired import DesiredState

        with DesiredState(self.config.state_dir) as desired:
            from .commands.reconcile import connect_target, plan_target

            ws = connect_target(self.config, target)
            # hand-made grants are drift: every ACL is read
            the_plan = plan_target(self.config, target, ws, desired, refresh_acls=True, strict_paths=strict_paths,
                                   all_paths=True, drift=True)
        from .commands.drift import awaiting_export

        return DriftResult(the_plan, awaiting_export(self.config) if check_source else None)

    # -- target -> git -----------------------------------------------------------------------------

    def capture(self, target: str, keys: list[str] | None = None, *, branch: str | None = None,
                push: bool = False, dry_run: bool = False) -> CaptureResult:
        """Accept drift: the live settings of drifted managed jobs (all, or `keys`) -> state/ -> a
        commit on `branch` (default bricksync/capture-<target>-<UTC date>). Refused jobs are in
        `result.refused`, their files left as they are."""
        from .commands.capture import build_capture, default_branch, write_result
        from .commands.reconcile import connect_target

        ws = connect_target(self.config, target)
        branch = branch or default_branch("capture", target)  # once: the files are read as it has them
        result = build_capture(self.config, target, ws, list(keys) if keys else None, branch=branch)
        return write_result(self.config, result, branch=branch, push=push, dry_run=dry_run)

    def import_jobs(self, target: str, *, all_jobs: bool = False, pattern: str | None = None,
                    job_ids: list[int] | None = None, branch: str | None = None, push: bool = False,
                    dry_run: bool = False) -> CaptureResult:
        """Take unmanaged target jobs (all, those named like the glob `pattern`, or `job_ids`) under
        management: state files and adoption records committed; apply adopts them in place."""
        from .commands.capture import build_import, default_branch, write_result
        from .commands.reconcile import connect_target

        if sum((all_jobs, pattern is not None, bool(job_ids))) != 1:
            raise BricksyncError("import needs exactly one of all_jobs, pattern, job_ids")
        ws = connect_target(self.config, target)
        branch = branch or default_branch("import", target)  # once: the files are read as it has them
        result = build_import(self.config, target, ws, all_jobs=all_jobs, pattern=pattern,
                              job_ids=list(job_ids or []), branch=branch)
        return write_result(self.config, result, branch=branch, push=push, dry_run=dry_run)

    def lock(self, target: str) -> LockStatus:
        """The target's apply lock: `.record` (a LockRecord: holder, purpose, acquired_at, expires_at;
        None when not locked) and `.claims` (takeover claims a crashed run left behind); with
        targets.<t>.identity set, `.legacy` (`.legacy_path`): a lock an older bricksync left in /Shared."""
        from .commands.reconcile import connect_target
        from .edges.lock import ApplyLock, lock_place

        place = lock_place(target, self.config.target(target).identity)  # where apply takes it
        return ApplyLock(connect_target(self.config, target), target, lease=1.0, place=place).status()

    def unlock(self, target: str, *, expected: LockRecord | None = None, check: bool = False,
               expected_legacy: LockRecord | None = None) -> LockRecord | None:
        """Clear the target's apply lock (and leftover claims): the record removed, None when unlocked.
        `check=True`: only if the lock still is `expected` (e.g. what `lock()` showed), else LockedError.
        With targets.<t>.identity set, an older bricksync's /Shared lock is cleared too (`check`: if it
        still is `expected_legacy`, what `lock().legacy` showed)."""
        from .commands.reconcile import connect_target
        from .edges.lock import ApplyLock, lock_place

        place = lock_place(target, self.config.target(target).identity)  # where apply takes it
        lock = ApplyLock(connect_target(self.config, target), target, lease=1.0, place=place)
        return lock.clear(expected, check=check, expected_legacy=expected_legacy)
