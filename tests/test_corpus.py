"""Real-world job definitions (tests/corpus/) through the whole loop on two emulators.

Every corpus job is created live in the test emulator, exported to state, planned against
prod (all `create`), applied, planned again (all `no-op`), and the prod job is compared with
the source field by field after the rewrites bricksync is expected to make (paths dev ->
prod, compute and job IDs test -> prod, ownership tags, the selection tag gone). A field of
the source missing in prod, or a field in prod the source lacks, is allowed only when it is
a server default at that place (bricksync/defaults.py): anything else is a lost or invented
value. Then every corpus job that is a real response (real GET, UI export) is rewritten in the
test workspace without its UI defaults and exported again (state must not change: state
written without them is the same), and set live in prod WITH every UI default explicit (as a
UI-created or UI-edited job has them): the plan must be `no-op`. The list of UI defaults used
there (UI_DEFAULTS) is the test's own, from real-api-defaults.md, independent of defaults.py.

Harness rewrites of the corpus (the corpus files are untouched):
- notebook/file/library paths outside the dev root are relocated into it
  (`/Users/a/b` -> `/Workspace/dev/corpus/Users/a/b`): export refuses paths outside the root,
  and the seed workflow promotes only from that root.
- the notebooks, files and folders those paths name are created in both emulators (prod at
  the rewritten path).
- compute, pipelines, SQL queries/alerts/dashboards, notification destinations and jobs the
  corpus references by ID are created in both emulators under the name `corpus-<original id>`
  and the source job points at the test ones; budget policies (account objects) are named
  `corpus-<id>` in the config on both sides (prod with another ID).
- API 2.0 single-task bodies (task fields at the top level) become one task `main`: the
  Jobs API 2.1+ (which bricksync speaks) presents jobs in the multi-task shape.
- the selection tag PROD_MIGRATION=true is added.

One pair of emulators for the module; the corpus goes through one export, plan and apply.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bricksync.core.defaults import is_default
from bricksync.core.references import canonical_path, path_sites, reference_sites
from bricksync.edges.state import parse_state
from bricksync.emulator import EmulatorServer
from bricksync.emulator.jobs import task_types
from bricksync.emulator.seed import create_compute

from .conftest import TOKEN, Project, make_project
from .idscan import scan_state_files
from .schemacheck import check_written

CORPUS = Path(__file__).parent / "corpus"
DEV, PROD = "/Workspace/dev", "/Workspace/prod"
SELECT = "PROD_MIGRATION"
REAL = ("real-get", "ui-export")  # responses as a workspace returned them
# Referenced kinds the harness can create in both workspaces (seed.create_compute). A new
# reference kind (references.reference_sites) needs a way to create one here.
SEEDED_KINDS = ("cluster", "pool", "policy", "warehouse", "pipeline", "query", "alert", "alert_v2", "dashboard",
                "sql_dashboard", "destination")
# Task fields of an API 2.0 single-task job body.
SINGLE_TASK_FIELDS = (*task_types(), "new_cluster", "existing_cluster_id", "libraries", "max_retries",
                      "min_retry_interval_millis", "retry_on_timeout")
IDENTITY = ("task_key", "job_cluster_key", "environment_key")
# Keys in corpus jobs that are no Jobs API field: the service drops them on create (so does the
# emulator), and the comparison starts from the job as the test workspace returns it.
NOT_API_FIELDS = {"git_source_info"}  # 30: a stray MLOps Stacks template key (see its note)

CONFIG = """\
source:
  profile: test
  select: {{tag: PROD_MIGRATION, value: "true"}}
  notebook_root: /Workspace/dev
  acknowledge: true
  budget_policies: {source_budget}
state_dir: state
targets:
  prod:
    profile: prod
    host: {host}
    path_rewrites: {{/Workspace/dev: /Workspace/prod}}
    compute: {{}}
    budget_policies: {target_budget}
    run_as: {{}}
    overrides: {{}}
    prune: false
