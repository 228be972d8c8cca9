"""Issue 14.16: YAML nested absurdly deep is a clear error naming the file (and line), on every
reading path (the line reader, libyaml's events, the careful ruamel parser), for state files
and the config alike; never RecursionError."""

from __future__ import annotations

import pytest

from bricksync.core import fastyaml
from bricksync.core.errors import BricksyncError
from bricksync.core.fastyaml import MAX_DEPTH
from bricksync.core.yamlio import parse

from .conftest import Project
from .test_bad_input import ready  # noqa: F401 - the fixture


def block_mappings(n: int) -> str:  # the line reader's subset
    return "".join("  " * i + f"k{i}:\n" for i in range(n)) + "  " * n + "leaf: 1\n"


def block_sequences(n: int) -> str:
    return "a:\n" + "".join("  " * i + "- b:\n" for i in range(1, n)) + "  " * n + "  c: 1\n"


SHAPES = {
    "flow-lists-500": "[" * 500 + "]" * 500,                          # 1 KB
    "flow-maps-500": "a: " + "{a: " * 500 + "1" + "}" * 500,
    "compact-sequences-500": "- " * 500 + "x\n",
    "block-mappings": block_mappings(MAX_DEPTH + 5),
    "block-sequences": block_sequences(MAX_DEPTH + 5),
    "mixed-flow-in-block": "job:\n  x: " + "[{a: " * 300 + "1" + "}]" * 300 + "\n",
    "with-an-anchor": "a: &x 1\nb: " + "[" * 500 + "]" * 500 + "\n",  # skips the fast readers
}


@pytest.mark.parametrize("lines", [False, True], ids=["fast", "careful"])
@pytest.mark.parametrize("shape", SHAPES)
def test_deep_yaml_is_a_clear_error(shape: str, lines: bool) -> None:
    with pytest.raises(BricksyncError) as caught:
        parse(SHAPES[shape].encode(), "state/jobs/deep.yml", lines=lines)
    text = caught.value.render()
    assert text.startswith("state/jobs/deep.yml:") and f"nested deeper than {MAX_DEPTH} levels" in text


def test_nesting_up_to_the_limit_is_read_alike_by_every_path() -> None:
    text = block_mappings(MAX_DEPTH - 1)
    assert fastyaml.load(text) == parse(text.encode(), "f.yml") == parse(text.encode(), "f.yml", lines=True)


@pytest.mark.parametrize("n", [MAX_DEPTH + 1, 500, 2000])
def test_the_line_reader_refuses_depth_itself(n: int) -> None:
    with pytest.raises(fastyaml.TooDeep):
        fastyaml.load(block_mappings(n))


@pytest.mark.parametrize("shape", ["flow-lists-500", "block-mappings", "compact-sequences-500"])
def test_cli_names_the_deep_state_file(ready: Project, shape: str) -> None:  # noqa: F811
    (ready.root / "state" / "jobs" / "deep.yml").write_text(SHAPES[shape])
    for command in (["validate"], ["plan", "--target", "prod"]):
        res = ready.run(*command)
        assert res.code == 1 and "state/jobs/deep.yml:" in res.output and "nested deeper" in res.output, res.output
        assert "RecursionError" not in res.output


def test_cli_names_the_deep_config(ready: Project) -> None:  # noqa: F811
    cfg = ready.root / "config" / "bricksync.yml"
    cfg.write_text(cfg.read_text().replace("overrides: {}", "overrides: " + "{a: " * 500 + "1" + "}" * 500))
    res = ready.run("validate")
    assert res.code == 1 and "bricksync.yml:" in res.output and "nested deeper" in res.output, res.output


def test_a_deep_plan_file_is_refused(ready: Project) -> None:  # noqa: F811
    (ready.root / "deep.plan").write_text("[" * 100_000 + "]" * 100_000)
    res = ready.run("apply", "--target", "prod", "deep.plan")
    assert res.code == 1 and "not a bricksync plan file" in res.output
