"""The block-YAML subset that bricksync writes, parsed line by line. Pure.

State files are written by libyaml (block style, sequences at their key's indentation,
one scalar per line). Reading 10,000 of them through libyaml's event stream costs ~0.6 ms
of CPU each; this reader takes a fraction of that. It accepts only lines whose meaning is
unambiguous and raises `Unusual` on anything else (flow collections, block scalars,
anchors, tags, multi-line or escaped scalars, comments after values, odd indentation,
duplicate keys), so the caller falls back to libyaml: a file is never read differently
from what a YAML parser reads. tests/test_fastyaml.py holds it to that.
"""

from __future__ import annotations

import re
from typing import Any


class Unusual(Exception):
    """Input outside the subset handled here: let a full YAML parser decide."""


class TooDeep(Exception):
    """Containers nested deeper than MAX_DEPTH: refused (the careful parser names the line)."""


MAX_DEPTH = 50  # a job's settings nest about 10 deep; recursion past ~450 would crash Python


_INT_RE = re.compile(r"^[-+]?[0-9]+$")
_FLOAT_RE = re.compile(r"^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$")
# Other forms ruamel's YAML 1.2 resolver turns into numbers or dates (0x1F, 1_000, .inf, 2024-01-01).
_OTHER_TYPED = re.compile(r"^([-+]?(0b[0-1_]+|0o?[0-7_]+|[0-9_]+|0x[0-9a-fA-F_]+)|"
                          r"[-+]?(\.[0-9_]+|[0-9_]+(\.[0-9_]*)?)([eE][-+]?[0-9]+)?|"
                          r"[-+]?\.(inf|Inf|INF)|\.(nan|NaN|NAN)|[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}.*)$")
_CONSTANTS: dict[str, Any] = {"": None, "~": None, "null": None, "Null": None, "NULL": None, "true": True,
                              "True": True, "TRUE": True, "false": False, "False": False, "FALSE": False}
# Characters that give a plain scalar's first character another meaning.
_INDICATORS = frozenset("&*!|>%@`#,[]{}?:'\"")
# Tabs, CR, BOM, control characters and the breaks libyaml (YAML 1.1) also splits lines on.
_AWKWARD = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029\ufeff\ud800-\udfff\ufffe\uffff]")


_NUMERIC_START = frozenset("0123456789+-.")

# Plain scalars that some common YAML reader takes for something else than a string, though the
# YAML 1.2 core schema (ruamel's resolver, our reader) reads them as strings. Sources: the YAML 1.1
# type repository (yaml.org/type/bool.html, int, float, null, timestamp, merge, value: what PyYAML
# implements, the regexes of its resolver.py), and go-yaml's resolve.go (v2: the 1.1 booleans
# y/yes/on...; v2 and v3: strconv.ParseInt(base 0) after removing every "_", so 0o17, 0b1, 017 and
# 1_000 are ints, yamlStyleFloat, timestamps from "2006-1-2"). Writers quote them; "yes" in any
# case is quoted, as are "=" (YAML 1.1's value key: PyYAML cannot even construct it) and "<<".
_WORDS_1_1 = frozenset({"y", "n", "yes", "no", "on", "off", "true", "false", "null", "~", ""})
_NUMBER_ANY = re.compile(r"""^[-+]?(?:
    0[bB][0-1_]+ | 0[oO][0-7_]+ | 0[xX][0-9a-fA-F_]+           # prefixed ints (1.1, 1.2, Go)
  | [0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?                # sexagesimal ints and floats (1.1)
  | (?=[._]*[0-9])[0-9_]*\.?[0-9_.]*(?:[eE][-+]?[0-9_]+)?     # decimal ints and floats, 1.1's 1.2.3 too
  | \.(?:inf|nan)                                             # any case, signed or not
)$""", re.VERBOSE | re.IGNORECASE)
_TIMESTAMP_ANY = re.compile(r"^[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}(?:(?:[Tt]|[ \t]+)[0-9]{1,2}:[0-9]{1,2}(?::[0-9]{1,2})?.*)?$")


def ambiguous_plain(value: str) -> bool:
    """Would some common YAML reader (YAML 1.1 / PyYAML, YAML 1.2, go-yaml v2/v3) load this
    string, written plain, as a bool, null, number, date or merge key? Then it is written quoted."""
    if (len(value) <= 5 and value.lower() in _WORDS_1_1) or value in ("=", "<<"):
        return True
    if value[:1] not in _NUMERIC_START:
        return False
    return bool(_NUMBER_ANY.match(value) or _TIMESTAMP_ANY.match(value))