"""


def corpus() -> list[tuple[str, dict]]:
    return [(p.name, json.loads(p.read_text())) for p in sorted(CORPUS.glob("[0-9]*.json"))]


def as_multi_task(settings: dict) -> dict:
    """An API 2.0 single-task body -> the multi-task shape (one task `main`)."""
    if not any(k in settings for k in task_types()):
        return settings
    task = {"task_key": "main", **{k: settings[k] for k in SINGLE_TASK_FIELDS if k in settings}}
    return {**{k: v for k, v in settings.items() if k not in SINGLE_TASK_FIELDS}, "tasks": [task]}


# --- comparison ------------------------------------------------------------------------------

def _child_place(place: str, key: str) -> str | None:
    """The place a child key opens (None: same place, path continues)."""
    if place == "job" and key == "tasks":
        return "task"
    if place in ("task", "inner_task") and key == "new_cluster":
        return "cluster"
    if key == "for_each_task" and place == "task":
        return "for_each"
    if place == "for_each" and key == "task":
        return "inner_task"
    if place == "job" and key == "job_clusters":
        return "job_cluster"
    if place == "job_cluster" and key == "new_cluster":
        return "cluster"
    return None


def _all_default(value: Any, place: str, dotted: str, obj: dict, git: bool) -> bool:
    """Whether a value present on one side only is nothing but defaults (or empty)."""
    if place in PLACE_TABLES and is_default(place, dotted, value, obj, git=git):
        return True
    if isinstance(value, dict):
        return all(_all_default(v, place, f"{dotted}.{k}", obj, git) for k, v in value.items())
    return value in ([], None)


PLACE_TABLES = ("job", "task", "inner_task", "cluster")


def compare(exp: Any, act: Any, *, place: str = "job", dotted: str = "", where: str = "",
            exp_obj: dict | None = None, act_obj: dict | None = None, git: bool = False) -> list[str]:
    """Differences between the expected and the actual prod settings, as readable lines."""
    if isinstance(exp, dict) and isinstance(act, dict):
        exp_obj = exp if not dotted else exp_obj
        act_obj = act if not dotted else act_obj
        out = []
        for key in sorted(set(exp) | set(act)):
            sub = _child_place(place, key)
            sub_place, sub_dotted = (sub, "") if sub else (place, f"{dotted}.{key}" if dotted else key)
            here = f"{where}.{key}" if where else key
            if key in exp and key in act:
                out += compare(exp[key], act[key], place=sub_place, dotted=sub_dotted, where=here,
                               exp_obj=exp_obj, act_obj=act_obj, git=git)
            elif key in exp:
                if not _all_default(exp[key], place, sub_dotted or key, exp_obj or exp, git):
                    out.append(f"lost: {here} = {exp[key]!r}")
            elif not _all_default(act[key], place, sub_dotted or key, act_obj or act, git):
                out.append(f"invented: {here} = {act[key]!r}")
        return out
    if isinstance(exp, list) and isinstance(act, list):
        ident = next((k for k in IDENTITY if exp and all(isinstance(e, dict) and k in e for e in exp)), None)
        if ident:
            e_map, a_map = {e[ident]: e for e in exp}, {a.get(ident): a for a in act if isinstance(a, dict)}
            if set(e_map) != set(a_map):
                return [f"{where}: {ident}s {sorted(e_map)} != {sorted(a_map, key=str)}"]
            return [line for k in e_map for line in compare(
                e_map[k], a_map[k], place=place, dotted=dotted, where=f"{where}[{k}]", exp_obj=exp_obj,
                act_obj=act_obj, git=git)]
        if place in ("task", "inner_task") and dotted == "depends_on":
            exp, act = sorted(exp, key=str), sorted(act, key=str)
        if len(exp) != len(act):
            return [f"{where}: {exp!r} != {act!r}"]
        return [line for i, (e, a) in enumerate(zip(exp, act, strict=True)) for line in compare(
            e, a, place=place, dotted=dotted, where=f"{where}[{i}]", exp_obj=exp_obj, act_obj=act_obj, git=git)]
    if exp != act or isinstance(exp, bool) != isinstance(act, bool):
        return [f"changed: {where}: {exp!r} -> {act!r}"]
    return []


def default_leaves(settings: dict) -> list[str]:
    """Fields of a state document that are defaults at their place (none may be left)."""
    git = "git_source" in settings
    found: list[str] = []

    def walk(value: Any, place: str, dotted: str, obj: dict, where: str) -> None:
        if place in PLACE_TABLES and dotted and is_default(place, dotted, value, obj, git=git):
            found.append(where)
            return
        if isinstance(value, dict):
            for k, v in value.items():
                sub = _child_place(place, k)
                obj_here = value if not dotted else obj
                if sub:
                    walk(v, sub, "", v if isinstance(v, dict) else obj_here, f"{where}.{k}")
                else:
                    walk(v, place, f"{dotted}.{k}" if dotted else k, obj_here, f"{where}.{k}")
        elif isinstance(value, list):
            for i, v in enumerate(value):
                walk(v, place, dotted, v if isinstance(v, dict) and not dotted else obj, f"{where}[{i}]")

    walk(settings, "job", "", settings, "")
    return found


# --- the run ---------------------------------------------------------------------------------

class Run:
    """The corpus after one export, plan, apply and plan (and what the tests need of it)."""

    def __init__(self, project: Project):
        self.project = project
        self.sent: dict[str, dict] = {}  # file -> settings created in test
        self.stored: dict[str, dict] = {}  # file -> those settings as the test workspace returns them
        self.source_ids: dict[str, int] = {}  # file -> test job id
        self.refused: dict[str, str] = {}  # file -> the test emulator's error
        self.test_ids: dict[str, str] = {}  # test compute id -> prod compute id
        self.stub_jobs: dict[int, int] = {}  # test job id of a run_job target -> its test stub
        self.outputs: dict[str, str] = {}
        self.plans: dict[str, dict] = {}


BUDGET_IDS: dict[str, str] = {}  # budget policy name -> the corpus's ID (the test side's)


def _ids(kind: str, ident: Any) -> str:
    """The name a referenced object gets in both workspaces. A budget policy's test-side ID is
    the corpus's own, so its name must not contain it (state is scanned for test IDs)."""
    if kind == "budget_policy":
        name = f"corpus-budget-{hashlib.sha1(str(ident).encode()).hexdigest()[:8]}"
        BUDGET_IDS[name] = str(ident)
        return name
    return f"corpus-{ident}"


