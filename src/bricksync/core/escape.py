"""Escaping of every value bricksync prints, for the medium it goes to. Pure.

Values come from state files, prod jobs and workspace error messages: a job description
with a newline and `##vso[task.setvariable ...]` must not become a line of its own in a
pipeline log (Azure Pipelines runs `##vso[` and `##[` lines as commands), nor close a
Markdown code fence, nor break a table, nor colour the terminal.

- terminal and logs: control characters as `\\n`, `\\r`, `\\t`, `\\xNN` (so one value is one line),
  invisible format characters (bidirectional controls: a changed path must not render as an
  unchanged one) as `\\uNNNN`,
  `##` as `#\\x23` and `::` as `:\\x3a` (no Azure logging command nor GitHub workflow command can
  come from data), rich markup `[` escaped;
- Markdown: the same, plus Markdown/HTML punctuation escaped in text, code spans and fences
  that are longer than any backtick run in their content.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable

_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
_CONTROL = {c: _NAMED.get(chr(c), f"\\x{c:02x}") for c in (*range(0x20), 0x7F, *range(0x80, 0xA0))}


# Characters that change how the text around them shows while showing nothing themselves: the
# bidirectional controls (U+202A-202E embeddings and overrides, U+2066-2069 isolates, U+200E/200F
# marks, U+061C Arabic letter mark) can make a changed path render as an unchanged one (Trojan
# Source, CVE-2021-42574); the other format characters (Unicode category Cf: soft hyphen, zero-width
# spaces and joiners, U+FEFF, the U+E0000 tag block), line and paragraph separators (Zl, Zp: U+2028/
# 2029 end a line in some renderers), the Hangul fillers (letters that render blank) and lone
# surrogates (unencodable: printing one would fail) are written as their code, `\\u202e`.
# Ranges, not a scan of Unicode at import (every command imports this): tests/test_keys_in_use.py
# checks them against unicodedata.
INVISIBLE = ("\u00ad\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2\u115f\u1160\u180e\u200b-\u200f"
             "\u2028-\u202e\u2060-\u206f\u3164\ufeff\uffa0\ufff9-\ufffb\U000110bd\U000110cd"
             "\U00013430-\U0001343f\U0001bca0-\U0001bca3\U0001d173-\U0001d17a\U000e0000-\U000e007f"
             "\ud800-\udfff")
_INVISIBLE_RE = re.compile(f"[{INVISIBLE}]")


def _code(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


_MD_PUNCT = re.compile(r"([\\`*_{}\[\]<>()#+!|~@])")
_BACKTICKS = re.compile(r"`+")


def one_line(text: object) -> str:
    """Control characters escaped: the value can neither start a new line nor move the cursor."""
    text = str(text).translate(_CONTROL)
    return _INVISIBLE_RE.sub(_code, text) if not text.isascii() else text


def visible(text: str) -> str:
    """Text of several lines (a Markdown document) with every invisible character and every control
    character but the newline written as its code: the lines stay lines, nothing hides."""
    return "\n".join(one_line(line) for line in text.split("\n"))


MAX_COMMIT_VALUE = 120  # characters of one value (a job name, a path) in a commit message line


def commit_text(text: object, limit: int = MAX_COMMIT_VALUE) -> str:
    """A value inside a line of a commit message bricksync writes: one line (a newline in a job name
    would forge a line of its own, `Signed-off-by:` a trailer), no NUL (git refuses the message: the
    export would fail at every run), nothing invisible, and bounded (one line per job)."""
    value = one_line(text)
    return value if len(value) <= limit else value[:limit - 1] + "…"


def no_commands(text: str) -> str:
    """No `##` and no `::` survive. Azure Pipelines reads `##vso[` anywhere and `##[` at a line start
    as commands; the GitHub Actions runner reads `##[` anywhere (its v1 format) and a line that starts
    with `::` once leading white space is trimmed (its v2 format: `::warning::`, `::stop-commands::`,
    `::add-mask::`), on stdout and stderr alike (actions/runner src/Runner.Common/ActionCommand.cs:
    TryParse looks for "##[" with IndexOf, TryParseV2 does TrimStart then StartsWith("::");
    src/Runner.Worker/Handlers/ScriptHandler.cs feeds both streams to the command manager). With no
    `::` left anywhere in a value, and none in a rendered buffer (ui.RedactingConsole), no printed
    line can start a workflow command, however rich wraps it."""
    if "##" in text:
        text = text.replace("##", "#\\x23")
    return text.replace("::", ":\\x3a") if "::" in text else text


def json_no_commands(text: str) -> str:
    """A JSON document with no `##` and no `::` in it, meaning the same: inside strings (the only place
    JSON can hold either) `#` and `:` become \\u0023 and \\u003a. A report or saved plan on stdout
    (`--json -`, `--out -`) is read by a pipeline agent line by line like any output, and holds
    workspace data verbatim."""
    return text.replace("##", "#\\u0023").replace("::", ":\\u003a")


def log_text(text: object) -> str:
    """For a log line or a plain (un-marked-up) output line."""
    return no_commands(one_line(text))


def term(text: object) -> str:
    """For a rich console: one line, no commands, no markup."""
    return log_text(text).replace("[", r"\[")


def md_text(text: object) -> str:
    """Inline Markdown text (table cells, headings, list items): every character shows as itself."""
    return _MD_PUNCT.sub(r"\\\1", log_text(text)).replace("&", "&amp;")


def md_html(text: object) -> str:
    """Text inside an HTML element of a Markdown document (e.g. <summary>)."""
    return html.escape(log_text(text), quote=True)


def _longest_run(text: str) -> int:
    return max((len(m) for m in _BACKTICKS.findall(text)), default=0)


def md_code(text: object) -> str:
    """An inline code span its content cannot close."""
    body = log_text(text)
    ticks = "`" * (_longest_run(body) + 1)
    pad = " " if body.startswith("`") or body.endswith("`") else ""
    return f"{ticks}{pad}{body}{pad}{ticks}"


def workflow_data(text: object) -> str:
    """The message of a GitHub workflow command (`::warning ...::MESSAGE`): the toolkit's escapeData
    (`%` `\\r` `\\n` as %25 %0D %0A; actions/toolkit packages/core/src/command.ts), over a value already
    made one line with no command in it (log_text), so nothing in it ends the line or the command."""
    return log_text(text).replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def workflow_property(text: object) -> str:
    """A property value of a GitHub workflow command (`file=`, `title=`): escapeData plus `:` and `,`
    as %3A and %2C (the toolkit's escapeProperty), so a value can neither end the property list
    (`::`) nor start another property (`,`)."""
    return workflow_data(text).replace(":", "%3A").replace(",", "%2C")


def md_fence(lines: Iterable[str], info: str = "") -> list[str]:
    """A fenced code block whose fence is longer than any backtick run in its content."""
    body = [log_text(line) for line in lines]
    fence = "`" * max(3, max((_longest_run(line) for line in body), default=0) + 1)
    return [f"{fence}{info}", *body, fence]
