"""Values that differ per environment (core/values.py) and list items in overrides (core/overrides.py):
the matcher, its inverse, the table of fields, config checks. Pure."""

from __future__ import annotations

from pathlib import Path

import pytest

from bricksync.core.errors import BricksyncError
from bricksync.core.inverse import invert_job
from bricksync.core.model import StateDoc, TargetConfig
from bricksync.core.overrides import applies, check_overrides, path_parts
from bricksync.core.references import Inventory
from bricksync.core.render import override_problems, render
from bricksync.core.schema import schema_table
from bricksync.core.values import (
    JOB_VALUES,
    TASK_VALUES,
    check_values,
    invert_value,
    render_value,
    rewrite_value,
    value_sites,
)
from bricksync.edges.config import parse_config

SALES = {"dev_sales": "prod_sales"}
WHERE = "targets.prod.values"


@pytest.mark.parametrize(("value", "expected"), [
    ("dev_sales", "prod_sales"),  # the whole value
    ("dev_sales.orders", "prod_sales.orders"),
    ("main.dev_sales.orders", "main.prod_sales.orders"),
    ("SELECT * FROM dev_sales.orders WHERE src = 'dev_sales'", "SELECT * FROM prod_sales.orders WHERE src = 'prod_sales'"),
    ("catalog=dev_sales,schema=raw", "catalog=prod_sales,schema=raw"),
    ("--catalog dev_sales\t--x", "--catalog prod_sales\t--x"),
    ('["dev_sales", "dev_sales_x"]', '["prod_sales", "dev_sales_x"]'),
    ("{{dev_sales}}/x:dev_sales;dev_sales@h", "{{prod_sales}}/x:prod_sales;prod_sales@h"),
    ("é dev_sales", "é prod_sales"),
    # never a piece of a word: letters, digits (any script), _ and - continue a token
    ("mydev_sales", "mydev_sales"),
    ("dev_sales2.orders", "dev_sales2.orders"),
    ("dev_sales-eu", "dev_sales-eu"),
    ("x-dev_sales", "x-dev_sales"),
    ("dev_salesé", "dev_salesé"),
    ("DEV_SALES", "DEV_SALES"),  # case-sensitive
    ("", ""),
])
def test_a_rewrite_replaces_the_whole_value_or_a_delimited_token_only(value: str, expected: str) -> None:
    assert rewrite_value(value, SALES) == expected
    back, error = invert_value(expected, SALES, WHERE)
    assert (back, error) == (value, None)


def test_storage_urls_by_the_whole_prefix_or_by_a_token() -> None:
    url = {"abfss://dev@acct.dfs.core.windows.net": "abfss://prod@acct.dfs.core.windows.net"}
    assert rewrite_value("abfss://dev@acct.dfs.core.windows.net/raw/pos", url) == \
        "abfss://prod@acct.dfs.core.windows.net/raw/pos"
    assert rewrite_value("abfss://dev@acct.dfs.core.windows.net2/raw", url) == "abfss://dev@acct.dfs.core.windows.net2/raw"
    token = {"dev": "prod"}  # a container name between :// and @ is a token
    assert rewrite_value("abfss://dev@acct.dfs.core.windows.net/raw", token) == "abfss://prod@acct.dfs.core.windows.net/raw"
    assert rewrite_value("abfss://devx@acct.dfs.core.windows.net/raw", token) == "abfss://devx@acct.dfs.core.windows.net/raw"
    # a source that ends with a delimiter never splits a word either
    slash = {"s3://dev-bucket/": "s3://prod-bucket/"}
    assert rewrite_value("s3://dev-bucket/raw", slash) == "s3://prod-bucket/raw"


def test_longest_source_first_and_every_rewrite_at_once() -> None:
    mapping = {"dev_sales": "prod_sales", "dev_sales.orders": "prod_sales.orders_v2"}
    assert rewrite_value("dev_sales.orders,dev_sales.items", mapping) == "prod_sales.orders_v2,prod_sales.items"
    swap = {"blue_env": "green_env", "green_env": "blue_env"}  # an output is never rewritten again
    assert rewrite_value("blue_env green_env", swap) == "green_env blue_env"
    assert invert_value("green_env blue_env", swap, WHERE) == ("blue_env green_env", None)