def _prepare(entries: list[tuple[str, dict]]) -> tuple[dict[str, dict], dict[str, set[str]], set[int]]:
    """Settings per file (multi-task, relocated, tagged) and the names of what they reference."""
    prepared: dict[str, dict] = {}
    names: dict[str, set[str]] = {}
    jobs: set[int] = set()
    for file, entry in entries:
        settings = as_multi_task(json.loads(json.dumps(entry["job"]["settings"])))
        settings["tags"] = {**(settings.get("tags") or {}), SELECT: "true"}
        for site in path_sites(settings):
            path = canonical_path(str(site.value))
            if not path.startswith("/dev/"):
                site.set(f"{DEV}/corpus{path}")
        for site in reference_sites(settings):
            if site.kind == "job":
                jobs.add(int(site.value))
            else:
                names.setdefault(site.kind, set()).add(_ids(site.kind, site.value))
        prepared[file] = settings
    return prepared, names, jobs


def _put(server: EmulatorServer, path: str, location: str) -> None:
    """A workspace object at `path` (seeded in-process: setup, not the code under test)."""
    ws = server.workspace
    if location.endswith("project_directory"):
        ws.mkdirs(path)
        return
    ws.mkdirs(path.rsplit("/", 1)[0])
    notebook = location.endswith("notebook_path")
    ws.import_object({"path": path, "overwrite": True, "format": "SOURCE" if notebook else "AUTO",
                      **({"language": "PYTHON"} if notebook else {})})


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    with pytest.MonkeyPatch.context() as mp, EmulatorServer("test", token=TOKEN, id_base=101_000) as test, \
            EmulatorServer("prod", token=TOKEN, id_base=909_000) as prod:
        import os

        for var in list(os.environ):  # as conftest.isolated_env, for the whole module
            if var.startswith(("DATABRICKS_", "ARM_", "BRICKSYNC_", "AZURE_")) or var == "TF_BUILD":
                mp.delenv(var, raising=False)
        for var in ("GIT_AUTHOR_NAME", "GIT_COMMITTER_NAME"):
            mp.setenv(var, "Test")
        for var in ("GIT_AUTHOR_EMAIL", "GIT_COMMITTER_EMAIL"):
            mp.setenv(var, "test@example.com")
        mp.setenv("NO_COLOR", "1")
        prepared, names, job_refs = _prepare(corpus())
        wanted = {k: sorted(v) for k, v in names.items() if v}
        unknown = sorted(set(wanted) - set(SEEDED_KINDS) - {"budget_policy"})
        assert not unknown, f"the corpus references {unknown}: teach the harness (SEEDED_KINDS) to create them"
        # Budget policies are account objects no workspace lists: each side names its own in the
        # config (source: the corpus ID; prod: another ID under the same name).
        budget = {name: (BUDGET_IDS[name], str(uuid.uuid5(uuid.NAMESPACE_URL, name)))
                  for name in wanted.pop("budget_policy", [])}
        config = CONFIG.format(host=prod.url, source_budget={n: t for n, (t, _) in budget.items()},
                               target_budget={n: p for n, (_, p) in budget.items()})
        project = make_project(tmp_path_factory.mktemp("corpus"), test, prod, mp, config)
        r = Run(project)
        tw, pw = test.client(), prod.client()
        t_ids, p_ids = create_compute(tw, wanted), create_compute(pw, wanted)
        by_name = {name: t_ids[kind][name] for kind in t_ids for name in t_ids[kind]}
        by_name.update({n: t for n, (t, _) in budget.items()})
        r.test_ids = {t_ids[kind][name]: p_ids[kind][name] for kind in t_ids for name in t_ids[kind]}
        r.test_ids.update(dict(budget.values()))
        for ref in sorted(job_refs):  # run_job targets: small jobs exported alongside
            r.stub_jobs[ref] = int(tw.api_client.do("POST", "/api/2.2/jobs/create", body={
                "name": f"corpus run target {ref}", "tags": {SELECT: "true"},
                "tasks": [{"task_key": "noop", "notebook_task": {"notebook_path": f"{DEV}/corpus/noop"}}]})["job_id"])
        _put(test, f"{DEV}/corpus/noop", "notebook_path")
        _put(prod, f"{PROD}/corpus/noop", "notebook_path")
        for settings in prepared.values():  # the notebooks, files and folders they use, in both
            for site in path_sites(settings):
                _put(test, str(site.value), site.location)
                _put(prod, PROD + str(site.value)[len(DEV):], site.location)
        for file, settings in prepared.items():
            for site in reference_sites(settings):
                site.set(r.stub_jobs[int(site.value)] if site.kind == "job" else by_name[_ids(site.kind, site.value)])
            try:
                r.source_ids[file] = int(tw.api_client.do("POST", "/api/2.2/jobs/create", body=settings)["job_id"])
                r.sent[file] = settings
                r.stored[file] = tw.api_client.do("GET", "/api/2.2/jobs/get",
                                                  query={"job_id": r.source_ids[file]})["settings"]
            except Exception as exc:  # reported by the test that needs every job
                r.refused[file] = str(exc)
        for step, args in (("export", ("export", "--branch", "main")),
                           ("plan1", ("plan", "--target", "prod", "--json", "plan1.json")),
                           ("apply", ("apply", "--target", "prod", "--yes")),
                           ("plan2", ("plan", "--target", "prod", "--json", "plan2.json", "--detailed-exitcode"))):
            res = project.run(*args)
            r.outputs[step] = f"exit {res.code}\n{res.output}"
            if step.startswith("plan"):
                r.plans[step] = json.loads((project.root / f"{step}.json").read_text())
        yield r


