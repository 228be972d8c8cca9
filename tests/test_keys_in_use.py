"""Issue 25.5-7: a key is never one in use, wherever it is in use (a state file, the branch the run
commits to, an adoption record, a prod job's tag), and adoption records never adopt one job twice.
Two emulators, the real SDK, the CLI, a real git repository."""

from __future__ import annotations

import copy
import json

from bricksync.core.keys import assign_keys
from bricksync.edges.state import parse_state, read_adoptions

from .conftest import Project
from .test_capture import applied  # noqa: F401 - the fixture

TAG = {"PROD_MIGRATION": "true"}


def source_job(p: Project, name: str, *, tagged: bool = True) -> int:
    body = {"name": name, "tasks": [{"task_key": "main", "notebook_task": {"notebook_path": "/Workspace/dev/nb"}}]}
    if tagged:
        body["tags"] = dict(TAG)
    return int(p.test.client().api_client.do("POST", "/api/2.2/jobs/create", body=body)["job_id"])


def prod_job(p: Project, name: str, **extra) -> int:
    body = {"name": name, "max_concurrent_runs": 3, **extra,
            "tasks": [{"task_key": "main", "notebook_task": {"notebook_path": "/Workspace/prod/legacy/nb"}}]}
    return int(p.prod.client().api_client.do("POST", "/api/2.2/jobs/create", body=body)["job_id"])


def tag(p: Project, job_id: int) -> None:
    p.test.client().api_client.do("POST", "/api/2.2/jobs/update",
                                  body={"job_id": job_id, "new_settings": {"tags": dict(TAG)}})


def owner_of(p: Project, key: str) -> tuple[str, int | None]:
    doc = parse_state(p.state_files[f"{key}.yml"], key)
    return doc.settings["name"], doc.source_job_id


def flat(text: str) -> str:
    return " ".join(text.split())


# --- 25.5: slug-<job id> is checked against the keys in use too -------------------------------------

def test_assign_keys_never_gives_a_suffixed_key_that_is_in_use() -> None:
    jobs = [(7, "Report"), (8, "Report")]
    assert assign_keys(jobs, {}, {"report-7"}) == {7: "report-7-2", 8: "report-8"}
    assert assign_keys(jobs, {}, {"report-7", "report-7-2"}) == {7: "report-7-3", 8: "report-8"}
    assert assign_keys([(7, "Report")], {}, {"report", "report-7"}) == {7: "report-7-2"}
    # a new job named like another new job's suffixed key: sorted, both unique
    mixed = [(7, "Report"), (8, "Report"), (9, "Report 7")]
    keys = assign_keys(mixed, {}, set())
    assert keys == {7: "report-7", 8: "report-8", 9: "report-7-9"} and len(set(keys.values())) == 3
    assert assign_keys([(7, "A"), (8, "B")], {7: "a", 8: "a"}, {"a"}) == {7: "a", 8: "b"}  # one key, one job
    long = "x" * 80
    key = assign_keys([(12345678901234567, long)], {}, {long, f"{long}-12345678901234567"})[12345678901234567]
    assert len(key) <= 100 and key.endswith("-12345678901234567-2")


def test_export_of_two_namesakes_never_takes_the_key_of_a_job_named_like_the_suffix(project: Project) -> None:
    p = project
    first = source_job(p, "Report", tagged=False)
    second = source_job(p, "Report", tagged=False)
    third = source_job(p, f"Report {first}")  # its slug is what `first` would get as slug-<job id>
    assert p.run("export", "--branch", "main").code == 0
    assert owner_of(p, f"report-{first}") == (f"Report {first}", third)
    tag(p, first)
    tag(p, second)
    res = p.run("export", "--branch", "main")
    assert res.code == 0, res.output
    assert owner_of(p, f"report-{first}") == (f"Report {first}", third)  # not overwritten
    assert owner_of(p, f"report-{first}-2") == ("Report", first)
    assert owner_of(p, f"report-{second}") == ("Report", second)
    assert p.run("validate").code == 0


