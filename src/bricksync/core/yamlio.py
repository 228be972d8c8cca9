"""YAML text <-> data for config and state, with the guards untrusted input needs.

Pure: bytes in, data out (and back). Reading and writing files is state.py's and config.py's.
"""

from __future__ import annotations

import functools
import io
import re
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.constructor import DuplicateKeyError
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.events import (
    AliasEvent,
    DocumentEndEvent,
    DocumentStartEvent,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
    StreamEndEvent,
    StreamStartEvent,
)
from ruamel.yaml.nodes import ScalarNode
from ruamel.yaml.representer import SafeRepresenter
from ruamel.yaml.resolver import VersionedResolver
from ruamel.yaml.tag import Tag

from . import fastyaml
from .errors import BricksyncError, Problem
from .fastyaml import MAX_DEPTH, TooDeep, Unusual, ambiguous_plain, plain_scalar

MAX_BYTES = 2 * 1024 * 1024  # a 1000-task job renders to well under this
MAX_EVENTS = 2_000_000
_STR, _INT, _BOOL = "tag:yaml.org,2002:str", "tag:yaml.org,2002:int", "tag:yaml.org,2002:bool"
_FLOAT, _NULL = "tag:yaml.org,2002:float", "tag:yaml.org,2002:null"
_AMBIGUOUS = "tag:bricksync,2026:read-otherwise-by-some-reader"  # never written: the scalar is quoted


def _yaml() -> YAML:
    """Round-trip loader: keeps line numbers for error messages (config, and files with problems)."""
    yaml = YAML(typ="rt")
    yaml.allow_duplicate_keys = False
    return yaml


def _fast() -> YAML:
    """Safe loader/dumper on libyaml (ruamel.yaml.clib) where installed: ~10x the round-trip
    loader's speed, which 10,000 state files need. clib is a declared dependency: state bytes
    are libyaml's (the pure-Python emitter would quote multi-line strings differently)."""
    yaml = YAML(typ="safe", pure=False)
    yaml.allow_duplicate_keys = False
    yaml.default_flow_style = False
    yaml.sort_base_mapping_type_on_output = False  # keep our canonical key order
    yaml.width = 4096  # never fold long strings: stable bytes, readable diffs
    yaml.allow_unicode = True
    return yaml


class _QuotingResolver(VersionedResolver):
    """YAML 1.2 resolution for writing, where a string any common reader would take for a bool,
    null, number or date (`yes`, `012`, `12:30:00`: fastyaml.ambiguous_plain) resolves to another
    tag: the serializer then writes it quoted, so every reader loads the string it was."""

    def resolve(self, kind: Any, value: Any, implicit: Any) -> Any:
        tag = super().resolve(kind, value, implicit)
        if kind is ScalarNode and implicit[0] and tag == _STR and ambiguous_plain(value):
            return Tag(suffix=_AMBIGUOUS)
        return tag


class _FloatRepresenter(SafeRepresenter):
    """Floats as every reader reads them: `1.0e+20`, never `1e+20` (a string in YAML 1.1)."""

    def represent_float(self, data: Any) -> Any:
        return self.represent_scalar(_FLOAT, float_text(data))


_FloatRepresenter.add_representer(float, _FloatRepresenter.represent_float)


def _dumper() -> YAML:
    """What dump() falls back to for data the direct emitter does not take (not JSON-shaped, or
    no libyaml): ruamel's own serializer and emitter, with _QuotingResolver. Deterministic; its
    quoting of multi-line strings is not libyaml's, which state files never need."""
    yaml = YAML(typ="safe", pure=True)
    yaml.Resolver = _QuotingResolver
    yaml.Representer = _FloatRepresenter
    yaml.default_flow_style = False
    yaml.sort_base_mapping_type_on_output = False
    yaml.width = 4096
    yaml.allow_unicode = True
    return yaml


def float_text(value: float) -> str:
    """A float as YAML 1.1, 1.2 and go-yaml all read it back (ruamel's text, with `.0` before an
    exponent that has no fraction, as YAML 1.1's float needs)."""
    if value != value:
        return ".nan"
    if value in (float("inf"), float("-inf")):
        return ".inf" if value > 0 else "-.inf"
    text = repr(value).lower()
    return text.replace("e", ".0e", 1) if "." not in text and "e" in text else text


# An anchor or alias token (&name / *name). Cron's "* * ?" and "*/5" do not match.
_ANCHOR_RE = re.compile(rb"(?:^|[\s\[{,:-])[&*][A-Za-z0-9_.-]")


def parse(data: bytes, file: str, *, lines: bool = False) -> Any:
    """Parse YAML bytes. Refuses oversized input, non-UTF-8, aliases (no 'billion laughs'),
    duplicate keys and syntax errors, each with the file and line. `lines=True` keeps line
    numbers (ruamel containers); otherwise plain data, fast, re-parsed slowly only on error."""
    if len(data) > MAX_BYTES:
        raise BricksyncError(Problem(f"file is {len(data)} bytes; the limit is {MAX_BYTES}", file=file))
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise BricksyncError(Problem(f"not valid UTF-8 (byte {exc.start})", file=file, line=line)) from None
    # Nesting is limited on every path (TooDeep: the careful parser then names the line), so
    # no reader and nothing downstream that walks the data recursively meets RecursionError.
    if not lines:
        try:
            return fastyaml.load(text)  # the subset bricksync writes, line by line (no anchors in it)
        except TooDeep:
            return _parse_careful(text, file)
        except Exception:
            pass
    if not lines and not _ANCHOR_RE.search(data):
        try:
            return _load_events(text)  # libyaml's events
        except TooDeep:
            return _parse_careful(text, file)
        except Exception:
            pass
    return _parse_careful(text, file)