# One line: indentation, an optional "- " item mark, then `key:` / `key: value` or a scalar.
# A key is plain, or single-quoted as the writer quotes one a YAML 1.1 reader would take for a bool
# (`'n': x`, `'on': y`: tests/test_yaml_readers.py), which real base_parameters use.
_LINE_RE = re.compile(r"( *)(- )?(?:([A-Za-z_][A-Za-z0-9_./ -]*|'(?:[^'\n]|'')*'):(?: (.*))?|(.*))")


def plain_scalar(value: str) -> Any:
    """YAML 1.2 core-schema resolution of a plain scalar, for the forms bricksync writes."""
    if value in _CONSTANTS:
        return _CONSTANTS[value]
    if value[:1] not in _NUMERIC_START:
        return value  # no number, date or .inf/.nan starts otherwise
    if _INT_RE.match(value):
        return int(value)
    if _FLOAT_RE.match(value):
        return float(value)
    if _OTHER_TYPED.match(value):
        raise Unusual  # the YAML resolver knows these forms
    return value


def _scalar(text: str) -> Any:
    first = text[0]
    if first == "'":
        inner = text[1:-1]
        if len(text) < 2 or text[-1] != "'" or "'" in inner.replace("''", ""):
            raise Unusual
        return inner.replace("''", "'")
    if first == '"':
        inner = text[1:-1]
        if len(text) < 2 or text[-1] != '"' or '"' in inner or "\\" in inner:
            raise Unusual
        return inner
    if text == "{}":
        return {}
    if text == "[]":
        return []
    if first in _INDICATORS or first == " " or (first == "-" and text[1:2] in ("", " ")) or ": " in text \
            or " #" in text or text[-1] == ":":
        raise Unusual
    return plain_scalar(text)


class _Lines:
    """The document as (indent, is an item, key or None, value text or None) per line."""

    def __init__(self, text: str):
        if _AWKWARD.search(text):
            raise Unusual
        self.lines: list[tuple[int, bool, str | None, str | None]] = []
        append = self.lines.append
        match = _LINE_RE.fullmatch
        for line in text.split("\n"):
            m = match(line.rstrip(" ") if line[-1:] == " " else line)
            if m is None:
                raise Unusual
            indent, item, key, value, scalar = m.groups()
            if key is not None:
                if value is not None and (not value or value[0] == " "):
                    raise Unusual
                if key[0] == "'":
                    key = key[1:-1].replace("''", "'")  # quoted: a string whatever it spells
                elif key[-1] == " " or key in _CONSTANTS:
                    raise Unusual
                append((len(indent), item is not None, key, value))
            elif scalar:
                if item is None and scalar[0] == "#":
                    continue  # a comment line
                if item is None or scalar.startswith(("---", "...", "%")):
                    raise Unusual  # a scalar outside a sequence: a continuation line or a directive
                append((len(indent), True, None, scalar))
            elif item is not None:
                raise Unusual
        self.n = len(self.lines)

    def block(self, i: int, indent: int, depth: int) -> tuple[Any, int]:
        if depth > MAX_DEPTH:
            raise TooDeep
        return self.sequence(i, indent, depth) if self.lines[i][1] else self.mapping(i, indent, depth)

    def mapping(self, i: int, indent: int, depth: int = 1) -> tuple[dict, int]:
        out: dict[str, Any] = {}
        lines, n = self.lines, self.n
        while i < n:
            at, item, key, value = lines[i]
            if at != indent or item:
                break
            if key is None or key in out:
                raise Unusual  # a duplicate key: the careful parser names it
            i += 1
            if value is not None:
                out[key] = _scalar(value)
            elif i < n and (lines[i][0] > indent or (lines[i][0] == indent and lines[i][1])):
                out[key], i = self.block(i, lines[i][0], depth + 1)
            else:
                out[key] = None
        if i < n and lines[i][0] > indent:
            raise Unusual
        return out, i

    def sequence(self, i: int, indent: int, depth: int = 1) -> tuple[list, int]:
        out: list[Any] = []
        lines, n = self.lines, self.n
        while i < n:
            at, item, key, value = lines[i]
            if at != indent or not item:
                break
            if key is not None:  # `- key: value`: a mapping whose first line starts two columns in
                lines[i] = (indent + 2, False, key, value)
                if depth + 1 > MAX_DEPTH:
                    raise TooDeep
                mapping, i = self.mapping(i, indent + 2, depth + 1)
                out.append(mapping)
            else:
                out.append(_scalar(value))  # type: ignore[arg-type]
                i += 1
        if i < n and lines[i][0] > indent:
            raise Unusual
        return out, i


def load(text: str) -> Any:
    """Plain data from YAML text in the subset; raises Unusual outside it, TooDeep past MAX_DEPTH."""
    lines = _Lines(text)
    if not lines.n or lines.lines[0][0] != 0:
        raise Unusual
    value, end = lines.block(0, 0, 1)
    if end != lines.n:
        raise Unusual
    return value
