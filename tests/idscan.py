"""Raw workspace IDs in state files: none may be there (a test-workspace ID in prod points at
nothing, or worse, at something else). Used by every test through conftest's autouse fixture."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from bricksync.core.references import reference_sites

ID_SHAPES = (
    re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.I),  # UUIDs
    re.compile(r"[0-9a-f]{32}", re.I),  # dashboard IDs
    re.compile(r"[0-9a-f]{16}", re.I),  # warehouses, policies
    re.compile(r"\d{4}-\d{6}-[a-z0-9]{8}"),  # clusters (0101-123456-abcdefgh)
    re.compile(r"\d{10,}"),  # job and workspace numbers
)


def _id_shaped(value: Any) -> bool:
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    return isinstance(value, str) and any(p.fullmatch(value) for p in ID_SHAPES)


def _walk(node: Any, where: str, out: list[tuple[str, Any]]) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            here = f"{where}.{key}" if where else str(key)
            if (str(key) == "id" or str(key).endswith("_id")) and _id_shaped(value):
                out.append((here, value))
            _walk(value, here, out)
    elif isinstance(node, list):
        for i, value in enumerate(node):
            _walk(value, f"{where}[{i}]", out)


def id_shaped_fields(text: str) -> list[tuple[str, Any]]:
    """(field, value) of every ID-shaped value under a key named `id`/`*_id` or in a reference field."""
    doc = YAML(typ="safe").load(text) or {}
    settings = doc.get("job") or {}
    out: list[tuple[str, Any]] = []
    _walk(settings, "", out)
    for site in reference_sites(settings):
        if _id_shaped(site.value):
            out.append((site.location, site.value))
    return sorted(set(out), key=str)


def scan_state_files(root: Path) -> list[str]:
    """Every exported state file under `root` with a raw ID: 'file: field = value'."""
    found = []
    for path in sorted(root.rglob("state/jobs/*.yml")):
        if path.is_symlink() or not path.is_file():
            continue  # a test's link or FIFO (one leads to /dev/zero): export never writes those
        text = path.read_text(errors="replace")
        if "\n# Managed by bricksync" not in text[:200] and not text.startswith("# Managed by bricksync"):
            continue  # not written by export
        try:
            hits = id_shaped_fields(text)
        except Exception:  # a test's deliberately broken file: not this scan's business
            continue
        found += [f"{path}: {where} = {value!r}" for where, value in hits]
    return found
