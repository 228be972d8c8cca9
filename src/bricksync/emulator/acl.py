"""Job permissions as the Permissions API serves them (GET/PUT/PATCH /api/2.0/permissions/jobs/{id}).

What the service does (docs.databricks.com jobs access control; the Permissions API; errors as
users of the Terraform provider and Asset Bundles report them):
- levels CAN_VIEW, CAN_MANAGE_RUN, CAN_MANAGE, IS_OWNER; the creator is IS_OWNER by default;
- workspace admins hold CAN_MANAGE on every job, shown on read as an inherited entry of the
  `admins` group (`inherited: true`, `inherited_from_object: ["/jobs/"]`), never written;
- PUT replaces the direct entries, PATCH adds to them (a principal's level is replaced);
- a job has exactly one owner ("The job must have exactly one owner."), a user or service
  principal, never a group;
- principals must exist; a name is stored under the kind the workspace knows it as (a service
  principal's application ID sent as user_name comes back as service_principal_name);
- only a caller who can manage the job changes its permissions; only workspace admins give a
  job to another owner ("By default, workspace admins can change a job owner to any user or
  service principal", docs: restrict-workspace-admins); a caller who is not an admin cannot
  remove their own management ("it is not possible to decrease administrative
  permissions for the current user").
"""

from __future__ import annotations

import copy

from .errors import invalid, permission_denied

LEVELS = ("CAN_VIEW", "CAN_MANAGE_RUN", "CAN_MANAGE", "IS_OWNER")
FIELDS = ("user_name", "group_name", "service_principal_name")
MANAGE = ("CAN_MANAGE", "IS_OWNER")


class Directory:
    """The workspace's users, groups (with members) and service principals (by application ID)."""

    def __init__(self, user: str):
        self.users: set[str] = {user}
        self.groups: dict[str, set[str]] = {"admins": {user}, "users": {user}}
        self.service_principals: set[str] = set()

    def add(self, users: list[str] = (), groups: list[str] = (),  # type: ignore[assignment]
            service_principals: list[str] = ()) -> None:  # type: ignore[assignment]
        self.users.update(users)
        self.service_principals.update(service_principals)
        for group in groups:
            self.groups.setdefault(group, set())

    def is_admin(self, name: str) -> bool:
        return name in self.groups["admins"]

    def groups_of(self, name: str) -> list[str]:
        return sorted(g for g, members in self.groups.items() if name in members)

    def resolve(self, entry: dict) -> tuple[str, str]:
        """(field, name) as the workspace knows the principal; 400 when it does not."""
        present = [f for f in FIELDS if entry.get(f)]
        if len(present) != 1:
            raise invalid("Exactly one of user_name, group_name or service_principal_name must be set "
                          "in an access control entry")
        kind, name = present[0], str(entry[present[0]])
        if kind == "group_name":
            if name not in self.groups:
                raise invalid(f"Principal: GroupName({name}) does not exist")
            return kind, name
        if name in self.users:
            return "user_name", name
        if name in self.service_principals:
            return "service_principal_name", name
        label = "UserName" if kind == "user_name" else "ServicePrincipalName"
        raise invalid(f"Principal: {label}({name}) does not exist")


def read(job_id: int, direct: dict[tuple[str, str], str]) -> dict:
    """The GET response: direct entries, then the admins group's inherited CAN_MANAGE."""
    acl = []
    for (kind, name), level in sorted(direct.items(), key=lambda kv: (FIELDS.index(kv[0][0]), kv[0][1])):
        perms = [{"permission_level": level, "inherited": False}]
        if (kind, name) == ("group_name", "admins"):
            perms.append({"permission_level": "CAN_MANAGE", "inherited": True, "inherited_from_object": ["/jobs/"]})
        acl.append({kind: name, "all_permissions": perms})
    if ("group_name", "admins") not in direct:
        acl.append({"group_name": "admins", "all_permissions": [
            {"permission_level": "CAN_MANAGE", "inherited": True, "inherited_from_object": ["/jobs/"]}]})
    return {"object_id": f"/jobs/{job_id}", "object_type": "job", "access_control_list": copy.deepcopy(acl)}


def can_manage(direct: dict[tuple[str, str], str], caller: str, directory: Directory) -> bool:
    if directory.is_admin(caller):
        return True
    mine = {("user_name", caller), ("service_principal_name", caller)} | {
        ("group_name", g) for g in directory.groups_of(caller)}
    return any(direct.get(p) in MANAGE for p in mine)


def change(direct: dict[tuple[str, str], str], body: dict, *, replace: bool, caller: str,
           directory: Directory) -> dict[tuple[str, str], str]:
    """The direct entries after a PUT (replace) or PATCH; raises the service's errors."""
    if not can_manage(direct, caller, directory):
        raise permission_denied(f"{caller} does not have Manage permissions on this job. Please contact the "
                                "job owner or a workspace admin.")
    entries = body.get("access_control_list")
    if entries is not None and not isinstance(entries, list):
        raise invalid("access_control_list must be a list")
    new = {} if replace else dict(direct)
    for entry in entries or []:
        if not isinstance(entry, dict):
            raise invalid("Each access control entry must be an object")
        level = entry.get("permission_level")
        if level not in LEVELS:
            raise invalid(f"Invalid permission level {level!r} for a job; expected one of {', '.join(LEVELS)}")
        principal = directory.resolve(entry)
        if level == "IS_OWNER" and principal[0] == "group_name":
            raise invalid(f"Group {principal[1]} cannot be the owner of a job: the owner must be a user or a "
                          "service principal.")
        if level == "IS_OWNER" and not replace:  # PATCH: the new owner takes over
            new = {p: lvl for p, lvl in new.items() if lvl != "IS_OWNER"}
        new[principal] = level
    if sum(1 for lvl in new.values() if lvl == "IS_OWNER") != 1:
        raise invalid("The job must have exactly one owner.")
    old_owner = next((name for (_, name), lvl in direct.items() if lvl == "IS_OWNER"), None)
    new_owner = next(name for (_, name), lvl in new.items() if lvl == "IS_OWNER")
    if new_owner not in (old_owner, caller) and not directory.is_admin(caller):
        raise permission_denied("Only workspace admins can change the owner of a job to another user or "
                                "service principal.")
    if can_manage(direct, caller, directory) and not can_manage(new, caller, directory):
        raise invalid("it is not possible to decrease administrative permissions for the current user")
    return new