def test_two_sources_with_one_target_are_an_error_naming_both() -> None:
    problems = check_values({"dev_sales": "prod_sales", "qa_sales": "prod_sales", "dev_x": "prod_x"})
    assert problems == ["'dev_sales' and 'qa_sales' both map to 'prod_sales': capture could not tell which to write back"]
    assert any("empty" in p for p in check_values({"dev": ""}))
    assert any("empty" in p for p in check_values({"": "prod"}))
    assert any("whitespace" in p for p in check_values({" dev": "prod"}))
    assert any("no letter or digit" in p for p in check_values({".": "_"}))
    assert check_values(SALES) == []


def test_a_value_whose_rewrite_collides_is_refused() -> None:
    """prod_sales already in a test value would come back from capture as dev_sales."""
    out, error = render_value("prod_sales.orders", SALES, WHERE)
    assert out == "prod_sales.orders"
    assert error is not None and "'prod_sales.orders'" in error and "read back as 'dev_sales.orders'" in error
    assert "already holds 'prod_sales', what targets.prod.values rewrites 'dev_sales' to" in error
    out, error = render_value("dev_sales to prod_sales", SALES, WHERE)
    assert error is not None and "'prod_sales to prod_sales'" in error
    assert render_value("dev_sales.orders", SALES, WHERE) == ("prod_sales.orders", None)
    # overlapping sources: the longer one wins forward, so its inverse cannot be the shorter's
    overlap = {"dev": "prod", "dev.x": "y"}
    source, error = invert_value("prod.x", overlap, WHERE)
    assert source is None and "renders as 'y'" in error and "not expressible exactly" in error


def test_every_row_of_the_table_is_a_site_and_nothing_else_is() -> None:
    def put(node: dict, row: str) -> None:
        parts = row.split(".")
        for part in parts[:-1]:
            if part.endswith("[]"):
                node = node.setdefault(part[:-2], [{"name": "p"}])[0]
            else:
                node = node.setdefault(part, {})
        last = parts[-1]
        if last == "*":
            node["k"] = "dev_sales"
        elif last.endswith("[]"):
            node[last[:-2]] = ["dev_sales"]
        else:
            node[last] = "dev_sales"

    task: dict = {"task_key": "t", "notebook_task": {"notebook_path": "/Workspace/dev/dev_sales"}}
    for row in TASK_VALUES:
        put(task, row)
    settings: dict = {"name": "dev_sales", "tags": {"dev_sales": "dev_sales"}, "tasks": [
        task, {"task_key": "each", "for_each_task": {"inputs": "[1]", "task": {
            "task_key": "inner", "dbt_task": {"catalog": "dev_sales", "commands": ["dbt run"]}}}}]}
    for row in JOB_VALUES:
        put(settings, row)
    sites = {s.location: s.value for s in value_sites(settings)}
    assert len(sites) == len(TASK_VALUES) + len(JOB_VALUES) + 3  # + the inner task's catalog, commands; inputs
    assert "parameters[p].default" in sites and "git_source.git_tag" in sites
    assert "tasks[t].notebook_task.base_parameters.k" in sites and "tasks[t].spark_python_task.parameters[0]" in sites
    assert "tasks[each].for_each_task.task.dbt_task.catalog" in sites
    # name, tags, paths are no value sites
    assert not any(loc in ("name", "tasks[t].notebook_task.notebook_path") or loc.startswith("tags") for loc in sites)


def _doc(**settings) -> StateDoc:
    base = {"name": "etl", "parameters": [{"name": "catalog", "default": "dev_sales"}],
            "git_source": {"git_url": "https://github.com/x/y", "git_provider": "gitHub", "git_branch": "develop"},
            "tasks": [{"task_key": "ingest", "notebook_task": {
                "notebook_path": "src/ingest", "base_parameters": {"table": "dev_sales.pos"}}}]}
    return StateDoc(key="etl", settings={**base, **settings}, file="state/jobs/etl.yml")


def test_render_and_invert_a_job_both_ways() -> None:
    t = TargetConfig(name="prod", values={"dev_sales": "prod_sales", "develop": "release"})
    settings, problems = render(_doc(), t, Inventory(), {})
    assert problems == []
    assert settings["parameters"] == [{"name": "catalog", "default": "prod_sales"}]
    assert settings["git_source"]["git_branch"] == "release"
    assert settings["tasks"][0]["notebook_task"]["base_parameters"] == {"table": "prod_sales.pos"}
    back, problems = invert_job({"job_id": 1, "settings": settings}, key="etl", target=t, inventory=Inventory(),
                                job_keys={}, job_ids={})
    assert problems == [] and back is not None
    assert back["parameters"] == [{"name": "catalog", "default": "dev_sales"}]
    assert back["git_source"]["git_branch"] == "develop"
    assert back["tasks"][0]["notebook_task"]["base_parameters"] == {"table": "dev_sales.pos"}


