"""Scale benchmark: export / no-op plan / 1% plan / apply on 1,000-10,000-job workspaces.

    make bench                      # N = 1000 5000 10000, 50 ms latency, writes benchmarks/RESULTS.md
    .venv/bin/python benchmarks/scale.py --sizes 1000 --latency-ms 50

Two emulators run as separate processes (so the CPU and memory figures are bricksync's own),
seeded through their --state files; every bricksync step runs as its own process through
benchmarks/_run.py, which reports wall time, CPU time and peak RSS. API calls are counted by the
emulators. Also measured: the bare cost of fetching the list pages (the floor), a naive baseline
(list ids, then jobs/get per job, serially, as the old bash pipeline did) at N = 1,000, and
throttled apply (10% 429 with Retry-After).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import random
import re
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
TOKEN = "dapi-bench-token"
sys.path.insert(0, str(HERE.parent / "src"))

from bricksync.emulator.jobs import fill_defaults  # noqa: E402
from bricksync.emulator.seed import config_yaml  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_jobs(n: int, ids: dict[str, dict[str, str]], seed: int = 7) -> list[dict]:
    rnd = random.Random(seed)
    jobs = []
    for i in range(n):
        n_tasks = 120 if i % 1000 == 999 else rnd.randint(1, 20)  # a few jobs past the 100-task page
        on_pool = i % 2 == 0
        tasks = []
        for t in range(n_tasks):
            task = {"task_key": f"t{t:03d}", "notebook_task": {"notebook_path": f"/Workspace/dev/team{i % 40}/nb{t}",
                                                              "base_parameters": {"n": str(t)}}}
            if t:
                task["depends_on"] = [{"task_key": f"t{rnd.randrange(t):03d}"}]
            if on_pool:
                task["job_cluster_key"] = "main"
            else:
                task["existing_cluster_id"] = ids["cluster"]["dev-shared"]
            tasks.append(task)
        settings = {"name": f"job {i:05d}", "tags": {"PROD_MIGRATION": "true", "team": f"team{i % 40}"},
                    "schedule": {"quartz_cron_expression": f"0 {i % 60} 2 * * ?", "timezone_id": "UTC"},
                    "tasks": tasks}
        if on_pool:
            settings["job_clusters"] = [{"job_cluster_key": "main", "new_cluster": {
                "spark_version": "15.4.x-scala2.12", "instance_pool_id": ids["pool"]["dev-pool"],
                "driver_instance_pool_id": ids["pool"]["driver-pool"], "num_workers": 2}}]
        jobs.append(settings)
    return jobs


def compute_state(names: dict[str, list[str]], prefix: str) -> tuple[dict, dict[str, dict[str, str]]]:
    fields = {"cluster": ("cluster_id", "cluster_name"), "pool": ("instance_pool_id", "instance_pool_name"),
              "policy": ("policy_id", "name"), "warehouse": ("id", "name"), "pipeline": ("pipeline_id", "name")}
    resources: dict[str, dict] = {k: {} for k in fields}
    ids: dict[str, dict[str, str]] = {k: {} for k in fields}
    for kind, kind_names in names.items():
        for j, name in enumerate(kind_names):
            ident = f"{prefix}-{kind}-{j}"
            id_field, name_field = fields[kind]
            resources[kind][ident] = {id_field: ident, name_field: name}
            ids[kind][name] = ident
    return resources, ids


def write_state(path: Path, resources: dict, jobs: list[dict], id_base: int,
                acls: list[list[list[str]]] | None = None, principals: dict | None = None) -> None:
    now = int(time.time() * 1000)
    records = [{"job_id": id_base + i, "creator_user_name": "bench@example.com", "run_as_user_name": "bench@example.com",
                "created_time": now, "settings": fill_defaults(json.loads(json.dumps(s)))} for i, s in enumerate(jobs)]
    permissions = {str(id_base + i): acl for i, acl in enumerate(acls or [])}
    path.write_text(json.dumps({"jobs": records, "next_job_id": id_base + len(jobs), "resources": resources,
                                "permissions": permissions, "principals": principals or {}, "seq": 1000}))


def bench_project(tmp: Path, src: Emulator, tgt: Emulator, config_text: str) -> tuple[Path, dict[str, str]]:
    """A git checkout with the config, an empty state/jobs/ (a missing state_dir is an error)
    and a .databrickscfg pointing at the two emulators; returns it and the environment to run in."""
    project = tmp / "repo"
    (project / "config").mkdir(parents=True)
    (project / "state" / "jobs").mkdir(parents=True)
    (project / "config" / "bricksync.yml").write_text(config_text)
    cfg = tmp / "databrickscfg"
    cfg.write_text(f"[test]\nhost = {src.url}\ntoken = {TOKEN}\n\n[prod]\nhost = {tgt.url}\ntoken = {TOKEN}\n")
    env = {**os.environ, "DATABRICKS_CONFIG_FILE": str(cfg), "PYTHONPATH": str(HERE.parent / "src"),
           "GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "b@x", "GIT_COMMITTER_NAME": "bench",
           "GIT_COMMITTER_EMAIL": "b@x"}
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=project, check=True)
    subprocess.run(["git", "commit", "-q", "--allow-empty", "-m", "init"], cwd=project, check=True, env=env)
    return project, env


def reset_to_first_commit(project: Path, env: dict[str, str]) -> None:
    """Back to the empty state/ (the next export writes every file again)."""
    first = subprocess.run(["git", "rev-list", "--max-parents=0", "HEAD"], cwd=project, env=env, check=True,
                           capture_output=True, text=True).stdout.split()[0]
    subprocess.run(["git", "reset", "-q", "--hard", first], cwd=project, env=env, check=True)
    subprocess.run(["git", "clean", "-qfdx", "state"], cwd=project, env=env, check=True)
    (project / "state" / "jobs").mkdir(parents=True, exist_ok=True)


def measured_runs(project: Path, env: dict[str, str], ws: Emulator, latency: float, args: tuple[str, ...],
                  repeat: int) -> tuple[list, dict, dict]:
    """Run a step `repeat` times at `latency`; (all runs, usage and calls of the median-wall run)."""
    runs = []
    for _ in range(repeat):
        ws.latency(latency)
        ws.reset()
        usage = run_step(project, env, *args)
        runs.append((usage, ws.calls()))
        ws.latency(0)
    usage, calls = sorted(runs, key=lambda r: r[0]["wall"])[len(runs) // 2]
    return runs, usage, calls


# --- the permissions scenario (issue 11) ----------------------------------------------------
SP_SRC, SP_TGT = "11111111-2222-4333-8444-555555555555", "99999999-8888-4777-8666-555555555555"
TEAMS = [f"team{i}" for i in range(40)]


def source_acl(i: int) -> list[list[str]]:
    """A realistic job ACL: an owner, a viewing group, the team running it, a managing service principal."""
    return [["user_name", "alice@example.com", "IS_OWNER"], ["group_name", "data-eng", "CAN_VIEW"],
            ["group_name", TEAMS[i % 40], "CAN_MANAGE_RUN"], ["service_principal_name", SP_SRC, "CAN_MANAGE"]]


def permissions_config(mode: str) -> str:
    return config_yaml() + f"""    permissions: {mode}
    principals: {{alice@example.com: alice.prod@example.com, data-eng: data-eng-prod, {SP_SRC}: {SP_TGT}}}
    permissions_add:
      - {{group_name: ops, level: CAN_MANAGE_RUN}}
