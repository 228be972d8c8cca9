"""config/bricksync.yml: load, validate (file:line, did-you-mean), and apply env overrides.

Credentials never live here: `profile`/`host` only say which workspace; databricks-sdk's
unified auth (env vars, ~/.databrickscfg, Azure CLI / service principal) supplies the rest.

Pipeline variables override mappings (the seed pipeline's "mappings as pipeline variables"):
  BRICKSYNC_<TARGET>_<KIND>="from=to;from2=to2"   KIND: CLUSTERS, INSTANCE_POOLS, POLICIES,
                                                   WAREHOUSES, PIPELINES, PATH_REWRITES, RUN_AS,
                                                   VALUES (exact values: dev_sales=prod_sales)
                                                   QUERIES, ALERTS, DASHBOARDS, SQL_DASHBOARDS,
                                                   DESTINATIONS, BUDGET_POLICIES (name=id)
  BRICKSYNC_<TARGET>_PRINCIPALS="from=to;..." (added over principals), BRICKSYNC_<TARGET>_PERMISSIONS=MODE
  BRICKSYNC_<TARGET>_HOST / BRICKSYNC_<TARGET>_PROFILE, BRICKSYNC_SOURCE_HOST / _PROFILE,
  BRICKSYNC_SOURCE_BUDGET_POLICIES (name=id), BRICKSYNC_SOURCE_PERMISSIONS (read | keep)
<TARGET> is the target name upper-cased with every non-alphanumeric character as `_`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..core.errors import BricksyncError, Problem, did_you_mean
from ..core.model import COMPUTE_KINDS, FILES_MODES, OBJECT_KINDS, Select, SourceConfig, TargetConfig
from ..core.permissions import MODES, check_entries, from_state
from ..core.values import check_values
from ..core.yamlio import line_of, parse, plain

ENV_KINDS = {"CLUSTERS": "clusters", "INSTANCE_POOLS": "instance_pools", "POLICIES": "policies",
             "WAREHOUSES": "warehouses", "PIPELINES": "pipelines"}
# Workspace objects jobs point at, mapped like compute (source name -> target name) under `objects:`.
# Legacy SQL dashboards (sql_task.dashboard) and AI/BI (Lakeview) dashboards (dashboard_task) are
# different objects with different listings: two kinds, told apart by the field that holds them.
OBJECT_ENV_KINDS = {key.upper(): key for key in OBJECT_KINDS}  # BRICKSYNC_<TARGET>_QUERIES ...
# Budget policies are account objects no workspace API lists: each side names its own, name -> ID.


@dataclass
class Config:
    path: Path
    root: Path
    source: SourceConfig
    state_dir: Path
    targets: dict[str, TargetConfig]

    def target(self, name: str) -> TargetConfig:
        if name not in self.targets:
            hint = did_you_mean(name, self.targets)
            known = ", ".join(sorted(self.targets)) or "none"
            raise BricksyncError(Problem(f"no target '{name}'{hint}; targets: {known}", file=str(self.path)))
        return self.targets[name]


# --- validation ----------------------------------------------------------------------------

STR, BOOL, STRMAP, ANYMAP, LIST = "a string", "true or false", "a mapping of strings", "a mapping", "a list"
PERCENT = "a percentage (a number from 0 to 100)"
PARALLEL = "a whole number from 1 to 64"  # calls at a time, like apply's --parallelism
SOURCE_PERMISSIONS = ("read", "keep")  # see SourceConfig.permissions
# A target's name is one segment of workspace paths (its lock in /Shared/.bricksync/locks, its records
# under /Users/<identity>/.bricksync) and of state/adopt/: no `/`, no `..`, and no two names that a
# path-safe spelling would make one (`prod/eu` and `prod_eu` would share their records).
TARGET_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
SCHEMA: dict[str, Any] = {
    "source": {
        "profile": STR, "host": STR, "notebook_root": STR, "acknowledge": BOOL, "ack_parallelism": PARALLEL,
        "permissions": STR, "files": STR,
        "select": {"tag": STR, "value": STR}, "budget_policies": STRMAP,
    },
    "state_dir": STR,
    "targets": {"*": {
        "profile": STR, "host": STR, "path_rewrites": STRMAP, "values": STRMAP, "run_as": STRMAP, "prune": BOOL,
        "max_prune_percent": PERCENT,
        "overrides": {"*": ANYMAP},
        "compute": {k: STRMAP for k in COMPUTE_KINDS},
        "permissions": STR, "principals": STRMAP, "permissions_add": LIST,
        "objects": {k: STRMAP for k in OBJECT_KINDS}, "budget_policies": STRMAP, "identity": STR,
    }},
}


def _check(node: Any, spec: Any, where: str, file: str, line: int | None, problems: list[Problem]) -> None:
    def fail(msg: str, ln: int | None = line) -> None:
        problems.append(Problem(msg, file=file, line=ln, field=where or None))

    if isinstance(spec, dict):
        if node is None:
            return
        if not isinstance(node, dict):
            return fail(f"expected a mapping, got {type(node).__name__}")
        for key, value in node.items():
            sub = f"{where}.{key}" if where else str(key)
            ln = line_of(node, key) or line
            if "*" in spec:
                _check(value, spec["*"], sub, file, ln, problems)
            elif key not in spec:
                problems.append(Problem(f"unknown key{did_you_mean(str(key), spec)}", file=file, line=ln,
                                        field=sub))
            else:
                _check(value, spec[key], sub, file, ln, problems)
    elif spec == STR and not isinstance(node, str):
        fail(f"expected a string, got {node!r}")
    elif spec == BOOL and not isinstance(node, bool):
        fail(f"expected true or false, got {node!r}")
    elif spec == STRMAP:
        if node is None:
            return
        if not isinstance(node, dict) or not all(isinstance(v, str) for v in node.values()):
            fail("expected a mapping of names to strings")
    elif spec == ANYMAP and node is not None and not isinstance(node, dict):
        fail("expected a mapping")
    elif spec == LIST and node is not None and not isinstance(node, list):
        fail("expected a list")
    elif spec == PERCENT and (isinstance(node, bool) or not isinstance(node, (int, float)) or not 0 <= node <= 100):
        fail(f"expected {PERCENT}, got {node!r}")
    elif spec == PARALLEL and (isinstance(node, bool) or not isinstance(node, int) or not 1 <= node <= 64):
        fail(f"expected {PARALLEL}, got {node!r}")


def _env_pairs(value: str, var: str) -> dict[str, str]:
    pairs: dict[str, str] = {}
    for item in re.split(r"[;\n]", value):
        if not item.strip():
            continue
        if "=" not in item:
            raise BricksyncError(Problem(f"expected 'from=to' pairs separated by ';', got {item.strip()!r}",
                                         file=f"${var}"))
        src, _, dst = item.partition("=")
        pairs[src.strip()] = dst.strip()
    return pairs


def env_prefix(target: str) -> str:
    return "BRICKSYNC_" + re.sub(r"[^A-Za-z0-9]", "_", target).upper() + "_"


def _apply_env(target: TargetConfig, env: Mapping[str, str]) -> None:
    prefix = env_prefix(target.name)
    for suffix, key in ENV_KINDS.items():
        if prefix + suffix in env:
            target.compute[key] = {**target.compute.get(key, {}), **_env_pairs(env[prefix + suffix], prefix + suffix)}
    for suffix, key in OBJECT_ENV_KINDS.items():
        if prefix + suffix in env:
            target.objects[key] = {**target.objects.get(key, {}), **_env_pairs(env[prefix + suffix], prefix + suffix)}
    if prefix + "BUDGET_POLICIES" in env:
        target.budget_policies.update(_env_pairs(env[prefix + "BUDGET_POLICIES"], prefix + "BUDGET_POLICIES"))
    if prefix + "PATH_REWRITES" in env:
        target.path_rewrites.update(_env_pairs(env[prefix + "PATH_REWRITES"], prefix + "PATH_REWRITES"))
    if prefix + "VALUES" in env:
        target.values.update(_env_pairs(env[prefix + "VALUES"], prefix + "VALUES"))
    if prefix + "RUN_AS" in env:
        target.run_as.update(_env_pairs(env[prefix + "RUN_AS"], prefix + "RUN_AS"))
    if prefix + "PRINCIPALS" in env:
        target.principals.update(_env_pairs(env[prefix + "PRINCIPALS"], prefix + "PRINCIPALS"))
    target.permissions = env.get(prefix + "PERMISSIONS", target.permissions).strip().lower()
    target.host = _host(env, prefix + "HOST", target.host)
    target.profile = _profile(env.get(prefix + "PROFILE", target.profile))


def _host(env: Mapping[str, str], var: str, configured: str | None) -> str | None:
    """The host guard's value. Empty is an error, not "no guard": an empty pipeline variable
    (a typo, an unset secret) must not let a run reach whatever workspace the credentials name."""
    value = env.get(var, configured)
    if value is not None and not value.strip():
        where = f"${var}" if var in env else f"host ({var.removeprefix('BRICKSYNC_').removesuffix('_HOST').lower()})"
        raise BricksyncError(Problem(f"{where} is empty: set the workspace URL, or leave it unset (an empty host "
                                     "would disable the host guard)"))
    return value.strip() if value is not None else None


def _profile(value: str | None) -> str | None:
    """`none` (or empty) means: no profile, unified auth from the environment (CI)."""
    return None if value is None or value.strip().lower() in ("", "none") else value


def _typed_value_keys(raw: Any, file: str) -> list[Problem]:
    """A `values:` key YAML reads as a number, boolean or null (`1: 2`, `true: ...`) would become the
    text "1"/"True"/"None" once loaded: never the value a job holds. Quoting says what is meant."""
    out = []
    targets = raw.get("targets") if isinstance(raw, dict) else None
    for name, t in (targets.items() if isinstance(targets, dict) else ()):
        values = t.get("values") if isinstance(t, dict) else None
        for key in values if isinstance(values, dict) else ():
            if not isinstance(key, str):
                out.append(Problem(f"key {key!r} is read as {type(key).__name__}, not text: quote it",
                                   file=file, line=line_of(values, key), field=f"targets.{name}.values"))
    return out


def _value_problems(target: TargetConfig, file: str, env: Mapping[str, str]) -> list[Problem]:
    """`values:` as loaded (the file's, then the pipeline variable's) checked once: capture must be
    able to invert every rewrite (core/values.py)."""
    where = f"targets.{target.name}.values"
    via = f"${env_prefix(target.name)}VALUES (over the file's {where}): " if env_prefix(target.name) + "VALUES" in env \
        else ""
    return [Problem(via + message, file=file, field=where) for message in check_values(target.values)]


def project_root(config_path: Path) -> Path:
    """Relative paths resolve against the project root: the parent of the `config/` folder."""
    parent = config_path.resolve().parent
    return parent.parent if parent.name == "config" else parent


# long: one pass over the config's sections collecting every problem before raising (all, not the first)
def parse_config(data: bytes, path: Path, env: Mapping[str, str] | None = None) -> Config:
    """Config bytes -> Config. Pure but for `env` (os.environ when None)."""
    env = os.environ if env is None else env
    file = str(path)
    raw = parse(data, file, lines=True)
    if raw is None:
        raw = {}
    problems: list[Problem] = []
    _check(raw, SCHEMA, "", file, None, problems)
    if isinstance(raw, dict) and not isinstance(raw.get("targets") or {}, dict):
        problems.append(Problem("expected a mapping of target names", file=file, field="targets"))
    problems.extend(_typed_value_keys(raw, file))
    if problems:
        raise BricksyncError(problems)
    doc = plain(raw)
    src = doc.get("source") or {}
    sel = src.get("select") or {}
    source = SourceConfig(
        profile=_profile(env.get("BRICKSYNC_SOURCE_PROFILE", src.get("profile"))),
        host=_host(env, "BRICKSYNC_SOURCE_HOST", src.get("host")),
        select=Select(tag=sel.get("tag", "PROD_MIGRATION"), value=sel.get("value", "true")),
        notebook_root=src.get("notebook_root", "/Workspace/dev"),
        acknowledge=src.get("acknowledge", True),
        ack_parallelism=src.get("ack_parallelism", 8),
        permissions=env.get("BRICKSYNC_SOURCE_PERMISSIONS", src.get("permissions", "read")).strip().lower(),
        budget_policies=dict(src.get("budget_policies") or {}),
        files=str(env.get("BRICKSYNC_SOURCE_FILES", src.get("files", "none"))).strip().lower(),
    )
    if source.files not in FILES_MODES:
        where = "$BRICKSYNC_SOURCE_FILES: " if "BRICKSYNC_SOURCE_FILES" in env else ""
        problems.append(Problem(f"{where}expected one of {', '.join(FILES_MODES)}, got {source.files!r}"
                                f"{did_you_mean(source.files, FILES_MODES)}", file=file, field="source.files"))
    if "BRICKSYNC_SOURCE_BUDGET_POLICIES" in env:
        source.budget_policies.update(_env_pairs(env["BRICKSYNC_SOURCE_BUDGET_POLICIES"],
                                                 "BRICKSYNC_SOURCE_BUDGET_POLICIES"))
    if source.permissions not in SOURCE_PERMISSIONS:
        where = "$BRICKSYNC_SOURCE_PERMISSIONS: " if "BRICKSYNC_SOURCE_PERMISSIONS" in env else ""
        problems.append(Problem(f"{where}expected one of {', '.join(SOURCE_PERMISSIONS)}, got {source.permissions!r}"
                                f"{did_you_mean(source.permissions, SOURCE_PERMISSIONS)}", file=file,
                                field="source.permissions"))
    if not source.notebook_root.startswith("/"):
        problems.append(Problem("must be an absolute workspace path", file=file, field="source.notebook_root"))
    targets: dict[str, TargetConfig] = {}
    for name, t in (doc.get("targets") or {}).items():
        t = t or {}
        if not TARGET_NAME.fullmatch(str(name)) or ".." in str(name):
            problems.append(Problem(f"target name {str(name)!r}: use letters, digits, '-', '_' and '.' (not "
                                    "first, no '..'): it is part of workspace and state paths", file=file,
                                    line=line_of(raw["targets"], name), field=f"targets.{name}"))
        compute = {k: dict((t.get("compute") or {}).get(k) or {}) for k in COMPUTE_KINDS}
        target = TargetConfig(
            name=name, profile=t.get("profile"), host=t.get("host"),
            path_rewrites=dict(t.get("path_rewrites") or {}), values=dict(t.get("values") or {}), compute=compute,
            run_as=dict(t.get("run_as") or {}), overrides=dict(t.get("overrides") or {}),
            prune=bool(t.get("prune", False)),
            permissions=t.get("permissions", "ignore"), principals=dict(t.get("principals") or {}),
            objects={k: dict((t.get("objects") or {}).get(k) or {}) for k in OBJECT_KINDS},
            budget_policies=dict(t.get("budget_policies") or {}),
            max_prune_percent=float(t.get("max_prune_percent", 20.0)),
            identity=str(t["identity"]).strip() if t.get("identity") else None,
        )
        added = t.get("permissions_add")
        for where, message in check_entries(added):
            problems.append(Problem(message, file=file, field=f"targets.{name}.permissions_add{where}"))
        if not check_entries(added):
            target.permissions_add = from_state(added)
        _apply_env(target, env)
        if target.permissions not in MODES:
            hint = did_you_mean(target.permissions, MODES)
            problems.append(Problem(f"expected one of {', '.join(MODES)}, got {target.permissions!r}{hint}",
                                    file=file, field=f"targets.{name}.permissions"))
        problems.extend(_mapped_twice(target, t, raw["targets"][name] or {}, file, env))
        problems.extend(_value_problems(target, file, env))
        for prefix in target.path_rewrites:
            if not prefix.startswith("/"):
                problems.append(Problem(f"path rewrite '{prefix}' must be an absolute path", file=file,
                                        field=f"targets.{name}.path_rewrites"))
        targets[name] = target
    if problems:
        raise BricksyncError(problems)
    root = project_root(path)
    return Config(path=path, root=root, source=source, state_dir=root / doc.get("state_dir", "state"),
                  targets=targets)


def _mapped_twice(target: TargetConfig, t: dict, node: Any, file: str, env: Mapping[str, str]) -> list[Problem]:
    """A principal `run_as` maps to one name and `principals` to another: one mapping serves both
    (TargetConfig.principal_mapping), so one entry would silently lose. An error naming both entries
    (a config key or the pipeline variable that set it)."""
    prefix = env_prefix(target.name)

    def origin(kind: str, name: str) -> str:
        configured = (t.get(kind) or {}).get(name)
        var = prefix + kind.upper()
        if var in env and configured != getattr(target, kind)[name]:
            return f"${var} ({name}={getattr(target, kind)[name]})"
        return f"targets.{target.name}.{kind}.{name} ({getattr(target, kind)[name]})"

    out = []
    for name in sorted(set(target.run_as) & set(target.principals)):
        if target.run_as[name] == target.principals[name]:
            continue
        node_map = node.get("principals") if isinstance(node, dict) else None
        out.append(Problem(
            f"'{name}' is mapped twice, by {origin('run_as', name)} and by {origin('principals', name)}: one mapping "
            "serves run_as and permissions, so one of them would silently lose; keep one entry (or make both the "
            "same)", file=file, line=line_of(node_map, name) if node_map is not None else None,
            field=f"targets.{target.name}.principals.{name}"))
    return out


def load_config(path: str | Path) -> Config:
    p = Path(path)
    if not p.is_file():
        raise BricksyncError(Problem("config file not found (pass --config)", file=str(p)))
    return parse_config(p.read_bytes(), p)