def _state_by_source(r: Run) -> dict[int, tuple[str, dict]]:
    out = {}
    for f in sorted((r.project.root / "state" / "jobs").glob("*.yml")):
        doc = parse_state(f.read_bytes(), str(f))
        out[doc.source_job_id] = (doc.key, doc.settings)
    return out


def _prod_by_key(r: Run) -> dict[str, dict]:
    jobs = r.project.prod.workspace.jobs.jobs.values()
    return {j["settings"]["tags"]["bricksync-key"]: j for j in jobs if "bricksync-key" in j["settings"].get("tags", {})}


def _stub_keys(run: Run, keys: dict[int, str]) -> dict[int, str]:
    """Test job id of every run_job target stub -> its state key."""
    return {stub: keys[stub] for stub in run.stub_jobs.values()}


def _expected_prod(r: Run, settings: dict, key: str, prod_jobs: dict[str, dict], keys: dict[int, str]) -> dict:
    """The source settings as prod must have them: paths, IDs and tags rewritten."""
    def rewrite(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: rewrite(v) for k, v in value.items()}
        if isinstance(value, list):
            return [rewrite(v) for v in value]
        if isinstance(value, str):
            if value == DEV or value.startswith(DEV + "/"):
                return PROD + value[len(DEV):]
            return r.test_ids.get(value, value)
        return value

    out = rewrite(settings)
    if isinstance(out.get("deployment"), dict):  # a bundle's fields stay in the source (issue 24.3)
        del out["deployment"]
        if out.get("edit_mode") == "UI_LOCKED":
            del out["edit_mode"]
    for env in out.get("environments") or []:  # the deprecated spelling arrives as its successor (issue 24.4)
        spec = env.get("spec") or {}
        if "client" in spec and spec.get("environment_version") in (None, spec["client"]):
            spec["environment_version"] = spec.pop("client")
    for site in reference_sites(out):
        if site.kind == "job":
            site.set(prod_jobs[keys[int(site.value)]]["job_id"])
    tags = {k: v for k, v in out.get("tags", {}).items() if k != SELECT}
    out["tags"] = {**tags, "bricksync-key": key, "managed-by": "bricksync"}
    return out


