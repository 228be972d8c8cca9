"""One emulated workspace: its resources and the REST routes that read and write them.

Paths are the ones databricks-sdk calls (jobs at /api/2.2 -- and 2.1/2.0 --, clusters at /api/2.1, pools,
policies, warehouses, pipelines, permissions, workspace and SCIM at /api/2.0), with the
request/response shapes of https://docs.databricks.com/api/workspace/introduction.
"""

from __future__ import annotations

import base64
import contextlib
import copy
import hashlib
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

from . import acl
from .errors import invalid, not_found, permission_denied
from .jobs import JobStore, Referents
from .sqlobjects import LABELS, SQL_RESOURCES, sql_object_routes
from .wsfs import WorkspaceTree

Handler = Callable[["EmulatedWorkspace", dict, dict, re.Match], Any]

# kind -> (id field, name field) for the compute-like resources that jobs refer to.
RESOURCES = {
    "cluster": ("cluster_id", "cluster_name"),
    "pool": ("instance_pool_id", "instance_pool_name"),
    "policy": ("policy_id", "name"),
    "warehouse": ("id", "name"),
    "pipeline": ("pipeline_id", "name"),
    **SQL_RESOURCES,  # queries, alerts, dashboards, notification destinations: see sqlobjects.py
}


class EmulatedWorkspace:
    def __init__(self, name: str = "workspace", user: str = "bricksync@example.com", id_base: int = 1000):
        # id_base also seeds the other ID kinds: two workspaces never share a cluster/pool/... ID
        self.name = name
        self.user = user
        self.lock = threading.RLock()
        self.jobs = JobStore(id_base=id_base, user=user, clock_ms=lambda: int(time.time() * 1000))
        self.resources: dict[str, dict[str, dict]] = {kind: {} for kind in RESOURCES}
        self.permissions: dict[int, dict[tuple[str, str], str]] = {}  # job id -> direct entries
        self.directory = acl.Directory(user)
        self.objects: dict[str, dict] = {"/": {"object_type": "DIRECTORY", "path": "/", "object_id": 1}}
        self._seq = 0
        self._prefix = hashlib.sha1(f"{name}:{id_base}".encode()).hexdigest()[:4]

    # --- references ----------------------------------------------------------------------
    def exists(self, kind: str, ident: str) -> bool:
        if kind == "job":
            return ident.isdigit() and int(ident) in self.jobs.jobs
        return ident in self.resources[kind]

    def referents(self) -> Referents:
        def policy(ident: str) -> Any:
            record = self.resources["policy"].get(ident)
            return record.get("definition") if record else None

        return Referents(self.exists, policy)

    def _new_id(self, kind: str) -> str:
        self._seq += 1
        n = self._seq
        if kind == "cluster":
            return f"0101-{self._prefix}{n:02d}-c{n:07d}"
        if kind == "pool":
            return f"0101-{self._prefix}{n:02d}-pool-{n:06d}"
        if kind in ("pipeline", "query", "alert", "alert_v2", "sql_dashboard", "destination"):
            return str(uuid.UUID(int=(int(self._prefix, 16) << 96) + n))
        if kind == "dashboard":  # AI/BI dashboard IDs: 32 hex characters
            return f"01ef{self._prefix}{n:024x}"
        return f"{self._prefix.upper()}{n:012X}"  # policies and warehouses: 16 hex characters

    # --- generic compute-like resources ----------------------------------------------------
    def create_resource(self, kind: str, body: dict) -> dict:
        id_field, name_field = RESOURCES[kind]
        if not body.get(name_field):
            raise invalid(f"{name_field} is required")
        ident = self._new_id(kind)
        record = copy.deepcopy(body)
        record[id_field] = ident
        if kind == "cluster":
            record.setdefault("state", "RUNNING")
            record.setdefault("creator_user_name", self.user)
        elif kind == "warehouse":
            record.setdefault("state", "RUNNING")
        elif kind == "pool":
            record.setdefault("state", "ACTIVE")
        elif kind == "pipeline":
            record.setdefault("state", "IDLE")
        self.resources[kind][ident] = record
        return {id_field: ident}

    def get_resource(self, kind: str, ident: str | None) -> dict:
        if not ident or ident not in self.resources[kind]:
            label = {"pool": "Instance pool", "policy": "Policy", "warehouse": "SQL warehouse",
                     "pipeline": "Pipeline", "cluster": "Cluster", **LABELS}[kind]
            raise not_found(f"{label} {ident} does not exist.")
        return copy.deepcopy(self.resources[kind][ident])

    def delete_resource(self, kind: str, ident: str | None) -> dict:
        self.get_resource(kind, ident)
        del self.resources[kind][ident]  # type: ignore[arg-type]
        return {}

    def list_resources(self, kind: str) -> list[dict]:
        return [copy.deepcopy(r) for r in self.resources[kind].values()]

    # --- workspace objects (notebooks, files, directories): wsfs.py has the rules ---------------
    @property
    def tree(self) -> WorkspaceTree:
        return WorkspaceTree(self.objects, self._next_object_id)

    def _next_object_id(self) -> int:
        self._seq += 1
        return self._seq

    @staticmethod
    def _norm_path(path: Any) -> str:
        return WorkspaceTree.norm(path)

    # Home folders: "Users have Can Manage permission on their home folder. All other users have No
    # Permissions", and every user may manage objects in /Shared; workspace admins manage every folder
    # (docs: https://learn.microsoft.com/azure/databricks/security/auth/access-control/workspace-acl,
    # "Special folders and permissions"; docs.azure.cn/zh-cn/databricks/security/access-control/workspace-acl).
    def _home_check(self, path: Any, write: bool) -> None:
        if not isinstance(path, str):
            return
        norm = re.sub(r"/+", "/", path)
        if norm.startswith("/Workspace/"):
            norm = norm[len("/Workspace"):]
        parts = norm.split("/")
        if len(parts) < 3 or parts[1] != "Users" or not parts[2]:
            return
        owner = parts[2]
        if owner.lower() == self.user.lower() or self.directory.is_admin(self.user):
            return
        what = "write to" if write else "read"
        raise permission_denied(f"User {self.user} does not have permission to {what} {path}: it is in the home "
                                f"folder of {owner}.")

    @contextlib.contextmanager
    def acting_as(self, user: str) -> Iterator[None]:
        """Serve one request as `user` (the token's owner): creator, owner, SCIM Me, folder rights follow."""
        primary = self.user
        self.user = self.jobs.user = user
        try:
            yield
        finally:
            self.user = self.jobs.user = primary

    def add_user(self, user: str) -> None:
        """Another workspace user (not an admin), one of the `users` group."""
        self.directory.users.add(user)
        self.directory.groups["users"].add(user)

    def mkdirs(self, path: str) -> None:
        self._home_check(path, write=True)
        self.tree.mkdirs(path)

    def import_object(self, body: dict) -> dict:
        self._home_check(body.get("path"), write=True)
        return self.tree.import_(body)

    def add_git_folder(self, path: str) -> None:
        """A Git folder without Git CLI access: object_type REPO (its parent must exist)."""
        norm = self._norm_path(path)
        self.mkdirs(norm.rsplit("/", 1)[0] or "/")
        self.objects[norm] = {"object_type": "REPO", "path": norm, "object_id": self._next_object_id()}

    def get_status(self, path: Any) -> dict:
        self._home_check(path, write=False)
        return self.tree.get_status(path)

    def export_object(self, query: Any) -> Any:
        query = query if isinstance(query, dict) else {"path": query}
        self._home_check(query.get("path"), write=False)
        return self.tree.export(query)

    def delete_object(self, body: dict) -> dict:
        self._home_check(body.get("path"), write=True)
        return self.tree.delete(body)

    def list_objects(self, path: Any) -> dict:
        self._home_check(path, write=False)
        return self.tree.list(path)

    # --- permissions (emulator/acl.py has the rules) --------------------------------------
    def _direct(self, jid: int) -> dict[tuple[str, str], str]:
        if jid not in self.permissions:  # the creator owns a job until told otherwise
            creator = str(self.jobs.jobs[jid].get("creator_user_name") or self.user)
            kind = "service_principal_name" if creator in self.directory.service_principals else "user_name"
            self.permissions[jid] = {(kind, creator): "IS_OWNER"}
        return self.permissions[jid]

    def job_permissions(self, job_id: str) -> dict:
        jid = int(self.jobs._require(job_id)["job_id"])
        return acl.read(jid, self._direct(jid))

    def set_job_permissions(self, job_id: str, body: dict, replace: bool) -> dict:
        jid = int(self.jobs._require(job_id)["job_id"])
        self.permissions[jid] = acl.change(self._direct(jid), body, replace=replace, caller=self.user,
                                           directory=self.directory)
        return self.job_permissions(str(jid))

    def add_principals(self, users: list[str] | None = None, groups: list[str] | None = None,
                       service_principals: list[str] | None = None, admin: bool | None = None) -> None:
        """Make principals known (permissions name only known ones); `admin`: is the caller an admin."""
        self.directory.add(users or [], groups or [], service_principals or [])
        if admin is not None:
            (self.directory.groups["admins"].add if admin else self.directory.groups["admins"].discard)(self.user)

    def me(self) -> dict:
        groups = [{"display": g, "value": g, "$ref": f"Groups/{g}"} for g in self.directory.groups_of(self.user)]
        return {"id": "1", "userName": self.user, "displayName": self.user.split("@")[0], "active": True,
                "emails": [{"value": self.user, "primary": True}], "groups": groups}

    # --- snapshot (the --state file) --------------------------------------------------------
    def snapshot(self) -> dict:
        return {
            "jobs": list(self.jobs.jobs.values()), "next_job_id": self.jobs.next_id,
            "resources": self.resources,
            "permissions": {str(k): [[kind, name, level] for (kind, name), level in v.items()]
                            for k, v in self.permissions.items()},
            "principals": {"users": sorted(self.directory.users), "service_principals":
                           sorted(self.directory.service_principals),
                           "groups": {g: sorted(m) for g, m in self.directory.groups.items()}},
            "objects": self.objects, "seq": self._seq,
        }

    def restore(self, data: dict) -> None:
        self.jobs.jobs = {int(j["job_id"]): j for j in data.get("jobs", [])}
        self.jobs.next_id = int(data.get("next_job_id", self.jobs.next_id))
        for kind in RESOURCES:
            self.resources[kind] = data.get("resources", {}).get(kind, {})
        self.permissions = {int(k): {(kind, name): level for kind, name, level in v}
                            for k, v in data.get("permissions", {}).items() if isinstance(v, list)
                            and all(isinstance(e, list) for e in v)}
        principals = data.get("principals") or {}
        self.directory.users.update(principals.get("users", []))
        self.directory.service_principals.update(principals.get("service_principals", []))
        for group, members in (principals.get("groups") or {}).items():
            self.directory.groups.setdefault(group, set()).update(members)
        self.objects = data.get("objects", self.objects)
        self._seq = int(data.get("seq", 0))