def test_import_never_takes_a_key_in_use_nor_one_a_prod_job_carries(applied: Project) -> None:  # noqa: F811
    p = applied
    first, second = prod_job(p, "Legacy"), prod_job(p, "Legacy")
    third = prod_job(p, f"Legacy {first}")
    res = p.run("import", "--target", "prod", "--job-id", str(third))
    assert res.code == 0, res.output
    res = p.run("import", "--target", "prod", "--name", "legacy")
    assert res.code == 0, res.output
    assert read_adoptions(p.root / "state", "prod") == {
        f"legacy-{first}": third, f"legacy-{first}-2": first, f"legacy-{second}": second}
    assert owner_of(p, f"legacy-{first}")[0] == f"Legacy {first}"
    # An orphan: its file deleted (prod still has the job, tagged daily-sales-etl). A prod job of
    # that name imported now must not take the key: plan would rewrite the orphan with its settings.
    (p.root / "state" / "jobs" / "daily-sales-etl.yml").unlink()
    p.repo.git.commit("-qam", "drop daily-sales-etl")
    namesake = prod_job(p, "Daily sales ETL")
    res = p.run("import", "--target", "prod", "--job-id", str(namesake))
    assert res.code == 0, res.output
    assert read_adoptions(p.root / "state", "prod")[f"daily-sales-etl-{namesake}"] == namesake
    assert "daily-sales-etl.yml" not in p.state_files


# --- 25.6: a second run the same day, on a branch that exists ----------------------------------------

def test_import_twice_the_same_day_adds_keys_on_the_existing_branch(applied: Project) -> None:  # noqa: F811
    p = applied
    first = prod_job(p, "Legacy A")
    res = p.run("import", "--target", "prod", "--job-id", str(first))
    assert res.code == 0, res.output
    branch = p.repo.active_branch.name
    imported = p.repo.head.commit.hexsha
    p.repo.git.checkout("main")
    second = prod_job(p, "LEGACY a")  # the same slug; main has no legacy-a.yml, the branch has
    res = p.run("import", "--target", "prod", "--job-id", str(second), "--dry-run")
    assert res.code == 0 and f"would be added legacy-a-{second}" in flat(res.output), res.output
    res = p.run("import", "--target", "prod", "--job-id", str(second))
    assert res.code == 0, res.output
    assert f"added legacy-a-{second}" in flat(res.output) and "existed (an earlier run)" in flat(res.output)
    assert p.repo.active_branch.name == branch and p.repo.head.commit.parents[0].hexsha == imported
    assert read_adoptions(p.root / "state", "prod") == {"legacy-a": first, f"legacy-a-{second}": second}
    assert owner_of(p, "legacy-a")[0] == "Legacy A"
    # the first job again, from main: the branch has it already, under its key
    p.repo.git.checkout("main")
    head = p.repo.heads[branch].commit.hexsha
    res = p.run("import", "--target", "prod", "--job-id", str(first))
    assert res.code == 0 and "Nothing to import" in res.output and p.repo.heads[branch].commit.hexsha == head
    # changed in prod since: the branch's file is updated ("changed"), not a second key
    p.prod.client().api_client.do("POST", "/api/2.2/jobs/update",
                                  body={"job_id": first, "new_settings": {"max_concurrent_runs": 5}})
    res = p.run("import", "--target", "prod", "--job-id", str(first))
    assert res.code == 0 and "changed legacy-a" in flat(res.output), res.output
    assert read_adoptions(p.root / "state", "prod") == {"legacy-a": first, f"legacy-a-{second}": second}
    assert "max_concurrent_runs: 5" in p.state_files["legacy-a.yml"].decode()
    p.repo.git.checkout("main")
    p.repo.git.merge(branch)
    res = p.run("plan", "--target", "prod", "--detailed-exitcode")
    assert res.code == 2 and "0 to create, 0 to update, 2 to adopt" in res.output, res.output


def test_capture_onto_the_import_branch_sees_its_files_and_adoption_record(applied: Project) -> None:  # noqa: F811
    """A capture after an import, committed on the import's branch from main: the managed job now
    runs the imported one, which only that branch records."""
    p = applied
    legacy = prod_job(p, "Legacy A")
    assert p.run("import", "--target", "prod", "--job-id", str(legacy)).code == 0
    branch = p.repo.active_branch.name
    p.repo.git.checkout("main")
    jobs = {j["settings"]["name"]: j for j in p.prod.workspace.jobs.jobs.values()}
    etl = jobs["Daily sales ETL"]
    tasks = [*copy.deepcopy(etl["settings"]["tasks"]), {"task_key": "zz_legacy", "run_job_task": {"job_id": legacy}}]
    p.prod.client().api_client.do("POST", "/api/2.2/jobs/update",
                                  body={"job_id": etl["job_id"], "new_settings": {"tasks": tasks}})
    res = p.run("capture", "--target", "prod", "daily-sales-etl", "--branch", branch)
    assert res.code == 0, res.output
    assert p.repo.active_branch.name == branch
    assert "job_id: ${job:legacy-a}" in p.state_files["daily-sales-etl.yml"].decode()
    assert read_adoptions(p.root / "state", "prod") == {"legacy-a": legacy}
    assert "legacy-a.yml" in p.state_files
    assert p.run("validate").code == 0


