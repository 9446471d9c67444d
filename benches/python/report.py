"""Renders the benchmark results as one report: the JSON of bench_overhead.py and of the Rust bench
(orchestration overhead), of bench_modes.py and the Rust modes bench (execution modes), of
bench_cache.py (the disk cache) and, when present, of bench_hash.py.

python benches/python/report.py --python py.json --rust rust.json \
    --modes modes.json --rust-modes rust-modes.json --cache cache.json --hash hash.json
"""

from __future__ import annotations

import argparse
import json
import sys
import textwrap
from typing import Any

RUN_GOAL_RATIO = 10.0  # Python: at least 10x less overhead than every peer
RUST_NODE_GOAL_S = 100e-9  # Rust: under 100 ns per node call
BUILD_GOAL_S = 1.0  # both: a 10,000-node pipeline in under 1 s
# issue 3: map speedups over sequential
PY_CPU_GOAL = 1.7  # Python, CPU-bound nodes, "parallel" (2 processes)
RUST_CPU_GOAL = 1.9  # Rust, CPU-bound nodes, "parallel" (rayon, 2 threads)
IO_GOAL = 12.0  # Python, sleeping nodes, "threaded" and "async" at 16 workers
# issue 4: the disk cache
HIT_GOAL_RATIO = 10.0  # a hit per node: at most a tenth of the better peer's
WRITE_GOAL_RATIO = 100.0  # a cold write per node: at most a hundredth of hypernodes 0.4.8's
WRITE_GOAL_LEVEL = 1_000  # ... compared at this cache size (entries)
FLAT_GOAL = 1.5  # "flat": the writes at 1,000 ... 1,000,000 entries within 1.5x of each other
ARRAY_GOAL_GBPS = 2.0  # the key of a 128 MB numpy array: at least 2 GB/s
# issue 13: the disk cache on an embedded database
HIT_OVER_GOAL_S = 1e-6  # a warm hit per node: at most 1 µs over the same run without a cache
FRESH_OVER_GOAL_S = 5e-6  # a hit from a new DiskCache object: at most 5 µs (over no cache)
VALUE_GOAL_GBPS = 1.0  # a 128 MB numpy value stored and read back: at least 1 GB/s


def fmt_time(s: float | None) -> str:
    if s is None:
        return "n/a"
    a = abs(s)
    if a >= 3600:
        return f"{s / 3600:.3g} h"
    if a >= 60:
        return f"{s / 60:.3g} min"
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if a >= scale:
            return f"{s / scale:.3g} {unit}"
    return f"{s / 1e-9:.3g} ns"


def verdict(ok: bool | None) -> str:
    return "not measured" if ok is None else ("MET" if ok else "NOT MET")


def _get(d: dict[str, Any] | None, *path: str) -> Any:
    for p in path:
        if not isinstance(d, dict) or p not in d:
            return None
        d = d[p]
    return d


# (label, path to the median, kind): kind "overhead" rows carry the run/map goal; "build" is the
# build goal and a lower bound when a peer's build ladder stopped early; "declare" is partial then;
# "reference" has no ratio (it only shows how fast each interpreter calls plain functions).
def _rows(n_items: str, n_build: str) -> list[tuple[str, tuple[str, ...], str]]:
    return [
        (
            "run, 10-node chain: overhead per node call",
            ("run", "overhead_per_node_s", "median"),
            "overhead",
        ),
        (
            f"map, {n_items} items: overhead per node call",
            ("map", "overhead_per_node_call_s", "median"),
            "overhead",
        ),
        (f"build a {n_build}-node pipeline", ("build", "build_s", "median"), "build"),
        (f"declare {n_build} nodes", ("build", "declare_s", "median"), "declare"),
        ("reference: the 10 functions called by hand", ("run", "direct_s", "median"), "reference"),
    ]


