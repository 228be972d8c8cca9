"""Drift's second question: which tagged source jobs differ from state/ (awaiting export)?"""

from __future__ import annotations

import logging

from databricks.sdk.errors import DatabricksError

from ..core.errors import BricksyncError
from ..edges.config import Config
from ..edges.state import StateStore
from ..edges.workspace import Workspace
from .export import build_export

log = logging.getLogger("bricksync.drift")


def awaiting_export(cfg: Config) -> list[dict] | None:
    """[{key, name, status}] for tagged source jobs whose export would change state/, or None when
    the source workspace cannot be reached (drift then reports the target alone)."""
    if not (cfg.source.profile or cfg.source.host):
        return None
    store = StateStore(cfg.state_dir)
    try:
        ws = Workspace.connect(cfg.source, label="source")
        result = build_export(cfg, ws, store, with_files=False)  # (the jobs' own drift; files are drift's below)
    except (BricksyncError, DatabricksError, OSError, TimeoutError) as exc:
        log.warning("source workspace not checked: %s", exc)
        return None
    out = []
    for job in result.exported:
        before = store.read_bytes(job.key)
        if before != job.text.encode():
            out.append({"key": job.key, "name": job.name, "status": "added" if before is None else "changed"})
    out += [{"key": "", "name": name, "status": "rejected"} for name, _ in result.rejected]
    return out
