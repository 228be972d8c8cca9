"""Fixtures: two emulated workspaces (test, prod) on loopback ports, real SDK clients, and a
throwaway project (git repo + bare origin + config + .databrickscfg) to run the CLI in."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import git
import pytest
from click.testing import CliRunner

# Tables are laid out for a pipeline log's width whatever runs the suite (a terminal, CI, or an
# xdist worker, whose stdout is no terminal and would get rich's 80 columns): set before bricksync
# is imported, since reports/ui.py reads it once.
os.environ["COLUMNS"] = "140"

from bricksync.cli import cli
from bricksync.demo import init_repo
from bricksync.emulator import EmulatorServer
from bricksync.emulator.seed import config_yaml, seed_source, seed_target

ROOT = Path(__file__).resolve().parents[1]
SCHEMAS = ROOT / "tests" / "data"  # copied into the repo (README there): a fresh clone needs nothing beside it
TOKEN = "dapi-test-token-0001"


@pytest.fixture(autouse=True)
def isolated_env(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """No real credentials, profiles or pipeline variables leak into a test."""
    for var in list(os.environ):
        if var.startswith(("DATABRICKS_", "ARM_", "BRICKSYNC_", "AZURE_", "SYSTEM_", "BUILD_", "GITHUB_",
                           "ACTIONS_", "RUNNER_")) or var in ("TF_BUILD", "idToken", "servicePrincipalKey",
                                                               "GH_TOKEN"):
            monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("DATABRICKS_CONFIG_FILE", str(tmp_path_factory.mktemp("nocfg") / "none.cfg"))
    # validate's schema cache (edges/schema_cache.py): one per test session, never the user's ~/.cache
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.getbasetemp() / "xdg-cache"))
    for var, value in (("GIT_AUTHOR_NAME", "Test"), ("GIT_AUTHOR_EMAIL", "test@example.com"),
                       ("GIT_COMMITTER_NAME", "Test"), ("GIT_COMMITTER_EMAIL", "test@example.com")):
        monkeypatch.setenv(var, value)
    monkeypatch.setenv("NO_COLOR", "1")
    # Retries still happen, without the SDK's 1-2 s pauses a workspace gave no Retry-After for
    # (tests/test_limits.py checks the knob and the default; the unreachable-host tests unset it).
    monkeypatch.setenv("BRICKSYNC_MAX_BACKOFF", "0.01")


@pytest.fixture(autouse=True)
def no_raw_ids_in_state(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[None]:
    """Issue 16: after every test, no state file export wrote holds a raw workspace ID (a UUID,
    32 or 16 hex characters, a cluster ID, a 10+ digit number) in a reference field."""
    yield
    if request.node.get_closest_marker("raw_ids"):  # the test writes raw IDs on purpose
        return
    from .idscan import scan_state_files

    found = scan_state_files(tmp_path)
    assert not found, "raw workspace IDs in state files:\n" + "\n".join(found)


@pytest.fixture(scope="session")
def listeners() -> Iterator[dict[str, socket.socket]]:
    """One listening socket per workspace for the whole session: every test gets fresh emulators
    (fresh jobs, faults, token) on the same two URLs, so its project is a copy of one template."""
    socks = {}
    for name in ("test", "prod"):
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        sock.listen(128)
        socks[name] = sock
    yield socks
    for sock in socks.values():
        sock.close()


@pytest.fixture
def test_ws(listeners: dict[str, socket.socket]) -> Iterator[EmulatorServer]:
    with EmulatorServer("test", token=TOKEN, id_base=1001, listener=listeners["test"]) as server:
        yield server


@pytest.fixture
def prod_ws(listeners: dict[str, socket.socket]) -> Iterator[EmulatorServer]:
    with EmulatorServer("prod", token=TOKEN, id_base=9001, listener=listeners["prod"]) as server:
        yield server


def wait_for_port(port: int, proc: subprocess.Popen, timeout: float = 60) -> None:
    """Until a server process listens on `port` (polled with plain connects, so the client under
    test never goes through the SDK's 1-2 s backoff for a refused connection)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"the server exited with {proc.returncode}"
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.01)
    raise AssertionError(f"nothing listens on port {port} after {timeout}s")


@dataclass
class Result:
    code: int
    output: str


