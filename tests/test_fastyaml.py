"""The line-by-line reader must read every file exactly as a YAML parser does, or step aside.

The oracle is ruamel.yaml's round-trip loader (what `bricksync validate` uses for line
numbers). For each input the fast reader either returns the same data or raises Unusual.
"""

from __future__ import annotations

import io
import random

import pytest

from bricksync.core import fastyaml
from bricksync.core.errors import BricksyncError
from bricksync.core.model import StateDoc
from bricksync.core.normalize import normalize_settings
from bricksync.core.yamlio import _emit_direct, _parse_careful, _Unsupported, dump, parse, plain
from bricksync.edges.state import render_state
from bricksync.emulator.seed import SOURCE_COMPUTE, source_jobs

TRICKY = ["", " ", "a b", "a: b", "a:b", "a #b", "a#b", "#a", "- a", "-a", "-1", "+1", "0x1F", "1_000", "1e3",
          ".5", "5.", "1.0", "007", ".inf", ".nan", "true", "True", "yes", "no", "null", "~", "2024-01-01",
          "'q'", '"q"', "it's", 'say "hi"', "back\\slash", "{a}", "[a]", "{}", "[]", "&a", "*a", "!tag", "|",
          ">", "%x", "@x", "`x`", "?", ":", "a:", "line\nbreak", "tab\there", "trailing ", " leading",
          "é ü ✓", "\u2028sep", "\x85nel", "${cluster:dev-shared}", "{{secrets/s/k}}", "0 0 2 * * ?",
          "/Workspace/dev/x", "s3://bucket/key", "a, b", "a,b", "--- x", "...", "x: y: z"]
KEYS = ["name", "task_key", "a b", "a-b", "a.b", "x_1", "true", "1", "null", "é", "a:b", "-k", "k ", "ke#y", "'k'",
        "n", "on", "Y", "it's", "''", "yes: no"]


def random_value(rnd: random.Random, depth: int = 0) -> object:
    roll = rnd.random()
    if depth < 4 and roll < 0.25:
        return {rnd.choice(KEYS + TRICKY): random_value(rnd, depth + 1) for _ in range(rnd.randint(0, 4))}
    if depth < 4 and roll < 0.4:
        return [random_value(rnd, depth + 1) for _ in range(rnd.randint(0, 4))]
    if roll < 0.5:
        return rnd.choice([0, 1, -7, 3.5, 1e20, True, False, None, 10**20])
    if roll < 0.8:
        return rnd.choice(TRICKY)
    return "".join(rnd.choice("ab :#-'\"\\{}[],&*!|>%@`?\n\té0.+eE_/$ ") for _ in range(rnd.randint(1, 12)))


def oracle(text: str) -> object:
    return plain(_parse_careful(text, "x.yml"))


def check(text: str) -> bool:
    """Same data as the oracle, or Unusual. True when the fast reader took it."""
    try:
        fast = fastyaml.load(text)
    except fastyaml.Unusual:
        return False
    assert fast == oracle(text), text
    return True


def test_agrees_with_a_yaml_parser_on_random_documents() -> None:
    rnd = random.Random(20261125)
    taken = 0
    for _ in range(1500):
        data = {"job": random_value(rnd), rnd.choice(KEYS): random_value(rnd)}
        taken += check(dump(data, header="a comment\nanother"))
    assert taken > 150  # the fast path is really exercised, not always stepping aside


def test_reads_every_state_file_bricksync_writes() -> None:
    ids = {kind: {name: f"{kind}-{i}" for i, name in enumerate(names)} for kind, names in SOURCE_COMPUTE.items()}
    for settings in source_jobs(ids):
        text = render_state(StateDoc(key="k", source_job_id=1, settings=normalize_settings(settings)))
        assert check(text), text


def test_keys_quoted_for_yaml_1_1_readers_stay_on_the_fast_path() -> None:
    """A base_parameters key `n` or `on` is written quoted (a YAML 1.1 reader takes it for a bool):
    such files are still read line by line, not by the slower careful parser (benchmarks/scale.py)."""
    settings = {"name": "j", "tasks": [{"task_key": "t", "notebook_task": {
        "notebook_path": "/Workspace/dev/x", "base_parameters": {"n": "0", "on": "1", "x": "2"}}}]}
    text = render_state(StateDoc(key="k", source_job_id=1, settings=normalize_settings(settings)))
    assert "'n': '0'" in text and check(text), text


