"""Issue 25.8, 25.10, 25.11: run_as and principals never disagree silently; commit messages hold
one safe line per job whatever a job is named; invisible characters (bidirectional controls
first) show as their code in the terminal, Markdown, pipeline logs and the PR comment, while
JSON keeps the raw data. Two emulators, the real SDK, the CLI, a real git repository."""

from __future__ import annotations

import json
import re
import unicodedata
from pathlib import Path

import pytest

from bricksync.core.escape import INVISIBLE, commit_text, md_text, one_line, term, visible
from bricksync.edges.config import parse_config
from bricksync.emulator.seed import SP_PROD, config_yaml, seed_target

from .conftest import Project
from .test_capture import applied  # noqa: F401 - the fixture

ROOT = Path(__file__).resolve().parents[1]
SOURCE_SP = "0f3c7f1e-8f4e-4a3a-b8a1-2d2f5e9c1a10"  # the seeded config's run_as entry
BIDI = ["\u202a", "\u202b", "\u202c", "\u202d", "\u202e", "\u2066", "\u2067", "\u2068", "\u2069", "\u200e",
        "\u200f", "\u061c", "\u2028", "\u2029", "\u200b", "\ufeff", "\U000e0041"]


def flat(text: str) -> str:
    return " ".join(text.split())


# --- 25.8: run_as and principals -----------------------------------------------------------------

