"""The pull-request comment and status for a set of plans: pure text, no I/O.

`bricksync plan --markdown` writes one file per target; this module reads their headlines
back, joins them into the one comment bricksync keeps per pull request (a hidden marker at
its very start finds it again), fits it into the platform's comment size, and words the PR
status. edges/azdo.py and edges/github.py send what this module composes.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from .errors import BricksyncError
from .escape import one_line, visible

MARKER = "<!-- bricksync:plan -->"
# Azure DevOps refuses longer comments: "A discussion comment cannot be longer than 150000
# characters. Parameter name: comment.Content" (the limit is not in the REST reference; the
# service's own error states it). Counted in UTF-16 code units, as .NET strings are.
MAX_COMMENT_CHARS = 150_000
MAX_STATUS_DESCRIPTION = 250
# GitHub refuses longer ones: "Body is too long (maximum is 65536 characters)" (HTTP 422 on an issue
# comment, e.g. danger/danger#424) and "description is too long (maximum is 140 characters)" on a
# commit status (zalando/zappr#378). Counted here in UTF-16 units, never fewer than characters.
GITHUB_MAX_COMMENT_CHARS = 65_536
GITHUB_MAX_STATUS_DESCRIPTION = 140
PLANNED_EXIT_CODES = (0, 2)  # plan's own codes: no changes / changes present (--detailed-exitcode)

HEADLINE_RE = re.compile(r"^\*\*(?P<text>(?P<create>\d+) to create, (?P<update>\d+) to update, "
                         r"(?:(?P<adopt>\d+) to adopt, )?(?P<orphan>\d+) orphans(?:, (?P<conflict>\d+) conflicts)?, "
                         r"(?P<noop>\d+) unchanged"
                         r"(?:, \d+ awaiting export)?)\*\*$")
TARGET_RE = re.compile(r"^### [^\n]*?: target `(?P<target>[^`]*)`")


@dataclass
class PlanSection:
    """One target's plan, as `bricksync plan --markdown` wrote it."""

    target: str
    headline: str
    counts: dict[str, int]
    markdown: str

    @property
    def has_changes(self) -> bool:
        return any(self.counts[k] for k in ("create", "update", "adopt", "orphan", "conflict"))

    def short(self) -> str:
        """'2 to create, 1 to update' (only what is not zero), or 'no changes'."""
        words = {"create": "to create", "update": "to update", "adopt": "to adopt", "orphan": "orphans",
                 "conflict": "conflicts"}
        parts = [f"{self.counts[k]} {w}" for k, w in words.items() if self.counts[k]]
        return ", ".join(parts) or "no changes"


def parse_plan_markdown(text: str, file: str) -> PlanSection:
    """A plan Markdown file back into its target and counts; anything else is refused by name."""
    lines = text.splitlines()
    match = HEADLINE_RE.match(lines[0].strip()) if lines else None
    if not match:
        raise BricksyncError(f"{file}: not a bricksync plan (its first line should be the headline "
                             "`bricksync plan --markdown` writes, e.g. **1 to create, 0 to update, ...**)")
    counts = {k: int(match.group(k) or 0) for k in ("create", "update", "adopt", "orphan", "conflict", "noop")}
    target_match = next((m for m in (TARGET_RE.match(x) for x in lines[1:6]) if m), None)
    target = target_match.group("target") if target_match else file
    # The plan's Markdown escaped every value already; a file from elsewhere (or an older bricksync)
    # may not have: nothing invisible reaches the pull request either way (core/escape.py).
    return PlanSection(target=one_line(target), headline=one_line(match.group("text")), counts=counts,
                       markdown=visible(text.strip()))


