"""bricksync: declarative GitOps sync for Databricks Jobs.

    from bricksync import Project, BricksyncError

`Project` (project.py) is the library API; every failure is a `BricksyncError` (core/errors.py,
typed subclasses exported here too). Imported on first use, so that `import bricksync` alone (the
emulator, worker processes) costs nothing.
"""

from __future__ import annotations

import logging
from typing import Any

__version__ = "0.1.0"

ERRORS = ("BricksyncError", "WorkspaceError", "PlanError", "PlanFileError", "StalePlanError", "ApplyError",
          "ApplyCancelled", "PruneRefused", "LockedError", "LockReleaseError", "ExportError", "Interrupted")
__all__ = ["Project", "__version__", "progress", *ERRORS]

# A library logs, the application shows: without handlers of the caller's own, nothing is printed.
logging.getLogger(__name__).addHandler(logging.NullHandler())


def __getattr__(name: str) -> Any:
    if name == "Project":
        from .project import Project

        return Project
    if name == "progress":  # progress bars on a terminal, for `progress=` (what the CLI passes)
        from .reports.ui import progress

        return progress
    if name in ERRORS:
        from .core import errors

        return getattr(errors, name)
    raise AttributeError(f"module 'bricksync' has no attribute {name!r}")