def test_a_collision_fails_render_and_validate_unless_an_override_sets_the_field() -> None:
    t = TargetConfig(name="prod", values=dict(SALES))
    doc = _doc(parameters=[{"name": "catalog", "default": "prod_sales"}])
    _, problems = render(doc, t, Inventory(), {})
    assert [(p.field, p.file) for p in problems] == [("parameters[catalog].default", "state/jobs/etl.yml")]
    assert "targets.prod.values" in problems[0].message
    assert [p.field for p in override_problems(doc, t)] == ["parameters[catalog].default"]  # validate
    t.overrides = {"etl": {"parameters[catalog].default": "prod_sales"}}  # the target's value, as written
    settings, problems = render(doc, t, Inventory(), {})
    assert problems == [] and settings["parameters"][0]["default"] == "prod_sales"


def test_an_override_is_the_targets_value_and_capture_keeps_the_documents() -> None:
    t = TargetConfig(name="prod", values=dict(SALES), overrides={"etl": {"parameters[catalog].default": "dev_sales"}})
    settings, problems = render(_doc(), t, Inventory(), {})
    assert problems == [] and settings["parameters"][0]["default"] == "dev_sales"  # not rewritten
    back, problems = invert_job({"job_id": 1, "settings": settings}, key="etl", target=t, inventory=Inventory(),
                                job_keys={}, job_ids={}, existing=_doc().settings)
    assert problems == [] and back is not None and back["parameters"][0]["default"] == "dev_sales"


# --- config ---------------------------------------------------------------------------------------

CONFIG = b"""\
targets:
  prod:
    values: {dev_sales: prod_sales, "abfss://dev@acct.dfs.core.windows.net": "abfss://prod@acct.dfs.core.windows.net"}
"""


def test_config_reads_values_and_the_pipeline_variable_adds_over_them() -> None:
    cfg = parse_config(CONFIG, Path("config/bricksync.yml"), env={})
    assert cfg.targets["prod"].values["dev_sales"] == "prod_sales"
    env = {"BRICKSYNC_PROD_VALUES": "dev_sales=prod_sales_v2; feature/x=v1.2.0"}
    cfg = parse_config(CONFIG, Path("config/bricksync.yml"), env=env)
    assert cfg.targets["prod"].values == {"dev_sales": "prod_sales_v2", "feature/x": "v1.2.0",
                                          "abfss://dev@acct.dfs.core.windows.net": "abfss://prod@acct.dfs.core.windows.net"}


def test_config_refuses_an_ambiguous_mapping_naming_both_and_where() -> None:
    with pytest.raises(BricksyncError) as err:
        parse_config(b"targets:\n  prod:\n    values: {dev_sales: prod_sales, qa_sales: prod_sales}\n",
                     Path("config/bricksync.yml"), env={})
    (problem,) = err.value.problems
    assert problem.field == "targets.prod.values" and problem.file == "config/bricksync.yml"
    assert "'dev_sales' and 'qa_sales' both map to 'prod_sales'" in problem.message
    with pytest.raises(BricksyncError) as err:
        parse_config(CONFIG, Path("config/bricksync.yml"), env={"BRICKSYNC_PROD_VALUES": "qa_sales=prod_sales"})
    assert err.value.problems[0].message.startswith("$BRICKSYNC_PROD_VALUES (over the file's targets.prod.values): ")
    for bad, why in ((b"{dev_sales: 1}", "mapping of names to strings"), (b"{1: prod}", "read as int, not text: quote it"),
                     (b"{true: x}", "read as bool"), (b"{dev: ''}", "empty")):
        with pytest.raises(BricksyncError) as err:
            parse_config(b"targets:\n  prod:\n    values: " + bad + b"\n", Path("c.yml"), env={})
        assert why in str(err.value.problems[0].message), bad


# --- overrides that name list items ---------------------------------------------------------------

def test_override_paths_name_list_items() -> None:
    assert path_parts("tasks[ingest].timeout_seconds") == (("tasks", "ingest"), ("timeout_seconds", None))
    assert path_parts("parameters[a.b-c].default") == (("parameters", "a.b-c"), ("default", None))
    for bad in ("tasks[ingest]", "tasks[].x", "a..b", "tasks[a]b.c", "x[a][b].c", "", "."):
        with pytest.raises(ValueError):
            path_parts(bad)