@dataclass
class Outcome:
    """What the plans say, for the comment and the status."""

    sections: list[PlanSection]
    failed: bool
    reason: str = ""  # why it failed, in words
    pending: bool = False  # `comment --pending`: the plans are running

    @property
    def state(self) -> str:
        # GitStatusState values as the REST API spells them (Pull Request Statuses - Create).
        return "pending" if self.pending else "failed" if self.failed else "succeeded"

    def description(self, limit: int = MAX_STATUS_DESCRIPTION) -> str:
        """The PR status line: '2 to create, 1 to update' for one target, 'prod: ...; staging: ...' for more."""
        if self.pending:
            return "planning every target"
        if len(self.sections) == 1 and not self.failed:
            text = self.sections[0].short()
        else:
            text = "; ".join(f"{s.target}: {s.short()}" for s in self.sections)
        if self.failed:
            text = f"plan failed ({self.reason})" + (f"; {text}" if text else "")
        return _shorten(text, limit)


def outcome(sections: list[PlanSection], plan_exit_code: int | None, missing: list[str]) -> Outcome:
    """Failed when the plan's exit code says so, when a plan file is missing, or when there is none."""
    reasons = []
    if plan_exit_code is not None and plan_exit_code not in PLANNED_EXIT_CODES:
        reasons.append(f"exit code {plan_exit_code}")
    if missing:
        # file names, not the agent's folders: a status description holds 140 characters
        reasons.append("no plan file " + ", ".join(m.replace("\\", "/").rsplit("/", 1)[-1] or m for m in missing))
    elif not sections:
        reasons.append("no plan file")
    return Outcome(sections=sections, failed=bool(reasons), reason="; ".join(reasons))


def compose_comment(result: Outcome, *, build: str | None = None, commit: str | None = None,
                    build_url: str | None = None, limit: int = MAX_COMMENT_CHARS,
                    service: str = "Azure DevOps") -> str:
    """The whole comment: the marker first (nothing from a plan can come before it), then the plans."""
    head = [MARKER]
    if result.failed:
        head += ["## ❌ bricksync plan failed", "",
                 f"The plan failed ({_md(result.reason)}): see {_link('the build log', build_url)}. "
                 "Targets not shown below were not planned.", ""]
    elif not any(s.has_changes for s in result.sections):
        targets = ", ".join(f"`{_code(s.target)}`" for s in result.sections)
        head += ["## bricksync plan: no changes", "", f"Every target matches state/: {targets}.", ""]
    else:
        head += ["## bricksync plan: " + _md(result.description()), ""]
    footer = ["", "<sub>" + _footer(build, commit) + "</sub>"]
    sections = [s for s in result.sections if result.failed or any(x.has_changes for x in result.sections)]
    body = _fit("\n".join(head), [s.markdown for s in sections], [s.target for s in sections],
                "\n".join(footer), limit, service)
    return body + "\n"


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _fit(head: str, parts: list[str], names: list[str], footer: str, limit: int, service: str) -> str:
    """Whole plans while they fit; the one that does not is cut at a line, its open code fence and
    <details> closed, and the rest named; a note says where the full plan is."""
    sep = "\n\n---\n\n"
    note = (f"\n\n> ⚠️ Truncated: the plan is longer than one {service} comment may be "
            f"({limit:,} characters). The full plan is in the run's summary.")
    full = head + "\n" + sep.join(parts) + "\n" + footer
    if utf16_len(full) <= limit:
        return full
    budget = limit - utf16_len(head) - utf16_len(footer) - utf16_len(note) - 64
    kept: list[str] = []
    used = 0
    for i, part in enumerate(parts):
        rest = "\n".join(f"- `{_code(n)}`: not shown" for n in names[i + 1:])
        room = budget - used - utf16_len(rest) - utf16_len(sep)
        if utf16_len(part) <= room:
            kept.append(part)
            used += utf16_len(part) + utf16_len(sep)
            continue
        cut = _cut(part, room)
        kept.append(cut + ("\n\n" + rest if rest else ""))
        break
    return head + "\n" + sep.join(kept) + note + "\n" + footer


def utf8_len(text: str) -> int:
    return len(text.encode("utf-8"))


