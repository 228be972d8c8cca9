"""state/: read and write job documents (ruamel.yaml), and commit/push them (GitPython).

The only module that touches state files or git. Rendering a document to text is pure and
deterministic, so an unchanged job writes the same bytes.
"""

from __future__ import annotations

import errno
import hashlib
import io
import itertools
import os
import shlex
import shutil
import stat
import sys
import tempfile
from pathlib import Path
from typing import Any

from ..core.errors import BricksyncError, Problem, did_you_mean
from ..core.escape import visible
from ..core.keys import adoption_problems
from ..core.model import StateDoc
from ..core.yamlio import MAX_BYTES, dump, line_of, parse, plain

HEADER = """\
Managed by bricksync: desired settings of one Databricks job.
Written by `bricksync export` from the source workspace; review changes in the pull request.
To change the job, change it in the source workspace and export again (or edit here: the
field names are the Jobs API's JobSettings). IDs appear as ${kind:NAME}; paths as in the source."""


def written_by(command: str, target: str) -> str:
    """The header of a state file `bricksync capture` or `import` writes from target `target`:
    like export's, it says which command wrote the file and where its settings came from."""
    if command == "capture":
        origin = (f"Written by `bricksync capture --target {target}` from the live job in that target (a change\n"
                  "made there, accepted into git); review it in the pull request. The next export of this job\n"
                  "from the source workspace replaces it unless the source has the same change.")
    elif command == "import":
        origin = (f"Written by `bricksync import --target {target}` from a job of that target bricksync did not\n"
                  "manage yet (apply adopts it in place); review it in the pull request.")
    else:
        raise ValueError(f"not a command that writes state files from a target: {command}")
    return ("Managed by bricksync: desired settings of one Databricks job.\n" + origin +
            "\nField names are the Jobs API's JobSettings; IDs appear as ${kind:NAME}; paths as in the source.")


def state_body(data: bytes) -> bytes:
    """A state file's bytes without its header comment (which names the command that wrote it)."""
    lines = data.splitlines(keepends=True)
    n = 0
    while n < len(lines) and lines[n].startswith(b"#"):
        n += 1
    return b"".join(lines[n:])


TOP_KEYS = ("bricksync", "permissions", "job")
META_KEYS = ("key", "source_job_id")
# First line of every YAML file bricksync writes: editors (yaml-language-server) find the file's JSON
# Schema, relative to the file (state/jobs/<key>.yml, state/adopt/<target>.yml): schemas/ beside state/.
MODELINE = "yaml-language-server: $schema=../../schemas/{}.schema.json"


def render_state(doc: StateDoc, header: str = HEADER) -> str:
    """The exact text of a state file (`header`: export's, or written_by() for capture/import)."""
    meta: dict[str, Any] = {"key": doc.key}
    if doc.source_job_id is not None:
        meta["source_job_id"] = doc.source_job_id
    body: dict[str, Any] = {"bricksync": meta}
    if doc.permissions is not None:
        body["permissions"] = doc.permissions
    body["job"] = doc.settings
    return dump(body, header=f"{MODELINE.format('state')}\n{header}")