HAND_WRITTEN = [
    "a: 1\nb:\n  c: x\n",
    "a: 1 # a comment\n",
    "a: plain\n  continued\n",
    "a:\n  plain\n",
    "a: {b: 1}\n",
    "a: [1, 2]\n",
    "a: |\n  block\n",
    "a: >-\n  folded\n",
    "a: 1\na: 2\n",
    "a:\n  - x\n  - y\n",
    "a:\n- x\n-\n",
    "a:\n- - x\n",
    "a:\n-   b: 1\n    c: 2\n",
    "a:\n- b: 1\n  c: 2\n- d\n",
    "a:\n- b: 1\n   c: 2\n",
    "? a\n: b\n",
    "a:  two spaces\n",
    "a: 'x''y'\n",
    "a: 'x'y'\n",
    "a: \"x\\ty\"\n",
    "a: 'multi\n  line'\n",
    "a: \"x\"  \n",
    "---\na: 1\n",
    "a: 1\n...\n",
    "%YAML 1.2\n---\na: 1\n",
    "a: 1\r\nb: 2\r\n",
    "a:\tb\n",
    "\ufeffa: 1\n",
    "a: &x 1\nb: *x\n",
    "a: !!str 1\n",
    "  a: 1\n",
    "a: 1\n  b: 2\n",
    "a:\n  b: 1\n c: 2\n",
    "1: x\n",
    "true: x\n",
    "a b: x\n",
    "a: x:\n",
    "- a\n- b\n",
    "a\n",
    "",
    "# only a comment\n",
    "a:\n\n  b: 1\n\n  # note\n  c: 2\n",
    "a: -\n",
    "a: - x\n",
    "a: 2024-01-01\n",
    "a: 0o17\n",
    "a: 1_000\n",
    "a: é\u2028b\n",
]


@pytest.mark.parametrize("text", HAND_WRITTEN)
def test_hand_written_yaml_is_read_as_a_parser_reads_it(text: str) -> None:
    try:
        oracle(text)
    except BricksyncError:  # what a parser rejects, the fast reader never accepts
        with pytest.raises(fastyaml.Unusual):
            fastyaml.load(text)
        return
    check(text)


def test_parse_and_the_fast_reader_read_a_plain_document_alike() -> None:
    text = "a: 1\nb:\n- c: x\n  d: 'y'\n"
    assert fastyaml.load(text) == parse(text.encode(), "x.yml") == {"a": 1, "b": [{"c": "x", "d": "y"}]}


def test_direct_emitter_writes_ruamels_bytes() -> None:
    """dump() skips ruamel's representer; the bytes must be exactly what ruamel's serializer and
    libyaml write, with dump()'s two choices made the same way: floats in YAML 1.1's form, and a
    string some reader takes for something else quoted (fastyaml.ambiguous_plain)."""
    from ruamel.yaml.nodes import ScalarNode
    from ruamel.yaml.tag import Tag

    from bricksync.core.yamlio import _fast, _FloatRepresenter

    class Representer(_FloatRepresenter):
        # ruamel's C dumper resolves through the class it builds from (CEmitter, Representer,
        # Resolver): a resolve() here comes first, and falls back on ruamel's own.
        def resolve(self, kind, value, implicit):  # type: ignore[no-untyped-def]
            tag = super().resolve(kind, value, implicit)
            if kind is ScalarNode and implicit[0] and tag == "tag:yaml.org,2002:str" and \
                    fastyaml.ambiguous_plain(value):
                return Tag(suffix="tag:x,1:other")
            return tag

    def ruamel_dump(data: object) -> str:
        yaml = _fast()
        yaml.Representer = Representer
        buf = io.StringIO()
        yaml.dump(data, buf)
        return buf.getvalue()

    rnd = random.Random(7)
    direct = 0
    for _ in range(1500):
        data = {"job": random_value(rnd), rnd.choice(KEYS): random_value(rnd)}
        try:
            buf = io.StringIO()
            _emit_direct(data, buf)
        except _Unsupported:
            continue
        direct += 1
        assert buf.getvalue() == ruamel_dump(data), data
        assert dump(data) == ruamel_dump(data)
    assert direct > 300
    ids = {kind: {name: f"{kind}-{i}" for i, name in enumerate(names)} for kind, names in SOURCE_COMPUTE.items()}
    for settings in source_jobs(ids):
        buf = io.StringIO()
        _emit_direct(normalize_settings(settings), buf)  # no fallback for what export writes
        assert buf.getvalue() == ruamel_dump(normalize_settings(settings))
