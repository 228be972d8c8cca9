"""Run one bricksync command in this process and record its wall time, CPU time and peak RSS.

    python benchmarks/_run.py USAGE.json ARGS...     (used by benchmarks/scale.py)
"""

from __future__ import annotations

import json
import resource
import sys
import time

from bricksync.cli import cli


def peak_rss_mb(usage: resource.struct_rusage) -> float:
    """This process's peak RSS. On Linux from /proc (VmHWM): ru_maxrss also counts the memory
    of the parent that forked it before exec (the benchmark holds 10,000 jobs itself)."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return usage.ru_maxrss / 1024


def main() -> None:
    out, args = sys.argv[1], sys.argv[2:]
    started = time.perf_counter()
    code = 0
    try:
        cli.main(args=args, prog_name="bricksync", standalone_mode=False)
    except SystemExit as exc:
        code = int(exc.code or 0)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    workers = resource.getrusage(resource.RUSAGE_CHILDREN)  # state/ worker processes (maxrss: the largest)
    cpu = usage.ru_utime + usage.ru_stime + workers.ru_utime + workers.ru_stime
    with open(out, "w") as fh:
        json.dump({"wall": time.perf_counter() - started, "cpu": cpu, "rss_mb": peak_rss_mb(usage),
                   "worker_rss_mb": workers.ru_maxrss / 1024, "exit": code}, fh)
    sys.exit(code)


if __name__ == "__main__":  # state parsing spawns worker processes that import this module
    main()
