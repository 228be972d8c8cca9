"""The values the pure core computes on, defined here so core never imports an edge.

StateDoc is one parsed state file (edges/state.py reads and writes them); TargetConfig and
its parts are one target's settings (edges/config.py loads them). Import them from here."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .permissions import Entry


@dataclass
class StateDoc:
    key: str
    settings: dict
    source_job_id: int | None = None
    file: str = ""
    lines: dict[str, int] = field(default_factory=dict)  # "job" / "job.tasks" -> 1-based line
    node: Any = None  # parsed settings node (for line numbers)
    # Direct grants as exported ({user_name|group_name|service_principal_name, level}, sorted);
    # None: the file has no `permissions:` (the job's permissions are not managed from here).
    permissions: list[dict] | None = None


COMPUTE_KINDS = {  # config key -> reference kind in state files
    "clusters": "cluster",
    "instance_pools": "pool",
    "policies": "policy",
    "warehouses": "warehouse",
    "pipelines": "pipeline",
}


OBJECT_KINDS = {
    "queries": "query",
    "alerts": "alert",
    "alerts_v2": "alert_v2",
    "dashboards": "dashboard",
    "sql_dashboards": "sql_dashboard",
    "destinations": "destination",
}


BUDGET_KIND = "budget_policy"


@dataclass
class Select:
    tag: str = "PROD_MIGRATION"
    value: str = "true"

    def matches(self, tags: Mapping[str, Any] | None) -> bool:
        value = (tags or {}).get(self.tag)
        return isinstance(value, str) and value.strip().lower() == self.value.lower()


@dataclass
class WorkspaceRef:
    profile: str | None = None
    host: str | None = None

    def describe(self) -> str:
        host = _without_userinfo(self.host) if self.host else ""
        return " ".join(p for p in (f"profile={self.profile}" if self.profile else "",
                                    f"host={host}" if host else "") if p) or "default auth"


def _without_userinfo(host: str) -> str:
    scheme, sep, rest = host.partition("://")
    if not sep:
        scheme, rest = "", host
    netloc, slash, path = rest.partition("/")
    return (f"{scheme}://" if sep else "") + netloc.rpartition("@")[2] + slash + path


@dataclass
class SourceConfig(WorkspaceRef):
    select: Select = field(default_factory=Select)
    notebook_root: str = "/Workspace/dev"
    acknowledge: bool = True
    ack_parallelism: int = 8  # jobs/update calls at a time when acknowledging (no batch API)
    # read: each exported job's permissions are read (one GET per job: the API has no batch read);
    # keep: none are read, each state file keeps the `permissions:` it has (new files get none).
    permissions: str = "read"
    budget_policies: dict[str, str] = field(default_factory=dict)  # name -> budget policy ID
    # none: jobs only (their notebooks reach the target some other way); referenced: the notebooks
    # and files the exported jobs use travel with them through state/files/ (commands/files_export.py).
    files: str = "none"


FILES_MODES = ("none", "referenced")


@dataclass
class TargetConfig(WorkspaceRef):
    name: str = ""
    path_rewrites: dict[str, str] = field(default_factory=dict)
    # Exact values that differ per environment (core/values.py): source value -> target value.
    values: dict[str, str] = field(default_factory=dict)
    compute: dict[str, dict[str, str]] = field(default_factory=lambda: {k: {} for k in COMPUTE_KINDS})
    run_as: dict[str, str] = field(default_factory=dict)
    overrides: dict[str, dict[str, Any]] = field(default_factory=dict)
    prune: bool = False
    # Job permissions (see permissions.py): how they are managed, principal names mapped from the
    # source (run_as entries serve too; these win), and entries every job gets in this target.
    permissions: str = "ignore"
    principals: dict[str, str] = field(default_factory=dict)
    permissions_add: list[Entry] = field(default_factory=list)

    objects: dict[str, dict[str, str]] = field(default_factory=lambda: {k: {} for k in OBJECT_KINDS})
    budget_policies: dict[str, str] = field(default_factory=dict)  # name -> budget policy ID
    max_prune_percent: float = 20.0  # prune refuses to delete more of the managed jobs at once
    # The identity that applies (SCIM Me userName; a service principal's application ID): whose jobs
    # and home-folder records are bricksync's (core/ownership.py, edges/trusted.py). None: whoever
    # the credentials are; set it so a read-only identity's plan judges by the writer's.
    identity: str | None = None

    def principal_mapping(self) -> dict[str, str]:
        """One mapping for run_as and permissions: `principals` over `run_as`."""
        return {**self.run_as, **self.principals}

    def compute_name(self, kind: str, source_name: str) -> str:
        """Target name for a source compute (or object) name: mapped, or the same name (seed step 12)."""
        for key, ref_kind in COMPUTE_KINDS.items():
            if ref_kind == kind:
                return self.compute.get(key, {}).get(source_name, source_name)
        for key, ref_kind in OBJECT_KINDS.items():
            if ref_kind == kind:
                return self.objects.get(key, {}).get(source_name, source_name)
        return source_name
