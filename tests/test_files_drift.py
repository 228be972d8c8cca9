"""Issue 21, drift, capture and prune of managed notebooks and files."""

from __future__ import annotations

import json

import pytest

from .conftest import Project
from .filesetup import PY, content, files_project_fixture, put  # noqa: F401  (the files_project fixture)


def applied(p: Project) -> Project:
    assert p.run("export", "--branch", "export-1").code == 0
    res = p.run("apply", "--target", "prod", "--yes")
    assert res.code == 0, res.output
    return p


def test_drift_reports_a_hand_edited_notebook_and_capture_brings_it_back(files_project: Project) -> None:
    p = applied(files_project)
    put(p.prod, "/Workspace/prod/sales/common", PY + b"x = 2  # hot fix\n# MAGIC %run /Workspace/prod/lib/util\n")
    res = p.run("drift", "--target", "prod", "--no-source", "--fail-on-drift", "--json", "-")
    assert res.code == 2, res.output
    doc = json.loads(res.output[res.output.index("{"):])
    (edited,) = [f for f in doc["files"] if f["action"] != "no-op"]
    assert edited["path"] == "/Workspace/prod/sales/common" and edited["action"] == "update"
    assert "-x = 2  # hot fix" in edited["diff"] and "+x = 1" in edited["diff"]
    res = p.run("capture", "--target", "prod", "--branch", "capture-1")
    assert res.code == 0, res.output
    captured = (p.root / "state" / "files" / "sales" / "common.py").read_bytes()
    # the prod path inside the notebook stays as the prod notebook has it: content is copied byte for byte
    assert captured == PY + b"x = 2  # hot fix\n# MAGIC %run /Workspace/prod/lib/util\n"
    assert "state/files/sales/common.py" in p.repo.git.show("--stat", "HEAD")
    res = p.run("drift", "--target", "prod", "--no-source", "--fail-on-drift")
    assert res.code == 0, res.output


def test_prune_deletes_only_managed_files_behind_the_guards(files_project: Project) -> None:
    p = applied(files_project)
    put(p.prod, "/Workspace/prod/sales/by_hand", PY + b"mine\n")  # not bricksync's: never deleted
    (p.root / "state" / "files" / "sql" / "totals.sql").unlink()
    job = p.root / "state" / "jobs" / "sales-ingest.yml"
    job.write_text(job.read_text().replace("sql/totals.sql", "sql/other.sql"))
    (p.root / "state" / "files" / "sql" / "other.sql").write_bytes(b"select 3\n")
    res = p.run("plan", "--target", "prod")
    assert "! orphan /Workspace/prod/sql/totals.sql" in res.output, res.output
    res = p.run("apply", "--target", "prod", "--yes", "--prune")
    assert res.code == 0, res.output
    names = set(p.prod.workspace.objects)
    assert "/prod/sql/totals.sql" not in names and "/prod/sql/other.sql" in names
    assert "/prod/sales/by_hand" in names
    # state/files/ emptied by mistake: prune refuses to delete every managed file
    for f in (p.root / "state" / "files").rglob("*"):
        if f.is_file():
            f.unlink()
    for f in (p.root / "state" / "jobs").glob("*.yml"):
        f.unlink()
    res = p.run("apply", "--target", "prod", "--yes", "--prune")
    assert res.code == 1 and "state/ holds no job" in res.output, res.output
    assert content(p.prod, "/Workspace/prod/lib/util").startswith(PY)


def test_a_second_capture_on_the_branch_brings_a_notebook_back(files_project: Project) -> None:
    """The files step compares with state/files/ as the branch the commit goes on has it (as the
    state files are): a notebook put back in prod after the first capture is captured back."""
    p = applied(files_project)
    path = "/Workspace/prod/sales/common"
    original = content(p.prod, path)
    put(p.prod, path, PY + b"x = 2  # hot fix\n# MAGIC %run /Workspace/prod/lib/util\n")
    assert p.run("capture", "--target", "prod", "--branch", "capture-1").code == 0
    p.repo.git.checkout("export-1")  # back to work elsewhere; the branch stays
    put(p.prod, path, original)  # the hot fix undone in prod
    job = next(j for j in p.prod.workspace.jobs.jobs.values() if j["settings"]["name"] == "Sales ingest")
    p.prod.client().api_client.do("POST", "/api/2.2/jobs/update",
                                  body={"job_id": job["job_id"], "new_settings": {"max_concurrent_runs": 3}})
    res = p.run("capture", "--target", "prod", "--branch", "capture-1")
    assert res.code == 0, res.output
    assert p.repo.active_branch.name == "capture-1" and "state/files/sales/common.py" in p.repo.git.show("--stat", "HEAD")
    assert (p.root / "state" / "files" / "sales" / "common.py").read_bytes() == original
    assert "max_concurrent_runs: 3" in (p.root / "state" / "jobs" / "sales-ingest.yml").read_text()
    res = p.run("drift", "--target", "prod", "--no-source", "--fail-on-drift")
    assert res.code == 0, res.output


def test_a_hand_edited_notebook_is_annotated_in_github_actions(files_project: Project,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """GitHub gets the files as Azure does: a collapsed diff and an annotation saying how to settle it."""
    p = applied(files_project)
    put(p.prod, "/Workspace/prod/sales/common", PY + b"x = 2  # hot fix\n# MAGIC %run /Workspace/prod/lib/util\n")
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    res = p.run("drift", "--target", "prod", "--no-source")
    assert res.code == 0, res.output
    assert "::group::~ /Workspace/prod/sales/common (update)" in res.output
    group = res.output.split("::group::~ /Workspace/prod/sales/common (update)\n", 1)[1].split("::endgroup::")[0]
    assert "-x = 2  # hot fix" in group and "+x = 1" in group
    (note,) = [x for x in res.output.splitlines() if x.startswith("::warning") and "sales/common" in x]
    assert note.startswith("::warning title=bricksync drift (prod)%3A /Workspace/prod/sales/common::"
                           "/Workspace/prod/sales/common: edited outside git (would be rewritten); to settle:"), note
    assert "bricksync apply --target prod" in note
