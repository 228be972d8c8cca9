"""Offline checks of state/ and the config (`bricksync validate`, and the first step of every plan).

No workspace: this module and what it imports must not import databricks-sdk (tests/test_offline.py
runs `validate` and checks). The schema table comes from edges/schema_cache.py for the same reason.
"""

from __future__ import annotations

from ..core.errors import BricksyncError, Problem
from ..core.filecheck import content_checks, use_checks
from ..core.overrides import check_overrides
from ..core.paths import path_sites
from ..core.validate import check_across
from ..edges.config import Config
from ..edges.schema_cache import job_schema
from ..edges.state import StateStore
from ..edges.statefiles import FileStore, files_in_use
from .desired import DesiredState, Summary


def checked(desired: DesiredState) -> list[Summary]:
    """Every document's summary once all of them passed every check (else all problems)."""
    summaries, problems = desired.summaries()
    problems = problems + check_across([s.links for s in summaries])
    if problems:
        raise BricksyncError(problems)
    return summaries


def validate_state(desired: DesiredState, cfg: Config | None = None) -> int:
    """Offline checks of state/ and, with `cfg`, of every target's overrides (as paths and
    types, then applied to each document): the number of valid documents."""
    desired.request(job_schema(), None, None)
    summaries = checked(desired)
    if cfg is not None:
        problems = file_problems(cfg)
        for target in cfg.targets.values():
            found = target_problems(cfg, target.name, summaries)
            if not found:
                desired.request(job_schema(), target, None)
                found = desired.summaries()[1]
            problems.extend(found)
        if problems:
            raise BricksyncError(problems)
    return len(summaries)


def target_problems(cfg: Config, target_name: str, summaries: list[Summary]) -> list[Problem]:
    """A target's overrides checked against the schema and the state keys (once per target)."""
    target = cfg.target(target_name)
    return check_overrides(target_name, target.overrides, job_schema(), {s.key for s in summaries},
                           str(cfg.path))


def file_problems(cfg: Config) -> list[Problem]:
    """state/files/ checked offline against the jobs in state/ (core/filecheck.py)."""
    if not files_in_use(cfg.source.files, cfg.state_dir):
        return []
    store = FileStore(cfg.state_dir)
    docs, problems = store.read_all()
    state_docs, _ = StateStore(cfg.state_dir).read_all()  # (their own problems are reported above)
    uses = {d.key: [(str(d.settings.get("name", d.key)), s.location, str(s.value)) for s in path_sites(d.settings)]
            for d in state_docs}
    return problems + content_checks(docs) + use_checks(docs, uses, cfg.source.notebook_root,
                                                        required=cfg.source.files == "referenced",
                                                        exempt=store.not_copied())
