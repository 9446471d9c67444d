"""Pictures of a pipeline and of a run: a three-level retrieval pipeline drawn at each depth, as an
interactive page, and a RunReport of a run drawn as a coloured picture and a timeline.

    python examples/python/visualize_example.py [output folder]

Static pictures (.svg) need Graphviz's `dot` program; the .dot and .html files do not.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
from pathlib import Path

from hypernodes import MemoryCache, Pipeline, RunReport, node


@node(output_name="index")
def build_index(corpus: list[str]) -> dict[str, set[str]]:
    return {doc: set(doc.lower().split()) for doc in corpus}


@node(output_name="tokens")
def tokenize(query: str, lowercase: bool = True) -> list[str]:
    time.sleep(0.01)
    return (query.lower() if lowercase else query).split()


@node(output_name=("hits", "scores"))
def search(
    tokens: list[str], index: dict[str, set[str]], top_k: int
) -> tuple[list[str], list[int]]:
    time.sleep(0.03)
    scored = sorted(((len(words & set(tokens)), d) for d, words in index.items()), reverse=True)
    best = [(s, d) for s, d in scored if s > 0][:top_k]
    return [d for _, d in best], [s for s, _ in best]


@node(output_name="answer")
def generate(docs: list[str], model_name: str) -> str:
    time.sleep(0.02)
    return f"[{model_name}] " + (docs[0] if docs else "no answer")


@node(output_name="report")
def summarize(answers: list[str]) -> str:
    return "\n".join(answers)


def make_pipeline() -> Pipeline:
    """rag: build the index, answer every question (a mapped pipeline holding a retrieval
    pipeline), summarize."""
    retrieval = Pipeline([tokenize, search], name="retrieval").bind(top_k=2)
    qa = Pipeline(
        [
            retrieval.as_node(
                name="retrieve",
                input_mapping={"question": "query"},
                output_mapping={"hits": "docs"},
            ),
            generate,
        ],
        name="qa",
    )
    return Pipeline(
        [
            build_index,
            qa.as_node(
                name="answer_all",
                input_mapping={"questions": "question"},
                output_mapping={"answer": "answers"},
                map_over="questions",
            ),
            summarize,
        ],
        name="rag",
    )


INPUTS = {
    "corpus": ["Rust is fast", "Python is friendly", "Graphs draw pipelines"],
    "questions": ["is rust fast", "what draws pipelines", "is python friendly"],
    "model_name": "tiny",
}


def run_with_report() -> tuple[Pipeline, RunReport]:
    """Runs the pipeline twice with a cache (the second run's questions partly repeat the first's)
    under one RunReport."""
    report = RunReport()
    p = make_pipeline()
    p = Pipeline(p.nodes, name=p.name, cache=MemoryCache(), callbacks=[report])
    p.run(inputs=INPUTS)
    p.run(inputs={**INPUTS, "questions": ["is rust fast", "anything new"]})
    return p, report


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    p = make_pipeline()
    print(p)
    print(p.nodes[0])
    has_dot = shutil.which("dot") is not None
    for depth in (1, 2, None):
        g = p.visualize(depth=depth)
        g.save(out / f"rag_depth_{depth}.dot")
        if has_dot:
            g.save(out / f"rag_depth_{depth}.svg")
    p.visualize(depth=1, filename=out / "rag_interactive.html")
    run_p, report = run_with_report()
    print(report.table())
    report.timeline(out / "run_timeline.svg")
    report.visualize(run_p, out / ("run_picture.svg" if has_dot else "run_picture.dot"))
    print(f"pictures written to {out}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp(prefix="hn-viz-")))