def parse_state(data: bytes, file: str, *, lines: bool = False) -> StateDoc:
    raw = parse(data, file, lines=lines)
    problems: list[Problem] = []
    if not isinstance(raw, dict):
        raise BricksyncError(Problem("expected a mapping with 'bricksync' and 'job'", file=file))
    for key in raw:
        if key not in TOP_KEYS:
            problems.append(Problem(f"unknown key{did_you_mean(str(key), TOP_KEYS)}", file=file,
                                    line=line_of(raw, key), field=str(key)))
    meta = raw.get("bricksync")
    if not isinstance(meta, dict) or not isinstance(meta.get("key"), str):
        problems.append(Problem("missing 'bricksync.key' (a string)", file=file,
                                line=line_of(raw, "bricksync"), field="bricksync.key"))
        meta = meta if isinstance(meta, dict) else {}
    for key in meta:
        if key not in META_KEYS:
            problems.append(Problem(f"unknown key{did_you_mean(str(key), META_KEYS)}", file=file,
                                    line=line_of(meta, key), field=f"bricksync.{key}"))
    source_id = meta.get("source_job_id")
    if source_id is not None and (not isinstance(source_id, int) or isinstance(source_id, bool)):
        problems.append(Problem("expected an integer", file=file, line=line_of(meta, "source_job_id"),
                                field="bricksync.source_job_id"))
    settings = raw.get("job")
    if not isinstance(settings, dict):
        problems.append(Problem("missing 'job' (the job settings mapping)", file=file,
                                line=line_of(raw, "job"), field="job"))
    perms = raw.get("permissions")
    if "permissions" in raw and not isinstance(perms, list):
        problems.append(Problem("expected a list of {user_name | group_name | service_principal_name, level}",
                                file=file, line=line_of(raw, "permissions"), field="permissions"))
    if problems:
        raise BricksyncError(problems)
    settings_data = plain(settings) if lines or type(settings) is not dict else settings
    perms_data = None if perms is None else plain(perms) if lines or type(perms) is not list else perms
    return StateDoc(key=meta["key"], settings=settings_data, source_job_id=source_id, file=file,
                    lines={"job": line_of(raw, "job") or 0, "permissions": line_of(raw, "permissions") or 0},
                    node=settings, permissions=perms_data)


_TMP_NAMES = itertools.count()
_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)


def _write_atomic(path: Path, text: str, prefix: str) -> None:
    """A crash or a reader never sees half a file: the old one or the new one. The temporary
    file is created exclusively (never through a link), with the mode open() would give (the
    umask applies), under a name unique to this process: export writes 10,000 of them, so no
    random names, no chmod."""
    data = text.encode("utf-8")
    directory = path.parent if str(path.parent) else Path(".")
    while True:
        tmp = directory / f"{prefix}{os.getpid()}.{next(_TMP_NAMES)}.tmp"
        try:
            fd = os.open(tmp, _CREATE, 0o666)
            break
        except FileExistsError:  # left by a crashed process that had our pid: take the next name
            continue
    try:
        _write_all(fd, data)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


STDIO = "-"  # as an output path: stdout; as a plan file to read: stdin
MAX_PLAN_BYTES = 1 << 30


def check_output_path(path: str | Path) -> None:
    """Refuse what a report must not replace or cannot be written to, before any work: a
    symbolic link, FIFO, socket, device node or directory at the path, or a missing folder."""
    if str(path) == STDIO:
        return
    target = Path(path)
    try:
        info = os.lstat(target)
    except (FileNotFoundError, NotADirectoryError):  # the folder check below says which
        info = None
    except OSError as exc:
        raise BricksyncError(Problem(f"cannot write here: {exc.strerror}", file=str(path))) from None
    if info is not None:
        if stat.S_ISLNK(info.st_mode):
            raise BricksyncError(Problem("is a symbolic link: reports are written to regular files only (remove the "
                                         "link or choose another path; '-' writes to stdout)", file=str(path)))
        if not stat.S_ISREG(info.st_mode):
            raise BricksyncError(Problem(f"is not a regular file ({_kind(info.st_mode)}): reports are written to "
                                         "regular files only ('-' writes to stdout)", file=str(path)))
    parent = target.parent
    if not parent.is_dir():
        what = "does not exist" if not os.path.lexists(parent) else "is not a folder"
        raise BricksyncError(Problem(f"cannot write the file: the folder {parent} {what} (create it first)",
                                     file=str(path)))


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device")):
        if test(mode):
            return name
    return "not a regular file"


def write_output(path: str | Path, text: str) -> None:
    """A report or saved plan: atomically into a regular file, or to stdout for '-'."""
    if str(path) == STDIO:
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    check_output_path(path)
    target = Path(path)
    try:
        _write_atomic(target, text, prefix=f".{target.name}.")
    except OSError as exc:  # e.g. a read-only folder: name the file, no traceback
        raise BricksyncError(Problem(f"cannot write the file: {exc.strerror}", file=str(path))) from None


