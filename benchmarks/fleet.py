"""Fleet benchmark: what one target costs in API calls and time, for the README's 30-workspace case.

    .venv/bin/python benchmarks/fleet.py                 # 300 jobs per target, 50 ms latency
    .venv/bin/python benchmarks/fleet.py --jobs 1000 --latency-ms 50

Each CI job (one per target) talks to its own workspace only, so a fleet's calls are the sum of its
targets' and its wall time, with one agent per target, is the slowest target's rather than the sum.
This measures one target, with scale.py's emulator processes, jobs and bricksync-as-a-process runs:
the first apply (every job created), a no-op plan, an apply after 1% of the jobs were edited in
the workspace, and drift (which reads every managed job's permissions). Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import scale


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=300)
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--targets", type=int, default=30, help="fleet size the totals are given for")
    args = parser.parse_args()
    n, latency = args.jobs, args.latency_ms
    tmp = Path(tempfile.mkdtemp(prefix="bricksync-fleet-"))
    src_res, src_ids = scale.compute_state({"cluster": ["dev-shared"], "pool": ["dev-pool", "driver-pool"]}, "src")
    tgt_res, _ = scale.compute_state({"cluster": ["prod-shared"], "pool": ["prod-pool", "driver-pool"]}, "tgt")
    scale.write_state(tmp / "src.json", src_res, scale.make_jobs(n, src_ids), 10_000_000)
    scale.write_state(tmp / "tgt.json", tgt_res, [], 90_000_000)
    src, tgt = scale.Emulator(tmp / "src.json", 0), scale.Emulator(tmp / "tgt.json", 0)
    rows: list[tuple[str, float, int, dict[str, int]]] = []
    try:
        project, env = scale.bench_project(tmp, src, tgt, scale.config_yaml())
        scale.run_step(project, env, "export", "--no-ack", "--branch", "main")  # set-up: state/ from the source

        def measure(label: str, *step: str) -> None:
            _, usage, calls = scale.measured_runs(project, env, tgt, latency, step, 1)
            by = scale.grouped_calls(calls)
            rows.append((label, usage["wall"], sum(by.values()), by))
            print(f"{label:<34} {usage['wall']:7.2f}s {sum(by.values()):>6} calls", file=sys.stderr, flush=True)

        measure(f"apply, first ({n} creates)", "apply", "--target", "prod", "--yes")
        measure("plan, no changes", "plan", "--target", "prod")
        w = scale.client(tgt.url)
        for job in list(w.jobs.list(limit=100))[: max(1, n // 100)]:
            w.api_client.do("POST", "/api/2.2/jobs/update", body={"job_id": job.job_id,
                                                                  "new_settings": {"max_concurrent_runs": 3}})
        measure("drift (1% edited in the workspace)", "drift", "--target", "prod", "--no-source")
        measure(f"apply ({max(1, n // 100)} updates)", "apply", "--target", "prod", "--yes")
    finally:
        src.stop()
        tgt.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"| step, one target of {n} jobs ({latency:.0f} ms per call) | API calls | wall s | "
          f"{args.targets} targets: calls | serial wall s | parallel wall s |")
    print("|---|---|---|---|---|---|")
    for label, wall, calls, _ in rows:
        print(f"| {label} | {calls} | {wall:.1f} | {calls * args.targets} | {wall * args.targets:.0f} | {wall:.1f} |")
    print()
    for label, _, _, by in rows:
        print(f"- {label}: " + ", ".join(f"`{k}` {v}" for k, v in sorted(by.items())))


if __name__ == "__main__":
    main()
