"""Issue 22.7: `bricksync init` sets up a repository of one's own (config, state/, schemas/, the
pipeline files, a .gitignore), never replaces a file, and works in a repository without a commit
and in a folder that is not one; the files it ships are this repository's own (byte for byte) and
land in a built wheel."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import git
import pytest
from click.testing import CliRunner

from bricksync.cli import cli
from bricksync.edges.config import load_config
from bricksync.edges.scaffold import INIT_ONLY, templates
from bricksync.emulator.seed import seed_source

from .conftest import ROOT, Project
from .schemacheck import check_written

AZURE = {"azure-pipelines.yml", *(f"pipelines/{p.name}" for p in (ROOT / "pipelines").glob("*.yml"))}
GITHUB = {f".github/workflows/{p.name}" for p in (ROOT / ".github" / "workflows").glob("*.yml")}
ALWAYS = {"config/bricksync.yml", "state/jobs/.gitkeep", ".gitignore", "requirements-bricksync.txt",
          "schemas/config.schema.json", "schemas/state.schema.json", "schemas/adopt.schema.json"}


def _init(*args: str) -> tuple[int, str]:
    res = CliRunner().invoke(cli, ["init", *args], catch_exceptions=False)
    return res.exit_code, " ".join(res.output.split())


def _files(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() and ".git" not in p.relative_to(root).parts}


def test_templates_are_this_repositorys_own_files() -> None:
    shipped = templates()
    assert AZURE | GITHUB | set(INIT_ONLY) == set(shipped), "every pipeline file of this repository is shipped"
    for rel, data in shipped.items():
        if rel not in INIT_ONLY:
            assert data == (ROOT / rel).read_bytes(), f"src/bricksync/templates/{rel} differs from {rel}: copy it"


@pytest.mark.parametrize("ci, expected", [("azure", AZURE), ("github", GITHUB), ("none", set())])
def test_init_in_a_folder_that_is_not_a_repository(tmp_path: Path, ci: str, expected: set[str]) -> None:
    code, said = _init(str(tmp_path / "new"), "--ci", ci)
    assert code == 0, said
    root = tmp_path / "new"
    assert _files(root) == ALWAYS | expected
    for rel in expected:
        assert (root / rel).read_bytes() == (ROOT / rel).read_bytes()
    assert f"{len(ALWAYS | expected)} file(s) written, 0 already there" in said
    assert "not a git repository: `git init -b main`" in said
    config = load_config(root / "config" / "bricksync.yml")
    assert config.state_dir == root / "state" and sorted(config.targets) == ["prod"]
    assert "bricksync @" in (root / "requirements-bricksync.txt").read_text() or \
        "bricksync==" in (root / "requirements-bricksync.txt").read_text()


def test_init_never_replaces_a_file_and_says_what_it_left(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    git.Repo.init(root, initial_branch="main")  # a repository without a commit
    (root / "config").mkdir()
    (root / "config" / "bricksync.yml").write_text("targets: {}\n")
    (root / ".gitignore").write_text("*.plan\n")
    outside = tmp_path / "outside.yml"
    outside.write_text("keep me\n")
    (root / "azure-pipelines.yml").symlink_to(outside)
    code, said = _init(str(root))
    assert code == 0, said
    assert (root / "config" / "bricksync.yml").read_text() == "targets: {}\n"
    assert (root / ".gitignore").read_text() == "*.plan\n" and outside.read_text() == "keep me\n"
    assert (root / "azure-pipelines.yml").is_symlink()
    for rel in ("= .gitignore (it lacks: .venv/, __pycache__/)", "= azure-pipelines.yml", "= config/bricksync.yml"):
        assert rel in said, said
    assert "3 already there (left as they are)" in said
    assert "no commit yet" in said
    code, again = _init(str(root))  # a second run: everything is there
    assert code == 0 and f"0 file(s) written, {len(ALWAYS | AZURE)} already there" in again


def test_init_writes_nothing_through_a_linked_folder(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    root.mkdir()
    (tmp_path / "elsewhere").mkdir()
    (root / "pipelines").symlink_to(tmp_path / "elsewhere")
    res = CliRunner().invoke(cli, ["init", str(root)])
    assert res.exit_code == 1
    assert "pipelines: is a symbolic link or not a folder" in res.output and "nothing was written" in res.output
    assert sorted(p.name for p in root.iterdir()) == ["pipelines"] and not any((tmp_path / "elsewhere").iterdir())


def test_the_first_hour_init_export_pull_request(tmp_path: Path, project: Project, monkeypatch: pytest.MonkeyPatch
                                                 ) -> None:
    """A new user's own repository: init, set the profiles, commit, first export: its state files
    name their schema, which init wrote; the export's branch has main as its base."""
    seed_source(project.test.client())
    root = tmp_path / "mine"
    git.Repo.init(root, initial_branch="main")
    assert _init(str(root), "--ci", "github")[0] == 0
    monkeypatch.chdir(root)
    assert CliRunner().invoke(cli, ["validate"]).exit_code == 0
    repo = git.Repo(root)
    repo.git.add("-A")
    repo.git.commit("-m", "bricksync init")
    res = CliRunner().invoke(cli, ["export"])
    assert res.exit_code == 0, res.output
    files = sorted((root / "state" / "jobs").glob("*.yml"))
    assert files and repo.active_branch.name.startswith("bricksync/export-")
    for path in files:
        check_written(path, "state")  # and its modeline resolves to the schemas/ init wrote:
        assert (path.parent / "../../schemas/state.schema.json").resolve().is_file()
    assert repo.is_ancestor("main", repo.active_branch.name)  # a pull request into main can be opened
    assert "bricksync export: " in repo.head.commit.message


def test_the_wheel_ships_every_template(tmp_path: Path) -> None:
    """Build a wheel from a copy of the project (setuptools, as pip would) and find every template
    in it, byte for byte."""
    for part in ("src", "pyproject.toml", "README.md"):
        (shutil.copytree if (ROOT / part).is_dir() else shutil.copy)(ROOT / part, tmp_path / part)
    shutil.rmtree(tmp_path / "src" / "bricksync.egg-info", ignore_errors=True)
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    proc = subprocess.run([sys.executable, "-c", "from setuptools import build_meta as b; print(b.build_wheel('dist'))"],
                          cwd=tmp_path, capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    wheel = tmp_path / "dist" / proc.stdout.strip().splitlines()[-1]
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        for rel, data in templates().items():
            assert f"bricksync/templates/{rel}" in names, f"{rel} is not in the wheel: see [tool.setuptools.package-data]"
            assert zf.read(f"bricksync/templates/{rel}") == data
