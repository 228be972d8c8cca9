"""Issue 14.12: reports go to regular files (atomically) or to stdout ('-'); a link, FIFO,
device node, directory or missing folder at the path is an error naming it, checked before
any work, and nothing at the path is replaced."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import Project


def _link_to_file(p: Project) -> tuple[str, str]:
    victim = p.root.parent / "victim.txt"
    victim.write_text("keep me\n")
    (p.root / "report").symlink_to(victim)
    return "report", "symbolic link"


def _dangling_link(p: Project) -> tuple[str, str]:
    (p.root / "report").symlink_to(p.root.parent / "nowhere.txt")
    return "report", "symbolic link"


def _fifo(p: Project) -> tuple[str, str]:
    os.mkfifo(p.root / "report")
    return "report", "FIFO"


def _device(p: Project) -> tuple[str, str]:
    return "/dev/null", "character device"


def _missing_folder(p: Project) -> tuple[str, str]:
    return "no/such/folder/report", "does not exist"


def _parent_is_a_file(p: Project) -> tuple[str, str]:
    (p.root / "afile").write_text("x")
    return "afile/report", "is not a folder"


def _directory(p: Project) -> tuple[str, str]:
    (p.root / "report").mkdir()
    return "report", "directory"


CASES = {"link-to-file": _link_to_file, "dangling-link": _dangling_link, "fifo": _fifo, "device": _device,
         "missing-folder": _missing_folder, "parent-is-a-file": _parent_is_a_file, "directory": _directory}


def _entry(path: Path) -> tuple:
    if not os.path.lexists(path):
        return ("absent",)
    st = os.lstat(path)
    return (st.st_mode, st.st_ino, os.readlink(path) if os.path.islink(path) else None)


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("option", ["--json", "--markdown", "--out"])
def test_report_paths_must_be_regular_files(exported: Project, case: str, option: str) -> None:
    p = exported
    path, why = CASES[case](p)
    full = p.root / path
    before = _entry(full)
    victim = p.root.parent / "victim.txt"
    run = p.run_process if case == "fifo" else p.run  # a regression would block on the FIFO: a timeout
    res = run("plan", "--target", "prod", option, path)
    assert res.code == 1, res.output
    assert path in res.output and why in res.output and "Traceback" not in res.output
    assert _entry(full) == before
    if victim.exists():
        assert victim.read_text() == "keep me\n"
    assert not [f for f in os.listdir(p.root) if f.endswith(".tmp")]


@pytest.mark.parametrize("option", ["--json", "--markdown"])
def test_drift_report_paths_are_checked_too(exported: Project, option: str) -> None:
    p = exported
    path, _ = _fifo(p)
    res = p.run_process("drift", "--target", "prod", "--no-source", option, path, timeout=60)
    assert res.code == 1 and "FIFO" in res.output


def _cli(p: Project, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bricksync.cli", *args], cwd=p.root, capture_output=True,
                          text=True, timeout=60, input=stdin, env=os.environ.copy())


def test_dash_writes_the_report_alone_to_stdout(exported: Project) -> None:
    p = exported
    proc = _cli(p, "plan", "--target", "prod", "--json", "-", "--markdown", "plan.md")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)  # nothing else on stdout
    assert report["summary"]["create"] == 5 and "5 to create" in proc.stderr
    assert (p.root / "plan.md").read_text().startswith("**5 to create")
    res = p.run("plan", "--target", "prod", "--json", "-", "--markdown", "-")
    assert res.code == 1 and "only one report" in res.output


def test_a_plan_through_a_pipe_applies(exported: Project) -> None:
    p = exported
    saved = _cli(p, "plan", "--target", "prod", "--out", "-")
    assert saved.returncode == 0 and json.loads(saved.stdout)["target"] == "prod"
    applied = _cli(p, "apply", "--target", "prod", "-", stdin=saved.stdout)
    assert applied.returncode == 0, applied.stderr
    assert p.run("plan", "--target", "prod", "--detailed-exitcode").code == 0


@pytest.mark.parametrize("case", ["fifo", "device"])
def test_a_plan_file_that_is_not_a_regular_file_is_refused(exported: Project, case: str) -> None:
    p = exported
    path = CASES[case](p)[0]
    run = p.run_process if case == "fifo" else p.run  # a regression would block on the FIFO: a timeout
    res = run("apply", "--target", "prod", path)
    assert res.code == 1 and "not a regular file" in res.output, res.output


def test_reports_still_replace_a_regular_file_atomically(exported: Project) -> None:
    p = exported
    (p.root / "plan.json").write_text("old")
    assert p.run("plan", "--target", "prod", "--json", "plan.json").code == 0
    assert json.loads((p.root / "plan.json").read_text())["kind"] == "plan"
