"""The CI runner's own files: the step summary of a GitHub Actions run.

A step appends Markdown to the file named by GITHUB_STEP_SUMMARY; the run page shows it. The
runner refuses a summary over 1 MiB per step, whole ("$GITHUB_STEP_SUMMARY upload aborted,
supports content up to a size of 1024k", the runner's own message; docs: "Adding a job
summary"), so what is appended is cut to what is left of that budget.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from ..core.prcomment import fit_markdown

STEP_SUMMARY_LIMIT = 1024 * 1024  # bytes per step


def append_step_summary(text: str, env: Mapping[str, str] = os.environ) -> bool:
    """Append `text` (cut to the step's remaining budget) to $GITHUB_STEP_SUMMARY. False when
    there is no such file to write (not in GitHub Actions)."""
    path = env.get("GITHUB_STEP_SUMMARY")
    if not path:
        return False
    try:
        used = os.path.getsize(path)
    except OSError:
        used = 0
    room = STEP_SUMMARY_LIMIT - used - 2
    if room <= 0:
        return False
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(fit_markdown(text, room, "the step summary", "this step's log") + "\n")
    return True