def fit_markdown(text: str, limit: int, what: str, where: str) -> str:
    """`text` when it is at most `limit` UTF-8 bytes; else cut at a line (fences and <details>
    closed) with a note saying that `what` is cut and `where` the whole report is."""
    if utf8_len(text) <= limit:
        return text
    note = f"\n\n> ⚠️ Truncated: the report is longer than {what} may be; the whole of it is in {where}."
    return _cut(text, limit - utf8_len(note), measure=utf8_len) + note


def _cut(text: str, room: int, measure: Callable[[str], int] = utf16_len) -> str:
    """At most `room` units (UTF-16 by default) of whole lines, with every opened fence and <details> closed."""
    out: list[str] = []
    size = 0
    closing_room = 32  # "```" and "</details>" added below
    for line in text.splitlines():
        n = measure(line) + 1
        if size + n > room - closing_room:
            break
        out.append(line)
        size += n
    fence = None  # report.py makes a fence longer than any backtick run in its content: close with the same
    for x in out:
        ticks = re.match(r"`{3,}", x)
        if ticks and fence is None:
            fence = ticks.group(0)
        elif ticks and x.strip() == fence:
            fence = None
    opened = sum(x.count("<details>") for x in out) - sum(x.count("</details>") for x in out)
    if fence:
        out.append(fence)
    out += ["</details>"] * max(opened, 0)
    return "\n".join(out)


def _footer(build: str | None, commit: str | None) -> str:
    parts = ["Updated by bricksync"]
    if build:
        parts.append(f"in build {_md(build)}")
    if commit and re.fullmatch(r"[0-9a-fA-F]{7,64}", commit):
        parts.append(f"for commit {commit[:12]}")
    return " ".join(parts) + "; this comment is edited on every run, not repeated."


def _link(text: str, url: str | None) -> str:
    if not url:
        return text
    return f"[{text}]({url.replace(' ', '%20').replace('(', '%28').replace(')', '%29')})"


def _md(text: str) -> str:
    """Plain text inside Markdown: nothing in it can start a link, table cell, tag or emphasis."""
    return re.sub(r"([\\`*_\[\]<>|#!])", r"\\\1", one_line(text))


def _code(text: str) -> str:
    return one_line(text).replace("`", "'")


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def find_own_comment(threads: list[dict], identity: str) -> tuple[int, int] | None:
    """(thread id, comment id) of bricksync's comment: the first comment of a live thread, written
    by this identity, whose content starts with the marker. Plan text cannot forge it (the marker
    is only looked for at the very start, and plan text never comes first), nor can another user
    (the author must be the identity posting now)."""
    found = []
    for thread in threads:
        if thread.get("isDeleted"):
            continue
        comments = [c for c in thread.get("comments") or [] if not c.get("isDeleted")]
        if not comments:
            continue
        first = min(comments, key=lambda c: c.get("id", 0))
        if (first.get("author") or {}).get("id") != identity:
            continue
        if not str(first.get("content") or "").startswith(MARKER):
            continue
        found.append((int(thread["id"]), int(first["id"])))
    return min(found) if found else None


def find_own_issue_comment(comments: list[dict], login: str, user_id: int | None) -> int | None:
    """The id of bricksync's comment among a GitHub pull request's (issue) comments: the oldest one
    written by the token's identity (its login, and its id when GET /user gave one) whose body starts
    with the marker. A comment someone else wrote is never ours, whatever its text; a plan quoting the
    marker cannot forge one (it is looked for at the very start only)."""
    found = []
    for comment in comments:
        user = comment.get("user") or {}
        if str(user.get("login") or "").lower() != login.lower():
            continue
        if user_id is not None and user.get("id") != user_id:
            continue
        if not str(comment.get("body") or "").startswith(MARKER):
            continue
        if isinstance(comment.get("id"), int):
            found.append(comment["id"])
    return min(found) if found else None
