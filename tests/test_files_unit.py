"""Issue 21, the pure parts: naming in the CLI's layout, %run, diffs, the file plan, secrets."""

from __future__ import annotations

from bricksync.commands.preflight import path_uses
from bricksync.core.fileplan import Indexed, LiveObject, Wanted, plan_files, text_diff, to_read
from bricksync.core.files import (
    FILE,
    JUPYTER,
    NOTEBOOK,
    SOURCE,
    FileDoc,
    ObjectKind,
    folder_collisions,
    read_name,
    round_trip_problem,
    run_targets,
    secret_lines,
    state_name,
)
from bricksync.core.plan import Action, Plan

PYNB = ObjectKind(NOTEBOOK, "PYTHON", SOURCE)


def test_names_follow_the_cli_and_read_back() -> None:
    assert state_name("a/b", ObjectKind(NOTEBOOK, "SCALA", SOURCE)) == "a/b.scala"
    assert state_name("a/b", ObjectKind(NOTEBOOK, "PYTHON", JUPYTER)) == "a/b.ipynb"
    assert read_name("a/b.sql", b"-- Databricks notebook source\nselect 1") == ("a/b", ObjectKind(NOTEBOOK, "SQL", SOURCE))
    assert read_name("a/b.sql", b"select 1") == ("a/b.sql", ObjectKind(FILE))  # no header: a file
    # a workspace file that would read back as a notebook cannot be stored as itself
    assert round_trip_problem("u.py", ObjectKind(FILE), b"# Databricks notebook source\n")
    assert round_trip_problem("u.py", ObjectKind(FILE), b"x = 1\n") is None
    assert folder_collisions(["a/x", "a/x/y", "b"]) == [("a/x", "a/x/y")]


def test_run_targets_relative_absolute_quoted() -> None:
    text = b"# MAGIC %run ./common\n# MAGIC %run ../lib/util\n%run \"/Workspace/dev/my nb\"\nprint('%run x')\n"
    assert run_targets("/Workspace/dev/sales/ingest", text) == [
        "/Workspace/dev/sales/common", "/Workspace/dev/lib/util", "/Workspace/dev/my nb"]


def test_diff_is_bounded_and_counts_the_whole_change() -> None:
    before = "".join(f"{i}\n" for i in range(500)).encode()
    after = "".join(f"{i}!\n" for i in range(500)).encode()
    lines, added, removed = text_diff(before, after, "/p", limit=20)
    assert len(lines) == 21 and (added, removed) == (500, 500) and "more diff lines" in lines[-1]


def test_file_plan_conflict_adopt_vouched_and_orphans() -> None:
    doc = FileDoc("x", PYNB, b"# Databricks notebook source\n1\n", file="state/files/x.py", jobs=["j"])
    want = [Wanted("/Workspace/prod/x", doc)]
    live = {"/Workspace/prod/x": LiveObject("/prod/x", NOTEBOOK, 7, language="PYTHON"),
            "/Workspace/prod/gone": LiveObject("/prod/gone", FILE, 8, 1, 3)}
    assert plan_files(want, live, {}, {})[0].action == "conflict"  # not bricksync's
    assert plan_files(want, live, {}, {"/Workspace/prod/x": doc.data}, adopt=True)[0].action == "adopt"
    index = {"/Workspace/prod/x": Indexed(doc.sha, 7), "/Workspace/prod/gone": Indexed("s", 8, 1)}
    assert to_read(want, live, index) == []  # vouched: nothing read
    actions = plan_files(want, live, index, {})
    assert [(a.path, a.action) for a in actions] == [("/Workspace/prod/x", "no-op"), ("/Workspace/prod/gone", "orphan")]
    replaced = {**live, "/Workspace/prod/x": LiveObject("/prod/x", NOTEBOOK, 9, language="PYTHON")}
    assert to_read(want, replaced, index) == ["/Workspace/prod/x"]  # another object_id: read it


def test_secret_lines_name_the_line_never_the_value() -> None:
    found = list(secret_lines(b"a = 1\nkey = 'AKIAABCDEFGHIJKLMNOP'\nb = dbutils.secrets.get('s', 'k')\n"))
    assert [n for n, _ in found] == [2] and "AKIA" not in found[0][1]


def test_preflight_checks_init_scripts_from_the_table() -> None:
    settings = {"tasks": [{"task_key": "t", "new_cluster": {"init_scripts": [
        {"workspace": {"destination": "/Workspace/prod/init/a.sh"}}]}}]}
    plan = Plan("prod", "h", actions=[Action("k", "create", "job", settings=settings)])
    assert [u.path for u in path_uses(plan)] == ["/Workspace/prod/init/a.sh"]
