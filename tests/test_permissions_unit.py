"""permissions.py: pure ACL normalization, mapping, diff and the service's rules."""

from __future__ import annotations

from bricksync.core.permissions import (
    Identity,
    check_entries,
    desired,
    diff,
    digest,
    entry,
    from_api,
    from_state,
    reverse_mapping,
    rule_problems,
    to_state,
)

SP = "11111111-2222-4333-8444-555555555555"


def test_from_api_keeps_direct_entries_sorted_and_drops_inherited() -> None:
    response = {"object_id": "/jobs/1", "object_type": "job", "access_control_list": [
        {"service_principal_name": SP, "all_permissions": [{"permission_level": "CAN_MANAGE", "inherited": False}]},
        {"group_name": "admins", "all_permissions": [
            {"permission_level": "CAN_MANAGE", "inherited": True, "inherited_from_object": ["/jobs/"]}]},
        {"user_name": "b@x", "all_permissions": [
            {"permission_level": "CAN_VIEW", "inherited": False},
            {"permission_level": "CAN_MANAGE", "inherited": True, "inherited_from_object": ["/jobs/"]}]},
        {"user_name": "a@x", "all_permissions": [{"permission_level": "IS_OWNER", "inherited": False}]},
        {"group_name": "eng", "all_permissions": [{"permission_level": "CAN_MANAGE_RUN", "inherited": False}]}]}
    assert to_state(from_api(response)) == [
        {"user_name": "a@x", "level": "IS_OWNER"}, {"user_name": "b@x", "level": "CAN_VIEW"},
        {"group_name": "eng", "level": "CAN_MANAGE_RUN"}, {"service_principal_name": SP, "level": "CAN_MANAGE"}]


def test_mapping_adding_and_merging() -> None:
    state = from_state([{"user_name": "a@x", "level": "IS_OWNER"}, {"group_name": "dev", "level": "CAN_VIEW"},
                        {"user_name": "svc", "level": "CAN_MANAGE"}])
    want = desired(state, {"a@x": "a@prod", "dev": "prod-eng", "svc": SP},
                   [entry("group_name", "prod-eng", "CAN_MANAGE_RUN")])
    assert to_state(want) == [{"user_name": "a@prod", "level": "IS_OWNER"},
                              {"group_name": "prod-eng", "level": "CAN_MANAGE_RUN"},  # the higher level wins
                              {"service_principal_name": SP, "level": "CAN_MANAGE"}]  # a UUID is a service principal
    assert reverse_mapping({"a": "x", "b": "x", "c": "y"}) == {"y": "c"}


def test_diff_manage_and_additive_and_kind_matching() -> None:
    live = [entry("user_name", "o@x", "IS_OWNER"), entry("service_principal_name", SP, "CAN_MANAGE"),
            entry("user_name", "hand@x", "CAN_MANAGE")]
    want = [entry("user_name", "o@x", "IS_OWNER"), entry("user_name", SP, "CAN_MANAGE"),
            entry("group_name", "g", "CAN_VIEW")]
    d = diff(live, want, "manage")
    assert d.changes == [("+", "group:g", None, "CAN_VIEW"), ("-", "user:hand@x", "CAN_MANAGE", None)]
    assert ("service_principal_name", SP) in {(e.kind, e.name) for e in d.send or []}  # as the service has it
    a = diff(live, want, "additive")
    assert a.changes == [("+", "group:g", None, "CAN_VIEW")] and [e.label for e in a.send or []] == ["group:g"]
    lower = diff([entry("user_name", "o@x", "IS_OWNER"), entry("group_name", "g", "CAN_MANAGE")],
                 [entry("user_name", "o@x", "IS_OWNER"), entry("group_name", "g", "CAN_VIEW")], "additive")
    assert lower.send is None  # additive never lowers
    assert diff(live, live, "manage").send is None
    assert digest(want, "manage") == digest(list(reversed(want)), "manage") != digest(want, "additive")


def test_rules() -> None:
    me = Identity("deployer@x", ("users",))
    two = [entry("user_name", "a", "IS_OWNER"), entry("user_name", "b", "IS_OWNER")]
    assert "exactly one IS_OWNER" in rule_problems(two, "manage", None)[0]
    assert "cannot be IS_OWNER" in rule_problems([entry("group_name", "g", "IS_OWNER")], "manage", None)[-1]
    assert "lockout" in rule_problems([entry("user_name", "a", "IS_OWNER")], "manage", me)[0]
    assert rule_problems([entry("user_name", "a", "IS_OWNER"), entry("group_name", "users", "CAN_MANAGE")],
                         "manage", me) == []
    assert rule_problems([entry("user_name", "a", "IS_OWNER")], "manage", Identity("d", ("admins",))) == []
    assert rule_problems([entry("group_name", "g", "CAN_VIEW")], "additive", me) == []


def test_check_entries_names_each_problem() -> None:
    found = check_entries([{"user_name": "a", "level": "CAN_RUN"}, {"group_name": "g"},
                           {"user_name": "a", "group_name": "b", "level": "CAN_VIEW"}, "x",
                           {"user_name": "z", "level": "CAN_VIEW", "extra": 1}, {"user_name": "z", "level": "CAN_VIEW"}])
    wheres = [w for w, _ in found]
    assert wheres == ["[0].level", "[1].level", "[2]", "[3]", "[4]", "[5]"]
    assert check_entries("nope")[0][1].startswith("expected a list")
