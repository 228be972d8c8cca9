"""Issue 14.18: apply as a user with no passwd entry (common in containers) works; the lock's
holder name falls back to LOGNAME/USER, then the numeric uid."""

from __future__ import annotations

import base64
import json
import os
import shutil
import site
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from bricksync.edges.lock import holder_name
from bricksync.emulator import EmulatorServer, FaultRule
from bricksync.emulator.seed import seed_source, seed_target

from .conftest import Project, make_project

NOBODY = 54321  # a uid without a passwd entry
SYSTEM_PYTHON = Path(f"/usr/bin/python{sys.version_info.major}.{sys.version_info.minor}")
SRC = Path(__file__).resolve().parents[1] / "src"


@pytest.mark.parametrize("env,expected", [
    ({}, f"uid{os.getuid()}"), ({"USER": "ci-runner"}, "ci-runner"), ({"LOGNAME": "builder"}, "builder"),
    ({"USER": "", "LOGNAME": ""}, f"uid{os.getuid()}")])
@pytest.mark.parametrize("failure", [KeyError, OSError])
def test_holder_name_falls_back_when_there_is_no_passwd_entry(monkeypatch: pytest.MonkeyPatch, env: dict,
                                                              expected: str, failure: type) -> None:
    import pwd

    def no_entry(uid: int) -> None:
        raise failure(f"getpwuid(): uid not found: {uid}")

    monkeypatch.setattr(pwd, "getpwuid", no_entry)
    for var in ("LOGNAME", "USER", "LNAME", "USERNAME"):
        monkeypatch.delenv(var, raising=False)
    for var, value in env.items():
        monkeypatch.setenv(var, value)
    assert holder_name() == expected


def _can_switch_uid() -> bool:
    if not hasattr(os, "setuid") or os.geteuid() != 0 or not SYSTEM_PYTHON.exists():
        return False
    import pwd

    try:
        pwd.getpwuid(NOBODY)
        return False  # the uid exists here: the test would prove nothing
    except KeyError:
        return True


def _others_can_read(path: Path) -> bool:
    """Can a uid that is neither owner nor in the group enter every folder down to `path`?"""
    return all(not folder.exists() or folder.stat().st_mode & 0o001 for folder in [path, *path.parents])


@pytest.fixture
def open_project(test_ws: EmulatorServer, prod_ws: EmulatorServer, monkeypatch: pytest.MonkeyPatch
                 ) -> Iterator[Project]:
    """An exported project in a folder another uid can read (pytest's tmp_path is root-only)."""
    if not all(_others_can_read(Path(d)) for d in site.getsitepackages()):
        pytest.skip("the virtualenv's packages are not readable by another uid (a clone under a 0700 folder)")
    base = Path(tempfile.mkdtemp(prefix="bricksync-uid-"))
    base.chmod(0o755)
    # The checkout may sit in a folder only root can enter (mktemp -d): the other uid runs a copy.
    shutil.copytree(SRC / "bricksync", base / "src" / "bricksync", ignore=shutil.ignore_patterns("__pycache__"))
    try:
        p = make_project(base, test_ws, prod_ws, monkeypatch)
        seed_source(p.test.client())
        seed_target(p.prod.client())
        res = p.run("export", "--branch", "main")
        assert res.code == 0, res.output
        yield p
    finally:
        shutil.rmtree(base, ignore_errors=True)


def _run_as_nobody(p: Project, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    """The CLI as uid NOBODY (no passwd entry), on the system interpreter (the one under /root is
    not readable by other users) with this project's packages."""
    paths = [str(p.root.parent / "src"), *site.getsitepackages()]
    clean = {k: v for k, v in os.environ.items() if k not in ("USER", "LOGNAME", "LNAME", "USERNAME", "HOME")}
    return subprocess.run([str(SYSTEM_PYTHON), "-m", "bricksync.cli", *args], cwd=p.root, capture_output=True,
                          text=True, timeout=120, stdin=subprocess.DEVNULL, preexec_fn=lambda: os.setuid(NOBODY),
                          env={**clean, "PYTHONPATH": os.pathsep.join(paths), "PYTHONDONTWRITEBYTECODE": "1",
                               "HOME": str(p.root), **env})


@pytest.mark.skipif(not _can_switch_uid(), reason="needs root, a system python and a free uid")
@pytest.mark.parametrize("env,expected", [({}, f"uid{NOBODY}"), ({"USER": "ci-runner"}, "ci-runner")])
def test_apply_as_a_uid_without_passwd_entry(open_project: Project, env: dict, expected: str) -> None:
    p = open_project
    # Keep the lock behind (its delete refused once) to read the holder this run wrote.
    p.prod.faults.add(FaultRule("POST", "/api/2.0/workspace/delete", 403, count=1))
    proc = _run_as_nobody(p, "apply", "--target", "prod", "--yes", env=env)
    output = proc.stdout + proc.stderr
    assert "getpwuid" not in output and "KeyError" not in output, output
    assert len([j for j in p.prod.workspace.jobs.jobs.values()
                if "bricksync-key" in j["settings"].get("tags", {})]) == 5, output  # the apply ran
    lock = p.prod.workspace.objects["/Shared/.bricksync/locks/prod.lock"]
    assert json.loads(base64.b64decode(lock["content"]))["user"] == expected
    proc = _run_as_nobody(p, "unlock", "--target", "prod", "--yes", env=env)
    assert proc.returncode == 0 and f"held by {expected}@" in proc.stdout, proc.stdout + proc.stderr
    proc = _run_as_nobody(p, "plan", "--target", "prod", "--detailed-exitcode", env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
