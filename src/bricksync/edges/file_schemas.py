"""JSON Schemas of the files bricksync reads: config/bricksync.yml, state files, adoption records.

Each is derived from its loader's own table, so a key the loader accepts is in the schema and one it
refuses is not: the config's from edges/config.py's SCHEMA (types) and CONFIG_DOCS below (what each
key means, its default); the state file's from edges/state.py's TOP_KEYS/META_KEYS and the
permission rules of core/permissions.py. A key added to a loader without its line here fails
`bricksync schema` and tests/test_schemas.py, which also keeps schemas/ byte-identical to what
`bricksync schema KIND` prints and checks examples against both the schema and the loader.

Draft-07: the newest draft yaml-language-server (the YAML support of VS Code, Neovim, ...) reads.
A state file's `job` is JobSettings, checked field by field by `bricksync validate` against the
installed databricks-sdk; the schema checks its frame only, so it does not change with the SDK.
"""

from __future__ import annotations

import json
from typing import Any

from ..core.keys import KEY_RE
from ..core.model import COMPUTE_KINDS, FILES_MODES, OBJECT_KINDS
from ..core.permissions import FIELDS, LEVELS, MODES
from .config import ANYMAP, BOOL, LIST, PARALLEL, PERCENT, SCHEMA, SOURCE_PERMISSIONS, STR, STRMAP
from .state import META_KEYS, TOP_KEYS

DIALECT = "http://json-schema.org/draft-07/schema#"
KINDS = ("config", "state", "adopt")
NO_DEFAULT = object()

# The config loader's type markers as JSON Schema. Nulls: a mapping or list key may be left empty.
TYPES: dict[str, dict[str, Any]] = {
    STR: {"type": "string"},
    BOOL: {"type": "boolean"},
    STRMAP: {"type": ["object", "null"], "additionalProperties": {"type": "string"}},
    ANYMAP: {"type": ["object", "null"]},
    LIST: {"type": ["array", "null"]},
    PERCENT: {"type": "number", "minimum": 0, "maximum": 100},
    PARALLEL: {"type": "integer", "minimum": 1, "maximum": 64},
}

ENTRY = {  # one direct grant, in state files and in targets.<t>.permissions_add
    "type": "object",
    "properties": {**{f: {"type": "string", "minLength": 1} for f in FIELDS}, "level": {"enum": list(LEVELS)}},
    "required": ["level"],
    "additionalProperties": False,
    "oneOf": [{"required": [f]} for f in FIELDS],
}
HOST = {"pattern": r"\S"}  # an empty host is refused: it would disable the guard

# What the loader checks beyond the types (parse_config, after _check), by path.
RULES: dict[str, dict[str, Any]] = {
    "source.host": HOST,
    "source.notebook_root": {"pattern": "^/"},
    "source.permissions": {"enum": list(SOURCE_PERMISSIONS)},
    "source.files": {"enum": list(FILES_MODES)},
    "targets": {"propertyNames": {"pattern": "^(?!.*\\.\\.)[A-Za-z0-9][A-Za-z0-9_.-]*$"}},  # config.TARGET_NAME
    "targets.*.host": HOST,
    "targets.*.path_rewrites": {"propertyNames": {"pattern": "^/"}},
    "targets.*.permissions": {"enum": list(MODES)},
    "targets.*.permissions_add": {"items": ENTRY},
    "targets.*.overrides": {"propertyNames": {"pattern": rf"^(\*|{KEY_RE.pattern[1:-1]})$"}},
}


def _kinds(kinds: dict[str, str], what: str) -> dict[str, tuple[str, Any]]:
    return {k: (f"{what}: source name -> target name ({k.replace('_', ' ')}; unmapped names must exist in "
                "the target as they are)", {}) for k in kinds}


