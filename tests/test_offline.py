"""`bricksync validate` is offline and does not pay the databricks-sdk import (issue 15: ~0.7 s of
a ~1 s command). Only commands that talk to a workspace import it; validate reads the schema
table from the cache edges/schema_cache.py keeps (written by the first run that had to build it).

The CLI runs in a fresh interpreter (this test process has long imported the SDK) through a tiny
driver that reports whether `databricks.sdk` was imported: a module-level import of the workspace
edge anywhere on validate's path, or a broken cache, makes the warm run fail the test."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from bricksync.core.model import StateDoc
from bricksync.core.schema import schema_table, table_from_json, table_to_json
from bricksync.demo import init_repo
from bricksync.edges.schema_cache import cache_file
from bricksync.edges.state import render_state
from bricksync.emulator.seed import config_yaml

DRIVER = """
import json, sys
from bricksync.cli import cli
try:
    cli.main(args=sys.argv[1:], prog_name="bricksync", standalone_mode=False)
    code = 0
except SystemExit as exc:
    code = exc.code
print("DRIVER " + json.dumps({"code": code, "sdk": "databricks.sdk" in sys.modules,
                              "workspace": "bricksync.edges.workspace" in sys.modules}))
"""

SALES = StateDoc(key="sales", source_job_id=7, settings={
    "name": "Sales", "max_concurrent_runs": 2, "tags": {"team": "sales"},
    "tasks": [{"task_key": "ingest", "run_if": "ALL_SUCCESS",
               "notebook_task": {"notebook_path": "/Workspace/dev/sales/ingest"}}]})


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    init_repo(root, tmp_path / "origin.git", config_yaml(target_host="https://prod.example.invalid"))
    (root / "state" / "jobs" / "sales.yml").write_text(render_state(SALES))
    return root


@pytest.fixture(scope="module")
def built_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A cache as a cold validate run writes it, made once: tests that need one start from a copy."""
    base = tmp_path_factory.mktemp("built-cache")
    with pytest.MonkeyPatch.context() as mp:  # the module fixture runs before conftest's isolated_env
        for var in ("GIT_AUTHOR_NAME", "GIT_COMMITTER_NAME"):
            mp.setenv(var, "Test")
        for var in ("GIT_AUTHOR_EMAIL", "GIT_COMMITTER_EMAIL"):
            mp.setenv(var, "test@example.com")
        root = base / "repo"
        init_repo(root, base / "origin.git", config_yaml(target_host="https://prod.example.invalid"))
        (root / "state" / "jobs" / "sales.yml").write_text(render_state(SALES))
        cold, output = run(root, base / "cache", "validate")
    assert cold == {"code": 0, "sdk": True, "workspace": False}, output
    yield base / "cache"


def warm(built_cache: Path, tmp_path: Path) -> Path:
    cache = tmp_path / "cache"
    shutil.copytree(built_cache, cache)
    return cache


def run(root: Path, cache: Path, *args: str) -> tuple[dict, str]:
    env = {**os.environ, "XDG_CACHE_HOME": str(cache)}
    proc = subprocess.run([sys.executable, "-c", DRIVER, *args], cwd=root, env=env, capture_output=True,
                          text=True, timeout=120, stdin=subprocess.DEVNULL)
    lines = proc.stdout.splitlines()
    assert proc.returncode == 0 and lines and lines[-1].startswith("DRIVER "), proc.stdout + proc.stderr
    return json.loads(lines[-1][len("DRIVER "):]), "\n".join(lines[:-1]) + proc.stderr


def test_validate_does_not_import_the_sdk(checkout: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    cold, cold_out = run(checkout, cache, "validate")  # no cache yet: the table is built from the SDK
    assert cold == {"code": 0, "sdk": True, "workspace": False}, cold_out
    assert "1 state file(s) are valid" in cold_out
    assert [p.name for p in (cache / "bricksync").iterdir()] == [cache_file().name]  # (this env's SDK)

    warm, warm_out = run(checkout, cache, "validate")
    assert warm == {"code": 0, "sdk": False, "workspace": False}, warm_out
    assert warm_out == cold_out


def test_validate_without_the_sdk_still_checks_types(checkout: Path, tmp_path: Path, built_cache: Path) -> None:
    """The cached table is the SDK's: a wrong type and a misspelt enum are still found, offline."""
    cache = warm(built_cache, tmp_path)
    sales = checkout / "state" / "jobs" / "sales.yml"
    sales.write_text(sales.read_text().replace("max_concurrent_runs: 2", "max_concurrent_runs: two")
                     .replace("ALL_SUCCESS", "ALL_SUCESS"))
    found, output = run(checkout, cache, "validate")
    assert found == {"code": 1, "sdk": False, "workspace": False}, output
    for fragment in ("sales.yml", "field 'max_concurrent_runs'", "expected an integer", "tasks[ingest].run_if",
                     "did you mean 'ALL_SUCCESS'"):
        assert fragment in output, (fragment, output)


@pytest.mark.parametrize("damage", ["truncated", "not-json", "missing-class"])
def test_a_damaged_cache_is_rebuilt_not_trusted(checkout: Path, tmp_path: Path, built_cache: Path, damage: str) -> None:
    cache = warm(built_cache, tmp_path)
    path = cache / "bricksync" / cache_file().name
    text = path.read_text()
    broken = {"truncated": text[: len(text) // 2], "not-json": "\x00\xff",
              "missing-class": json.dumps({k: v for k, v in json.loads(text).items() if k != "Task"})}[damage]
    path.write_text(broken, errors="surrogateescape")
    found, output = run(checkout, cache, "validate")
    assert found["code"] == 0 and found["sdk"], output  # rebuilt from the SDK...
    assert table_from_json(path.read_text()) == schema_table()  # ...and written again, whole


def test_the_table_survives_json() -> None:
    table = schema_table()
    assert table_from_json(table_to_json(table)) == table
    assert any(d[0] == "enum" for fields in table.values() for d in fields.values())  # frozensets came back
    with pytest.raises(ValueError):
        table_from_json(json.dumps({"JobSettings": {"tasks": ["list", ["obj", "Nowhere"]]}}))