# --- the tests -------------------------------------------------------------------------------

def test_corpus_is_big_enough_and_every_job_is_accepted_by_the_test_workspace(run: Run) -> None:
    assert len(run.sent) + len(run.refused) >= 30
    assert run.refused == {}


def test_the_test_workspace_keeps_every_api_field_of_the_corpus(run: Run) -> None:
    """The emulator drops unknown fields like the service: only non-API keys may go. (What it
    adds is the service's own: defaults, `name: Untitled`, `format: MULTI_TASK` for 2.0 bodies.)"""
    dropped = {f: [line for line in compare(run.sent[f], run.stored[f], git="git_source" in run.sent[f])
                   if line.startswith(("lost: ", "changed: ")) and not line.startswith("changed: format: ")
                   and not any(f".{k} = " in line or line.startswith(f"lost: {k} =") for k in NOT_API_FIELDS)]
               for f in run.sent}
    assert {f: lines for f, lines in dropped.items() if lines} == {}


def test_export_plan_apply_plan_is_create_then_no_op(run: Run) -> None:
    assert run.outputs["export"].startswith("exit 0"), run.outputs["export"]
    state = _state_by_source(run)
    missing = [f for f, jid in run.source_ids.items() if jid not in state]
    assert missing == [], run.outputs["export"]
    total = len(run.source_ids) + len(run.stub_jobs)
    assert run.plans["plan1"]["summary"]["create"] == total, run.outputs["plan1"]
    assert run.outputs["apply"].startswith("exit 0"), run.outputs["apply"]
    assert run.outputs["plan2"].startswith("exit 0"), run.outputs["plan2"]
    assert run.plans["plan2"]["summary"]["no-op"] == total
    assert run.plans["plan1"]["warnings"] == []  # every rewritten path exists in prod (preflight)
    assert not run.plans["plan2"]["has_changes"]