def test_a_second_capture_the_same_day_compares_with_the_branch(applied: Project) -> None:  # noqa: F811
    """Capture #1 took a prod edit onto the capture branch; the edit was undone in prod. From main
    the job matches its file, but the branch holds the edit: capture #2 writes it back there."""
    p = applied
    etl = next(j for j in p.prod.workspace.jobs.jobs.values() if j["settings"]["name"] == "Daily sales ETL")
    before = etl["settings"].get("max_concurrent_runs", 1)

    def concurrent(n: int) -> None:
        p.prod.client().api_client.do("POST", "/api/2.2/jobs/update",
                                      body={"job_id": etl["job_id"], "new_settings": {"max_concurrent_runs": n}})

    concurrent(7)
    assert p.run("capture", "--target", "prod").code == 0
    branch = p.repo.active_branch.name
    assert "max_concurrent_runs: 7" in p.state_files["daily-sales-etl.yml"].decode()
    p.repo.git.checkout("main")
    concurrent(before)
    res = p.run("capture", "--target", "prod")
    assert res.code == 0 and "changed daily-sales-etl" in flat(res.output), res.output
    assert p.repo.active_branch.name == branch
    assert "max_concurrent_runs: 7" not in p.state_files["daily-sales-etl.yml"].decode()


# --- 25.7: adoption records ----------------------------------------------------------------------------

def _record(p: Project, adopt: str) -> None:
    path = p.root / "state" / "adopt" / "prod.yml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(f"target: prod\nadopt:\n{adopt}")


def _untouched(p: Project) -> str:
    return json.dumps(p.prod.workspace.jobs.jobs, sort_keys=True, default=str)


def test_one_job_under_two_keys_fails_validate_plan_and_apply(applied: Project) -> None:  # noqa: F811
    p = applied
    legacy = prod_job(p, "Legacy A")
    assert p.run("import", "--target", "prod", "--job-id", str(legacy)).code == 0
    text = p.state_files["legacy-a.yml"].decode()
    (p.root / "state" / "jobs" / "legacy-b.yml").write_text(text.replace("key: legacy-a", "key: legacy-b"))
    _record(p, f"  legacy-a: {legacy}\n  legacy-b: {legacy}\n")
    before = _untouched(p)
    for args in (("validate",), ("plan", "--target", "prod"), ("apply", "--target", "prod", "--yes")):
        res = p.run(*args)
        assert res.code == 1, (args, res.output)
        assert (f"state/adopt/prod.yml: field 'adopt.legacy-b': job {legacy} is listed under two keys, "
                "'legacy-a' and 'legacy-b'") in flat(res.output), (args, res.output)
    assert _untouched(p) == before  # nothing adopted, nothing tagged


def test_one_key_listed_twice_and_a_job_another_key_manages_are_errors(applied: Project) -> None:  # noqa: F811
    p = applied
    legacy, other = prod_job(p, "Legacy A"), prod_job(p, "Legacy B")
    _record(p, f'  1: {legacy}\n  "1": {other}\n')  # one key to bricksync, read twice
    for args in (("validate",), ("plan", "--target", "prod")):
        res = p.run(*args)
        assert res.code == 1 and (f"state/adopt/prod.yml: field 'adopt.1': key '1' is listed twice (job {legacy} "
                                  f"and job {other})") in flat(res.output), (args, res.output)
    etl = next(int(j["job_id"]) for j in p.prod.workspace.jobs.jobs.values()
               if j["settings"]["name"] == "Daily sales ETL")
    assert p.run("import", "--target", "prod", "--job-id", str(legacy)).code == 1  # the record is bad: refused
    _record(p, f"  legacy-a: {etl}\n")  # a job daily-sales-etl manages
    text = p.state_files["daily-sales-etl.yml"].decode().replace("key: daily-sales-etl", "key: legacy-a")
    (p.root / "state" / "jobs" / "legacy-a.yml").write_text(text.replace("Daily sales ETL", "Legacy A"))
    assert p.run("validate").code == 0  # offline: no one knows what prod's jobs carry
    before = _untouched(p)
    for args in (("plan", "--target", "prod"), ("apply", "--target", "prod", "--yes")):
        res = p.run(*args)
        assert res.code == 1 and (f"state/adopt/prod.yml: field 'adopt.legacy-a': job {etl} is recorded for "
                                  "adoption as 'legacy-a', but key 'daily-sales-etl' manages it") in flat(res.output), \
            (args, res.output)
    assert _untouched(p) == before


