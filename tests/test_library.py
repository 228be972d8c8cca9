"""Issue 22.9: README's "Use from Python" runs as written, and library use prints nothing.

The block is taken from README.md and run in a Python process of its own (no pytest handlers, so
a warning would reach stderr as it would in a notebook), in a project whose config points at the
two emulators. A root handler at WARNING turns any log record into a line on stderr: stdout and
stderr must stay empty. What the block computed is written to a file for the assertions."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from bricksync.emulator.seed import deploy_paths, seed_source, seed_target

from .conftest import ROOT, Project

PRELUDE = """\
import logging, sys
class _Loud(logging.Handler):
    def emit(self, record):
        sys.stderr.write(f"LOGGED {record.levelname} {record.name}: {record.getMessage()}\\n")
logging.getLogger().addHandler(_Loud(level=logging.WARNING))
"""
FACTS = """
import json as _json, os as _os
with open(_os.environ["FACTS_FILE"], "w") as _f:
    _json.dump({"exported": sorted(j.key for j in exported.exported), "commit": exported.commit,
                "applied": result.applied, "failed": len(result.failed), "replanned": plan.has_changes,
                "drifted": drift.drifted, "adopted": sorted(imported.adopted), "problem": problem}, _f)
"""


def readme_block() -> str:
    section = (ROOT / "README.md").read_text().split("## Use from Python\n", 1)[1].split("\n## ", 1)[0]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_the_readme_block_runs_as_written_and_prints_nothing(project: Project, tmp_path: Path) -> None:
    seed_source(project.test.client())
    seed_target(project.prod.client())
    deploy_paths(project.prod.client())
    project.prod.client().jobs.create(name="legacy report", tasks=[])  # what the block imports
    block = readme_block()
    assert "from bricksync import BricksyncError, Project, StalePlanError" in block
    facts = tmp_path / "facts.json"
    proc = subprocess.run([sys.executable, "-c", PRELUDE + block + FACTS], cwd=project.root, capture_output=True,
                          text=True, timeout=120, env={**__import__("os").environ, "FACTS_FILE": str(facts)})
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout == "" and proc.stderr == "", (proc.stdout, proc.stderr)
    done = json.loads(facts.read_text())
    state = sorted(p.removesuffix(".yml") for p in project.state_files)  # (the import's branch is checked out)
    assert sorted(done["exported"] + done["adopted"]) == state and done["commit"]
    assert done["applied"] and done["failed"] == 0
    assert done["replanned"] is False  # the saved plan was stale (StalePlanError), the new one empty
    assert done["drifted"] is False
    assert done["adopted"] == ["legacy-report"]
    assert "no target 'staging'" in done["problem"] and "targets: prod" in done["problem"]


def test_the_names_the_readme_gives_exist() -> None:
    import bricksync
    from bricksync.core import errors

    text = (ROOT / "README.md").read_text().split("## Use from Python\n", 1)[1].split("\n## ", 1)[0]
    for name in ("BricksyncError", "PlanFileError", "StalePlanError", "PlanError", "ApplyCancelled", "PruneRefused",
                 "LockedError", "ApplyError", "ExportError", "WorkspaceError", "Interrupted"):
        assert f"`{name}`" in text and getattr(bricksync, name) is getattr(errors, name)
    assert "`bricksync.progress`" in text and callable(bricksync.progress)
    assert "bricksync/core/errors.py" in text and (ROOT / "src" / "bricksync" / "core" / "errors.py").is_file()
    assert issubclass(bricksync.Interrupted, KeyboardInterrupt) and not issubclass(bricksync.Interrupted, Exception)