def test_star_overrides_on_list_items_apply_only_where_the_item_exists() -> None:
    job = {"tasks": [{"task_key": "ingest"}], "parameters": [{"name": "catalog", "default": "x"}]}
    assert applies("*", "tasks[ingest].timeout_seconds", job)
    assert applies("*", "tasks[ingest].notebook_task.base_parameters.x", job) is False  # no notebook_task
    assert applies("*", "tasks[other].timeout_seconds", job) is False
    assert applies("*", "parameters[catalog].default", job)
    assert applies("*", "parameters[catalog].default", {}) is False
    assert applies("etl", "tasks[other].timeout_seconds", job)  # a key's always: a missing item is its error


def test_a_missing_item_is_an_error_naming_target_and_override() -> None:
    t = TargetConfig(name="prod", overrides={"etl": {"tasks[ingst].timeout_seconds": 600}})
    _, problems = render(_doc(), t, Inventory(), {})
    (problem,) = problems
    assert problem.field == "tasks[ingst].timeout_seconds" and problem.job == "etl"
    assert problem.message.startswith("override of targets.prod.overrides.etl: tasks[ingst]: no item of tasks "
                                      "is named 'ingst'")
    assert "did you mean 'ingest'" in problem.message and "(named: ingest)" in problem.message
    assert [p.field for p in override_problems(_doc(), t)] == ["tasks[ingst].timeout_seconds"]  # validate too


def test_item_overrides_set_fields_of_the_named_item_only() -> None:
    doc = _doc(tasks=[{"task_key": "ingest", "notebook_task": {"notebook_path": "a"}},
                      {"task_key": "load", "notebook_task": {"notebook_path": "b"}, "timeout_seconds": 60}])
    t = TargetConfig(name="prod", overrides={"*": {"tasks[load].timeout_seconds": None},
                                             "etl": {"tasks[ingest].timeout_seconds": 600,
                                                     "tasks[ingest].notebook_task.base_parameters.x": "1",
                                                     "parameters[catalog].default": "main"}})
    settings, problems = render(doc, t, Inventory(), {})
    assert problems == []
    ingest, load = settings["tasks"]
    assert ingest["timeout_seconds"] == 600 and ingest["notebook_task"]["base_parameters"] == {"x": "1"}
    assert "timeout_seconds" not in load
    assert settings["parameters"] == [{"name": "catalog", "default": "main"}]
    back, problems = invert_job({"job_id": 1, "settings": settings}, key="etl", target=t, inventory=Inventory(),
                                job_keys={}, job_ids={}, existing=doc.settings)
    assert problems == [] and back is not None
    assert back["tasks"][0] == {"task_key": "ingest", "notebook_task": {"notebook_path": "a"}}  # made, then undone
    assert back["tasks"][1]["timeout_seconds"] == 60 and back["parameters"][0]["default"] == "dev_sales"


def test_validate_checks_item_paths_against_the_schema() -> None:
    def check(dotted: str, value: object) -> list[str]:
        return [p.message for p in check_overrides("prod", {"*": {dotted: value}}, schema_table(), set(), None)]

    assert check("tasks[ingest].timeout_seconds", 600) == []
    assert check("parameters[run_date].default", "2024-01-01") == []
    assert check("job_clusters[etl].new_cluster.num_workers", 2) == []
    assert check("environments[dbt].spec.client", "2") == []
    assert check("tasks[ingest].timeout_seconds", "soon") == ["expected an integer, got 'soon'"]
    assert "unknown field 'timeout_second' in tasks[ingest]" in check("tasks[ingest].timeout_second", 1)[0]
    assert "without named items" in check("tasks[t].spark_python_task.parameters[x].y", 1)[0]
    assert "without named items" in check("tasks[t].libraries[x].whl", "a")[0]
    assert "ends at a whole list item" in check("tasks[ingest]", {})[0]


def test_an_item_field_set_back_to_its_default_shows_the_default_in_the_plan() -> None:
    from bricksync.core.normalize import normalize_settings
    from bricksync.core.plan import field_changes

    doc = _doc(tasks=[{"task_key": "ingest", "notebook_task": {"notebook_path": "/Workspace/a"}, "timeout_seconds": 60}])
    t = TargetConfig(name="prod", overrides={"etl": {"tasks[ingest].timeout_seconds": None}})
    settings, problems = render(doc, t, Inventory(), {})
    assert problems == []
    before = normalize_settings(render(doc, TargetConfig(name="prod"), Inventory(), {})[0], ordered=False)
    changes = field_changes(before, normalize_settings(settings, ordered=False))
    assert [c.describe() for c in changes] == ["~ tasks[ingest].timeout_seconds: 60 → 0 (default)"]