def read_output(path: str | Path) -> str:
    """A saved plan ('-': stdin). Only a regular file is read (a FIFO or /dev/zero is refused)."""
    if str(path) == STDIO:
        return sys.stdin.read()
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as exc:
        raise BricksyncError(Problem(f"cannot read the file: {exc.strerror}", file=str(path))) from None
    with os.fdopen(fd, "rb") as fh:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise BricksyncError(Problem(f"is not a regular file ({_kind(info.st_mode)})", file=str(path)))
        return fh.read(MAX_PLAN_BYTES).decode("utf-8")


# Files in state/jobs/ that are not state and not a mistake: git's placeholder, and the
# temporary files of an atomic write a killed process left behind.
IGNORED_FILES = frozenset({".gitkeep", ".keep"})


def _ignored(name: str) -> bool:
    return name in IGNORED_FILES or (name.startswith(".") and name.endswith(".tmp"))


def read_state_file(path: str) -> bytes:
    """The bytes of one state file (for readers elsewhere, e.g. desired.py's workers).

    Opened without following a symbolic link and without blocking (a FIFO would wait for a
    writer forever), checked to be a regular file, and read no further than the size limit
    (a link to /dev/zero must not exhaust memory): whatever replaced the file since it was
    listed, nothing but a regular file inside state/ is read."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise BricksyncError(Problem(LINK_MESSAGE, file=_display(path))) from None
        raise
    with os.fdopen(fd, "rb") as fh:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise BricksyncError(Problem(NOT_REGULAR_MESSAGE, file=_display(path)))
        if info.st_size > MAX_BYTES:
            raise BricksyncError(Problem(f"file is {info.st_size} bytes; the limit is {MAX_BYTES}",
                                         file=_display(path)))
        return fh.read(MAX_BYTES + 1)


LINK_MESSAGE = "is a symbolic link: state files must be regular files inside the repository (not followed)"
NOT_REGULAR_MESSAGE = "is not a regular file (a directory, FIFO, socket or device): not read"


def _display(path: str | Path) -> str:
    try:
        return os.path.relpath(path)
    except ValueError:
        return str(path)


class StateStore:
    """The state directory: `<state_dir>/jobs/<key>.yml`."""

    def __init__(self, state_dir: Path):
        self.dir = Path(state_dir)
        self.jobs_dir = self.dir / "jobs"

    def path_for(self, key: str) -> Path:
        return self.jobs_dir / f"{key}.yml"

    def files(self) -> list[Path]:
        """Every state file, once the directory is known to be sound. Anything that is not
        what bricksync reads is an error naming it, never skipped: a skipped file would make
        its job an orphan (and `apply --prune` would delete it)."""
        problems = self._layout_problems(self.dir, "state_dir", required=True)
        if problems or not os.path.lexists(self.jobs_dir):
            if problems:
                raise BricksyncError(problems)
            return []
        problems = self._layout_problems(self.jobs_dir, "state_dir/jobs", required=True)
        if problems:
            raise BricksyncError(problems)
        out: list[Path] = []
        with os.scandir(self.jobs_dir) as entries:
            for entry in sorted(entries, key=lambda e: e.name):
                path = self.jobs_dir / entry.name
                if _ignored(entry.name):
                    continue
                if entry.is_symlink():
                    problems.append(Problem(LINK_MESSAGE, file=self.display(path)))
                elif not entry.is_file(follow_symlinks=False):
                    problems.append(Problem(NOT_REGULAR_MESSAGE, file=self.display(path)))
                elif not entry.name.endswith(".yml"):
                    stem = entry.name.rsplit(".", 1)[0] if "." in entry.name else entry.name
                    problems.append(Problem(f"not a state file name: state files are named <key>.yml (lower-case "
                                            f"'.yml'); rename it to {stem.lower()}.yml or move it out of "
                                            f"{self.display(self.jobs_dir)}", file=self.display(path)))
                else:
                    out.append(path)
        if problems:
            raise BricksyncError(problems)
        return out

    def _layout_problems(self, path: Path, what: str, *, required: bool) -> list[Problem]:
        if os.path.islink(path):
            return [Problem(f"{what} is a symbolic link (to {os.readlink(path)}): it must be a real directory "
                            "inside the repository", file=self.display(path))]
        if not path.exists():
            return [Problem(f"{what} does not exist (a typo in the config's state_dir?); create it to start "
                            "from no state", file=self.display(path))] if required else []
        if not path.is_dir():
            return [Problem(f"{what} is not a directory", file=self.display(path))]
        return []

    def read_all(self, *, lines: bool = False) -> tuple[list[StateDoc], list[Problem]]:
        """Every state document, and the problems of the files that could not be read. (Plans
        read state/ through desired.py, which also checks and renders in worker processes.)"""
        docs, problems = [], []
        for path in self.files():
            try:
                docs.append(parse_state(read_state_file(str(path)), self.display(path), lines=lines))
            except BricksyncError as err:
                problems.extend(err.problems)
        return docs, problems

    def read_bytes(self, key: str) -> bytes | None:
        path = self.path_for(key)
        return read_state_file(str(path)) if os.path.lexists(path) else None

    def display(self, path: Path) -> str:
        try:
            return os.path.relpath(path)
        except ValueError:
            return str(path)

    def write(self, key: str, text: str) -> Path:
        """Atomically, never through a link: the new file replaces whatever entry is there."""
        path = self._writable(key)
        _write_atomic(path, text, prefix=f".{key}.")
        return path

    def move_in(self, key: str, staged: Path, text: str) -> Path:
        """A file written in the staging folder becomes `key`'s state file (one rename: atomic,
        never through a link, like write()). Where jobs/ is another filesystem (a mount point)
        no rename can cross, `text` is written as write() does."""
        path = self._writable(key)
        try:
            os.replace(staged, path)
        except OSError as exc:
            if exc.errno != errno.EXDEV:
                raise
            _write_atomic(path, text, prefix=f".{key}.")
        return path

    def _writable(self, key: str) -> Path:
        path = self.path_for(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        problems = self._layout_problems(self.jobs_dir, "state_dir/jobs", required=True)
        if problems:
            raise BricksyncError(problems)
        return path

    # Export's worker processes write the texts that changed here while pages still arrive;
    # once everything is checked they are renamed into jobs/ (creating 10,000 files is most of
    # a first export's writing time). Outside jobs/, so no reader ever takes one for state.
    @property
    def staging_dir(self) -> Path:
        return self.dir / STAGING

    def open_staging(self) -> Path | None:
        """An empty folder for this run in the staging folder (whatever a crashed export left there is removed first);
        None when state_dir is not a real directory (reading state/ names that problem)."""
        if os.path.islink(self.dir) or not self.dir.is_dir():
            return None
        self.clear_staging()
        self.staging_dir.mkdir(mode=0o700)
        # What a killed export leaves here is no change to git (`git status` clean, `git add -A`
        # takes none of it) until the next export removes it.
        (self.staging_dir / ".gitignore").write_text("*\n")
        # A folder of this run's own inside: an export started by mistake beside this one
        # clears ours (our workers' writes then fail and this process writes those files) but
        # never finds its texts taken for ours, nor ours for its.
        return Path(tempfile.mkdtemp(dir=self.staging_dir, prefix="run-"))

    def clear_staging(self) -> None:
        path = self.staging_dir
        try:
            if os.path.islink(path) or (os.path.lexists(path) and not path.is_dir()):
                path.unlink()  # a link is removed, never followed
            elif path.exists():
                shutil.rmtree(path)
        except PermissionError:
            raise BricksyncError(Problem("export's staging folder is left from a run by another user (sudo?) "
                                         "and cannot be removed; remove it (it holds no state): "
                                         f"rm -rf {shlex.quote(str(path))}", file=self.display(path))) from None


STAGING = ".bricksync-staging"
BULK_CHECKIN_FROM = 200  # files in one export commit


def stage_file(directory: str, job_id: int, text: str) -> None:
    """Write a state text into the staging folder, named by its source job: keys given while
    pages arrive are provisional (two batches may give one key to two jobs), job ids are not."""
    path = os.path.join(directory, f"{int(job_id)}.yml")
    try:
        fd = os.open(path, _CREATE, 0o666)
    except FileExistsError:
        # Never written through: an entry already there (a job listed twice across pages, or
        # planted: a hard link to a file elsewhere would be truncated) is replaced, not opened.
        os.unlink(path)
        fd = os.open(path, _CREATE, 0o666)
    _write_all(fd, text.encode("utf-8"))


def _write_all(fd: int, data: bytes) -> None:
    """All of `data` to a file descriptor, which is then closed."""
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
    finally:
        os.close(fd)


def blob_id(data: bytes) -> str:
    """The id git gives a file with these bytes (equal ids: equal content)."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()  # git's own scheme


