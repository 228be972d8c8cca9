"""The profiles of the Databricks config file, read offline as databricks-sdk reads them.

The file is the SDK's: $DATABRICKS_CONFIG_FILE, else ~/.databrickscfg; its profiles are the INI
sections (but `__settings__`), and DEFAULT when it holds values (databricks/sdk/config.py,
`_known_file_config_loader`). A profile name the file lacks is an error that lists the profiles it
has, with a did-you-mean: from `validate` (offline) and before connecting. A missing file is not
an error here: the SDK then takes credentials from the environment, as it always did.
"""

from __future__ import annotations

import configparser
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from ..core.errors import BricksyncError, Problem, did_you_mean
from ..core.escape import one_line
from .config import Config


def profiles_file(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    return Path(env.get("DATABRICKS_CONFIG_FILE") or "~/.databrickscfg").expanduser()


def profiles_ignored(env: Mapping[str, str] | None = None) -> bool:
    """BRICKSYNC_AUTH=env: no profile is used (CI), so none is checked."""
    env = os.environ if env is None else env
    return env.get("BRICKSYNC_AUTH", "").lower() == "env"


@dataclass(frozen=True)
class Profiles:
    path: Path
    names: tuple[str, ...] | None  # None: the file does not exist

    @classmethod
    def read(cls, env: Mapping[str, str] | None = None) -> Profiles:
        path = profiles_file(env)
        if not path.is_file():
            return cls(path, None)
        parser = configparser.ConfigParser(interpolation=None)  # section names only: values are never read
        try:
            parser.read(path, encoding="utf-8")
        except (configparser.Error, UnicodeDecodeError, OSError) as exc:
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise BricksyncError(Problem(f"cannot read its profiles: {one_line(first)[:200]}", file=str(path))) \
                from None
        names = [s for s in parser.sections() if s != "__settings__"]
        if parser.defaults():
            names.append("DEFAULT")
        return cls(path, tuple(names))

    def problem(self, profile: str, where: str, file: str | None = None) -> Problem | None:
        """Why `profile` (named by `where`, e.g. "targets.prod.profile") cannot be used; None: it can
        (or the file does not exist: nothing to check against)."""
        if self.names is None or profile in self.names:
            return None
        known = ", ".join(one_line(n) for n in sorted(self.names)) or "none"
        return Problem(f"no profile '{one_line(profile)}' in {self.path}{did_you_mean(profile, self.names)}; "
                       f"profiles there: {known} (DATABRICKS_CONFIG_FILE points at another file)", file=file,
                       field=where)


def profile_field(workspace: str) -> str:
    """Where the config names a workspace's profile: "source" or a target's name."""
    return "source.profile" if workspace == "source" else f"targets.{workspace}.profile"


def check_profiles(config: Config, env: Mapping[str, str] | None = None) -> Profiles:
    """Every profile the config names (after BRICKSYNC_*_PROFILE) is in the profiles file, or a
    BricksyncError lists each one that is not (offline: `validate`). Returns what was read."""
    profiles = Profiles.read(env)
    if profiles_ignored(env):
        return profiles
    named = {"source.profile": config.source.profile,
             **{profile_field(name): t.profile for name, t in config.targets.items()}}
    problems = [p for where, name in named.items() if name
                for p in [profiles.problem(name, where, str(config.path))] if p]
    if problems:
        raise BricksyncError(problems)
    return profiles
