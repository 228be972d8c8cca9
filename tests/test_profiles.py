"""Issue 22.10: a profile name the profiles file lacks lists the profiles it has (with a
did-you-mean), offline in `validate` and before any connection; the file is the SDK's
(~/.databrickscfg or $DATABRICKS_CONFIG_FILE)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bricksync.edges.profiles import Profiles

from .conftest import Project


def _misspell(project: Project) -> None:
    config = project.root / "config" / "bricksync.yml"
    text = config.read_text()
    assert "profile: prod" in text and "profile: test" in text
    config.write_text(text.replace("profile: prod", "profile: prdo").replace("profile: test", "profile: tset"))


def test_validate_names_each_wrong_profile_and_the_profiles_there(project: Project) -> None:
    _misspell(project)
    res = project.run("validate")
    assert res.code == 1
    for wrong, meant, field in (("tset", "test", "source.profile"), ("prdo", "prod", "targets.prod.profile")):
        assert f"field '{field}': no profile '{wrong}' in {project.databrickscfg} (did you mean '{meant}'?)" \
            in res.output, res.output
    assert "profiles there: prod, test" in res.output
    assert project.test.faults.counts() == {} and project.prod.faults.counts() == {}  # offline


def test_a_command_refuses_a_wrong_profile_before_connecting(project: Project) -> None:
    _misspell(project)
    res = project.run("plan", "--target", "prod")
    assert res.code == 1
    assert "no profile 'prdo'" in res.output and "did you mean 'prod'?" in res.output, res.output
    assert project.prod.faults.counts() == {}


def test_profiles_are_read_as_the_sdk_reads_them(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tmp_path / "cfg"
    cfg.write_text("[DEFAULT]\nhost = https://a\n\n[__settings__]\nx = 1\n\n[dev]\ntoken = %not-interpolated\n")
    monkeypatch.setenv("DATABRICKS_CONFIG_FILE", str(cfg))
    profiles = Profiles.read()
    assert profiles.names == ("dev", "DEFAULT")
    assert profiles.problem("dev", "f") is None and profiles.problem("DEFAULT", "f") is None
    assert profiles.problem("__settings__", "f") is not None
    monkeypatch.setenv("DATABRICKS_CONFIG_FILE", str(tmp_path / "missing"))
    assert Profiles.read().problem("anything", "f") is None  # no file: the SDK's environment auth decides


def test_env_auth_ignores_profiles(project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    _misspell(project)
    monkeypatch.setenv("BRICKSYNC_AUTH", "env")
    assert project.run("validate").code == 0
