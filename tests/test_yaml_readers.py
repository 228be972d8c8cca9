"""Every file bricksync writes reads back the same in every common YAML reader (issue 22.2).

Strings that a YAML 1.1 reader (PyYAML), a YAML 1.2 reader (ruamel, bricksync's own) or go-yaml
(v2/v3) would take for a bool, null, number or date are written quoted. The oracles: PyYAML and
ruamel themselves, and a model of go-yaml's resolve.go (no Go toolchain here), written from its
source: v3's resolve() plus v2's YAML 1.1 booleans.
"""

from __future__ import annotations

import io
import itertools
import random
import re
from typing import Any

import yaml as pyyaml
from ruamel.yaml import YAML

from bricksync.core.fastyaml import ambiguous_plain
from bricksync.core.yamlio import dump, parse
from bricksync.emulator.seed import seed_source, seed_target

from .conftest import Project

# go-yaml v2 resolve.go's map (v3 keeps only true/false/null/.inf/.nan and <<).
_GO_WORDS = {"y", "Y", "yes", "Yes", "YES", "on", "On", "ON", "true", "True", "TRUE",
             "n", "N", "no", "No", "NO", "off", "Off", "OFF", "false", "False", "FALSE",
             "", "~", "null", "Null", "NULL", ".nan", ".NaN", ".NAN", "<<",
             *(s + w for s in ("", "+", "-") for w in (".inf", ".Inf", ".INF"))}
_GO_FLOAT = re.compile(r"^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$")  # yamlStyleFloat
_GO_INT = re.compile(r"^[-+]?(0[xX][0-9a-fA-F]+|0[oO][0-7]+|0[bB][01]+|0[0-7]*|[1-9][0-9]*)$")  # ParseInt base 0
_GO_TIME = re.compile(r"^[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}"
                      r"([Tt][0-9]{1,2}:[0-9]{1,2}:[0-9]{1,2}(\.[0-9]+)?(Z|[-+][0-9]{2}:[0-9]{2})"
                      r"| [0-9]{1,2}:[0-9]{1,2}:[0-9]{1,2}(\.[0-9]+)?)?$")


def go_yaml_reads_as_string(plain: str) -> bool:
    """go-yaml's resolve() of an untagged plain scalar: does it stay a string?"""
    if plain in _GO_WORDS:
        return False
    hint = plain[:1]
    if hint == ".":
        return not re.match(r"^\.[0-9]+([eE][-+]?[0-9]+)?$", plain)  # strconv.ParseFloat
    if hint and (hint.isdigit() or hint in "+-"):
        if _GO_TIME.match(plain):
            return False
        bare = plain.replace("_", "")
        return not (_GO_INT.match(bare) or _GO_FLOAT.match(bare))
    return True


def kind(value: Any) -> type | None:
    """The JSON type of a loaded value (ruamel's round-trip loader gives subclasses: ScalarFloat, CommentedMap)."""
    if value is None or isinstance(value, bool):
        return type(value)
    return next((t for t in (int, float, str, dict, list) if isinstance(value, t)), type(value))


def same(a: Any, b: Any) -> bool:
    """Equal with the same types at every level, keys included (True is not 1, "1" is not 1)."""
    if kind(a) is not kind(b):
        return False
    if isinstance(a, dict):
        return {(kind(k), k) for k in a} == {(kind(k), k) for k in b} and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return a == b or (a != a and b != b)


def plain_scalars(text: str) -> list[str]:
    """The scalars a document holds unquoted (what a reader resolves by their text)."""
    return [e.value for e in YAML(typ="safe", pure=True).parse(io.StringIO(text))
            if type(e).__name__ == "ScalarEvent" and e.style is None]


def read_everywhere(text: str) -> dict[str, Any]:
    return {"PyYAML (YAML 1.1)": pyyaml.load(text, Loader=getattr(pyyaml, "CSafeLoader", pyyaml.SafeLoader)),
            "ruamel (YAML 1.2)": YAML(typ="safe").load(text), "bricksync": parse(text.encode(), "x.yml"),
            "bricksync, with lines": parse(text.encode(), "x.yml", lines=True)}


def mismatches(loaded: Any, doc: dict) -> list[str]:
    """The strings of `doc` (values of its tags and args) that a reader read as something else."""
    out = [repr(k) for k in doc["job"]["tags"] if not same(loaded["job"]["tags"].get(k), k)]
    return out + [repr(v) for v, got in zip(doc["job"]["args"], loaded["job"]["args"], strict=True)
                  if not same(got, v)]


AMBIGUOUS = ["yes", "Yes", "YES", "yEs", "no", "NO", "on", "On", "off", "OFF", "y", "Y", "n", "N", "true", "False",
             "null", "Null", "~", "", "=", "<<", "1e3", "1E3", "1e+3", "-1e-3", "0x1F", "0X1f", "-0x1F", "012", "0o12",
             "0O12", "0b101", "-0b1", "1_000", "1__0", "0x_1F", ".inf", "+.inf", "-.Inf", ".NaN", ".nan", "2024-01-01",
             "2024-1-2", "2024-01-01T10:00:00Z", "2024-01-01 10:00:00", "2001-12-14t21:59:43.10-05:00", "12:30:00",
             "1:30", "190:20:30.15", "1.2.3", "08", "+1", "-0", ".5", "5.", "1.0", "007", "00", "123456789012345678901"]
