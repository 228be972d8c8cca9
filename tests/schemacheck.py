"""The JSON Schemas of `bricksync schema` as validators, and the check of a file bricksync wrote
(tests/test_schemas.py, and tests/test_corpus.py for every corpus state file)."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema

from bricksync.core.yamlio import parse
from bricksync.edges.file_schemas import schema_text

ROOT = Path(__file__).resolve().parents[1]


def validator(kind: str) -> jsonschema.Draft7Validator:
    schema = json.loads(schema_text(kind))
    jsonschema.Draft7Validator.check_schema(schema)  # itself a valid draft-07 schema
    return jsonschema.Draft7Validator(schema)


def check_written(path: Path, kind: str) -> None:
    """A file bricksync wrote: its first line names its schema (resolving, in this repository's
    layout, to schemas/ beside state/), and the schema accepts it."""
    text = path.read_text()
    line = text.splitlines()[0]
    assert line == f"# yaml-language-server: $schema=../../schemas/{kind}.schema.json", (path, line)
    assert (ROOT / "state" / "jobs" / line.split("=", 1)[1]).resolve() == ROOT / "schemas" / f"{kind}.schema.json"
    errors = [e.message for e in validator(kind).iter_errors(parse(text.encode(), str(path)))]
    assert errors == [], (path, errors)