class GitError(BricksyncError):
    pass


BASE_MESSAGE = "Initial commit (empty)\n\nMade by bricksync: the base its first branch needs for a pull request.\n"


class GitRepo:
    """The repository holding state/: commit only the files we wrote, on a branch; push."""

    def __init__(self, path: Path):
        import git

        try:
            self.repo = git.Repo(path, search_parent_directories=True)
        except (git.InvalidGitRepositoryError, git.NoSuchPathError):
            raise GitError(Problem("not inside a git repository (use --no-commit to skip git)",
                                   file=str(path))) from None
        self.root = Path(self.repo.working_tree_dir or path)

    def rel(self, path: Path) -> str:
        path = Path(path)
        return os.path.relpath(self._resolved_dir(path.parent) / path.name, self._resolved_dir(self.root))

    def _resolved_dir(self, directory: Path) -> Path:
        """A directory resolved once (export names 10,000 files in the same one): only the
        directories are resolved, a file is named as git tracks it, itself never followed."""
        cache = self.__dict__.setdefault("_dirs", {})
        if directory not in cache:
            cache[directory] = directory.resolve()
        return cache[directory]

    def committed_blobs(self, directory: Path, rev: str = "HEAD") -> dict[str, str]:
        """Path (relative to the repository) -> blob id of every file HEAD (or `rev`) has under
        `directory`: one `git ls-tree` for all of them (asking per file re-reads the tree
        each time, which is quadratic at 10,000 files). Empty when there is no such commit."""
        import git

        try:
            listing = self.repo.git.ls_tree("-r", "-z", rev, "--", self.rel(directory))
        except git.GitCommandError:
            return {}
        out = {}
        for entry in listing.split("\0"):
            meta, _, path = entry.partition("\t")
            parts = meta.split()
            if len(parts) == 3 and parts[1] == "blob":
                out[path] = parts[2]
        return out

    def uncommitted(self, directory: Path) -> set[str]:
        """Paths (as committed_blobs() names them) under `directory` whose working-tree or index
        content differs from HEAD, untracked files included: work nobody has committed yet."""
        import git

        try:
            listing = self.repo.git.status("--porcelain=v1", "-z", "--untracked-files=all", "--",
                                           self.rel(directory))
        except git.GitCommandError as exc:
            raise GitError(f"git status failed: {(exc.stderr or exc.stdout).strip()}") from None
        out: set[str] = set()
        entries = iter(listing.split("\0"))
        for entry in entries:
            if len(entry) < 4:
                continue
            out.add(entry[3:])
            if entry[0] in "RC":  # a rename or copy: its source path follows
                out.add(next(entries, ""))
        return out

    def key_of(self, path: Path) -> str:
        """How committed_blobs() names a file."""
        return self.rel(path).replace(os.sep, "/")

    def has_branch(self, branch: str) -> bool:
        return branch in [h.name for h in self.repo.heads]

    def blob(self, blob_id: str, file: str = "", limit: int = MAX_BYTES) -> bytes:
        """The bytes of one blob (a file as some commit has it), no bigger than a state file may be
        (or `limit`)."""
        sha = bytes.fromhex(blob_id)
        size = self.repo.odb.info(sha).size
        if size > limit:
            raise BricksyncError(Problem(f"file is {size} bytes; the limit is {limit}", file=file or blob_id))
        return self.repo.odb.stream(sha).read()

    def current_branch(self) -> str | None:
        try:
            return self.repo.active_branch.name
        except TypeError:
            return None

    def switch_to(self, branch: str) -> None:
        """Check out `branch` (created at HEAD if new); uncommitted work stays in the tree. In a
        repository with no commit yet, the branch gets a base on the default branch first."""
        import git

        if self.current_branch() == branch:
            return
        if not self.repo.head.is_valid():
            self._make_base()
        try:
            if branch in [h.name for h in self.repo.heads]:
                self.repo.git.checkout(branch)
            else:
                self.repo.git.checkout("-b", branch)
        except git.GitCommandError as exc:
            raise GitError(f"cannot switch to branch '{branch}': {exc.stderr.strip()}") from None

    made_base: str | None = None  # the default branch _make_base() gave its first commit, this run

    def _make_base(self) -> None:
        """The first export (capture, import) into a repository with no commit would make the
        root commit on its own branch: the default branch would not exist and no pull request
        could be opened. So the default branch (the one HEAD names, git's init.defaultBranch)
        first gets an empty commit, the base the branch starts from. Neither the index nor the
        working tree is touched (work staged for a first commit stays staged)."""
        import git
        from gitdb import IStream

        base = self.current_branch()
        if base is None:
            raise GitError("HEAD names no branch and the repository has no commit: check out a branch first")
        try:
            tree = self.repo.odb.store(IStream("tree", 0, io.BytesIO(b""))).hexsha.decode()
            commit = self.repo.git.commit_tree(tree, "-m", BASE_MESSAGE)
            self.repo.git.update_ref(f"refs/heads/{base}", commit, "")  # "": only if still unborn
        except git.GitCommandError as exc:
            raise GitError(f"the repository has no commit yet, and the empty first commit on '{base}' the "
                           f"export branch needs as its base failed: {(exc.stderr or exc.stdout).strip()}. "
                           f"Make one (git commit --allow-empty -m 'Initial commit') and run again") from None
        self.made_base = base

    def base_note(self, pushed: bool) -> str | None:
        """What to tell the user after _make_base(), or None when it did not run."""
        if self.made_base is None:
            return None
        push = "pushed it too" if pushed else f"push it too (git push -u origin {self.made_base})"
        return (f"the repository had no commit: '{self.made_base}' got an empty first commit as the base of the "
                f"branch (a pull request needs one); {push}, then open the pull request into '{self.made_base}'")

    def commit(self, paths: list[Path], message: str) -> str:
        """Commit exactly `paths` (other staged or unstaged work is left as it was). Every line of
        `message` is made safe once more (its values are: core/escape.commit_text): git refuses a
        NUL, and no control or invisible character reaches a log."""
        import git

        message = visible(message)
        rels = [self.rel(p) for p in paths]
        # Paths go through a file: 10,000 of them do not fit on a command line.
        with tempfile.NamedTemporaryFile("w", suffix=".paths", delete=False, encoding="utf-8") as fh:
            fh.write("".join(f"{r}\n" for r in rels))
            spec = fh.name
        with tempfile.NamedTemporaryFile("w", suffix=".msg", delete=False, encoding="utf-8") as fh:
            fh.write(message)
            msg = fh.name
        try:
            # Many new files: git's bulk check-in writes their blobs into one pack instead of a
            # loose object file each (10,000 of them: 5 s -> 1 s here). Only for this `git add`:
            # the threshold also makes diffs treat files as binary.
            adder = self.repo.git(c="core.bigFileThreshold=1") if len(rels) >= BULK_CHECKIN_FROM else self.repo.git
            adder.add(f"--pathspec-from-file={spec}")
            # --cleanup=whitespace: a user's commit.cleanup=strip would drop lines starting with '#'
            self.repo.git.commit("-F", msg, "--cleanup=whitespace", "--only", f"--pathspec-from-file={spec}")
        except git.GitCommandError as exc:
            raise GitError(f"git commit failed: {(exc.stderr or exc.stdout).strip()}") from None
        finally:
            Path(spec).unlink(missing_ok=True)
            Path(msg).unlink(missing_ok=True)
        return self.repo.head.commit.hexsha

    def push(self, branch: str, remote: str = "origin") -> None:
        """Push `branch`; first the default branch when this run gave it its first commit (the
        pull request's base must exist in the remote too)."""
        import git

        for name in ([self.made_base] if self.made_base else []) + [branch]:
            try:
                self.repo.git.push(remote, f"{name}:{name}")
            except git.GitCommandError as exc:
                hint = (f" ('{remote}' has a '{name}' of its own: fetch it and work from it, git fetch {remote} && "
                        f"git checkout {name}, then run again)" if name == self.made_base else "")
                raise GitError(f"git push of '{name}' to '{remote}' failed: {exc.stderr.strip()}{hint}") from None


