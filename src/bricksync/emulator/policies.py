"""What a cluster policy does to a job's cluster spec on jobs/create and jobs/reset.

- "When set to true, fixed and default values from the policy will be used for fields that are
  omitted. When set to false, only fixed values from the policy will be applied."
  (ClusterSpec.apply_policy_default_values, databricks-sdk compute.py, from the API reference)
- The definition: attribute path -> rule, `type` fixed (with `value`), unlimited / allowlist /
  range ... (optionally `defaultValue`), dotted paths into the spec, `custom_tags.<tag>`,
  `cluster_log_conf.type` / `.path`: https://docs.databricks.com/admin/clusters/policy-definition.html
- The job keeps what the policy filled: a job cluster reads back with the policy's custom_tags,
  runtime_engine and spark_version (databricks/cli#6512: "values the cluster policy fills in
  server-side").
- A value that contradicts a fixed one is refused (400 INVALID_PARAMETER_VALUE): the message is
  ours, the real text is not documented.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..core.traps import WHOLE_FIELDS, filled_value, fixed_value, locate, parse_policy, same_value
from .errors import invalid

# cluster_log_conf.type -> the spec's block (ClusterLogConf: dbfs, s3, volumes)
LOG_BLOCKS = {"DBFS": "dbfs", "S3": "s3", "VOLUMES": "volumes"}


def apply_policy(spec: dict, definition: Any, where: str) -> None:
    """Fill `spec` (in place) as the service does for its policy; refuse a contradiction."""
    rules = parse_policy(definition)
    defaults = spec.get("apply_policy_default_values") is True
    for path, rule in sorted(rules.items()):
        keys = locate(path)
        if keys is None or keys[0] in WHOLE_FIELDS:
            continue
        fixed = fixed_value(rule)
        here = _get(spec, keys)
        if fixed is not None and here is not None and not same_value(here, fixed):
            raise invalid(f"{where}: validation failed for {path}: the policy fixes it to {fixed!r}; got {here!r}.")
        fill = fixed if fixed is not None else (filled_value(rule) if defaults else None)
        if here is None and fill is not None:
            _set(spec, keys, fill)
    _log_conf(spec, rules, defaults)


def _log_conf(spec: dict, rules: dict[str, dict], defaults: bool) -> None:
    if "cluster_log_conf" in spec:
        return
    pick: Callable[[dict], Any] = filled_value if defaults else fixed_value
    path = pick(rules.get("cluster_log_conf.path") or {})
    kind = pick(rules.get("cluster_log_conf.type") or {}) or "DBFS"
    if path is not None and kind in LOG_BLOCKS:
        spec["cluster_log_conf"] = {LOG_BLOCKS[kind]: {"destination": path}}


def _get(spec: dict, keys: tuple[str, ...]) -> Any:
    node: Any = spec
    for key in keys:
        if not isinstance(node, dict):
            return None
        node = node.get(key)
    return node


def _set(spec: dict, keys: tuple[str, ...], value: Any) -> None:
    node = spec
    for key in keys[:-1]:
        if not isinstance(node.get(key), dict):
            node[key] = {}
        node = node[key]
    node[keys[-1]] = value