# path -> (description, default). One line per key of SCHEMA: a new config key needs its line.
CONFIG_DOCS: dict[str, tuple[str, Any]] = {
    "source": ("The workspace jobs are exported from (test).", NO_DEFAULT),
    "source.profile": ("A profile of the Databricks config file (~/.databrickscfg or $DATABRICKS_CONFIG_FILE); "
                       "without one, databricks-sdk unified auth from the environment.", NO_DEFAULT),
    "source.host": ("The source workspace URL: with a profile, a guard (the run refuses other credentials); "
                    "without one, where to connect.", NO_DEFAULT),
    "source.select": ("Which source jobs are exported: those whose tag `tag` has the value `value`.", NO_DEFAULT),
    "source.select.tag": ("The selection tag.", "PROD_MIGRATION"),
    "source.select.value": ("The tag's value that selects a job (compared case-insensitively).", "true"),
    "source.notebook_root": ("Every workspace path a task uses must lie under it (the dev folder).", "/Workspace/dev"),
    "source.acknowledge": ("Set the selection tag to \"false\" once the export is committed.", True),
    "source.ack_parallelism": ("jobs/update calls at a time when acknowledging (--ack-parallelism wins).", 8),
    "source.permissions": ("read: each exported job's grants are read; keep: none read, each state file keeps "
                           "its own.", "read"),
    "source.files": ("none: only job definitions are exported; referenced: also the notebooks and workspace files "
                     "they run under notebook_root, into state/files/ (see README: Notebooks and files).", "none"),
    "source.budget_policies": ("Budget policy name -> ID in the source's account (account objects no workspace "
                               "API lists).", {}),
    "state_dir": ("Where state files live, relative to the project root.", "state"),
    "targets": ("The workspaces state/ is applied to, by name (`--target NAME`; letters, digits, `-`, `_`, `.`: "
                "a name is part of workspace paths).", NO_DEFAULT),
    "targets.*": ("One target workspace.", NO_DEFAULT),
    "targets.*.profile": ("A profile of the Databricks config file for this target.", NO_DEFAULT),
    "targets.*.host": ("This target's workspace URL: the guard that refuses any other (or where to connect, "
                       "without a profile).", NO_DEFAULT),
    "targets.*.path_rewrites": ("Workspace path prefixes, source -> target (e.g. /Workspace/dev: "
                                "/Workspace/prod).", {}),
    "targets.*.values": ("Exact values that differ per environment, source -> target (e.g. dev_sales: "
                         "prod_sales): the whole value or a delimited token of it, in job parameter defaults, task "
                         "parameters, dbt catalog/schema and git_source refs; capture applies them in reverse "
                         "(see README: Values that differ per environment).", {}),
    "targets.*.compute": ("Compute names, source -> target.", NO_DEFAULT),
    **{f"targets.*.compute.{k}": v for k, v in _kinds(COMPUTE_KINDS, "compute").items()},
    "targets.*.objects": ("Workspace objects jobs point at, source name -> target name, as compute.", NO_DEFAULT),
    **{f"targets.*.objects.{k}": v for k, v in _kinds(OBJECT_KINDS, "objects").items()},
    "targets.*.budget_policies": ("Budget policy name -> ID in this target's account.", {}),
    "targets.*.run_as": ("Principal mapping for run_as, source -> target (a UUID maps to a service principal).",
                         {}),
    "targets.*.overrides": ("Per-target settings by scope (\"*\": every job, else a job key): dotted JobSettings "
                            "paths -> values (null removes the field); named list items in brackets, e.g. "
                            "tasks[ingest].timeout_seconds, parameters[run_date].default.", {}),
    "targets.*.overrides.*": ("Dotted JobSettings paths -> values for this scope.", NO_DEFAULT),
    "targets.*.prune": ("apply deletes managed jobs that have no state file (as --prune).", False),
    "targets.*.max_prune_percent": ("Prune refuses to delete more of the managed jobs at once "
                                    "(--allow-mass-delete).", 20),
    "targets.*.permissions": ("How job permissions are managed: manage (as state/ says), additive (grants "
                              "added, none revoked) or ignore.", "ignore"),
    "targets.*.principals": ("Principal mapping for permissions, source -> target (run_as entries serve too; a "
                             "name both map must map to the same principal).", {}),
    "targets.*.permissions_add": ("Target principals granted on every managed job.", []),
    "targets.*.identity": ("The identity that applies to this target (its userName, spelled exactly; a service principal's "
                           "application ID): the jobs it created and the records in its home folder are "
                           "bricksync's. Unset: whoever the credentials are; set, apply refuses other credentials.",
                           NO_DEFAULT),
}


