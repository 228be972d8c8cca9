"""`bricksync init`'s I/O: the files shipped in the package (src/bricksync/templates/, mirroring
their paths in a repository), new files written without ever replacing one, the git state of the
folder, and where this bricksync was installed from.

A file is written whole or not at all (a temporary file linked into place: a file already there,
or one appearing meanwhile, is never replaced), and only inside real folders of the project: a
symbolic link on the way is an error before anything is written.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from importlib import metadata, resources
from pathlib import Path, PurePosixPath

from ..core.errors import BricksyncError, Problem

INIT_ONLY = ("config/bricksync.yml",)  # templates of init's own, not copies of this repository's files


def templates() -> dict[str, bytes]:
    """Every file under bricksync/templates/, by its path in a repository ('pipelines/x.yml')."""
    out: dict[str, bytes] = {}

    def walk(node: resources.abc.Traversable, prefix: str) -> None:
        for child in sorted(node.iterdir(), key=lambda c: c.name):
            rel = f"{prefix}{child.name}"
            if child.is_dir():
                walk(child, rel + "/")
            elif not child.name.endswith((".pyc", ".py")):
                out[rel] = child.read_bytes()

    walk(resources.files("bricksync") / "templates", "")
    return out


def check_folders(root: Path, paths: list[str]) -> None:
    """Every folder on the way to `paths` is a real folder inside `root` (or does not exist yet)."""
    problems = []
    for folder in sorted({str(p) for rel in paths for p in PurePosixPath(rel).parents if str(p) != "."}):
        path = root / folder
        if path.is_symlink() or (path.exists() and not path.is_dir()):
            problems.append(Problem("is a symbolic link or not a folder: init writes only into real folders of the "
                                    "project; nothing was written", file=str(path)))
    if root.exists() and not root.is_dir():  # (the folder itself may be a link: the user named it)
        problems.append(Problem("is not a folder", file=str(root)))
    if problems:
        raise BricksyncError(problems)


def write_new(root: Path, rel: str, data: bytes) -> bool:
    """Write `data` to root/rel unless something is there (True: written; False: left as it was)."""
    path = root / rel
    if os.path.lexists(path):
        return False
    try:
        return _link_new(path, data)
    except OSError as exc:
        raise BricksyncError(Problem(f"cannot be written ({exc.strerror or type(exc).__name__}); the files written "
                                     "before it stay: run init again once that is fixed (it skips them)",
                                     file=str(path))) from None


def _link_new(path: Path, data: bytes) -> bool:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".init")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o644)
        try:
            os.link(tmp, path)  # fails if anything is at `path`: never replaces it
        except FileExistsError:
            return False
        except OSError:  # a filesystem without hard links: an exclusive create instead
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
            try:
                out = os.open(path, flags, 0o644)
            except FileExistsError:
                return False
            with os.fdopen(out, "wb") as f:
                f.write(data)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
    return True


def git_state(root: Path) -> tuple[str, Path | None]:
    """("none" | "empty" | "ok", the repository's top folder): no repository, one without a
    commit, or one with commits."""
    import git

    try:
        repo = git.Repo(root, search_parent_directories=True)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        return "none", None
    top = Path(repo.working_tree_dir) if repo.working_tree_dir else None
    try:
        repo.head.commit  # noqa: B018 - raises ValueError without a commit
    except ValueError:
        return "empty", top
    return "ok", top


def install_source() -> tuple[str, str]:
    """(a pip requirement that installs this bricksync again, how it was installed): from the
    record pip keeps of a direct install (PEP 610 direct_url.json), else the released version."""
    version = metadata.version("bricksync")
    try:
        raw = metadata.distribution("bricksync").read_text("direct_url.json")
        direct = json.loads(raw) if raw else {}
    except (metadata.PackageNotFoundError, ValueError):
        direct = {}
    url = direct.get("url", "")
    vcs = direct.get("vcs_info") or {}
    if vcs and url:
        revision = vcs.get("requested_revision") or vcs.get("commit_id") or ""
        return f"bricksync @ {vcs.get('vcs', 'git')}+{url}" + (f"@{revision}" if revision else ""), "a git URL"
    if url and not url.startswith("file:"):
        return f"bricksync @ {url}", "a URL"
    if direct:
        return f"bricksync=={version}", "a local wheel or folder"
    return f"bricksync=={version}", "a package index"
