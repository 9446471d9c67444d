"""DaftExecutor against NodeExecutor ("sequential" and "parallel") on a map of 10,000 items over a
small CPU-bound 3-node pipeline, and the fixed start-up cost of one call (a one-item run).

    python benches/python/bench_daft.py [--items N] [--work W] [--repeat R] [--json out.json]

Prints JSON and a table with ratios and the issue's goals (DaftExecutor at least 1.5x faster than
sequential, start-up under 0.3 s). After a warm-up call per configuration (worker pools and Daft's
runner are started by it, as in a long-lived process), the configurations are timed in ``R``
interleaved rounds and each one's median is reported (the machine may be shared). The worker pool
is shared by "node_parallel" and the DaftExecutor process configurations, as it is in a program
using both."""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import time
from typing import Any

from hypernodes import NodeExecutor, Pipeline, node
from hypernodes.daft import DaftExecutor

WORK = 1500


def spin(x: int, n: int) -> int:
    s = 0
    for i in range(n):
        s += (x * i) % 7
    return s


@node(output_name="a")
def stage_a(x, work):
    return spin(x, work)


@node(output_name="b")
def stage_b(a, work):
    return spin(a + 1, work)


@node(output_name="c")
def stage_c(b, work):
    return spin(b + 2, work)


PIPE = Pipeline([stage_a, stage_b, stage_c], name="cpu3")


def _live_descendants_cpu() -> float:
    """CPU seconds used so far by this process's live descendants (Linux /proc; 0 elsewhere)."""
    try:
        entries = [e for e in os.listdir("/proc") if e.isdigit()]
    except OSError:
        return 0.0
    parent: dict[int, int] = {}
    used: dict[int, float] = {}
    tick = os.sysconf("SC_CLK_TCK")
    for e in entries:
        try:
            with open(f"/proc/{e}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parent[int(e)] = int(fields[1])
        used[int(e)] = (int(fields[11]) + int(fields[12])) / tick
    me = os.getpid()
    total = 0.0
    for pid, p in parent.items():
        while p and p != me and p in parent:
            p = parent[p]
        if p == me:
            total += used[pid]
    return total


def cpu_seconds() -> float:
    """CPU used so far by this process and its children, finished (reaped) or alive (worker pools
    that outlive a call): the work a configuration costs, whatever else runs on the machine."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    done = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + done.ru_utime + done.ru_stime + _live_descendants_cpu()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--items", type=int, default=10_000)
    ap.add_argument("--work", type=int, default=WORK)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    xs = list(range(args.items))
    inputs = {"x": xs, "work": args.work}
    configs = {
        "node_sequential": NodeExecutor(),
        "node_parallel": NodeExecutor(map_execution="parallel"),
        "daft_auto": DaftExecutor(),
        "daft_threads": DaftExecutor(use_process=False),
        "daft_processes": DaftExecutor(use_process=True),
    }
    startup: dict[str, float] = {}
    for name, ex in configs.items():
        ex.map(PIPE, {"x": xs[:8], "work": args.work}, "x")  # warm-up
        startups = []
        for _ in range(3):
            t = time.perf_counter()
            ex.run(PIPE, {"x": 1, "work": 1})
            startups.append(time.perf_counter() - t)
        startup[name] = min(startups)
    # Rounds: every configuration once per round, so that load from other jobs on the machine
    # hits all of them alike; each configuration's median over the rounds is reported.
    times: dict[str, list[float]] = {name: [] for name in configs}
    cpu: dict[str, list[float]] = {name: [] for name in configs}
    expected = None
    for _ in range(args.repeat):
        for name, ex in configs.items():
            c0 = cpu_seconds()
            t0 = time.perf_counter()
            out = ex.map(PIPE, inputs, "x")
            times[name].append(time.perf_counter() - t0)
            cpu[name].append(cpu_seconds() - c0)
            if expected is None:
                expected = out
            assert out == expected, name
    res: dict[str, dict[str, Any]] = {}
    for name in configs:
        res[name] = {
            "map_s": round(statistics.median(times[name]), 3),
            "runs_s": [round(t, 3) for t in times[name]],
            "cpu_s": round(statistics.median(cpu[name]), 3),
            "startup_s": round(startup[name], 4),
        }
    base = res["node_sequential"]["map_s"]
    for r in res.values():
        r["speedup_vs_sequential"] = round(base / r["map_s"], 2)
    report = {
        "items": args.items,
        "work": args.work,
        "repeat": args.repeat,
        "cpus": os.cpu_count(),
        "load_average": os.getloadavg(),
        "results": res,
    }
    print(json.dumps(report, indent=2))
    print(
        f"\n{'executor':<16} {'map (s)':>9} {'vs sequential':>14} {'CPU (s)':>9} "
        f"{'start-up (s)':>13}"
    )
    for name, r in res.items():
        print(
            f"{name:<16} {r['map_s']:>9.2f} {r['speedup_vs_sequential']:>13.2f}x "
            f"{r['cpu_s']:>9.2f} {r['startup_s']:>13.4f}"
        )
    best = max(
        res["daft_auto"]["speedup_vs_sequential"], res["daft_processes"]["speedup_vs_sequential"]
    )
    control = res["node_parallel"]["speedup_vs_sequential"]
    start = max(res["daft_auto"]["startup_s"], res["daft_processes"]["startup_s"])
    report["goals"] = {"speedup": best, "startup_s": start}
    verdict = "MET" if best >= 1.5 else "NOT MET"
    print(
        f"goal: DaftExecutor >= 1.5x sequential: {best:.2f}x {verdict} "
        f"(NodeExecutor parallel, the control on this machine now: {control:.2f}x)"
    )
    verdict = "MET" if start < 0.3 else "NOT MET"
    print(f"goal: start-up (one-item run) < 0.3 s: {start:.4f} s {verdict}")
    print(f"load average when done: {report['load_average'][0]:.2f} ({os.cpu_count()} CPUs)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=2)


if __name__ == "__main__":
    main()