_NO_KEY = object()


def _events(text: str) -> Any:
    """libyaml's parser directly when present (the wrapper costs a third of the time)."""
    try:
        from _ruamel_yaml import CParser
    except ImportError:
        yield from _fast().parse(text)
        return
    parser = CParser(text)
    try:
        while parser.check_event():
            yield parser.get_event()
    finally:
        parser.dispose()


def _load_events(text: str) -> Any:
    """Build plain data straight from libyaml's event stream (2-3x ruamel's safe constructor).
    Tags, aliases, complex keys and duplicate keys raise: the careful path handles those."""
    stack: list[list[Any]] = []  # [container, pending key]
    root: Any = None
    for event in _events(text):
        kind = type(event)
        if kind is ScalarEvent:
            if event.tag is not None and not event.implicit[0] and not event.implicit[1]:
                raise Unusual
            node: Any = event.value if event.style else plain_scalar(event.value)
        elif kind is MappingStartEvent or kind is SequenceStartEvent:
            if event.tag is not None and not event.implicit:
                raise Unusual
            if len(stack) >= MAX_DEPTH:
                raise TooDeep
            stack.append([{} if kind is MappingStartEvent else [], _NO_KEY])
            continue
        elif kind is MappingEndEvent or kind is SequenceEndEvent:
            node = stack.pop()[0]
        elif kind is AliasEvent:
            raise Unusual
        else:
            continue
        if not stack:
            root = node
            continue
        top = stack[-1]
        container = top[0]
        if type(container) is list:
            container.append(node)
        elif top[1] is _NO_KEY:
            if not isinstance(node, str) or node in container:
                raise Unusual
            top[1] = node
        else:
            container[top[1]] = node
            top[1] = _NO_KEY
    return root


def _parse_careful(text: str, file: str) -> Any:
    yaml = _yaml()
    depth = 0
    try:
        for n, event in enumerate(yaml.parse(io.StringIO(text))):
            if isinstance(event, (MappingStartEvent, SequenceStartEvent)):
                depth += 1
                if depth > MAX_DEPTH:  # before ruamel's recursive constructor sees it
                    line = event.start_mark.line + 1 if event.start_mark else None
                    raise BricksyncError(Problem(f"nested deeper than {MAX_DEPTH} levels (mappings and lists "
                                                 "inside each other); not read", file=file, line=line))
            elif isinstance(event, (MappingEndEvent, SequenceEndEvent)):
                depth -= 1
            elif isinstance(event, AliasEvent):
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
    comment = "".join(f"# {line}\n".replace("# \n", "#\n") for line in header.splitlines())
    buf = io.StringIO()
    try:
        _emit_direct(data, buf)
    except _Unsupported:
        buf = io.StringIO()
        _dumper().dump(plain(data), buf)
    return comment + buf.getvalue()


class _Unsupported(Exception):
    """A value the direct emitter leaves to ruamel (a non-str key, a type JSON does not have)."""


_plain_is_str: dict[str, bool] = {}  # value -> would it read back as a string if written plain?


@functools.cache
def _resolver() -> Any:
    return _QuotingResolver()


def _emit_direct(data: Any, stream: io.StringIO) -> None:
    """The events ruamel's representer and serializer would produce, straight into libyaml's
    emitter: the same bytes (tests/test_fastyaml.py compares them) at a sixth of the CPU, as
    ruamel rebuilds tag strings for every node. Only JSON-shaped data (str keys); else _Unsupported."""
    try:
        from _ruamel_yaml import CEmitter
    except ImportError:
        raise _Unsupported from None
    resolver = _resolver()
    events: list[Any] = [StreamStartEvent(), DocumentStartEvent(explicit=False)]

    def add(value: Any) -> None:
        kind = type(value)
        if kind is str:
            plain_ok = _plain_is_str.get(value)
            if plain_ok is None:
                plain_ok = _plain_is_str[value] = resolver.resolve(ScalarNode, value, (True, False)) == _STR
            events.append(ScalarEvent(None, None, (plain_ok, True), value))
        elif kind is dict:
            events.append(MappingStartEvent(None, None, True, flow_style=False))
            for key, item in value.items():
                if type(key) is not str:
                    raise _Unsupported
                add(key)
                add(item)
            events.append(MappingEndEvent())
        elif kind is list:
            events.append(SequenceStartEvent(None, None, True, flow_style=False))
            for item in value:
                add(item)
            events.append(SequenceEndEvent())
        elif kind is bool:
            events.append(ScalarEvent(None, _BOOL, (True, False), "true" if value else "false"))
        elif kind is int:
            events.append(ScalarEvent(None, _INT, (True, False), str(value)))
        elif kind is float:
            events.append(ScalarEvent(None, _FLOAT, (True, False), float_text(value)))
        elif value is None:
            events.append(ScalarEvent(None, _NULL, (True, False), "null"))
        else:
            raise _Unsupported

    add(data)
    events += [DocumentEndEvent(explicit=False), StreamEndEvent()]
    emitter = CEmitter(stream, width=4096, allow_unicode=True)
    for event in events:
        emitter.emit(event)