def fmt_ratio(r: float) -> str:
    if r >= 100:
        return f"{r:,.0f}x"
    return f"{r:.1f}x" if r >= 1 else f"{r:.2f}x"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        first = cells[0].ljust(widths[0])
        rest = [c.rjust(w) for c, w in zip(cells[1:], widths[1:])]
        return "  ".join([first, *rest]).rstrip()

    return [line(header), line(["-" * w for w in widths]), *(line(r) for r in rows)]


def _label(r: dict[str, Any]) -> str:
    label = r.get("impl", "?")
    if r.get("role") == "peer" and label == "pipefunc" and r.get("version"):
        label = f"pipefunc {r['version']}"
    return label


def render_python(doc: dict[str, Any], notes: list[str]) -> list[str]:
    results = doc.get("results", [])
    ours = next((r for r in results if r.get("role") == "ours"), None)
    peers = [r for r in results if r.get("role") == "peer"]
    n_items = f"{_get(ours, 'map', 'items') or 2000:,}"
    n_build = f"{_get(ours, 'build', 'target_nodes') or 10000:,}"
    header = ["Python", "this project"]
    for p in peers:
        header += [_label(p), "ratio"]
    header.append("goal")
    rows = []
    for label, path, kind in _rows(n_items, n_build):
        mine = _get(ours, *path)
        row = [label, fmt_time(mine) if ours and "error" not in ours else "error"]
        ratios = []
        for p in peers:
            theirs = _get(p, *path)
            partial = kind in ("build", "declare") and _get(p, "build", "complete") is False
            if "error" in p:
                row += ["error", ""]
                ratios.append(None)
                continue
            row.append(("≥ " if partial else "") + fmt_time(theirs) + (" †" if partial else ""))
            if kind in ("reference",) or (kind == "declare" and partial):
                row.append("")
            elif mine and theirs is not None and mine > 0:
                ratio = theirs / mine
                ratios.append(ratio)
                row.append(("≥ " if partial else "") + fmt_ratio(ratio))
            else:
                ratios.append(None)
                row.append("n/a")
        goal = ""
        if kind == "overhead":
            ok = None
            if ratios and all(r is not None for r in ratios):
                ok = all(r >= RUN_GOAL_RATIO for r in ratios)
            goal = f"≥{RUN_GOAL_RATIO:.0f}x less than every peer: " + verdict(ok)
        elif kind == "build":
            ok = None if mine is None else mine < BUILD_GOAL_S
            goal = f"< {BUILD_GOAL_S:.0f} s: " + verdict(ok)
        row.append(goal)
        rows.append(row)
    for p in [ours, *peers]:
        if p and "error" in p:
            notes.append(f"{p.get('impl')}: {p['error']}")
        b = _get(p, "build")
        if b and b.get("complete") is False:
            est = b.get("estimate_at_target_s")
            notes.append(
                f"† {_label(p)}: building slows down faster than linearly, so the time budget stopped the "
                f"build at {b['nodes']:,} nodes ({fmt_time(_get(b, 'build_s', 'median'))} to build, "
                f"{fmt_time(_get(b, 'declare_s', 'median'))} to declare): a lower bound for "
                f"{b['target_nodes']:,}"
                + (
                    f"; extrapolated with time ~ nodes^{b.get('estimate_exponent', 2.0):.1f} ("
                    + ("assumed" if len(b.get("ladder", [])) < 2 else "fitted")
                    + f"): about {fmt_time(est)} to declare + build"
                    if est
                    else ""
                )
                + "."
            )
    return _table(header, rows)


def render_rust(doc: dict[str, Any], notes: list[str]) -> list[str]:
    if "error" in doc:
        notes.append(f"Rust bench: {doc['error']}")
    n_items = f"{_get(doc, 'map', 'items') or 2000:,}"
    n_build = f"{_get(doc, 'build', 'target_nodes') or 10000:,}"
    rows = []
    for label, path, kind in _rows(n_items, n_build):
        v = _get(doc, *path)
        goal = ""
        if kind == "overhead" and path[0] == "run":
            goal = f"< {fmt_time(RUST_NODE_GOAL_S)}: " + verdict(
                None if v is None else v < RUST_NODE_GOAL_S
            )
        elif kind == "build":
            goal = f"< {BUILD_GOAL_S:.0f} s: " + verdict(None if v is None else v < BUILD_GOAL_S)
        rows.append([label, fmt_time(v) if "error" not in doc else "error", goal])
    return _table(["Rust", "this project", "goal"], rows)


