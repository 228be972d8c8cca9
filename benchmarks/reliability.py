"""Reliability scenarios: faults, SIGKILLed applies, a crashed export. Prints one figure line each.

    make reliability                 # full sizes (200-job soak, 20 kill trials), figures for the README
    .venv/bin/python benchmarks/reliability.py --jobs 50 --trials 5

The test suite runs the same scenarios at smaller sizes (tests/test_reliability.py).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from bricksync.cli import cli
from bricksync.core.model import StateDoc
from bricksync.edges.state import StateStore, render_state
from bricksync.emulator import EmulatorServer, FaultRule
from bricksync.emulator.seed import config_yaml, create_compute, create_job

TOKEN = "dapi-reliability-token"


@dataclass
class Figures:
    scenario: str
    requests: int = 0
    faults: int = 0
    retries: int = 0
    runs: int = 0
    duplicates: int = 0
    lost: int = 0
    unmanaged_changed: int = 0
    lost_responses: int = 0
    partial: int = 0
    converged: bool = False

    def line(self) -> str:
        lost = f" ({self.lost_responses} create responses lost after the job was made)" if self.lost_responses else ""
        if self.partial:
            lost += f" ({self.partial} kills landed mid-apply)"
        return (f"{self.scenario}: {self.requests} requests, {self.faults} faults injected{lost}, {self.retries} retries, "
                f"{self.runs} runs, duplicates {self.duplicates}, lost {self.lost}, unmanaged changed "
                f"{self.unmanaged_changed}, converged {'yes' if self.converged else 'NO'}")


def sample_docs(n: int) -> list[StateDoc]:
    docs = []
    for i in range(n):
        tasks = [{"task_key": f"t{t}", "existing_cluster_id": "${cluster:dev-shared}",
                  "notebook_task": {"notebook_path": f"/Workspace/dev/r/{i}/{t}"}} for t in range(1 + i % 4)]
        for t in range(1, len(tasks)):
            tasks[t]["depends_on"] = [{"task_key": f"t{t - 1}"}]
        docs.append(StateDoc(key=f"job-{i:04d}", settings={"name": f"Reliability job {i:04d}", "tasks": tasks,
                                                           "tags": {"team": f"t{i % 7}"}}, source_job_id=i + 1))
    return docs


def make_project(root: Path, prod: EmulatorServer, n: int) -> dict[str, str]:
    """A project with n state files for `prod`; returns the environment to run bricksync in."""
    (root / "config").mkdir(parents=True, exist_ok=True)
    (root / "config" / "bricksync.yml").write_text(config_yaml(target_host=prod.url))
    store = StateStore(root / "state")
    for doc in sample_docs(n):
        store.write(doc.key, render_state(doc))
    cfg = root / "databrickscfg"
    cfg.write_text(f"[test]\nhost = {prod.url}\ntoken = {TOKEN}\n\n[prod]\nhost = {prod.url}\ntoken = {TOKEN}\n")
    return {"DATABRICKS_CONFIG_FILE": str(cfg)}


def seed_prod(prod: EmulatorServer) -> str:
    w = prod.client()
    create_compute(w, {"cluster": ["prod-shared"]})
    unmanaged = create_job(w, {"name": "Reliability job 0001", "tags": {"owner": "ops"}})  # a namesake
    return json.dumps(prod.workspace.jobs.jobs[unmanaged], sort_keys=True)


def run_cli(root: Path, env: dict[str, str], *args: str) -> int:
    old_cwd, old_env = Path.cwd(), dict(os.environ)
    os.chdir(root)
    os.environ.update(env)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            cli.main(args=list(args), prog_name="bricksync", standalone_mode=False)
        return 0
    except SystemExit as exc:
        return int(exc.code or 0)
    finally:
        os.chdir(old_cwd)
        os.environ.clear()
        os.environ.update(old_env)


def check(prod: EmulatorServer, n: int, unmanaged_before: str, figures: Figures) -> None:
    jobs = list(prod.workspace.jobs.jobs.values())
    keys = Counter(j["settings"].get("tags", {}).get("bricksync-key") for j in jobs)
    keys.pop(None, None)
    figures.duplicates = sum(c - 1 for c in keys.values())
    figures.lost = n - len(keys)
    unmanaged = [j for j in jobs if "bricksync-key" not in j["settings"].get("tags", {})]
    figures.unmanaged_changed = sum(json.dumps(j, sort_keys=True) != unmanaged_before for j in unmanaged) + (
        1 - len(unmanaged))


def soak(n: int = 200, seed: int = 1, max_runs: int = 6) -> Figures:
    """Apply n jobs through ~10% 429s, ~5% 500/503 and lost create responses; re-run until clean."""
    figures = Figures(f"fault soak ({n} jobs)")
    with tempfile.TemporaryDirectory() as tmp, EmulatorServer("prod", token=TOKEN, seed=seed) as prod:
        before = seed_prod(prod)
        env = make_project(Path(tmp), prod, n)
        for rule in (FaultRule(path=r"/api/.*", status=429, retry_after=0, probability=0.10, count=None),
                     FaultRule(path=r"/api/.*", status=503, probability=0.025, count=None),
                     FaultRule(path=r"/api/.*", status=500, probability=0.025, count=None),
                     FaultRule("POST", "/api/2.2/jobs/create", 503, after=True, drop=True, probability=0.05,
                               count=None),
                     FaultRule("POST", "/api/2.2/jobs/create", 500, after=True, probability=0.03, count=None)):
            prod.faults.add(rule)
        code = 1
        while code != 0 and figures.runs < max_runs:
            figures.runs += 1
            code = run_cli(Path(tmp), env, "apply", "--target", "prod", "--yes", "--parallelism", "8")
        figures.requests = len(prod.faults.log)
        figures.faults = prod.faults.faults_injected()
        figures.lost_responses = sum(r.fired for r in prod.faults.rules if r.after)
        figures.retries = figures.faults  # every fault was answered by a retry (SDK's or bricksync's) or a look-up
        prod.faults.clear()
        figures.converged = code == 0 and run_cli(Path(tmp), env, "plan", "--target", "prod",
                                                  "--detailed-exitcode") == 0
        check(prod, n, before, figures)
    return figures


def kill_trials(trials: int = 20, n: int = 20, seed: int = 2) -> Figures:
    """SIGKILL a running apply at a random moment, then apply again: it must converge."""
    figures = Figures(f"SIGKILL during apply ({trials} trials, {n} jobs)")
    rnd = random.Random(seed)
    converged = 0
    for _ in range(trials):
        with tempfile.TemporaryDirectory() as tmp, EmulatorServer("prod", token=TOKEN, latency_ms=15) as prod:
            before = seed_prod(prod)
            project_env = make_project(Path(tmp), prod, n)
            # A killed run's lock frees itself when its lease runs out (issue 25.4): 1 s here, not 10 min.
            env = {**os.environ, **project_env, "BRICKSYNC_LOCK_LEASE": "1"}
            cmd = [sys.executable, "-m", "bricksync.cli", "apply", "--target", "prod", "--yes", "--parallelism", "4"]
            proc = subprocess.Popen(cmd, cwd=tmp, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            # Kill once the k-th create has reached the server (k random): mid-apply, every time.
            k = rnd.randint(1, n // 2)
            deadline = time.monotonic() + 60
            while prod.faults.counts()["POST /api/2.2/jobs/create"] < k and time.monotonic() < deadline:
                time.sleep(0.005)
            time.sleep(rnd.uniform(0, 0.03))
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            made = sum("bricksync-key" in j["settings"].get("tags", {}) for j in prod.workspace.jobs.jobs.values())
            figures.partial += 0 < made < n  # killed in the middle of the creates
            figures.runs += 1
            time.sleep(1.1)  # the killed run's lease expires: the next run takes the lock over
            # The next run needs no process of its own (only the kill does): in-process, no SDK import.
            again = run_cli(Path(tmp), project_env, *cmd[3:])
            figures.runs += 1
            trial = Figures("trial")
            check(prod, n, before, trial)
            figures.duplicates += trial.duplicates
            figures.lost += trial.lost
            figures.unmanaged_changed += trial.unmanaged_changed
            figures.requests += len(prod.faults.log)
            converged += again == 0 and trial.duplicates == 0 and trial.lost == 0
    figures.converged = converged == trials
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--trials", type=int, default=20)
    args = parser.parse_args()
    for figures in (soak(args.jobs), kill_trials(args.trials)):
        print(figures.line(), flush=True)


if __name__ == "__main__":
    main()
