"""Renders the benchmark results (the JSON of bench_overhead.py and of the Rust bench) as one table.

python benches/python/report.py --python py.json --rust rust.json
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
    args = ap.parse_args(argv)
    sys.stdout.write(render(_load(args.python), _load(args.rust)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
