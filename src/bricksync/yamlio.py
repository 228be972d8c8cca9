"""YAML text <-> data for config and state, with the guards untrusted input needs.

Pure: bytes in, data out (and back). Reading and writing files is state.py's and config.py's.
"""

from __future__ import annotations

import io
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.constructor import DuplicateKeyError
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.events import AliasEvent

from .errors import BricksyncError, Problem

MAX_BYTES = 2 * 1024 * 1024  # a 1000-task job renders to well under this
MAX_EVENTS = 2_000_000


def _yaml() -> YAML:
    yaml = YAML(typ="rt")
    yaml.allow_duplicate_keys = False
    yaml.preserve_quotes = False
    yaml.width = 4096  # never fold long strings: stable bytes, readable diffs
    yaml.indent(mapping=2, sequence=4, offset=2)
    return yaml


def parse(data: bytes, file: str) -> Any:
    """Parse YAML bytes. Refuses oversized input, non-UTF-8, aliases (no 'billion laughs'),
    duplicate keys and syntax errors, each with the file and line."""
    if len(data) > MAX_BYTES:
        raise BricksyncError(Problem(f"file is {len(data)} bytes; the limit is {MAX_BYTES}", file=file))
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise BricksyncError(Problem(f"not valid UTF-8 (byte {exc.start})", file=file, line=line)) from None
    yaml = _yaml()
    try:
        for n, event in enumerate(yaml.parse(io.StringIO(text))):
            if isinstance(event, AliasEvent):
                line = event.start_mark.line + 1 if event.start_mark else None
                raise BricksyncError(Problem("YAML aliases (*name) are not allowed", file=file, line=line))
            if n > MAX_EVENTS:
                raise BricksyncError(Problem("document too large", file=file))
        return yaml.load(text)
    except DuplicateKeyError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else None
        key = str(exc.problem).split('"')[1] if '"' in str(exc.problem) else ""
        raise BricksyncError(Problem(f"duplicate key '{key}'", file=file, line=line)) from None
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        raise BricksyncError(Problem(f"invalid YAML: {exc.problem or exc.context}", file=file, line=line)) from None
    except YAMLError as exc:
        raise BricksyncError(Problem(f"invalid YAML: {exc}", file=file)) from None


def line_of(node: Any, key: Any) -> int | None:
    """1-based line of `key` inside a parsed mapping (or index inside a sequence)."""
    try:
        if isinstance(node, CommentedMap):
            return node.lc.key(key)[0] + 1
        if isinstance(node, CommentedSeq):
            return node.lc.item(key)[0] + 1
    except (KeyError, IndexError, TypeError):
        return None
    return None


def plain(data: Any) -> Any:
    """ruamel containers -> plain dict/list (scalars as they are)."""
    if isinstance(data, dict):
        return {str(k): plain(v) for k, v in data.items()}
    if isinstance(data, list):
        return [plain(v) for v in data]
    return data


def dump(data: Any, header: str = "") -> str:
    """Data -> YAML text, deterministic: the same data always gives the same bytes."""
    buf = io.StringIO()
    if header:
        buf.write("".join(f"# {line}\n".replace("# \n", "#\n") for line in header.splitlines()))
    _yaml().dump(data, buf)
    return buf.getvalue()