def test_run_as_and_principals_mapping_one_name_to_two_principals_is_an_error(project: Project,
                                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    p = project
    base = config_yaml(target_host=p.prod.url)
    p.write_config(base + f"    principals:\n      {SOURCE_SP}: alice@prod.example.com\n")
    line = len(base.splitlines()) + 2
    for args in (("validate",), ("plan", "--target", "prod"), ("export", "--dry-run")):
        res = p.run(*args)
        assert res.code == 1, (args, res.output)
        assert (f"config/bricksync.yml:{line}: field 'targets.prod.principals.{SOURCE_SP}': '{SOURCE_SP}' is "
                f"mapped twice, by targets.prod.run_as.{SOURCE_SP} ({SP_PROD}) and by "
                f"targets.prod.principals.{SOURCE_SP} (alice@prod.example.com)") in flat(res.output), res.output
    p.write_config(base + f"    principals:\n      {SOURCE_SP}: {SP_PROD}\n")  # the same principal: fine
    assert p.run("validate").code == 0
    monkeypatch.setenv("BRICKSYNC_PROD_PRINCIPALS", f"{SOURCE_SP}=bob@prod.example.com")  # a pipeline variable
    res = p.run("validate")
    assert res.code == 1 and (f"by $BRICKSYNC_PROD_PRINCIPALS ({SOURCE_SP}=bob@prod.example.com)"
                              in flat(res.output)), res.output


def test_the_readme_config_example_maps_no_principal_twice() -> None:
    text = (ROOT / "README.md").read_text()
    block = next(b for b in re.findall(r"```yaml\n(.*?)```", text, re.S) if "principals:" in b and "run_as:" in b)
    cfg = parse_config(block.encode(), Path("config/bricksync.yml"), env={})
    prod = cfg.targets["prod"]
    assert not set(prod.run_as) & set(prod.principals)


# --- 25.10: commit messages ------------------------------------------------------------------------

NAMES = ["Forged\nSigned-off-by: Mallory <m@example.com>", "Nul\x00byte", "Bidi \u202eevil\u202c job",
         "Long " + "x" * 500]


def test_commit_text_is_one_bounded_visible_line() -> None:
    for name in NAMES:
        text = commit_text(name)
        assert "\n" not in text and "\x00" not in text and "\u202e" not in text and len(text) <= 120
    assert commit_text("Nul\x00byte") == "Nul\\x00byte"
    assert visible("a\nb\x00\u202e") == "a\nb\\x00\\u202e"


def test_export_commits_one_safe_line_per_job_whatever_the_name(project: Project) -> None:
    p = project
    w = p.test.client()
    for name in NAMES:
        w.api_client.do("POST", "/api/2.2/jobs/create", body={
            "name": name, "tags": {"PROD_MIGRATION": "true"},
            "tasks": [{"task_key": "t", "notebook_task": {"notebook_path": "/Workspace/dev/nb"}}]})
    res = p.run("export")
    assert res.code == 0, res.output
    message = p.repo.head.commit.message
    assert "\x00" not in message and "\u202e" not in message
    lines = message.splitlines()
    assert not [x for x in lines if x.startswith("Signed-off-by")], message
    job_lines = [x for x in lines if x.startswith("- ")]
    assert len(job_lines) == len(NAMES) and all(len(x) < 260 for x in job_lines), message
    assert any("(Forged\\nSigned-off-by: Mallory <m@example.com>, source job" in x for x in job_lines)
    assert any("(Nul\\x00byte, source job" in x for x in job_lines)
    assert any("(Bidi \\u202eevil\\u202c job, source job" in x for x in job_lines)
    trailers = p.repo.git.execute(["git", "log", "-1", "--format=%(trailers)"])
    assert trailers.strip() == ""
    # the next export of these jobs (renamed once more) commits too: a NUL never fails git again
    job = next(j for j in p.test.workspace.jobs.jobs.values() if j["settings"]["name"] == "Nul\x00byte")
    w.api_client.do("POST", "/api/2.2/jobs/update", body={
        "job_id": job["job_id"], "new_settings": {"name": "Nul\x00again", "tags": {"PROD_MIGRATION": "true"}}})
    res = p.run("export")
    assert res.code == 0 and "(Nul\\x00again, source job" in p.repo.head.commit.message, res.output


def test_import_commit_message_lines_are_safe(project: Project) -> None:
    p = project
    seed_target(p.prod.client())
    job_id = int(p.prod.client().api_client.do("POST", "/api/2.2/jobs/create", body={
        "name": "Legacy\nSigned-off-by: x\x00\u2066", "tasks": [
            {"task_key": "t", "notebook_task": {"notebook_path": "/Workspace/prod/nb"}}]})["job_id"])
    res = p.run("import", "--target", "prod", "--job-id", str(job_id))
    assert res.code == 0, res.output
    message = p.repo.head.commit.message
    assert "\x00" not in message and "\u2066" not in message
    assert not [x for x in message.splitlines() if x.startswith("Signed-off-by")], message
    assert "(Legacy\\nSigned-off-by: x\\x00\\u2066, prod job" in message
    assert p.repo.git.execute(["git", "log", "-1", "--format=%(trailers)"]).strip() == ""


# --- 25.11: invisible characters -------------------------------------------------------------------

def test_every_invisible_format_character_python_knows_is_escaped() -> None:
    """The ranges in core/escape.py cover Unicode's Cf, Zl, Zp and Cs as this Python has them."""
    wanted = [c for c in range(0xA0, 0x110000) if unicodedata.category(chr(c)) in ("Cf", "Zl", "Zp", "Cs")]
    missed = [f"U+{c:04X}" for c in wanted if not re.fullmatch(f"[{INVISIBLE}]", chr(c))]
    assert missed == []
    for ch in BIDI:
        assert ch not in one_line(f"a{ch}b") and ch not in term(ch) and ch not in md_text(ch)
    assert one_line("a\u202eb") == "a\\u202eb" and one_line("\U000e0041") == "\\U000e0041"
    assert one_line("日本 ünï 👍❤️") == "日本 ünï 👍❤️"  # visible text stays as it is


def test_a_bidi_path_change_shows_escaped_in_plan_markdown_logs_and_the_pr_comment(
        applied: Project, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:  # noqa: F811
    """A notebook path changed to one that renders like the old one (a right-to-left override
    reversing its end) shows as \\u202e in every human medium; --json keeps the raw path."""
    p = applied
    path = p.root / "state" / "jobs" / "daily-sales-etl.yml"
    text = path.read_text()
    old = re.search(r"notebook_path: (/Workspace/dev/\S+)", text).group(1)
    sneaky = old[:-4] + "\u202e" + old[-4:][::-1] + "\u202c"  # renders as the old path
    path.write_text(text.replace(f"notebook_path: {old}\n", f"notebook_path: \"{sneaky}\"\n", 1)
                    .replace("name: Daily sales ETL", "name: \"Daily sales \u2066ETL\u2069\""))
    monkeypatch.setenv("TF_BUILD", "True")  # Azure logging commands too
    res = p.run("plan", "--target", "prod", "--json", "p.json", "--markdown", "p.md")
    monkeypatch.delenv("TF_BUILD")
    assert res.code == 0, res.output
    md = (p.root / "p.md").read_text()
    for out in (res.output, md):
        assert not any(ch in out for ch in BIDI), out
        assert "\\u202e" in out and "\\u2066" in out
    for var, value, command in (("TF_BUILD", "True", "##vso[task.logissue"), ("GITHUB_ACTIONS", "true", "::warning")):
        monkeypatch.setenv(var, value)  # drift: a group and a warning per drifted job, as each CI reads them
        drift = p.run("drift", "--target", "prod", "--no-source")
        monkeypatch.delenv(var)
        assert command in drift.output and not any(ch in drift.output for ch in BIDI), drift.output
        assert "\\u2066" in drift.output
    raw = json.loads((p.root / "p.json").read_text())
    # data stays data (the path as prod gets it: rewritten)
    assert sneaky.replace("/Workspace/dev/", "/Workspace/prod/") in json.dumps(raw, ensure_ascii=False)
    from .azdo_fake import FakeAzdo

    with FakeAzdo(token="azdo-sentinel-token-5f0c7a9e2b4d") as fake:
        for name, value in fake.env().items():
            monkeypatch.setenv(name, value)
        plan_md = tmp_path / "plan-prod.md"
        plan_md.write_text(md.replace("\\u202e", "\u202e"))  # a plan file from elsewhere: raw bidi in it
        res = p.run("comment", "--azure-devops", "--plan-exit-code", "2", str(plan_md))
        assert res.code == 0, res.output
        content = fake.threads[0]["comments"][0]["content"]
    assert not any(ch in content for ch in BIDI) and "\\u202e" in content and "\\u2066" in content
