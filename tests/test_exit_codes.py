"""Issue 14.11: usage errors exit 1, never 2 (which means "changes present")."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

USAGE_ERRORS = [
    [],                                           # no command
    ["plan"],                                     # missing --target
    ["plan", "--target"],                         # option without its value
    ["--bogus", "validate"],                      # unknown option of the group
    ["plan", "--target", "prod", "--bogus"],      # unknown option of a command
    ["apply", "--target", "prod", "--parallelism", "0"],  # out of range
    ["apply", "--target", "prod", "a.plan", "b.plan"],    # extra argument
    ["plna", "--target", "prod"],                 # no such command
    ["emulator", "serve", "--port", "many"],      # a nested group's command
    ["emulator", "nope"],
]


@pytest.mark.parametrize("args", USAGE_ERRORS, ids=[" ".join(a) or "no-args" for a in USAGE_ERRORS])
def test_usage_errors_exit_1(tmp_path: Path, args: list[str]) -> None:
    proc = subprocess.run([sys.executable, "-m", "bricksync.cli", *args], cwd=tmp_path, capture_output=True,
                          text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert proc.returncode == 1, (args, proc.returncode, proc.stderr)
    assert "Traceback" not in proc.stderr
    if args:
        assert "Error:" in proc.stderr or "Usage:" in proc.stderr


def test_help_and_version_still_exit_0(tmp_path: Path) -> None:
    for args in (["--help"], ["--version"], ["plan", "--help"]):
        proc = subprocess.run([sys.executable, "-m", "bricksync.cli", *args], cwd=tmp_path, capture_output=True,
                              text=True, timeout=60)
        assert proc.returncode == 0, args