def test_prod_jobs_match_their_source_field_by_field(run: Run) -> None:
    state, prod = _state_by_source(run), _prod_by_key(run)
    keys = {jid: state[jid][0] for jid in state}
    problems = {}
    for file, settings in run.stored.items():
        key = keys[run.source_ids[file]]
        expected = _expected_prod(run, settings, key, prod, _stub_keys(run, keys))
        diff = compare(expected, prod[key]["settings"], git="git_source" in expected)
        if diff:
            problems[file] = diff
    assert problems == {}


def test_state_files_hold_no_server_defaults_and_no_test_ids(run: Run) -> None:
    state = _state_by_source(run)
    leftovers = {key: default_leaves(settings) for key, settings in state.values() if default_leaves(settings)}
    assert leftovers == {}
    ids = set(run.test_ids)
    text = "\n".join(f.read_text() for f in (run.project.root / "state" / "jobs").glob("*.yml"))
    assert [i for i in ids if i in text] == []
    assert scan_state_files(run.project.root) == []  # no raw workspace ID of any kind (tests/idscan.py)


def test_every_state_file_names_and_meets_the_state_schema(run: Run) -> None:
    files = sorted((run.project.root / "state" / "jobs").glob("*.yml"))
    assert len(files) >= len(run.sent)
    for path in files:
        check_written(path, "state")  # tests/schemacheck.py: `bricksync schema state`, its modeline


# What real jobs/get responses and UI exports carry that a job written by hand or by a bundle
# does not: the observations of real-api-defaults.md and issue 16, kept here independently of
# bricksync/defaults.py so that a default missing from that table fails this test.
# (place, dotted path, value); places: job, task (also for_each inner tasks), cluster.
UI_DEFAULTS = [
    ("job", "email_notifications.no_alert_for_skipped_runs", False),
    ("job", "email_notifications", {}),
    ("job", "webhook_notifications", {}),
    ("job", "notification_settings.no_alert_for_skipped_runs", False),
    ("job", "notification_settings.no_alert_for_canceled_runs", False),
    ("job", "notification_settings", {}),
    ("job", "timeout_seconds", 0),
    ("job", "max_concurrent_runs", 1),
    ("job", "format", "MULTI_TASK"),
    ("job", "queue", {"enabled": True}),
    ("job", "performance_target", "PERFORMANCE_OPTIMIZED"),
    ("job", "schedule.pause_status", "UNPAUSED"),
    ("job", "trigger.pause_status", "UNPAUSED"),
    ("job", "continuous.pause_status", "UNPAUSED"),
    ("task", "run_if", "ALL_SUCCESS"),
    ("task", "timeout_seconds", 0),
    ("task", "disabled", False),
    ("task", "depends_on", []),
    ("task", "email_notifications.no_alert_for_skipped_runs", False),
    ("task", "email_notifications", {}),
    ("task", "webhook_notifications", {}),
    ("task", "notification_settings.no_alert_for_skipped_runs", False),
    ("task", "notification_settings.no_alert_for_canceled_runs", False),
    ("task", "notification_settings.alert_on_last_attempt", False),
    ("task", "notification_settings", {}),
    ("task", "pipeline_task.full_refresh", False),
    ("task", "notebook_task.source", "WORKSPACE"),  # without git_source only
    ("cluster", "cluster_name", ""),
    ("cluster", "runtime_engine", "STANDARD"),  # spark_version without -photon- only
]