def _flag(value: Any) -> bool:
    return str(value).lower() == "true"


def _paged(items: list[dict], key: str, query: dict, page_size_field: str = "page_size",
           default_size: int = 100) -> dict:
    """Offset page tokens for the compute list endpoints that page (clusters, pipelines)."""
    size = int(query.get(page_size_field) or default_size)
    start = int(base64.urlsafe_b64decode(query["page_token"]).decode()) if query.get("page_token") else 0
    page = items[start:start + size]
    out: dict = {key: page} if page else {}
    if start + size < len(items):
        out["next_page_token"] = base64.urlsafe_b64encode(str(start + size).encode()).decode()
    return out


# long: the route table, one line per endpoint
def _routes() -> list[tuple[str, str, Handler]]:
    # Jobs at 2.2 (databricks-sdk) and at 2.1 and 2.0 (older clients: the legacy databricks-cli
    # calls 2.0 and pages jobs/list by offset). Only 2.2 pages tasks past 100 (API 2.2 updates).
    J = r"/api/(?P<v>2\.[012])/jobs"
    routes: list[tuple[str, str, Handler]] = [
        ("GET", f"{J}/list", lambda ws, q, b, m: ws.jobs.list(
            q.get("limit"), q.get("page_token"), _flag(q.get("expand_tasks")), q.get("name"),
            offset=q.get("offset"), paged=m["v"] == "2.2")),
        ("GET", f"{J}/get", lambda ws, q, b, m: ws.jobs.get(q.get("job_id"), q.get("page_token"),
                                                            paged=m["v"] == "2.2")),
        ("POST", f"{J}/create", lambda ws, q, b, m: _create_job(ws, b, m["v"])),
        ("POST", f"{J}/reset", lambda ws, q, b, m: ws.jobs.reset(b, ws.referents(), m["v"])),
        ("POST", f"{J}/update", lambda ws, q, b, m: ws.jobs.update(b, ws.referents(), m["v"])),
        ("POST", f"{J}/delete", lambda ws, q, b, m: _delete_job(ws, b)),
        # clusters
        ("GET", "/api/2.1/clusters/list", lambda ws, q, b, m: _paged(
            ws.list_resources("cluster"), "clusters", q)),
        # 2.0 (legacy databricks-cli `clusters list`): every cluster in one response, no paging
        ("GET", "/api/2.0/clusters/list", lambda ws, q, b, m: {
            "clusters": ws.list_resources("cluster")} if ws.resources["cluster"] else {}),
        ("GET", "/api/2.1/clusters/get", lambda ws, q, b, m: ws.get_resource("cluster", q.get("cluster_id"))),
        ("POST", "/api/2.1/clusters/create", lambda ws, q, b, m: ws.create_resource("cluster", b)),
        ("POST", "/api/2.1/clusters/permanent-delete",
         lambda ws, q, b, m: ws.delete_resource("cluster", b.get("cluster_id"))),
        # instance pools
        ("GET", "/api/2.0/instance-pools/list", lambda ws, q, b, m: {
            "instance_pools": ws.list_resources("pool")} if ws.resources["pool"] else {}),
        ("GET", "/api/2.0/instance-pools/get",
         lambda ws, q, b, m: ws.get_resource("pool", q.get("instance_pool_id"))),
        ("POST", "/api/2.0/instance-pools/create", lambda ws, q, b, m: ws.create_resource("pool", b)),
        ("POST", "/api/2.0/instance-pools/delete",
         lambda ws, q, b, m: ws.delete_resource("pool", b.get("instance_pool_id"))),
        # cluster policies
        ("GET", "/api/2.0/policies/clusters/list", lambda ws, q, b, m: {
            "policies": ws.list_resources("policy"), "total_count": len(ws.resources["policy"])}),
        ("GET", "/api/2.0/policies/clusters/get",
         lambda ws, q, b, m: ws.get_resource("policy", q.get("policy_id"))),
        ("POST", "/api/2.0/policies/clusters/create", lambda ws, q, b, m: ws.create_resource("policy", b)),
        ("POST", "/api/2.0/policies/clusters/delete",
         lambda ws, q, b, m: ws.delete_resource("policy", b.get("policy_id"))),
        # SQL warehouses
        ("GET", "/api/2.0/sql/warehouses", lambda ws, q, b, m: {"warehouses": ws.list_resources("warehouse")}),
        ("POST", "/api/2.0/sql/warehouses", lambda ws, q, b, m: ws.create_resource("warehouse", b)),
        ("GET", r"/api/2.0/sql/warehouses/(?P<id>[^/]+)",
         lambda ws, q, b, m: ws.get_resource("warehouse", m["id"])),
        ("DELETE", r"/api/2.0/sql/warehouses/(?P<id>[^/]+)",
         lambda ws, q, b, m: ws.delete_resource("warehouse", m["id"])),
        # pipelines
        ("GET", "/api/2.0/pipelines", lambda ws, q, b, m: _paged(
            [{"pipeline_id": p["pipeline_id"], "name": p["name"], "state": p["state"]}
             for p in ws.list_resources("pipeline")], "statuses", q, "max_results", 25)),
        ("POST", "/api/2.0/pipelines", lambda ws, q, b, m: ws.create_resource("pipeline", b)),
        ("GET", r"/api/2.0/pipelines/(?P<id>[^/]+)", lambda ws, q, b, m: ws.get_resource("pipeline", m["id"])),
        ("DELETE", r"/api/2.0/pipelines/(?P<id>[^/]+)",
         lambda ws, q, b, m: ws.delete_resource("pipeline", m["id"])),
        # permissions
        ("GET", r"/api/2.0/permissions/jobs/(?P<id>\d+)", lambda ws, q, b, m: ws.job_permissions(m["id"])),
        ("PUT", r"/api/2.0/permissions/jobs/(?P<id>\d+)",
         lambda ws, q, b, m: ws.set_job_permissions(m["id"], b, replace=True)),
        ("PATCH", r"/api/2.0/permissions/jobs/(?P<id>\d+)",
         lambda ws, q, b, m: ws.set_job_permissions(m["id"], b, replace=False)),
        # workspace objects
        ("GET", "/api/2.0/workspace/get-status", lambda ws, q, b, m: ws.get_status(q.get("path"))),
        ("GET", "/api/2.0/workspace/list", lambda ws, q, b, m: ws.list_objects(q.get("path"))),
        ("GET", "/api/2.0/workspace/export", lambda ws, q, b, m: ws.export_object(q)),
        ("POST", "/api/2.0/workspace/mkdirs", lambda ws, q, b, m: ws.mkdirs(b.get("path")) or {}),
        ("POST", "/api/2.0/workspace/import", lambda ws, q, b, m: ws.import_object(b)),
        ("POST", "/api/2.0/workspace/delete", lambda ws, q, b, m: ws.delete_object(b)),
        # identity
        ("GET", "/api/2.0/preview/scim/v2/Me", lambda ws, q, b, m: ws.me()),
    ]
    routes += sql_object_routes()
    return routes


def _create_job(ws: EmulatedWorkspace, body: dict, version: str = "2.2") -> dict:
    acl_entries = body.get("access_control_list")
    if acl_entries:  # checked before the job exists: a refused ACL creates nothing
        acl.change({("user_name", ws.user): "IS_OWNER"}, {"access_control_list": acl_entries}, replace=False,
                   caller=ws.user, directory=ws.directory)
    result = ws.jobs.create(body, ws.referents(), version)
    if acl_entries:
        ws.set_job_permissions(str(result["job_id"]), {"access_control_list": acl_entries}, replace=False)
    return result


def _delete_job(ws: EmulatedWorkspace, body: dict) -> dict:
    result = ws.jobs.delete(body)
    ws.permissions.pop(int(body["job_id"]), None)
    return result


ROUTES = [(method, re.compile(pattern + "$"), handler) for method, pattern, handler in _routes()]


def route(method: str, path: str) -> tuple[Handler, re.Match] | None:
    """The handler for a method and path, or None (the caller answers 404 or 405)."""
    for meth, pattern, handler in ROUTES:
        match = pattern.match(path)
        if match and meth == method:
            return handler, match
    return None


def path_known(path: str) -> bool:
    return any(pattern.match(path) for _, pattern, _ in ROUTES)
