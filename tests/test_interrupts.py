"""Issue 22.15: Ctrl-C says what is already done and what is not, and a rerun finishes the work
(export after its commit, apply in the middle of its writes); the emulator prints no traceback
when a client goes away; shell completion (click's) works for bash, zsh and fish.

The Ctrl-C tests run the CLI as a process in its own session and send SIGINT to the whole group,
as a terminal does; a 503 with Retry-After holds a call open, so the signal lands mid-way."""

from __future__ import annotations

import os
import re
import signal
import socket
import struct
import subprocess
import sys
import time

import pytest
from click.testing import CliRunner

from bricksync.cli import cli
from bricksync.core.render import KEY_TAG
from bricksync.emulator import EmulatorServer
from bricksync.emulator.faults import FaultRule
from bricksync.emulator.seed import deploy_paths, seed_source, seed_target

from .conftest import TOKEN, Project


def _interrupt_when(project: Project, args: list[str], ready) -> str:
    """Run `bricksync ARGS` in the project, send Ctrl-C once `ready()` holds; its output."""
    proc = subprocess.Popen([sys.executable, "-m", "bricksync.cli", *args], cwd=project.root, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while not ready():
            assert proc.poll() is None, proc.communicate()[0]
            assert time.monotonic() < deadline, "never ready"
            time.sleep(0.01)
        os.killpg(proc.pid, signal.SIGINT)
        output, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 1, output
    assert "Traceback" not in output and "KeyboardInterrupt" not in output, output
    return output


def _tagged(project: Project, *, seed: bool = False) -> dict[str, str]:
    """Source job name -> its selection tag (after seeding the source, with `seed`)."""
    if seed:
        seed_source(project.test.client())
    return {j.settings.name: j.settings.tags.get("PROD_MIGRATION") for j in project.test.client().jobs.list()}


def test_ctrl_c_after_the_commit_says_what_is_done_and_a_rerun_finishes(project: Project) -> None:
    tagged = [name for name, value in _tagged(project, seed=True).items() if (value or "").strip().lower() == "true"]
    # the second tag update is answered 503 "retry in 1 s": Ctrl-C lands while the first is done
    hold = project.test.faults.add(FaultRule(method="POST", path="/api/2.2/jobs/update", status=503, retry_after=1,
                                             skip=1))
    output = _interrupt_when(project, ["export", "--branch", "main", "--ack-parallelism", "1"],
                             lambda: hold.fired == 1)
    head = project.repo.head.commit.hexsha
    flipped = [name for name, value in _tagged(project).items() if value == "false" and name in tagged]
    total = len(project.state_files)
    assert len(flipped) == 2 and total == len(tagged) > 2  # the one done, the one in flight; the rest cancelled
    said = " ".join(output.split())
    assert f"interrupted after the commit: commit {head[:12]} is on branch 'main' (not pushed)" in said, said
    assert f"2 of {total} exported job(s) have their selection tag PROD_MIGRATION set to false" in said
    assert "again to finish it" in said

    res = project.run("export", "--branch", "main")
    assert res.code == 0, res.output
    assert project.repo.head.commit.hexsha == head  # no second commit
    assert {_tagged(project)[name] for name in tagged} == {"false"}


def test_ctrl_c_during_apply_says_what_was_written_and_a_rerun_converges(project: Project) -> None:
    seed_source(project.test.client())
    seed_target(project.prod.client())
    deploy_paths(project.prod.client())
    assert project.run("export", "--branch", "main").code == 0
    hold = project.prod.faults.add(FaultRule(method="POST", path="/api/2.2/jobs/create", status=429, retry_after=1,
                                             skip=1))
    output = _interrupt_when(project, ["apply", "--target", "prod", "--yes", "--parallelism", "1"],
                             lambda: hold.fired == 1)
    said = " ".join(output.split())
    created = re.search(r"written: (\d+) created \(([^)]*)\); (\d+) change\(s\) not written", said)
    assert created, said
    assert created.group(1) == "2" and int(created.group(3)) == len(project.state_files) - 2
    assert "interrupted during apply to 'prod'" in said and "again to finish it" in said

    def managed() -> list[str]:
        return sorted(j.settings.tags[KEY_TAG] for j in project.prod.client().jobs.list()
                      if KEY_TAG in (j.settings.tags or {}))

    assert managed() == sorted(created.group(2).split(", "))
    res = project.run("apply", "--target", "prod", "--yes")
    assert res.code == 0, res.output
    assert managed() == sorted(p.removesuffix(".yml") for p in project.state_files)  # no duplicate


def test_a_client_going_away_mid_response_prints_no_traceback(capfd: pytest.CaptureFixture) -> None:
    with EmulatorServer("test", token=TOKEN, latency_ms=100) as server:
        host, port = server.url.removeprefix("http://").split(":")
        sock = socket.create_connection((host, int(port)))
        sock.sendall(f"GET /api/2.2/jobs/list HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n\r\n".encode())
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()  # a reset while the server waits out its latency: its answer meets a closed peer
        time.sleep(0.3)
        assert server.client().jobs.create(name="still serving").job_id  # and the server goes on
    assert server.faults.counts()["GET /api/2.2/jobs/list"] == 1  # the request was served (then lost)
    captured = capfd.readouterr()
    assert "Traceback" not in captured.err and "Error" not in captured.err, captured.err


def _complete(shell: str, words: str, env: dict[str, str] | None = None) -> str:
    args = words.split()
    incomplete = "" if words.endswith(" ") else args.pop()
    complete_env = {"_BRICKSYNC_COMPLETE": f"{shell}_complete", "COMP_WORDS": words,
                    "COMP_CWORD": str(len(args)) if shell != "fish" else incomplete, **(env or {})}
    res = CliRunner().invoke(cli, [], prog_name="bricksync", env=complete_env)
    assert res.exit_code == 0, res.output
    return res.output


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_shell_completion(shell: str, project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    script = CliRunner().invoke(cli, [], prog_name="bricksync", env={"_BRICKSYNC_COMPLETE": f"{shell}_source"})
    assert script.exit_code == 0 and "_BRICKSYNC_COMPLETE" in script.output, script.output
    assert "plan" in _complete(shell, "bricksync pl")
    assert "serve" in _complete(shell, "bricksync emulator se")
    assert "--target" in _complete(shell, "bricksync plan --ta")
    monkeypatch.chdir(project.root)  # target names come from the config file
    assert "prod" in _complete(shell, "bricksync plan --target ")
