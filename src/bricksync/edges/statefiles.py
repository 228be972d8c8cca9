"""state/files/: the notebooks and workspace files jobs run, one file per object (core/files.py
has the naming). Reads and writes only regular files inside that folder: a link, FIFO, socket or
device anywhere below it is an error naming it, never followed or read."""

from __future__ import annotations

import errno
import itertools
import os
import stat
from pathlib import Path

from ..core.errors import BricksyncError, Problem
from ..core.files import MAX_IMPORT_BYTES, NOT_COPIED, FileDoc, read_name

FILES_DIR = "files"
_READ = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
_TMP = itertools.count()
LINK = "is a symbolic link: state/files/ holds regular files only (not followed)"
NOT_REGULAR = "is not a regular file or folder (a FIFO, socket or device): not read"


def _tmp_name(name: str) -> bool:
    return name.startswith(".bricksync-") and name.endswith(".tmp")


def files_in_use(mode: str, state_dir: Path) -> bool:
    """Does this project manage notebooks and files (export writes them, or state/files/ has some)?"""
    return mode == "referenced" or FileStore(state_dir).has_any()


class FileStore:
    def __init__(self, state_dir: Path):
        self.dir = Path(state_dir) / FILES_DIR

    def display(self, path: Path) -> str:
        try:
            return os.path.relpath(path)
        except ValueError:
            return str(path)

    def path_of(self, name: str) -> Path:
        return self.dir / name

    def has_any(self) -> bool:
        """Is there anything at all below state/files/ (one directory read, not a walk)?"""
        try:
            with os.scandir(self.dir) as entries:
                return any(True for _ in entries)
        except (FileNotFoundError, NotADirectoryError):
            return False

    def names(self) -> tuple[list[str], list[Problem]]:
        """Every file's name below state/files/ ('/'-separated), and what is not a regular file."""
        if os.path.islink(self.dir):
            return [], [Problem(LINK, file=self.display(self.dir))]
        if not self.dir.exists():
            return [], []
        out: list[str] = []
        problems: list[Problem] = []
        stack = [("", self.dir)]
        while stack:
            prefix, folder = stack.pop()
            with os.scandir(folder) as entries:
                for entry in sorted(entries, key=lambda e: e.name):
                    name = f"{prefix}{entry.name}"
                    if entry.is_symlink():
                        problems.append(Problem(LINK, file=self.display(Path(entry.path))))
                    elif entry.is_dir(follow_symlinks=False):
                        stack.append((name + "/", Path(entry.path)))
                    elif not entry.is_file(follow_symlinks=False):
                        problems.append(Problem(NOT_REGULAR, file=self.display(Path(entry.path))))
                    elif not _tmp_name(entry.name) and name != NOT_COPIED:
                        out.append(name)
        return sorted(out), problems

    def read(self, name: str) -> bytes:
        """One file's bytes: opened without following a link nor blocking on a FIFO, read no further
        than the import limit (one byte more, so the size check sees it)."""
        path = self.path_of(name)
        try:
            fd = os.open(path, _READ)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise BricksyncError(Problem(LINK, file=self.display(path))) from None
            raise
        with os.fdopen(fd, "rb") as fh:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise BricksyncError(Problem(NOT_REGULAR, file=self.display(path)))
            return fh.read(MAX_IMPORT_BYTES + 1)

    def read_all(self) -> tuple[list[FileDoc], list[Problem]]:
        names, problems = self.names()
        docs = []
        for name in names:
            try:
                data = self.read(name)
            except BricksyncError as err:
                problems.extend(err.problems)
                continue
            except OSError as exc:
                problems.append(Problem(f"cannot read the file: {exc.strerror}", file=self.display(self.path_of(name))))
                continue
            rel, kind = read_name(name, data)
            docs.append(FileDoc(rel, kind, data, file=self.display(self.path_of(name))))
        return docs, problems

    def not_copied(self) -> list[str]:
        """Source paths export left out on purpose (objects in Git folders): validate exempts them."""
        path = self.path_of(NOT_COPIED)
        if not os.path.lexists(path):
            return []
        try:
            return [ln.strip() for ln in self.read(NOT_COPIED).decode("utf-8", "replace").splitlines()
                    if ln.strip() and not ln.startswith("#")]
        except BricksyncError:
            return []

    def write(self, name: str, data: bytes) -> Path:
        """Atomically (a temporary file renamed over the entry), never through a link: every
        folder on the way is checked to be a real folder inside state/files/."""
        path = self.path_of(name)
        self._real_folders(path.parent)
        while True:
            tmp = path.parent / f".bricksync-{os.getpid()}.{next(_TMP)}.tmp"
            try:
                fd = os.open(tmp, _CREATE, 0o666)
                break
            except FileExistsError:
                continue
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return path

    def remove(self, name: str) -> None:
        path = self.path_of(name)
        self._real_folders(path.parent)
        path.unlink(missing_ok=True)

    def _real_folders(self, folder: Path) -> None:
        rel = folder.relative_to(self.dir.parent)
        current = self.dir.parent
        for part in rel.parts:
            current = current / part
            if os.path.islink(current):
                raise BricksyncError(Problem(LINK, file=self.display(current)))
            if current.exists() and not current.is_dir():
                raise BricksyncError(Problem("is not a folder: a file of this name is in the way",
                                             file=self.display(current)))
            current.mkdir(exist_ok=True)