# --- adoption records (written by `bricksync import`, read by plan) ---------------------------

ADOPT_HEADER = """\
Written by `bricksync import`: jobs of this target that apply adopts in place.
key: the target job's ID. Apply tags that job with its key instead of creating a new one;
once applied, an entry is inert (the job carries its key) and may be deleted."""


def adoption_path(state_dir: Path, target: str) -> Path:
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in target)
    return Path(state_dir) / "adopt" / f"{safe}.yml"


def adoption_file(state_dir: Path, target: str) -> str:
    """The record's path as messages name it."""
    return _display(adoption_path(state_dir, target))


def read_adoptions(state_dir: Path, target: str) -> dict[str, int]:
    """key -> target job ID to adopt; {} when there is no record. Bad content is an error."""
    path = adoption_path(state_dir, target)
    if not os.path.lexists(path):
        return {}
    return parse_adoptions(read_state_file(str(path)), _display(path))  # never through a link, bounded


def parse_adoptions(data: bytes, file: str) -> dict[str, int]:
    """An adoption record's bytes -> key: job ID. Every problem is an error naming the file, the
    keys and the job ID: a job under two keys would be adopted twice (apply's parallel workers race
    for it) and `1` and `"1"` are one key read twice (core/validate.py: adoption_problems)."""
    raw = parse(data, file)
    adopt = raw.get("adopt") if isinstance(raw, dict) else None
    if not isinstance(raw, dict) or set(raw) - {"target", "adopt"} or not isinstance(adopt, dict):
        raise BricksyncError(Problem("expected 'target' and an 'adopt' mapping of key: job ID", file=file))
    problems = [Problem("expected a job ID (an integer)", file=file, field=f"adopt.{k}")
                for k, v in adopt.items() if not isinstance(v, int) or isinstance(v, bool)]
    problems += adoption_problems([(str(k), v) for k, v in adopt.items()], file)
    if problems:
        raise BricksyncError(problems)
    return {str(k): int(v) for k, v in adopt.items()}


def write_adoptions(state_dir: Path, target: str, adopt: dict[str, int]) -> Path:
    path = adoption_path(state_dir, target)
    if os.path.islink(path.parent):
        raise BricksyncError(Problem("is a symbolic link: it must be a real directory inside the repository",
                                     file=_display(path.parent)))
    path.parent.mkdir(parents=True, exist_ok=True)
    text = dump({"target": target, "adopt": {k: adopt[k] for k in sorted(adopt)}},
                header=f"{MODELINE.format('adopt')}\n{ADOPT_HEADER}")
    _write_atomic(path, text, prefix=f".{path.stem}.")
    return path


def dirty_paths(git: GitRepo, paths: list[Path]) -> set[Path]:
    """Those of `paths` with uncommitted changes (staged, unstaged or untracked)."""
    by_rel = {git.key_of(p): p for p in paths}
    dirty: set[str] = set()
    for folder in sorted({Path(p).parent for p in paths}):  # a few folders, not 10,000 paths
        dirty |= git.uncommitted(folder)
    return {p for rel, p in by_rel.items() if rel in dirty}
