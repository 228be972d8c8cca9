"""Issue 22.8: JSON Schemas for the config, state files and adoption records, in step with the
loaders: every key the config loader accepts is in the schema (documented, its default the
loader's) and no other; schemas/ holds exactly what `bricksync schema KIND` prints; examples the
loaders accept the schemas accept, and invalid ones both refuse; every YAML file bricksync writes
names its schema on its first line (yaml-language-server's modeline)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from bricksync.cli import cli
from bricksync.core.errors import BricksyncError
from bricksync.core.validate import validate_doc
from bricksync.core.yamlio import parse
from bricksync.edges.config import SCHEMA, parse_config
from bricksync.edges.file_schemas import CONFIG_DOCS, KINDS, NO_DEFAULT, config_paths
from bricksync.edges.state import parse_state
from bricksync.emulator.seed import config_yaml, deploy_paths, seed_source, seed_target

from .conftest import ROOT, Project
from .schemacheck import check_written, validator

CONFIG = Path("config/bricksync.yml")


def _loads_config(text: str) -> bool:
    try:
        parse_config(text.encode(), CONFIG, env={})
    except BricksyncError:
        return False
    return True


@pytest.mark.parametrize("kind", KINDS)
def test_schemas_folder_holds_what_the_command_prints(kind: str) -> None:
    res = CliRunner().invoke(cli, ["schema", kind])
    assert res.exit_code == 0, res.output
    on_disk = (ROOT / "schemas" / f"{kind}.schema.json").read_text()
    assert res.output == on_disk, f"run: bricksync schema {kind} > schemas/{kind}.schema.json"


def _schema_paths(node: dict, prefix: str = "") -> list[str]:
    out = []
    for key, sub in (node.get("properties") or {}).items():
        path = f"{prefix}.{key}" if prefix else key
        out += [path, *_schema_paths(sub, path)]
    extra = node.get("additionalProperties")
    if isinstance(extra, dict) and "description" in extra:  # a mapping of names ("*"), not of plain values
        path = f"{prefix}.*" if prefix else "*"
        out += [path, *_schema_paths(extra, path)]
    return out


def test_every_config_key_the_loader_accepts_is_in_the_schema_and_no_other() -> None:
    loader = config_paths(SCHEMA)
    assert sorted(set(loader) - set(CONFIG_DOCS)) == [], "add these to CONFIG_DOCS (edges/file_schemas.py)"
    assert sorted(set(CONFIG_DOCS) - set(loader)) == [], "CONFIG_DOCS names keys the loader does not have"
    assert sorted(_schema_paths(validator("config").schema)) == sorted(loader)


def _set(doc: dict, path: str, value: Any) -> dict:
    node = doc
    parts = path.replace("targets.*", "targets.prod").split(".")
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = value
    return doc


@pytest.mark.parametrize("path", [p for p, (_, default) in CONFIG_DOCS.items() if default is not NO_DEFAULT])
def test_a_documented_default_is_the_loaders(path: str) -> None:
    """Setting a key to its documented default changes nothing: the config loads the same."""
    import json

    def load(doc: dict) -> Any:
        return parse_config(json.dumps(doc).encode(), CONFIG, env={})  # (JSON is YAML)

    default = CONFIG_DOCS[path][1]
    assert load(_set({"targets": {"prod": {}}}, path, default)) == load({"targets": {"prod": {}}})


def test_init_config_holds_every_key_with_its_default() -> None:
    """The commented config `bricksync init` writes: it loads, and every key is there, set to its
    default or commented out with an example (keys that have none)."""
    text = (ROOT / "src" / "bricksync" / "templates" / "config" / "bricksync.yml").read_text()
    assert text.startswith("# yaml-language-server: $schema=../schemas/config.schema.json\n")
    assert _loads_config(text)
    validator("config").validate(parse(text.encode(), "init"))
    uncommented = re.sub(r'^(\s*)# ((?:\w+|"\*"):)', r"\1\2", text, flags=re.M)  # the examples, as if set
    assert _loads_config(uncommented)
    written, every = parse(text.encode(), "init"), parse(uncommented.encode(), "init, uncommented")

    def at(doc: Any, path: str) -> Any:
        for part in path.replace("targets.*", "targets.prod").split("."):
            assert isinstance(doc, dict) and part in doc, f"the init config lacks {path}"
            doc = doc[part]
        return doc

    for path in config_paths(SCHEMA):
        at(every, path)
        default = CONFIG_DOCS[path][1]
        if default is not NO_DEFAULT:  # (an empty mapping or list may be left empty: null)
            value = at(written, path)
            assert value == default or (value is None and default in ({}, [])), (path, value, default)


VALID_CONFIGS = {
    "this repository's": lambda: (ROOT / CONFIG).read_text(),
    "the demo's": lambda: config_yaml(target_host="https://adb-1.azuredatabricks.net"),
    "README's": lambda: re.search(r"## Configuration.*?```yaml\n(.*?)```", (ROOT / "README.md").read_text(),
                                  re.S).group(1),
    "empty": lambda: "",
}
INVALID_CONFIGS = {
    "unknown key": "sorce: {profile: test}\n",
    "misspelt target key": "targets: {prod: {profle: prod}}\n",
    "string for a bool": "source: {acknowledge: 'yes'}\n",
    "number for a string": "source: {profile: 12}\n",
    "permissions mode": "targets: {prod: {permissions: manages}}\n",
    "source permissions": "source: {permissions: write}\n",
    "relative notebook root": "source: {notebook_root: Workspace/dev}\n",
    "empty host": "targets: {prod: {host: ''}}\n",
    "percent over 100": "targets: {prod: {max_prune_percent: 101}}\n",
    "parallelism 0": "source: {ack_parallelism: 0}\n",
    "relative path rewrite": "targets: {prod: {path_rewrites: {dev: /prod}}}\n",
    "mapping to a number": "targets: {prod: {compute: {clusters: {a: 1}}}}\n",
    "grant level": "targets: {prod: {permissions_add: [{group_name: ops, level: CAN_RUN}]}}\n",
    "grant with two principals": "targets: {prod: {permissions_add: [{group_name: a, user_name: b, level: CAN_VIEW}]}}\n",
    "targets a list": "targets: [prod]\n",
}


@pytest.mark.parametrize("name", VALID_CONFIGS)
def test_configs_the_loader_accepts_the_schema_accepts(name: str) -> None:
    text = VALID_CONFIGS[name]()
    assert _loads_config(text)
    validator("config").validate(parse(text.encode(), name))


@pytest.mark.parametrize("name", INVALID_CONFIGS)
def test_invalid_configs_are_refused_by_both(name: str) -> None:
    text = INVALID_CONFIGS[name]
    assert not _loads_config(text)
    assert list(validator("config").iter_errors(parse(text.encode(), name))), f"the schema accepts: {text}"


STATE = ("bricksync: {key: daily, source_job_id: 1}\n"
         "job: {name: Daily, tasks: [{task_key: a, notebook_task: {notebook_path: /Workspace/dev/a}}]}\n")
INVALID_STATES = {
    "unknown top key": STATE + "jobs: {}\n",
    "no key": "bricksync: {source_job_id: 1}\njob: {name: x}\n",
    "key not a slug": STATE.replace("key: daily", "key: Daily ETL"),
    "unknown bricksync key": STATE.replace("source_job_id: 1", "source_job_id: 1, owner: me"),
    "job id a string": STATE.replace("source_job_id: 1", "source_job_id: 'one'"),
    "no job": "bricksync: {key: daily}\n",
    "job a list": "bricksync: {key: daily}\njob: [a]\n",
    "permissions a mapping": STATE + "permissions: {user_name: a}\n",
    "grant level": STATE + "permissions: [{user_name: a@b.c, level: OWNER}]\n",
    "grant without principal": STATE + "permissions: [{level: CAN_VIEW}]\n",
}


def _state_ok(text: str, file: str = "state/jobs/daily.yml") -> bool:
    try:
        doc = parse_state(text.encode(), file)
    except BricksyncError:
        return False
    return not validate_doc(doc)


def test_a_valid_state_file_is_valid_for_both() -> None:
    assert _state_ok(STATE)
    validator("state").validate(parse(STATE.encode(), "state"))


@pytest.mark.parametrize("name", INVALID_STATES)
def test_invalid_state_files_are_refused_by_both(name: str) -> None:
    text = INVALID_STATES[name]
    assert not _state_ok(text)
    assert list(validator("state").iter_errors(parse(text.encode(), name))), f"the schema accepts: {text}"


def test_files_export_and_import_write_name_their_schema_and_validate(project: Project) -> None:
    seed_source(project.test.client())  # the demo's jobs
    seed_target(project.prod.client())
    deploy_paths(project.prod.client())
    assert project.run("export", "--branch", "main").code == 0
    assert project.run("import", "--target", "prod", "--all", "--branch", "imports").code == 0
    files = sorted((project.root / "state" / "jobs").glob("*.yml"))
    assert len(files) > 5
    for path in files:
        check_written(path, "state")
    adopt = sorted((project.root / "state" / "adopt").glob("*.yml"))
    assert adopt
    check_written(adopt[0], "adopt")