PLAIN_OK = ["hotfix", "yesterday", "nope", "onboarding", "15.4.x-scala2.12", "0 0 2 * * ?", "/Workspace/dev/x", "v1",
            "1a", "2024-01-01_report", "-", ".", "_", "abc", "e3", "x.5", "1e", "--1", "Standard_DS3_v2", "a:b"]


def test_each_ambiguous_string_is_quoted_and_reads_back_as_itself() -> None:
    for value in AMBIGUOUS:
        assert ambiguous_plain(value), value
    for value in PLAIN_OK:
        assert not ambiguous_plain(value), value
    doc = {"tags": {v: v for v in AMBIGUOUS + PLAIN_OK}, "list": AMBIGUOUS + PLAIN_OK, "n": 1, "f": 1e20, "b": True,
           "z": None, "g": 0.5, "big": 10**20}
    text = dump(doc)
    assert "hotfix: hotfix" in text and "'yes': 'yes'" in text  # plain only where every reader agrees
    for reader, loaded in read_everywhere(text).items():
        assert same(loaded, doc), reader
    assert all(go_yaml_reads_as_string(v) for v in plain_scalars(text) if v not in ("1", "1.0e+20", "true", "null",
                                                                                       "0.5", str(10**20)))


def test_property_many_generated_strings_read_back_the_same_in_every_reader() -> None:
    """Strings built from the characters numbers, dates, times and YAML 1.1 words are made of."""
    rnd = random.Random(2211)
    alphabet = "0123456789_.:+-eExXoObB yYnNtTfFaAlLsS~=<T"
    words = ["yes", "no", "on", "off", "y", "n", "true", "null", ".inf", ".nan", "0x", "0o", "0b", "2024-", "-01",
             ":30", "e+3", "1_0", "."]
    values = {"".join(rnd.choice(alphabet) for _ in range(rnd.randint(1, 8))) for _ in range(3000)}
    values |= {a + b for a, b in itertools.product(words, repeat=2)}
    values |= {"".join(rnd.choice(words) for _ in range(3)) for _ in range(500)}
    values = sorted(values)
    doc = {"job": {"tags": {v: v for v in values}, "args": values}}
    text = dump(doc, header="a comment")
    for reader, loaded in read_everywhere(text).items():
        assert not mismatches(loaded, doc), reader
        assert same(loaded, doc), reader
    strings = set(values)
    unquoted = [v for v in plain_scalars(text) if v in strings]
    assert len(unquoted) > 200  # most strings are still written plain: only the ambiguous ones are quoted
    for value in unquoted:
        assert go_yaml_reads_as_string(value), value


def _tricky_tags() -> dict[str, str]:
    return {"hotfix": "yes", "on": "off", "release": "2024-01-01", "build": "012", "window": "12:30:00",
            "ratio": "1e3", "team": "sales"}


def test_every_file_export_capture_and_import_write_reads_the_same_in_pyyaml(project: Project) -> None:
    """State files (export, capture, import) and adoption records, loaded by PyYAML: the types
    bricksync reads, keys included."""
    p = project
    seed_source(p.test.client())
    seed_target(p.prod.client())
    w = p.test.client()
    for job in p.test.workspace.jobs.jobs.values():
        settings = job["settings"]
        w.api_client.do("POST", "/api/2.2/jobs/update", body={"job_id": job["job_id"], "new_settings": {
            "tags": {**settings.get("tags", {}), **_tricky_tags()}, "description": "no"}})
    assert p.run("export", "--branch", "main").code == 0
    assert p.run("apply", "--target", "prod", "--yes").code == 0
    prod = p.prod.client()
    etl = next(j for j in p.prod.workspace.jobs.jobs.values() if j["settings"]["name"] == "Daily sales ETL")
    prod.api_client.do("POST", "/api/2.2/jobs/update", body={"job_id": etl["job_id"], "new_settings": {
        "tags": {**etl["settings"]["tags"], "hotfix": "on", "yes": "y"}}})  # the hand edit of the issue
    assert p.run("capture", "--target", "prod").code == 0
    adhoc = next(j for j in p.prod.workspace.jobs.jobs.values() if j["settings"]["name"] == "Ad-hoc prod report")
    prod.api_client.do("POST", "/api/2.2/jobs/update", body={"job_id": adhoc["job_id"], "new_settings": {
        "tags": _tricky_tags()}})
    assert p.run("import", "--target", "prod", "--job-id", str(adhoc["job_id"])).code == 0
    files = sorted((p.root / "state").rglob("*.yml"))
    assert {f.parent.name for f in files} == {"jobs", "adopt"}
    for path in files:
        data = path.read_bytes()
        ours = parse(data, path.name)
        assert same(pyyaml.safe_load(data), ours), path.name
        for value in plain_scalars(data.decode()):
            assert not ambiguous_plain(value) or value in ("true", "false", "null") or \
                re.fullmatch(r"-?[0-9]+", value), (path.name, value)
    text = (p.root / "state" / "jobs" / "daily-sales-etl.yml").read_text()
    assert "hotfix: 'on'" in text and "'yes': 'y'" in text and "description: 'no'" in text