def config_paths(spec: Any = SCHEMA, prefix: str = "") -> list[str]:
    """Every path of the config loader's table ("*" where any name goes), parents first."""
    out: list[str] = []
    for key, sub in spec.items():
        path = f"{prefix}.{key}" if prefix else key
        out.append(path)
        if isinstance(sub, dict):
            out.extend(config_paths(sub, path))
    return out


def _config_node(spec: Any, path: str) -> dict[str, Any]:
    if path not in CONFIG_DOCS:
        raise KeyError(f"config key '{path}' has no line in CONFIG_DOCS (src/bricksync/edges/file_schemas.py): "
                       "add its description and default")
    description, default = CONFIG_DOCS[path]
    node: dict[str, Any] = {"description": description}
    if isinstance(spec, dict):
        node["type"] = ["object", "null"]  # (an empty section is allowed)
        if "*" in spec:
            node["additionalProperties"] = _config_node(spec["*"], f"{path}.*")
        else:
            node["properties"] = {k: _config_node(v, f"{path}.{k}") for k, v in spec.items()}
            node["additionalProperties"] = False
    elif spec in TYPES:
        node.update(TYPES[spec])
    else:
        raise KeyError(f"config key '{path}': type {spec!r} has no JSON Schema in TYPES "
                       "(src/bricksync/edges/file_schemas.py)")
    node.update(RULES.get(path, {}))
    if default is not NO_DEFAULT:
        node["default"] = default
    return node


def config_schema() -> dict[str, Any]:
    return {"$schema": DIALECT, "title": "bricksync configuration (config/bricksync.yml)",
            "description": "See README.md, section Configuration. Credentials never go here.",
            "type": ["object", "null"],
            "properties": {k: _config_node(v, k) for k, v in SCHEMA.items()}, "additionalProperties": False}


META_TYPES: dict[str, dict[str, Any]] = {  # one per META_KEYS entry (the state loader's `bricksync:` keys)
    "key": {"type": "string", "pattern": KEY_RE.pattern,
            "description": "Stable key: a slug of the job name at first export, kept after renames; the file's name."},
    "source_job_id": {"type": "integer", "description": "The source job's ID (how a renamed job finds its file)."},
}
TOP_TYPES: dict[str, dict[str, Any]] = {  # one per TOP_KEYS entry
    "bricksync": {"type": "object", "description": "bricksync's own record of the job.", "required": ["key"],
                  "additionalProperties": False},
    "permissions": {"type": "array", "items": ENTRY,
                    "description": "Direct grants in the source (absent: permissions not managed from this file)."},
    "job": {"type": "object",
            "description": "Jobs API JobSettings (the names Databricks Asset Bundles use); IDs as ${kind:NAME}, "
                           "paths as in the source. Fields and types: `bricksync validate`."},
}


def state_schema() -> dict[str, Any]:
    missing = [f"bricksync.{k}" for k in META_KEYS if k not in META_TYPES] + [k for k in TOP_KEYS if k not in TOP_TYPES]
    if missing:
        raise KeyError(f"state file key(s) {', '.join(missing)} have no JSON Schema (src/bricksync/edges/file_schemas.py)")
    top = {k: dict(TOP_TYPES[k]) for k in TOP_KEYS}
    top["bricksync"]["properties"] = {k: META_TYPES[k] for k in META_KEYS}
    return {"$schema": DIALECT, "title": "bricksync state file (state/jobs/<key>.yml)",
            "description": "One Databricks job as bricksync manages it. See README.md, section State files.",
            "type": "object", "required": ["bricksync", "job"], "properties": top, "additionalProperties": False}


def adopt_schema() -> dict[str, Any]:
    return {"$schema": DIALECT, "title": "bricksync adoption record (state/adopt/<target>.yml)",
            "description": "Written by `bricksync import`: the target jobs apply adopts in place, by key.",
            "type": "object", "required": ["adopt"], "additionalProperties": False,
            "properties": {"target": {"type": "string", "description": "The target these jobs are in."},
                           "adopt": {"type": "object", "additionalProperties": {"type": "integer"},
                                     "description": "key -> the target job's ID."}}}


def schema_text(kind: str) -> str:
    """`bricksync schema KIND` prints this; schemas/<kind>.schema.json holds the same bytes."""
    build = {"config": config_schema, "state": state_schema, "adopt": adopt_schema}[kind]
    return json.dumps(build(), indent=2, ensure_ascii=False) + "\n"