def test_export_twice_the_same_day_never_gives_the_branch_files_key_to_another_job(project: Project) -> None:
    """Export #1 committed job A as `report` on today's branch; from main (which has no report.yml),
    export #2 of job B, named alike, must not take that key: it gets report-<id>; A's file stays."""
    p = project
    first = source_job(p, "Report")
    assert p.run("export").code == 0
    branch = p.repo.active_branch.name
    assert owner_of(p, "report") == ("Report", first)
    p.repo.git.checkout("main")
    second = source_job(p, "REPORT")
    res = p.run("export")
    assert res.code == 0, res.output
    assert p.repo.active_branch.name == branch
    assert owner_of(p, "report") == ("Report", first)
    assert owner_of(p, f"report-{second}") == ("REPORT", second)
    # job A exported again from main (tagged once more): it keeps the key its file has on the branch
    p.repo.git.checkout("main")
    tag(p, first)
    p.test.client().api_client.do("POST", "/api/2.2/jobs/update",
                                  body={"job_id": first, "new_settings": {"max_concurrent_runs": 4}})
    res = p.run("export")
    assert res.code == 0, res.output
    assert owner_of(p, "report") == ("Report", first) and f"report-{first}.yml" not in p.state_files
    assert "max_concurrent_runs: 4" in p.state_files["report.yml"].decode()
    assert p.run("validate").code == 0


def test_a_job_adopted_by_its_record_and_by_name_is_an_error_before_any_write(applied: Project) -> None:  # noqa: F811
    """`import` recorded job X as legacy-a; another state file has X's name: `apply --adopt` would
    adopt X twice, in parallel (a race: the second tag wins, the next apply conflicts)."""
    p = applied
    legacy = prod_job(p, "Legacy A")
    assert p.run("import", "--target", "prod", "--job-id", str(legacy)).code == 0
    text = p.state_files["legacy-a.yml"].decode()
    (p.root / "state" / "jobs" / "legacy-b.yml").write_text(text.replace("key: legacy-a", "key: legacy-b"))
    res = p.run("plan", "--target", "prod")  # without --adopt legacy-b is a create beside it: a warning
    assert res.code == 0 and "1 to create" in res.output, res.output
    before = _untouched(p)
    for args in (("plan", "--target", "prod", "--adopt"), ("apply", "--target", "prod", "--adopt", "--yes")):
        res = p.run(*args)
        assert res.code == 1 and (f"job {legacy} would be adopted by 2 keys (legacy-a, legacy-b)"
                                  in flat(res.output)), (args, res.output)
    assert _untouched(p) == before


def test_a_broken_file_on_the_branch_stops_the_import_before_anything_is_written(applied: Project) -> None:  # noqa: F811
    p = applied
    legacy = prod_job(p, "Legacy A")
    p.repo.git.checkout("-b", "mine")
    broken = p.root / "state" / "jobs" / "broken.yml"
    broken.write_text("bricksync: {key: broken}\njob: [not, a, mapping]\n")
    p.repo.git.add(str(broken))
    p.repo.git.commit("-qm", "a broken file on the branch")
    head = p.repo.head.commit.hexsha
    p.repo.git.checkout("main")
    res = p.run("import", "--target", "prod", "--job-id", str(legacy), "--branch", "mine")
    assert res.code == 1 and "state/jobs/broken.yml (on branch 'mine')" in flat(res.output), res.output
    assert p.repo.active_branch.name == "main" and p.repo.heads["mine"].commit.hexsha == head
    assert "legacy-a.yml" not in p.state_files and not (p.root / "state" / "adopt").exists()
