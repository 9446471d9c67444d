"""An ``async def`` node (an I/O-bound call: ``asyncio.sleep``) inside a nested mapped pipeline:
DaftExecutor against NodeExecutor(map_execution="async"), in this process, after a warm-up call
each. Goal (issue 9): DaftExecutor within 1.5x of NodeExecutor(map_execution="async").

    python benches/python/bench_daft_async_nested.py [--outer 8] [--inner 16] [--sleep 0.01] [--workers 32] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time

from hypernodes import NodeExecutor, Pipeline, node
from hypernodes.daft import DaftExecutor

SLEEP = 0.01


@node(output_name="answer")
async def ask(question: str) -> str:
    await asyncio.sleep(SLEEP)
    return question.upper()


@node(output_name="n")
def count(answers: list[str]) -> int:
    return len(answers)


def build() -> Pipeline:
    inner = Pipeline(nodes=[ask], name="per_question")
    per_doc = inner.as_node(
        name="ask_all",
        input_mapping={"questions": "question"},
        output_mapping={"answer": "answers"},
        map_over="questions",
    )
    return Pipeline(nodes=[per_doc, count], name="docs")


def timed(ex, p, inputs) -> float:
    t = time.perf_counter()
    out = ex.map(p, inputs, "questions")
    elapsed = time.perf_counter() - t
    assert [r["n"] for r in out] == [len(q) for q in inputs["questions"]]
    return elapsed


def main() -> None:
    global SLEEP
    ap = argparse.ArgumentParser()
    ap.add_argument("--outer", type=int, default=8)
    ap.add_argument("--inner", type=int, default=16)
    ap.add_argument("--sleep", type=float, default=0.01)
    ap.add_argument("--workers", type=int, default=32, help="NodeExecutor's max_workers")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    SLEEP = args.sleep
    p = build()
    docs = [[f"q{d}-{i}" for i in range(args.inner)] for d in range(args.outer)]
    inputs = {"questions": docs}
    executors = {
        "node_async": NodeExecutor(map_execution="async", max_workers=args.workers),
        "daft": DaftExecutor(),
    }
    times = {}
    for name, ex in executors.items():
        timed(ex, p, {"questions": docs[:1]})  # warm-up
        times[name] = min(timed(ex, p, inputs) for _ in range(3))
    ratio = times["daft"] / times["node_async"]
    if args.json:
        print(json.dumps({"suite": "daft_async_nested", **times, "ratio": ratio}))
        return
    for name, t in times.items():
        print(f"{name:<12} {t:7.3f} s")
    verdict = "MET" if ratio <= 1.5 else "NOT MET"
    print(f"daft / node_async: {ratio:.2f}x (goal <= 1.5x: {verdict})")


if __name__ == "__main__":
    main()
