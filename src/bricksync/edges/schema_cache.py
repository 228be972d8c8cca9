"""The Jobs API schema table (core/schema.py), kept on disk between runs so that the offline
commands (validate) check state files without importing databricks-sdk: importing any of it runs
the package's __init__, which imports every service (~0.7 s of a ~1 s validate).

One JSON file per installed SDK version and text of core/schema.py (hashed), in
$XDG_CACHE_HOME/bricksync (default ~/.cache/bricksync): a new SDK or a changed builder reads the
SDK again. Any problem reading or writing the file (missing, corrupt, read-only home) falls back
to building the table from the SDK, as before: the cache only ever saves time.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import sys
import tempfile
from pathlib import Path

from ..core import schema
from ..core.schema import SchemaTable, schema_table, table_from_json, table_to_json

log = logging.getLogger(__name__)
SDK_DIST = "databricks-sdk"


def cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "bricksync"


def cache_file() -> Path | None:
    """Where the table of the installed SDK is kept (None: its version is unknown, no caching)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        sdk = version(SDK_DIST)
        folder = cache_dir()
        # the builder's own text: a table built by another version of schema.py is not reused
        builder = hashlib.sha256(Path(schema.__file__).read_bytes()).hexdigest()[:16]
    except (PackageNotFoundError, RuntimeError, OSError):  # (RuntimeError: no home directory to cache in)
        return None
    return folder / f"jobs-schema-{sdk}-{builder}.json"


@functools.cache
def job_schema() -> SchemaTable:
    """schema_table(), from the cache file when the SDK is not imported yet (and the file written
    when it was missing or unreadable)."""
    if "databricks.sdk" in sys.modules:  # already paid for (a command that talks to a workspace)
        return schema_table()
    path = cache_file()
    if path is not None:
        try:
            return table_from_json(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            pass
        except (OSError, ValueError) as exc:  # (UnicodeDecodeError is a ValueError) rebuilt below
            log.debug("schema cache %s not used: %s", path, exc)
    table = schema_table()
    if path is not None:
        _write(path, table_to_json(table))
    return table


def _write(path: Path, text: str) -> None:
    """Whole or not at all (a concurrent reader never sees half a file); failures only cost time."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".jobs-schema-", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(text)
            os.replace(tmp, path)
        except BaseException:
            os.unlink(tmp)
            raise
    except OSError as exc:
        log.debug("schema cache %s not written: %s", path, exc)