def _ui_defaults(settings: dict, explicit: bool) -> dict:
    """explicit=False: the job as an API or bundle user would write it (every UI_DEFAULTS value
    removed); True: every UI default that applies written out (where its parent exists)."""
    git = "git_source" in settings

    def strip(obj: dict, place: str) -> dict:
        obj = json.loads(json.dumps(obj))
        for p, dotted, value in sorted(UI_DEFAULTS, key=lambda d: d[1].count(".") * (1 if explicit else -1)):
            if p != place or (dotted == "notebook_task.source" and git) or (
                    dotted == "runtime_engine" and "-photon-" in str(obj.get("spark_version", ""))):
                continue
            *parents, leaf = dotted.split(".")
            node = obj
            for part in parents:
                node = node.get(part) if isinstance(node, dict) else None
            if explicit:
                if isinstance(node, dict) and leaf not in node:
                    node[leaf] = json.loads(json.dumps(value))
            elif isinstance(node, dict) and leaf in node and node[leaf] == value and \
                    isinstance(node[leaf], bool) == isinstance(value, bool):
                del node[leaf]
        return obj

    def task(t: dict) -> dict:
        t = strip(t, "task")
        if isinstance(t.get("new_cluster"), dict):
            t["new_cluster"] = strip(t["new_cluster"], "cluster")
        inner = (t.get("for_each_task") or {}).get("task")
        if isinstance(inner, dict):
            t["for_each_task"] = {**t["for_each_task"], "task": task(inner)}
        return t

    out = strip(settings, "job")
    out["tasks"] = [task(t) for t in out.get("tasks", [])]
    out["job_clusters"] = [{**jc, "new_cluster": strip(jc["new_cluster"], "cluster")} if "new_cluster" in jc else jc
                           for jc in out.get("job_clusters", [])]
    return {k: v for k, v in out.items() if v != []}


def strip_ui_defaults(settings: dict) -> dict:
    return _ui_defaults(settings, explicit=False)


def with_ui_defaults(settings: dict) -> dict:
    return _ui_defaults(settings, explicit=True)


def test_meaningful_cluster_and_job_values_reach_prod(run: Run) -> None:
    """Explicit values that are no default (issue 16) are in state and in prod as the source had them."""
    prod = _prod_by_key(run)
    state = _state_by_source(run)
    seen = []
    for file, settings in run.stored.items():
        live = prod[state[run.source_ids[file]][0]]["settings"]
        clusters = [(f"job_clusters[{jc['job_cluster_key']}]", jc["new_cluster"], lc["new_cluster"])
                    for jc in settings.get("job_clusters", []) if "new_cluster" in jc
                    for lc in live.get("job_clusters", []) if lc["job_cluster_key"] == jc["job_cluster_key"]]
        clusters += [(f"tasks[{t['task_key']}]", t["new_cluster"], lt["new_cluster"])
                     for t in settings.get("tasks", []) if "new_cluster" in t
                     for lt in live.get("tasks", []) if lt["task_key"] == t["task_key"]]
        for where, src, dst in clusters:
            for field in ("data_security_mode", "enable_elastic_disk", "spark_env_vars"):
                if field in src:
                    seen.append(field)
                    assert dst.get(field) == src[field], f"{file} {where}.new_cluster.{field}"
        # issue 24.3: what belongs to the source's bundle stays out of prod (it was copied before)
        if "deployment" in settings:
            seen.append("deployment")
            assert "deployment" not in live and live.get("edit_mode", "EDITABLE") == "EDITABLE", file
        elif settings.get("edit_mode", "EDITABLE") != "EDITABLE":
            seen.append("edit_mode")
            assert live.get("edit_mode") == settings["edit_mode"], f"{file} edit_mode"
    assert {"data_security_mode", "enable_elastic_disk", "deployment"} <= set(seen)


