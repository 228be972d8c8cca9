"""bricksync init: a repository of one's own, ready for the first export and its pull request.

Writes the commented config (every key with its default), state/jobs/, the JSON Schemas editors
read (schemas/), a .gitignore, what CI installs (requirements-bricksync.txt) and the pipeline
files of the chosen CI, each shipped in the package (edges/scaffold.py). Never replaces a file:
one already there is left as it is and reported. Works in a repository without a commit and in a
folder that is not one (the result says what to do next).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..edges.file_schemas import KINDS, schema_text
from ..edges.scaffold import INIT_ONLY, check_folders, git_state, install_source, templates, write_new

CI_CHOICES = ("azure", "github", "none")
CI_FILES = {"azure": ("azure-pipelines.yml", "pipelines/"), "github": (".github/",), "none": ()}
GITIGNORE = """\
# Written by `bricksync init`: what local runs leave behind that does not belong in git.
.venv/
__pycache__/
# saved plans (bricksync plan --out prod.plan)
*.plan
"""
REQUIREMENTS = """\
# What the pipelines install to run bricksync (python -m pip install -r requirements-bricksync.txt).
# Written by `bricksync init` (bricksync {version}, installed from {origin}).{advice}
# Keep it pinned: a reviewed plan should be applied by the version that made it.
{requirement}
"""
LOCAL_ADVICE = ("\n# That install is on one machine only: replace the line below by a URL CI can reach, e.g.\n"
                "#   bricksync @ git+https://github.com/<org>/bricksync@v{version}")


@dataclass
class InitResult:
    root: Path
    ci: str
    written: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # already there: left as they are
    git: str = "ok"  # none: not a repository; empty: no commit yet; ok
    git_top: Path | None = None  # the repository's top folder (pipelines must be there)
    gitignore_lacks: list[str] = field(default_factory=list)  # our lines an existing .gitignore does not have


def init_files(ci: str) -> dict[str, bytes]:
    """Repository path -> content, for `ci` (azure | github | none)."""
    from importlib.metadata import version

    shipped = templates()
    files = {rel: data for rel, data in shipped.items() if rel in INIT_ONLY}
    files.update({rel: data for rel, data in shipped.items() if rel not in INIT_ONLY and rel.startswith(CI_FILES[ci])})
    files["state/jobs/.gitkeep"] = b""
    files.update({f"schemas/{kind}.schema.json": schema_text(kind).encode() for kind in KINDS})
    files[".gitignore"] = GITIGNORE.encode()
    requirement, origin = install_source()
    local = origin.startswith("a local")
    files["requirements-bricksync.txt"] = REQUIREMENTS.format(
        version=version("bricksync"), origin=origin, requirement=requirement,
        advice=LOCAL_ADVICE.format(version=version("bricksync")) if local else "").encode()
    return files


def run_init(root: Path, ci: str = "azure") -> InitResult:
    if ci not in CI_CHOICES:
        raise ValueError(f"ci must be one of {CI_CHOICES}")
    files = init_files(ci)
    check_folders(root, list(files))  # before the first write
    result = InitResult(root=root, ci=ci)
    result.git, result.git_top = git_state(root)
    for rel in sorted(files):
        (result.written if write_new(root, rel, files[rel]) else result.skipped).append(rel)
    ignore = root / ".gitignore"
    if ".gitignore" in result.skipped and ignore.is_file() and not ignore.is_symlink():
        have = {line.strip() for line in (root / ".gitignore").read_text(errors="replace").splitlines()}
        result.gitignore_lacks = [ln for ln in GITIGNORE.splitlines() if ln and not ln.startswith("#") and ln not in have]
    return result