def _err(d: Any) -> str | None:
    """The error of a result (or of one of its measurements), if any."""
    if isinstance(d, dict) and "error" in d:
        return str(d["error"])
    return None


def _speedup_row(
    label: str,
    part: Any,
    mode_key: str,
    base_label: str,
    goal: float | None,
    notes: list[str],
    notes_missing: bool = False,
) -> list[str] | None:
    """A row of the modes table: the mode's time, the baseline's, the speedup, the goal."""
    err = _err(part)
    if part is None and not notes_missing:
        return None  # not measured (e.g. --only): no row
    if part is None or err:
        if err:
            notes.append(f"{label.strip()}: {err}")
        verdict_text = f"≥ {goal:g}x: " + verdict(None) if goal else ""
        return [label, "error" if err else "n/a", "", "", verdict_text]
    mode_s = _get(part, mode_key, "median")
    base_s = _get(part, "sequential_s", "median")
    speed = base_s / mode_s if base_s and mode_s else None
    goal_text = ""
    if goal is not None:
        goal_text = f"≥ {goal:g}x: " + verdict(None if speed is None else speed >= goal)
    return [
        label,
        fmt_time(mode_s),
        f"{base_label} {fmt_time(base_s)}",
        "n/a" if speed is None else f"{speed:.2f}x",
        goal_text,
    ]