"""


def bench_permissions(n: int, latency: float, rows: list[dict]) -> None:
    """No-op plan in `manage` mode against today's (`ignore`) no-op plan, plus the full ACL read that
    drift and --refresh-permissions make."""
    tmp = Path(tempfile.mkdtemp(prefix=f"bricksync-bench-acl-{n}-"))
    src_res, src_ids = compute_state({"cluster": ["dev-shared"], "pool": ["dev-pool", "driver-pool"]}, "src")
    tgt_res, _ = compute_state({"cluster": ["prod-shared"], "pool": ["prod-pool", "driver-pool"]}, "tgt")
    admin = "bricksync@example.com"  # the emulator's identity (a workspace admin)
    src_people = {"users": ["alice@example.com", admin], "groups": {"data-eng": [], **{t: [] for t in TEAMS}},
                  "service_principals": [SP_SRC]}
    tgt_people = {"users": ["alice.prod@example.com", admin],
                  "groups": {"data-eng-prod": [], "ops": [], **{t: [] for t in TEAMS}}, "service_principals": [SP_TGT]}
    write_state(tmp / "src.json", src_res, make_jobs(n, src_ids), 10_000_000, [source_acl(i) for i in range(n)],
                src_people)
    write_state(tmp / "tgt.json", tgt_res, [], 90_000_000, principals=tgt_people)
    src, tgt = Emulator(tmp / "src.json", 0), Emulator(tmp / "tgt.json", 0)
    try:
        project, env = bench_project(tmp, src, tgt, permissions_config("manage"))
        config = project / "config" / "bricksync.yml"

        def measure(label: str, ws: Emulator, *args: str, repeat: int = 1) -> dict:
            runs, usage, calls = measured_runs(project, env, ws, latency, args, repeat)
            calls = grouped_calls(calls)
            acl_calls = sum(v for k, v in calls.items() if "/permissions/" in k)
            row = {"N": n, "step": label, **usage, "calls": sum(calls.values()), "acl_calls": acl_calls,
                   "by_endpoint": calls, "walls": [r[0]["wall"] for r in runs]}
            rows.append(row)
            print(f"N={n:>6} {label:<40} {usage['wall']:7.2f}s wall {usage['cpu']:6.2f}s cpu "
                  f"{row['calls']:>6} calls ({acl_calls} permissions) (runs: "
                  f"{', '.join(f'{w:.2f}' for w in row['walls'])})", flush=True)
            return row

        measure("export (ACLs read)", src, "export", "--no-ack", "--branch", "main")
        run_step(project, env, "apply", "--target", "prod", "--yes", "--parallelism", "16")  # set-up: create all
        config.write_text(permissions_config("ignore"))
        base = measure("plan (no-op), permissions: ignore", tgt, "plan", "--target", "prod", repeat=REPEAT)
        config.write_text(permissions_config("manage"))
        managed = measure("plan (no-op), permissions: manage", tgt, "plan", "--target", "prod", repeat=REPEAT)
        measure("plan --refresh-permissions (manage)", tgt, "plan", "--target", "prod", "--refresh-permissions")
        measure("drift (reads every ACL)", tgt, "drift", "--target", "prod", "--no-source")
        rows.append({"N": n, "step": "ratio manage / ignore (no-op plan)", "wall": managed["wall"] / base["wall"],
                     "cpu": None, "rss_mb": None, "calls": managed["calls"] - base["calls"]})
        print(f"N={n:>6} no-op plan manage / ignore = {managed['wall'] / base['wall']:.2f}x", flush=True)
    finally:
        src.stop()
        tgt.stop()


def grouped_calls(calls: dict[str, int]) -> dict[str, int]:
    """Calls by endpoint, all /permissions/jobs/<id> as one."""
    out: dict[str, int] = {}
    for k, v in calls.items():
        k = re.sub(r"/permissions/jobs/\d+", "/permissions/jobs/{id}", k)
        out[k] = out.get(k, 0) + v
    return out


def permissions_markdown(rows: list[dict], latency: float, command: str) -> str:
    lines = ["# Permissions benchmark (issue 11)", "", f"Command: `{command}`", "",
             f"Machine: {platform.platform()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
             f"emulator latency {latency:.0f} ms per request; "
             f"generated {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.", "",
             "| N | step | wall s | CPU s | API calls | of which permissions |", "|---|---|---|---|---|---|"]
    for r in rows:
        if r["step"].startswith("ratio"):
            lines.append(f"| {r['N']} | {r['step']} | **{r['wall']:.2f}x** | | +{r['calls']} | |")
            continue
        cpu = f"{r['cpu']:.2f}" if r.get("cpu") is not None else ""
        lines.append(f"| {r['N']} | {r['step']} | {r['wall']:.2f} | {cpu} | {r['calls']} | {r.get('acl_calls', '')} |")
    lines += ["", "API calls by endpoint:", ""]
    lines += [f"- N={r['N']} {r['step']}: " + ", ".join(f"`{k}` {v}" for k, v in sorted(r["by_endpoint"].items()))
              for r in rows if r.get("by_endpoint")]
    return "\n".join(lines) + "\n"


class Emulator:
    def __init__(self, state: Path, latency_ms: float):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen([sys.executable, "-m", "bricksync.cli", "emulator", "serve", "--port",
                                      str(self.port), "--token", TOKEN, "--state", str(state), "--latency-ms",
                                      str(latency_ms)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     env={**os.environ, "PYTHONPATH": str(HERE.parent / "src")})
        for _ in range(600):
            try:
                self.control("stats")
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("emulator did not start")

    def control(self, what: str, body: dict | None = None) -> dict:
        req = urllib.request.Request(f"{self.url}/__emulator/{what}", method="POST" if body is not None else "GET",
                                     data=json.dumps(body).encode() if body is not None else None,
                                     headers={"Authorization": f"Bearer {TOKEN}"})
        with urllib.request.urlopen(req, timeout=30) as resp:
            return json.loads(resp.read() or b"{}")

    def latency(self, ms: float) -> None:
        self.control("latency", {"latency_ms": ms})

    def calls(self) -> dict[str, int]:
        counts = self.control("stats")["counts"]
        return {k: v for k, v in counts.items() if "__emulator" not in k}

    def reset(self) -> None:
        self.control("reset-log", {})

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)


def run_step(project: Path, env: dict, *args: str) -> dict:
    out = project / "usage.json"
    proc = subprocess.run([sys.executable, str(HERE / "_run.py"), str(out), *args], cwd=project, env=env,
                          capture_output=True, text=True)
    if proc.returncode not in (0, 2):
        raise RuntimeError(f"bricksync {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    usage = json.loads(out.read_text())
    writes = re.search(r"failed in ([0-9.]+)s \(writes only\)", proc.stdout)
    if writes:
        usage["writes_s"] = float(writes.group(1))
    return usage


def client(url: str):
    import logging

    from databricks.sdk import WorkspaceClient

    logging.getLogger("databricks.sdk").setLevel(logging.ERROR)  # the emulator has no host metadata: not news

    return WorkspaceClient(host=url, token=TOKEN, auth_type="pat")


def bare_pages(url: str) -> tuple[float, int]:
    """The floor: every list page with expand_tasks, fetched serially, nothing else."""
    w = client(url)
    started, pages, token = time.perf_counter(), 0, None
    while True:
        query = {"limit": 100, "expand_tasks": "true", **({"page_token": token} if token else {})}
        page = w.api_client.do("GET", "/api/2.2/jobs/list", query=query)
        pages += 1
        token = page.get("next_page_token")
        if not token:
            return time.perf_counter() - started, pages


def naive(url: str) -> tuple[float, int]:
    """The old pipeline: list ids, then one jobs/get per job, serially."""
    w = client(url)
    started, calls = time.perf_counter(), 0
    for job in w.jobs.list(limit=100):
        w.jobs.get(job.job_id)
        calls += 1
    return time.perf_counter() - started, calls


def local_work(url: str, project: Path) -> dict[str, float]:
    """CPU seconds of the plan's local work, measured alone (no network, one process): parsing
    state/, checking it, then normalizing and comparing (render + normalize + digest of every
    document, normalize + digest of every live job, digests compared)."""
    import gc

    from bricksync.commands.desired import StateSlice, _digest_for
    from bricksync.core.normalize import digest, normalize_job
    from bricksync.core.render import managed_key
    from bricksync.core.schema import schema_table
    from bricksync.core.validate import validate_doc
    from bricksync.edges.config import load_config
    from bricksync.edges.state import StateStore
    from bricksync.edges.workspace import Workspace

    ws = Workspace(client(url))
    live, inventory = ws.list_jobs(), ws.inventory()
    cwd = os.getcwd()
    os.chdir(project)
    try:
        target = load_config(project / "config" / "bricksync.yml").target("prod")
        store = StateStore(project / "state")
        named = [(str(p), store.display(p)) for p in store.files()]
        schema = schema_table()
        gc.collect()
        gc.disable()  # as in bricksync (bulk.py, desired.py)
        started = time.process_time()
        part = StateSlice(named)
        parsed = time.process_time()
        problems = [p for doc in part.docs for p in validate_doc(doc, schema)]
        checked = time.process_time()
        desired = {doc.key: _digest_for(doc, target, inventory)[0] for doc in part.docs}  # (digest, write-only)
        live_digests = {managed_key(j): digest(normalize_job(j, ordered=False, copy=False)) for j in live}
        same = sum(1 for key, d in desired.items() if d is not None and live_digests.get(key) == d)
        done = time.process_time()
    finally:
        gc.enable()
        os.chdir(cwd)
    assert not problems and same > 0.9 * len(desired), (problems[:3], same, len(desired))
    return {"parse": parsed - started, "check": checked - parsed, "normalize_compare": done - checked,
            "total": done - started}


def bench(n: int, latency: float, rows: list[dict]) -> None:
    tmp = Path(tempfile.mkdtemp(prefix=f"bricksync-bench-{n}-"))
    src_res, src_ids = compute_state({"cluster": ["dev-shared"], "pool": ["dev-pool", "driver-pool"]}, "src")
    tgt_res, _ = compute_state({"cluster": ["prod-shared"], "pool": ["prod-pool", "driver-pool"]}, "tgt")
    write_state(tmp / "src.json", src_res, make_jobs(n, src_ids), 10_000_000)
    write_state(tmp / "tgt.json", tgt_res, [], 90_000_000)
    src, tgt = Emulator(tmp / "src.json", 0), Emulator(tmp / "tgt.json", 0)
    try:
        project, env = bench_project(tmp, src, tgt, config_yaml())
        # list pages + one listing per kind the jobs reference (clusters, pools) + the SDK's host probe
        floor = math.ceil(n / 100) + 2 + 1
        big = 2 * sum(1 for i in range(n) if i % 1000 == 999)  # jobs/get pages for 120-task jobs

        def measure(label: str, ws: Emulator, *args: str, budget: int | None = None, repeat: int = 1,
                    extra_env: dict[str, str] | None = None) -> dict:
            """Run a step (`repeat` times for read-only steps: the run with the median wall time is kept)."""
            runs, usage, calls = measured_runs(project, {**env, **(extra_env or {})}, ws, latency, args, repeat)
            row = {"N": n, "step": label, **usage, "calls": sum(calls.values()), "by_endpoint": grouped_calls(calls),
                   "budget": budget, "walls": [r[0]["wall"] for r in runs]}
            rows.append(row)
            writes = f", writes {usage['writes_s']:.2f}s" if "writes_s" in usage else ""
            print(f"N={n:>6} {label:<22} {usage['wall']:7.2f}s wall {usage['cpu']:6.2f}s cpu "
                  f"{usage['rss_mb']:6.0f} MB {row['calls']:>6} calls" + (f" (budget {budget})" if budget else "")
                  + writes + (f" (runs: {', '.join(f'{w:.2f}' for w in row['walls'])})" if repeat > 1 else ""),
                  flush=True)
            return row

        # Export (issue 15): first with source.permissions: keep (no permission reads: the page
        # floor applies), then as configured by default (one permissions GET per job, no batch API).
        bare_pages(src.url)  # warm-up (not measured): the floor below is a median of warm runs too
        keep = {"BRICKSYNC_SOURCE_PERMISSIONS": "keep"}
        export = ("export", "--no-ack", "--branch", "main")
        measure("export, permissions: keep", src, *export, budget=floor + big, extra_env=keep)
        measure("re-export, keep, nothing changed", src, *export, budget=floor + big, extra_env=keep)
        reset_to_first_commit(project, env)
        measure("export", src, *export, budget=floor + big + n)
        measure("re-export, nothing changed", src, *export, budget=floor + big + n)
        # Set-up (not measured): create every job in the target.
        run_step(project, env, "apply", "--target", "prod", "--yes", "--parallelism", "16")
        tgt.latency(latency)
        floors = sorted(bare_pages(tgt.url) for _ in range(REPEAT))
        tgt.latency(0)
        wall, pages = floors[len(floors) // 2]
        rows.append({"N": n, "step": "bare page fetch", "wall": wall, "cpu": None, "rss_mb": None, "calls": pages,
                     "walls": [f[0] for f in floors]})
        print(f"N={n:>6} {'bare page fetch':<22} {wall:7.2f}s wall, {pages} pages "
              f"(runs: {', '.join(f'{f[0]:.2f}' for f in floors)})", flush=True)
        measure("plan (no-op)", tgt, "plan", "--target", "prod", budget=floor + big, repeat=REPEAT)
        changed = n // 100
        w = client(tgt.url)
        listed = [j.job_id for j in w.jobs.list(limit=100)][:changed]
        for job_id in listed:
            w.api_client.do("POST", "/api/2.2/jobs/update", body={"job_id": job_id,
                                                                  "new_settings": {"max_concurrent_runs": 3}})
        work = local_work(tgt.url, project)
        rows.append({"N": n, "step": "local work (1 process)", "wall": work["total"], "cpu": work["total"],
                     "rss_mb": None, "calls": 0, "detail": work})
        print(f"N={n:>6} {'local work':<22} parse {work['parse']:.2f}s, check {work['check']:.2f}s, "
              f"normalize+compare {work['normalize_compare']:.2f}s cpu", flush=True)
        measure("plan (1% changed)", tgt, "plan", "--target", "prod", budget=floor + big)
        measure(f"apply ({changed} updates)", tgt, "apply", "--target", "prod", "--yes", "--parallelism", "8")
        if n <= 1000:
            src.latency(latency)
            wall, calls = naive(src.url)
            src.latency(0)
            rows.append({"N": n, "step": "naive baseline", "wall": wall, "cpu": None, "rss_mb": None,
                         "calls": calls + math.ceil(n / 100)})
            print(f"N={n:>6} {'naive baseline':<22} {wall:7.2f}s wall, {calls} gets", flush=True)
        if n == max(SIZES):
            for job_id in listed:
                w.api_client.do("POST", "/api/2.2/jobs/update", body={"job_id": job_id,
                                                                      "new_settings": {"max_concurrent_runs": 4}})
            tgt.control("faults", {"method": "POST", "path": "/api/2.2/jobs/reset", "status": 429, "count": None,
                                   "probability": 0.1, "retry_after": 1})
            row = measure("apply throttled 10% 429", tgt, "apply", "--target", "prod", "--yes", "--parallelism", "8")
            row["faults"] = tgt.control("stats")["faults"]
    finally:
        src.stop()
        tgt.stop()


def results_markdown(rows: list[dict], latency: float, command: str) -> str:
    lines = ["# Benchmark results", "", f"Command: `{command}` (or `make bench`)", "",
             f"Machine: {platform.platform()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
             f"emulator latency {latency:.0f} ms per request; "
             f"generated {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.",
             "", "CPU s counts bricksync's process and its state/ workers; peak RSS is the main process "
             "(the largest worker's in brackets).", "",
             "| N | step | wall s | CPU s | peak RSS MB | API calls | call budget | apply writes s |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        cpu = f"{r['cpu']:.2f}" if r.get("cpu") is not None else ""
        rss = f"{r['rss_mb']:.0f}" if r.get("rss_mb") is not None else ""
        if r.get("worker_rss_mb"):
            rss += f" ({r['worker_rss_mb']:.0f})"
        writes = f"{r['writes_s']:.2f}" if r.get("writes_s") is not None else ""
        lines.append(f"| {r['N'] or 'any'} | {r['step']} | {r['wall']:.2f} | {cpu} | {rss} | {r['calls']} | "
                     f"{r.get('budget') or ''} | {writes} |")
    lines.append("")
    for n in sorted({r["N"] for r in rows}):
        by = {r["step"]: r for r in rows if r["N"] == n}
        plan, floor = by.get("plan (no-op)"), by.get("bare page fetch")
        for step in ("export, permissions: keep", "re-export, keep, nothing changed", "export",
                     "re-export, nothing changed"):
            if floor and by.get(step):
                lines.append(f"- N={n}: {step} / bare page fetch = {by[step]['wall'] / floor['wall']:.2f}x")
        if plan and floor:
            lines.append(f"- N={n}: no-op plan / bare page fetch = {plan['wall'] / floor['wall']:.2f}x (medians of "
                         f"{len(plan.get('walls', [1]))} runs: plan {', '.join(f'{w:.2f}' for w in plan.get('walls', []))}"
                         f" s; floor {', '.join(f'{w:.2f}' for w in floor.get('walls', []))} s)")
        work = by.get("local work (1 process)")
        if work:
            detail = work["detail"]
            lines.append(f"- N={n}: local work, one process: normalize + compare (render, normalize and digest "
                         f"every document and live job, compare) {detail['normalize_compare']:.2f} s CPU; parsing "
                         f"state/ {detail['parse']:.2f} s, checking it {detail['check']:.2f} s")
        if plan and by.get("naive baseline"):
            lines.append(f"- N={n}: naive baseline / no-op plan = {by['naive baseline']['wall'] / plan['wall']:.1f}x "
                         "(the plan is that much faster)")
    lines += ["", "API calls by endpoint:", ""]
    for r in rows:
        if r.get("by_endpoint"):
            lines.append(f"- N={r['N']} {r['step']}: "
                         + ", ".join(f"`{k}` {v}" for k, v in sorted(r["by_endpoint"].items())))
    lines.append("")
    for r in rows:
        if "faults" in r:
            lines.append(f"- throttled apply: {r['faults']} 429s injected and waited out")
    return "\n".join(lines) + "\n"


SIZES = [1000, 5000, 10000]
HAND_KEPT = "## Permissions in `manage` mode"  # RESULTS.md's section from the permissions scenario
REPEAT = 3  # runs of the no-op plan and of the page floor; the median is reported

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=SIZES)
    parser.add_argument("--latency-ms", type=float, default=50)
    parser.add_argument("--out", default=None, help="default: RESULTS.md (PERMISSIONS.md for that scenario)")
    parser.add_argument("--scenario", choices=("scale", "permissions"), default="scale",
                        help="permissions: no-op plan with permissions managed vs ignored (issue 11)")
    args = parser.parse_args()
    SIZES = args.sizes
    if args.scenario == "permissions":
        acl_rows: list[dict] = []
        for size in args.sizes:
            bench_permissions(size, args.latency_ms, acl_rows)
        out = Path(args.out or HERE / "PERMISSIONS.md")
        out.write_text(permissions_markdown(acl_rows, args.latency_ms,
                                            ("python benchmarks/scale.py " + " ".join(sys.argv[1:])).strip()))
        out.with_suffix(".json").write_text(json.dumps(acl_rows, indent=1) + "\n")
        print(f"wrote {out}")
        sys.exit(0)
    args.out = args.out or str(HERE / "RESULTS.md")
    all_rows: list[dict] = []
    # The fixed cost every SDK-based run pays before its first request (the page floor excludes it).
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import databricks.sdk"], check=True)
    all_rows.append({"N": 0, "step": "import databricks-sdk (fixed cost)", "wall": time.perf_counter() - started,
                     "cpu": None, "rss_mb": None, "calls": 0})
    for size in args.sizes:
        bench(size, args.latency_ms, all_rows)
    command = "python benchmarks/scale.py " + " ".join(sys.argv[1:])
    previous = Path(args.out).read_text() if Path(args.out).exists() else ""
    kept = previous[previous.find(HAND_KEPT):] if HAND_KEPT in previous else ""  # written by hand: carried over
    Path(args.out).write_text(results_markdown(all_rows, args.latency_ms, command.strip()) + ("\n" + kept if kept else ""))
    Path(args.out).with_suffix(".json").write_text(json.dumps(all_rows, indent=1) + "\n")  # the raw figures
    print(f"wrote {args.out}")
