"""Issue 14.1: a create whose response is lost is found again by its key tag, whatever name
the target gives the job (an override renames it, every job shares one name, it has none)."""

from __future__ import annotations

import re
from collections import Counter

import pytest

from bricksync.core.render import KEY_TAG
from bricksync.emulator import FaultRule

from .conftest import Project


def _rename_one(p: Project) -> None:
    p.write_config(p.root.joinpath("config/bricksync.yml").read_text().replace(
        "overrides: {}", 'overrides: {daily-sales-etl: {name: "Daily sales ETL (prod)"}}'))


def _rename_all(p: Project) -> None:
    p.write_config(p.root.joinpath("config/bricksync.yml").read_text().replace(
        "overrides: {}", 'overrides: {"*": {name: "One name for all"}}'))


def _nameless(p: Project) -> None:
    for path in (p.root / "state" / "jobs").glob("*.yml"):
        path.write_text(re.sub(r"(?m)^  name: .*\n", "", path.read_text(), count=1))
    p.repo.git.commit("-am", "no names")


CASES = {"override-renames-one": _rename_one, "override-renames-all-alike": _rename_all, "nameless-jobs": _nameless}


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("status", [503, 500])
def test_lost_create_response_is_found_by_tag_whatever_the_name(exported: Project, case: str,
                                                                 status: int) -> None:
    p = exported
    CASES[case](p)
    # Every create of the first three is made, and its answer lost.
    p.prod.faults.add(FaultRule("POST", "/api/2.2/jobs/create", status, after=True, drop=status == 503, count=3))
    res = p.run("apply", "--target", "prod", "--yes", "--parallelism", "1")
    assert res.code == 0, res.output
    assert "found by key, not sent again" in res.output
    keys = Counter(j["settings"].get("tags", {}).get(KEY_TAG) for j in p.prod.workspace.jobs.jobs.values())
    keys.pop(None)  # the unmanaged prod job
    assert len(keys) == 5 and set(keys.values()) == {1}, keys  # no duplicates
    assert p.run("plan", "--target", "prod", "--detailed-exitcode").code == 0