def test_real_responses_with_every_default_explicit_in_prod_plan_as_no_op(
        run: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    """Point 2 of issue 16. The real responses are rewritten in the test workspace as an API or
    bundle user would write them (no UI defaults) and exported again: the state files must not
    change. Then prod gets them back WITH every default explicit (as returned): plan is no-op."""
    monkeypatch.setenv("DATABRICKS_CONFIG_FILE", str(run.project.databrickscfg))  # conftest resets it per test
    state, prod = _state_by_source(run), _prod_by_key(run)
    keys = {jid: state[jid][0] for jid in state}
    job_keys = _stub_keys(run, keys)
    real = [f for f, e in corpus() if e["origin"] in REAL and f in run.stored]
    assert len(real) >= 8
    before = {f.name: f.read_bytes() for f in (run.project.root / "state" / "jobs").glob("*.yml")}
    tw, pw = run.project.test.client(), run.project.prod.client()
    stripped = 0
    for file in real:
        bare = strip_ui_defaults(run.stored[file])
        stripped += bare != run.stored[file]
        bare["tags"] = {**bare.get("tags", {}), SELECT: "true"}
        tw.api_client.do("POST", "/api/2.2/jobs/reset", body={"job_id": run.source_ids[file], "new_settings": bare})
    assert stripped == len(real)  # every real response carried UI defaults
    res = run.project.run("export", "--branch", "main")
    assert res.code == 0, res.output
    after = {f.name: f.read_bytes() for f in (run.project.root / "state" / "jobs").glob("*.yml")}
    # state written without the defaults is the state written with them
    changed = [difflib.unified_diff(before[n].decode().splitlines(), after.get(n, b"").decode().splitlines(), n, n,
                                    lineterm="") for n in before if after.get(n) != before[n]]
    assert not changed, "\n".join("\n".join(d) for d in changed)
    for file in real:
        key = keys[run.source_ids[file]]
        full = _expected_prod(run, with_ui_defaults(run.stored[file]), key, prod, job_keys)
        pw.api_client.do("POST", "/api/2.2/jobs/reset", body={"job_id": prod[key]["job_id"], "new_settings": full})
        live = pw.api_client.do("GET", "/api/2.2/jobs/get", query={"job_id": prod[key]["job_id"]})["settings"]
        assert compare(full, live, git="git_source" in full) == []  # the defaults really are live
    res = run.project.run("plan", "--target", "prod", "--json", "plan3.json", "--detailed-exitcode")
    assert (run.project.root / "plan3.json").exists(), res.output
    report = json.loads((run.project.root / "plan3.json").read_text())
    changed = {j["key"]: j["changes"] for j in report["jobs"] if j["action"] != "no-op"}
    assert changed == {} and res.code == 0, res.output


def test_the_comparison_itself_catches_lost_invented_and_changed_values() -> None:
    source = {"name": "j", "tasks": [{"task_key": "a", "run_if": "ALL_SUCCESS", "new_cluster": {
        "spark_version": "15.4", "data_security_mode": "SINGLE_USER", "cluster_name": ""}}]}
    same = {"name": "j", "format": "MULTI_TASK", "tasks": [{"task_key": "a", "timeout_seconds": 0, "new_cluster": {
        "spark_version": "15.4", "data_security_mode": "SINGLE_USER"}}]}
    assert compare(source, same) == []  # only defaults differ
    lost = json.loads(json.dumps(same))
    del lost["tasks"][0]["new_cluster"]["data_security_mode"]
    assert compare(source, lost) == ["lost: tasks[a].new_cluster.data_security_mode = 'SINGLE_USER'"]
    invented = json.loads(json.dumps(same))
    invented["tasks"][0]["new_cluster"]["enable_elastic_disk"] = False
    assert compare(source, invented) == ["invented: tasks[a].new_cluster.enable_elastic_disk = False"]
    changed = json.loads(json.dumps(same))
    changed["tasks"][0]["run_if"] = "ALL_DONE"
    assert compare(source, changed) == ["changed: tasks[a].run_if: 'ALL_SUCCESS' -> 'ALL_DONE'"]
    assert default_leaves({"name": "j", "tasks": [{"task_key": "a", "disabled": False}]}) == [".tasks[0].disabled"]