def render_modes(
    py: dict[str, Any] | None, rust: dict[str, Any] | None, notes: list[str]
) -> list[str]:
    """Issue 3: map speedups over sequential, and the parallel map's overhead against pipefunc."""
    header = ["Execution modes (issue 3)", "this project", "baseline", "speedup/ratio", "goal"]
    rows: list[list[str] | None] = []
    results = (py or {}).get("results", [])
    ours = next((r for r in results if r.get("role") == "ours"), None)
    peers = [r for r in results if r.get("role") == "peer"]
    if py is not None and py.get("error"):
        notes.append(f"Python modes: {py['error']}")
    elif py is not None and ours is None:
        notes.append("Python modes: no result for this project")
    if ours is not None and _err(ours):
        notes.append(f"Python modes, this project: {ours['error']}")
    if py is not None:
        cpu = _get(ours, "cpu_parallel")
        n, w = _get(cpu, "items") or 40, _get(cpu, "workers") or 2
        ms = _get(cpu, "item_s")
        per = f"{fmt_time(ms)}" if ms else "20 ms"
        rows.append(
            _speedup_row(
                f"Python CPU-bound map, {n} x {per}, parallel, {w} procs, warm",
                cpu,
                "parallel_s",
                "sequential",
                PY_CPU_GOAL,
                notes,
                notes_missing=ours is None or bool(_err(ours)),
            )
        )
        if cpu and not _err(cpu):
            cold = _get(cpu, "cold_parallel_s", "median")
            base = _get(cpu, "sequential_s", "median")
            rows.append(
                [
                    "  the same, cold (the map starts the processes)",
                    fmt_time(cold),
                    f"sequential {fmt_time(base)}",
                    f"{base / cold:.2f}x" if cold and base else "n/a",
                    "(reported)",
                ]
            )
            hand = _get(cpu, "control", "by_hand_s")
            pool = _get(cpu, "control", "process_pool_s")
            rows.append(
                [
                    f"  control, no HyperNodes: ProcessPoolExecutor({w})",
                    fmt_time(pool),
                    f"by hand {fmt_time(hand)}",
                    f"{hand / pool:.2f}x" if hand and pool else "n/a",
                    "(the machine's limit now)",
                ]
            )
        for key, mode in (("io_threaded", "threaded"), ("io_async", "async")):
            io = _get(ours, key)
            n = _get(io, "items") or 64
            sl = _get(io, "sleep_s")
            w = _get(io, "workers") or 16
            what = "async def, " if mode == "async" else ""
            rows.append(
                _speedup_row(
                    f"Python sleeping map, {n} x {fmt_time(sl) if sl else '50 ms'}, {mode}, "
                    f"{what}{w} workers",
                    io,
                    "mode_s",
                    "sequential",
                    IO_GOAL,
                    notes,
                    notes_missing=ours is None or bool(_err(ours)),
                )
            )
    if rust is not None:
        cpu = _get(rust, "cpu_parallel")
        if rust.get("error"):
            notes.append(f"Rust modes bench: {rust['error']}")
        n, w = _get(cpu, "items") or 80, _get(cpu, "workers") or 2
        ms = _get(cpu, "item_s")
        rows.append(
            _speedup_row(
                f"Rust CPU-bound map, {n} x {fmt_time(ms) if ms else '5 ms'}, parallel (rayon), "
                f"{w} threads",
                cpu,
                "parallel_s",
                "sequential",
                RUST_CPU_GOAL,
                notes,
                notes_missing=bool(_err(rust)),
            )
        )
        if cpu:
            hand = _get(cpu, "control", "by_hand_s")
            thr = _get(cpu, "control", "threads_s")
            rows.append(
                [
                    f"  control, no engine: {w} plain threads",
                    fmt_time(thr),
                    f"by hand {fmt_time(hand)}",
                    f"{hand / thr:.2f}x" if hand and thr else "n/a",
                    "(the machine's limit now)",
                ]
            )
    if py is not None:
        ov = _get(ours, "parallel_overhead")
        mine = _get(ov, "overhead_per_item_s", "median")
        n = _get(ov, "items") or 2000
        w = _get(ov, "workers") or 2
        if _err(ov):
            notes.append(f"parallel map overhead, this project: {ov['error']}")
        for p in peers or [None]:
            theirs = _get(p, "parallel_overhead", "overhead_per_item_s", "median")
            if ov is None and theirs is None and not _err(p):
                continue  # not measured (e.g. --only)
            if p is not None and (_err(p) or _err(_get(p, "parallel_overhead"))):
                notes.append(
                    f"{_label(p)}, parallel map: {_err(p) or _err(_get(p, 'parallel_overhead'))}"
                )
            rows.append(
                [
                    f"Python parallel map, x + 1, {n:,} items, {w} procs, warm: overhead/item",
                    fmt_time(mine) if mine is not None else "n/a",
                    f"{_label(p)} {fmt_time(theirs)}" if p is not None else "",
                    (fmt_ratio(theirs / mine) + " less")
                    if mine and theirs is not None and mine > 0
                    else "n/a",
                    "(no set goal)",
                ]
            )
    return _table(header, [r for r in rows if r is not None])


def _fmt_gbps(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.2f} GB/s"


