"""Notebooks and files benchmark (issue 21): 1,000 jobs using 3,000 notebooks in 200 folders.

    make bench                       # scale.py, then this; writes its section of benchmarks/RESULTS.md
    .venv/bin/python benchmarks/files.py --latency-ms 50

Export, no-op plan and drift with `source.files: referenced`, beside the same steps with
`files: none` (the jobs alone). The emulators run as processes of their own at the given latency;
API calls are counted by them, by endpoint. Each job runs 3 notebooks (one each, so each of the
3,000 is used once); notebook k lives in folder k % 200.
"""

from __future__ import annotations

import argparse
import base64
import json
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "src"))

from scale import (  # noqa: E402
    REPEAT,
    Emulator,
    bench_project,
    compute_state,
    grouped_calls,
    measured_runs,
    run_step,
    write_state,
)

from bricksync.emulator.seed import config_yaml  # noqa: E402

JOBS, NOTEBOOKS, FOLDERS = 1000, 3000, 200
SECTION = "## Notebooks and files (issue 21)"


def notebook_path(k: int, root: str = "/dev") -> str:
    return f"{root}/f{k % FOLDERS:03d}/nb{k:04d}"


def make_jobs(ids: dict[str, dict[str, str]]) -> list[dict]:
    jobs = []
    for i in range(JOBS):
        tasks = [{"task_key": f"t{t}", "existing_cluster_id": ids["cluster"]["dev-shared"],
                  "notebook_task": {"notebook_path": "/Workspace" + notebook_path(i * 3 + t)}} for t in range(3)]
        jobs.append({"name": f"job {i:05d}", "tags": {"PROD_MIGRATION": "true"}, "tasks": tasks})
    return jobs


def add_objects(state: Path) -> None:
    """The 3,000 notebooks (a few hundred bytes each) and their folders, in the emulator's --state file."""
    data = json.loads(state.read_text())
    objects = {"/": {"object_type": "DIRECTORY", "path": "/", "object_id": 1},
               "/dev": {"object_type": "DIRECTORY", "path": "/dev", "object_id": 2}}
    seq = 10
    for f in range(FOLDERS):
        seq += 1
        objects[f"/dev/f{f:03d}"] = {"object_type": "DIRECTORY", "path": f"/dev/f{f:03d}", "object_id": seq}
    for k in range(NOTEBOOKS):
        seq += 1
        body = f"# Databricks notebook source\n# notebook {k}\n" + "spark.range(100).count()\n" * 10
        objects[notebook_path(k)] = {"object_type": "NOTEBOOK", "path": notebook_path(k), "object_id": seq,
                                     "language": "PYTHON", "format": "SOURCE",
                                     "content": base64.b64encode(body.encode()).decode()}
    data["objects"], data["seq"] = objects, seq + 1
    state.write_text(json.dumps(data))


def scenario(mode: str, latency: float, rows: list[dict]) -> None:
    tmp = Path(tempfile.mkdtemp(prefix=f"bricksync-bench-files-{mode}-"))
    src_res, src_ids = compute_state({"cluster": ["dev-shared"]}, "src")
    tgt_res, _ = compute_state({"cluster": ["prod-shared"]}, "tgt")
    write_state(tmp / "src.json", src_res, make_jobs(src_ids), 10_000_000)
    add_objects(tmp / "src.json")
    write_state(tmp / "tgt.json", tgt_res, [], 90_000_000)
    src, tgt = Emulator(tmp / "src.json", 0), Emulator(tmp / "tgt.json", 0)
    try:
        project, env = bench_project(tmp, src, tgt, config_yaml())
        env = {**env, "BRICKSYNC_SOURCE_FILES": mode, "BRICKSYNC_SOURCE_PERMISSIONS": "keep"}

        def measure(label: str, ws: Emulator, *args: str, repeat: int = 1) -> None:
            runs, usage, calls = measured_runs(project, env, ws, latency, args, repeat)
            by = grouped_calls(calls)
            rows.append({"files": mode, "step": label, **usage, "calls": sum(by.values()), "by_endpoint": by,
                         "walls": [r[0]["wall"] for r in runs]})
            walls = ", ".join(f"{r[0]['wall']:.2f}" for r in runs)
            print(f"files: {mode:<10} {label:<22} {usage['wall']:7.2f}s wall {sum(by.values()):>6} calls "
                  f"(runs: {walls})", flush=True)

        measure("export", src, "export", "--no-ack", "--branch", "main")
        run_step(project, env, "apply", "--target", "prod", "--yes", "--parallelism", "16")  # set-up
        measure("plan (no-op)", tgt, "plan", "--target", "prod", repeat=REPEAT)
        measure("drift", tgt, "drift", "--target", "prod", "--no-source")
    finally:
        src.stop()
        tgt.stop()


def markdown(rows: list[dict], latency: float) -> str:
    lines = [SECTION, "", f"Command: `python benchmarks/files.py --latency-ms {latency:g}` (part of `make bench`). "
             f"{JOBS:,} jobs running {NOTEBOOKS:,} notebooks in {FOLDERS} folders (3 each), {latency:g} ms per "
             "call; permissions: keep (no ACL reads, so the figures are the jobs' and the files' own).", "",
             "| files | step | wall s | CPU s | API calls |", "|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['files']} | {r['step']} | {r['wall']:.2f} | {r['cpu']:.2f} | {r['calls']} |")
    lines += ["", "API calls by endpoint:", ""]
    lines += [f"- files: {r['files']}, {r['step']}: " + ", ".join(f"`{k}` {v}" for k, v in sorted(r["by_endpoint"].items()))
              for r in rows]
    return "\n".join(lines) + "\n"


def write_section(text: str, out: Path) -> None:
    """This benchmark's section of RESULTS.md, replaced in place (scale.py keeps it: it follows the
    sections scale.py carries over)."""
    previous = out.read_text() if out.exists() else ""
    if SECTION in previous:
        start = previous.index(SECTION)
        nxt = previous.find("\n## ", start + len(SECTION))
        previous = previous[:start].rstrip("\n") + ("\n\n" + previous[nxt + 1:] if nxt != -1 else "")
    out.write_text(previous.rstrip("\n") + "\n\n" + text)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--latency-ms", type=float, default=50)
    parser.add_argument("--out", default=str(HERE / "RESULTS.md"))
    args = parser.parse_args()
    all_rows: list[dict] = []
    for files_mode in ("referenced", "none"):
        scenario(files_mode, args.latency_ms, all_rows)
    write_section(markdown(all_rows, args.latency_ms), Path(args.out))
    (HERE / "FILES.json").write_text(json.dumps(all_rows, indent=1) + "\n")
    print(f"wrote {args.out}")