@dataclass
class Project:
    """A checkout with config/bricksync.yml pointing at the two emulators through profiles."""

    root: Path
    remote: Path
    test: EmulatorServer
    prod: EmulatorServer
    databrickscfg: Path

    @property
    def repo(self) -> git.Repo:
        return git.Repo(self.root)

    @property
    def state_files(self) -> dict[str, bytes]:
        return {p.name: p.read_bytes() for p in sorted((self.root / "state" / "jobs").glob("*.yml"))}

    def run(self, *args: str, input: str | None = None) -> Result:
        """The CLI in-process (as `bricksync ARGS` in the project root)."""
        old = Path.cwd()
        os.chdir(self.root)
        try:
            res = CliRunner().invoke(cli, list(args), input=input, catch_exceptions=False)
        finally:
            os.chdir(old)
        return Result(res.exit_code, res.output)

    def run_process(self, *args: str, env: dict[str, str] | None = None, timeout: int = 60) -> Result:
        """The CLI as a separate process (real exit codes, real stdio)."""
        proc = subprocess.run([sys.executable, "-m", "bricksync.cli", *args], cwd=self.root, capture_output=True,
                              text=True, env={**os.environ, **(env or {})}, timeout=timeout, stdin=subprocess.DEVNULL)
        return Result(proc.returncode, proc.stdout + proc.stderr)

    def write_config(self, text: str) -> None:
        (self.root / "config" / "bricksync.yml").write_text(text)


_TEMPLATES: dict[str, Path] = {}  # config text -> a folder holding repo/ and origin.git/ made by init_repo


def copy_repo(config_text: str, root: Path, remote: Path) -> None:
    """What init_repo(root, remote, config_text) makes, copied from a template made once per
    config text (six git processes per test otherwise): the same files, commit and origin."""
    template = _TEMPLATES.get(config_text)
    if template is None:
        template = Path(tempfile.mkdtemp(prefix="bricksync-template-"))
        init_repo(template / "repo", template / "origin.git", config_text)
        _TEMPLATES[config_text] = template
    shutil.copytree(template / "origin.git", remote, symlinks=True)
    shutil.copytree(template / "repo", root, symlinks=True)
    with git.Repo(root).config_writer() as cfg:  # origin is this test's copy, not the template's
        cfg.set_value('remote "origin"', "url", str(remote))


@pytest.fixture(scope="session", autouse=True)
def _remove_templates() -> Iterator[None]:
    yield
    for template in _TEMPLATES.values():
        shutil.rmtree(template, ignore_errors=True)


def make_project(tmp_path: Path, test: EmulatorServer, prod: EmulatorServer, monkeypatch: pytest.MonkeyPatch,
                 config: str | None = None) -> Project:
    cfgfile = tmp_path / "databrickscfg"
    cfgfile.write_text(f"[test]\nhost = {test.url}\ntoken = {test.token}\n\n[prod]\nhost = {prod.url}\n"
                       f"token = {prod.token}\n")
    monkeypatch.setenv("DATABRICKS_CONFIG_FILE", str(cfgfile))
    remote, root = tmp_path / "origin.git", tmp_path / "repo"
    copy_repo(config or config_yaml(target_host=prod.url), root, remote)
    return Project(root=root, remote=remote, test=test, prod=prod, databrickscfg=cfgfile)


@pytest.fixture
def project(tmp_path: Path, test_ws: EmulatorServer, prod_ws: EmulatorServer,
            monkeypatch: pytest.MonkeyPatch) -> Project:
    return make_project(tmp_path, test_ws, prod_ws, monkeypatch)


@pytest.fixture
def exported(project: Project) -> Project:
    """The seeded test workspace exported and committed on main, prod seeded with its compute."""
    seed_source(project.test.client())
    seed_target(project.prod.client())
    res = project.run("export", "--branch", "main")
    assert res.code == 0, res.output
    return project


@pytest.fixture
def applied(exported: Project) -> Project:
    """`exported`, then applied to prod."""
    res = exported.run("apply", "--target", "prod", "--yes")
    assert res.code == 0, res.output
    return exported


def on_a_terminal(root: Path, answer: str, *args: str) -> tuple[int, str]:
    """(exit code, output) of `bricksync ARGS` run in `root` with its stdin on a pseudo-terminal,
    answering its question with `answer`."""
    import pty

    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "bricksync.cli", *args], cwd=root, stdin=slave,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    os.close(slave)
    os.write(master, f"{answer}\n".encode())
    out, _ = proc.communicate(timeout=60)
    os.close(master)
    return proc.returncode, out.decode()