def render_cache(
    doc: dict[str, Any] | None, hash_doc: dict[str, Any] | None, notes: list[str]
) -> list[str]:
    """Issues 4 and 13: hits, cold writes as the cache grows, a 128 MB value stored and read back,
    and the key of a 128 MB array."""
    results = (doc or {}).get("results", [])
    ours = next((r for r in results if r.get("role") == "ours"), None)
    peers = [r for r in results if r.get("role") == "peer"]
    hn = next((p for p in peers if str(p.get("impl", "")).startswith("hypernodes")), None)
    if doc is not None and doc.get("error"):
        notes.append(f"Cache: {doc['error']}")
    header = ["Cache (issues 4, 13)", "this project"]
    for p in peers:
        header += [_label(p), "ratio"]
    header.append("goal")
    for r in [ours, *peers]:
        if r is not None and _err(r):
            notes.append(f"cache, {_label(r)}: {r['error']}")
        for key in ("hit", "writes", "array", "value"):
            if r is not None and _err(r.get(key)):
                notes.append(f"cache, {_label(r)}, {key}: {r[key]['error']}")

    rows: list[list[str]] = []

    def time_row(label: str, get, goal_fn=None, ratio_ok=True) -> None:
        mine = get(ours)
        if mine is None and all(get(p) is None for p in peers):
            return  # not measured by anyone (e.g. --only)
        row = [label, fmt_time(mine) if mine is not None else "n/a"]
        ratios: dict[str, float | None] = {}
        for p in peers:
            theirs = get(p)
            row.append(fmt_time(theirs) if theirs is not None else "—")
            if ratio_ok and mine and theirs:
                ratios[_label(p)] = theirs / mine
                row.append(fmt_ratio(theirs / mine))
            else:
                ratios[_label(p)] = None
                row.append("")
        row.append(goal_fn(mine, ratios) if goal_fn else "")
        rows.append(row)

    def hit_goal(mine: float | None, ratios: dict[str, float | None]) -> str:
        peer_times = [
            _get(p, "hit", "per_node_s", "median")
            for p in peers
            if _get(p, "hit", "per_node_s", "median") is not None
        ]
        ok = None
        if mine is not None and peer_times:
            ok = mine <= min(peer_times) / HIT_GOAL_RATIO
        return f"≤ 1/{HIT_GOAL_RATIO:.0f} of the better peer: " + verdict(ok)

    time_row(
        "hit per node (10-node chain, repeated run)",
        lambda r: _get(r, "hit", "per_node_s", "median"),
        hit_goal,
    )

    def over(r: Any, key: str) -> float | None:
        hit, bare = _get(r, "hit", key, "median"), _get(r, "hit", "nocache_per_node_s", "median")
        return None if hit is None or bare is None else max(hit - bare, 0.0)

    def over_goal(limit: float):
        def goal(mine: float | None, ratios: dict[str, float | None]) -> str:
            return f"≤ {fmt_time(limit)}: " + verdict(None if mine is None else mine <= limit)

        return goal

    time_row(
        "  hit per node over the run without a cache",
        lambda r: over(r, "per_node_s"),
        over_goal(HIT_OVER_GOAL_S),
    )
    time_row(
        "  hit, new pipeline + cache objects (from disk)",
        lambda r: _get(r, "hit", "fresh_per_node_s", "median"),
    )
    time_row(
        "  the same, over the run without a cache",
        lambda r: over(r, "fresh_per_node_s"),
        over_goal(FRESH_OVER_GOAL_S),
    )
    time_row(
        "  reference: the chain without a cache, per node",
        lambda r: _get(r, "hit", "nocache_per_node_s", "median"),
        ratio_ok=False,
    )
    time_row(
        "  hit after a restart (declare + build + run)",
        lambda r: _get(r, "hit", "restart_per_node_s", "median"),
    )

    def level_time(r: Any, level: int) -> float | None:
        for lv in _get(r, "writes", "levels") or []:
            if lv.get("entries") == level:
                return _get(lv, "per_write_s", "median")
        return None

    levels = sorted(
        {lv["entries"] for r in [ours, *peers] for lv in (_get(r, "writes", "levels") or [])}
    )
    for level in levels:

        def goal_fn(mine: float | None, ratios: dict[str, float | None], level=level) -> str:
            if level == WRITE_GOAL_LEVEL:
                r = ratios.get(_label(hn)) if hn is not None else None
                return f"≤ 1/{WRITE_GOAL_RATIO:.0f} of hypernodes 0.4.8: " + verdict(
                    None if r is None else r >= WRITE_GOAL_RATIO
                )
            if level == max(levels) and level > WRITE_GOAL_LEVEL:
                # flat: every size from 1,000 up within FLAT_GOAL of each other
                ts = [level_time(ours, lv) for lv in levels if lv >= WRITE_GOAL_LEVEL]
                ok, spread = None, ""
                if ts and all(t is not None for t in ts) and min(ts) > 0:
                    ok = max(ts) <= FLAT_GOAL * min(ts)
                    spread = f" ({max(ts) / min(ts):.1f}x)"
                return f"flat, 1k-{level // 1000}k max/min ≤ {FLAT_GOAL:g}{spread}: " + verdict(ok)
            return ""

        time_row(
            f"cold write per node at {level:,} entries",
            lambda r, level=level: level_time(r, level),
            goal_fn,
        )
    for p in peers:
        w = _get(p, "writes")
        if w and w.get("complete") is False and w.get("stopped"):
            st = w["stopped"]
            notes.append(
                f"— {_label(p)}: the write measurement stopped before {st['next_level']:,} entries "
                f"(time budget; {st['spent_s']:.0f} s spent"
                + (
                    f", about {st['predicted_s']:.0f} s more predicted"
                    if "predicted_s" in st
                    else f", filled to {st.get('filled_to', 0):,}"
                )
                + ")."
            )
    time_row(
        "  reference: the same map without a cache",
        lambda r: _get(r, "writes", "nocache_per_item_s"),
        ratio_ok=False,
    )
    if any(_get(lv, "fs_floor_s") for lv in _get(ours, "writes", "levels") or []):
        time_row(
            f"  reference: file system alone, at {WRITE_GOAL_LEVEL:,}",
            lambda r: (
                None
                if r is not ours
                else next(
                    (
                        _get(lv, "fs_floor_s", "median")
                        for lv in _get(r, "writes", "levels") or []
                        if lv.get("entries") == WRITE_GOAL_LEVEL
                    ),
                    None,
                )
            ),
            lambda mine, ratios: "(1 file: create, write, rename)",
            ratio_ok=False,
        )
        floors = "; ".join(
            f"{lv['entries']:,}: {fmt_time(_get(lv, 'fs_floor_s', 'median'))}"
            for lv in _get(ours, "writes", "levels") or []
            if _get(lv, "fs_floor_s")
        )
        notes.append(
            "File-system floor: creating, writing and renaming one 60-byte file from Python in a "
            f"small directory, timed next to this project's writes at each cache size: {floors}. "
            "What a cache keeping one file per entry pays at least; this project's DiskCache keeps "
            "small entries in its SQLite index, written in group commits."
        )

    def gbps_row(label: str, key: str) -> None:
        mine = _get(ours, "array", key)
        if mine is None and all(_get(p, "array", key) is None for p in peers):
            return
        row = [label, _fmt_gbps(mine)]
        for p in peers:
            theirs = _get(p, "array", key)
            row.append(_fmt_gbps(theirs) if theirs is not None else "—")
            row.append(fmt_ratio(mine / theirs) if mine and theirs else "")
        row.append(f"≥ {ARRAY_GOAL_GBPS:g} GB/s: " + verdict(None if mine is None else mine >= 2))
        rows.append(row)

    def value_row(label: str, key: str) -> None:
        mine = _get(ours, "value", key)
        if mine is None and all(_get(p, "value", key) is None for p in peers):
            return
        row = [label, _fmt_gbps(mine)]
        for p in peers:
            theirs = _get(p, "value", key)
            row.append(_fmt_gbps(theirs) if theirs is not None else "—")
            row.append(fmt_ratio(mine / theirs) if mine and theirs else "")
        row.append(
            f"≥ {VALUE_GOAL_GBPS:g} GB/s: "
            + verdict(None if mine is None else mine >= VALUE_GOAL_GBPS)
        )
        rows.append(row)

    value_row("128 MB numpy value: stored (first run)", "store_gbps")
    value_row("128 MB numpy value: read back (new objects)", "read_gbps")
    gbps_row("key of a 128 MB array: 1-node pipeline hit", "pipeline_hit_gbps")
    gbps_row("key of a 128 MB array: hashing function", "hash_gbps")
    if hash_doc is not None:
        best = _get(hash_doc, "array_128mb", "gbps")
        median = _get(hash_doc, "array_128mb", "median_gbps")
        if _err(hash_doc) or best is None:
            notes.append(f"bench_hash.py: {_err(hash_doc) or 'no array_128mb result'}")
        else:
            rows.append(
                [
                    "  bench_hash.py: hash_value (best / median)",
                    f"{best:.2f} / {median:.2f} GB/s" if median else f"{best:.2f} GB/s",
                ]
                + [""] * (2 * len(peers))
                + [f"≥ {ARRAY_GOAL_GBPS:g} GB/s (median): " + verdict((median or best) >= 2)]
            )
    if hn is not None and not hn.get("array") and not _err(hn) and _get(ours, "array"):
        notes.append("hypernodes 0.4.8: no array measurement (numpy missing in its venv?)")
    notes.append(
        "Cache ratios: peer time / ours (for GB/s: ours / peer). pipefunc caches `run` only, so its "
        "writes are `run` calls one by one; it is not measured on arrays. diskcache is a key-value "
        "store: its nodes are plain functions wrapped in `Cache.memoize()`, called in order."
    )
    return _table(header, rows)


