"""Terminal output: one rich console for results (stdout) and one for progress/errors (stderr).

Colour and progress bars only on a terminal; every line goes through secret redaction.
"""

from __future__ import annotations

import os
import sys
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from ..core.escape import no_commands
from ..core.secrets import redact


class RedactingConsole(Console):
    def _render_buffer(self, buffer: Any) -> str:  # the one place rich turns output into text
        # Last line of defence: values are escaped where they are printed; no `##` reaches a log anyway.
        return no_commands(redact(super()._render_buffer(buffer)))


def _color() -> bool:
    return "NO_COLOR" not in os.environ


def _width() -> int | None:
    """Pipeline logs are not 80 columns wide: use 140 when not on a terminal (COLUMNS overrides)."""
    if os.environ.get("COLUMNS"):
        return int(os.environ["COLUMNS"])
    return None if sys.stdout.isatty() else 140


out = RedactingConsole(highlight=False, no_color=not _color(), soft_wrap=True, width=_width())
err = RedactingConsole(stderr=True, highlight=False, no_color=not _color(), soft_wrap=True, width=_width())


@contextmanager
def progress(description: str, total: float | None = None):
    """A progress bar on a terminal; nothing otherwise (CI logs stay clean)."""
    if not (sys.stderr.isatty() and err.is_terminal):
        yield lambda n=1: None
        return
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                  TextColumn("{task.completed:.0f} jobs"), TimeElapsedColumn(), console=err,
                  transient=True) as bar:
        task = bar.add_task(description, total=total)
        yield lambda n=1: bar.advance(task, n)


def setup_logging(debug: bool) -> None:
    """Log lines to stderr, redacted; the SDK's and urllib3's chatter only with --debug."""
    import logging

    from ..core.secrets import RedactingFilter

    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RedactingFilter())
    # --debug lines carry the time (to the millisecond): where a run waits is read off the log
    fmt = "%(asctime)s.%(msecs)03d %(levelname)s %(name)s: %(message)s" if debug else "%(levelname)s %(name)s: %(message)s"
    handler.setFormatter(logging.Formatter(fmt, datefmt="%Y-%m-%dT%H:%M:%S"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if debug else logging.WARNING)
    # The SDK warns when a host has no /.well-known/databricks-config; that is not the user's problem.
    logging.getLogger("databricks.sdk").setLevel(logging.DEBUG if debug else logging.ERROR)
    logging.getLogger("urllib3").setLevel(logging.DEBUG if debug else logging.ERROR)


def esc(text: str) -> str:
    """For text whose line structure is ours (a list of problems): values inside are already one
    line each (Problem escapes them); no markup, no logging command."""
    return no_commands(text).replace("[", r"\[")