def render_all(docs: dict[str, dict[str, Any] | None]) -> str:
    """Every section present in ``docs`` (keys: python, rust, modes, rust_modes, cache, hash)."""
    out = [
        "HyperNodes benchmarks: medians of repeated measurements, lower times are better.",
        "overhead per node call = (orchestrated time - the same functions called by hand) / node calls;",
        "ratio = peer / this project (how many times less overhead or time this project takes);",
        "speedup = sequential time / time in the mode, both measured in the same process, alternating.",
        "",
    ]
    notes: list[str] = []
    if any(d and d.get("quick") for d in docs.values()):
        out.append("(--quick: shortened runs, smaller sizes; numbers are rough)")
    if docs.get("python") is not None:
        out += render_python(docs["python"], notes)
        out.append("")
    if docs.get("rust") is not None:
        out += render_rust(docs["rust"], notes)
        out.append("")
    if docs.get("modes") is not None or docs.get("rust_modes") is not None:
        out += render_modes(docs.get("modes"), docs.get("rust_modes"), notes)
        out.append("")
    if docs.get("cache") is not None or docs.get("hash") is not None:
        out += render_cache(docs.get("cache"), docs.get("hash"), notes)
        out.append("")
    out += [textwrap.fill(n, width=100, subsequent_indent="  ") for n in notes]
    return "\n".join(out).rstrip() + "\n"


def render(py: dict[str, Any] | None, rust: dict[str, Any] | None) -> str:
    out = [
        "HyperNodes benchmarks: medians of repeated measurements, lower is better.",
        "overhead per node call = (orchestrated time - the same functions called by hand) / node calls;",
        "ratio = peer / this project (how many times less overhead or time this project takes).",
        "",
    ]
    notes: list[str] = []
    if py is not None:
        if py.get("quick"):
            out.append("(--quick: shortened runs, smaller map and build sizes; numbers are rough)")
        out += render_python(py, notes)
        out.append("")
    if rust is not None:
        out += render_rust(rust, notes)
        out.append("")
    out += [textwrap.fill(n, width=100, subsequent_indent="  ") for n in notes]
    return "\n".join(out).rstrip() + "\n"


def _load(path: str | None) -> dict[str, Any] | None:
    if not path:
        return None
    try:
        with open(path) as fh:
            text = fh.read().strip()
        return json.loads(text.splitlines()[-1] if text and not text.startswith("{\n") else text)
    except (OSError, ValueError, IndexError) as exc:
        return {"error": f"could not read {path}: {exc}", "results": []}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--python", help="JSON written by bench_overhead.py --json")
    ap.add_argument("--rust", help="JSON printed by the Rust bench")
    ap.add_argument("--modes", help="JSON written by bench_modes.py --json")
    ap.add_argument("--rust-modes", help="JSON printed by the Rust modes bench")
    ap.add_argument("--cache", help="JSON written by bench_cache.py --json")
    ap.add_argument("--hash", help="JSON printed by bench_hash.py (optional)")
    args = ap.parse_args(argv)
    docs = {
        "python": _load(args.python),
        "rust": _load(args.rust),
        "modes": _load(args.modes),
        "rust_modes": _load(args.rust_modes),
        "cache": _load(args.cache),
        "hash": _load(args.hash),
    }
    sys.stdout.write(render_all(docs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
