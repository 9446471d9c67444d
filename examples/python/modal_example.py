"""Run a HyperNodes pipeline inside Modal functions (guide: docs/guides/modal.md).

    pip install modal && modal setup        # once
    modal run examples/python/modal_example.py

The pipeline is ordinary module-level code. Modal imports this module again inside each container,
so the pipeline is rebuilt there from its code: no Pipeline object is ever sent over the wire, only
the inputs (a list of strings) and the outputs (a dict). Without Modal installed,
``python examples/python/modal_example.py`` runs the same pipeline locally.

Getting hypernodes into the image: set HYPERNODES_WHEEL to a wheel built with
``maturin build --release --out dist`` on Linux x86_64 (fast), or leave it unset to build HyperNodes
from this repository's source inside the image (slower the first time: it installs Rust there).
"""

from __future__ import annotations

import importlib
import os
from collections import Counter
from pathlib import Path

from hypernodes import Pipeline, node

# --- the pipeline: per document, then per shard of documents ---------------------------------


@node(output_name="words")
def tokenize(text: str) -> list[str]:
    return [w.strip(".,:;()[]'\"`").lower() for w in text.split()]


@node(output_name="word_count")
def count_words(words: list[str]) -> int:
    return len(words)


@node(output_name="top_words")
def top_words(words: list[str], min_length: int = 6) -> list[str]:
    return [w for w, _ in Counter(w for w in words if len(w) >= min_length).most_common(3)]


per_doc = Pipeline(nodes=[tokenize, count_words, top_words], name="per_doc")


@node(output_name="summary")
def summarize(counts: list[int], tops: list[list[str]]) -> dict:
    return {"docs": len(counts), "words": sum(counts), "top": Counter(w for t in tops for w in t)}


shard = Pipeline(
    nodes=[
        per_doc.as_node(
            name="docs",
            input_mapping={"docs": "text"},
            output_mapping={"word_count": "counts", "top_words": "tops"},
            map_over="docs",
        ),
        summarize,
    ],
    name="shard",
)


def analyze(docs: list[str]) -> dict:
    """What each Modal container runs: the pipeline on one shard, returning plain data."""
    return shard.run(inputs={"docs": docs}, output_name="summary")["summary"]


def load_shards(n_shards: int = 4) -> list[list[str]]:
    """Real text every machine has: the docstrings of some standard-library modules."""
    names = ["argparse", "asyncio", "collections", "csv", "dataclasses", "email", "functools"]
    names += ["heapq", "inspect", "json", "logging", "pathlib", "pickle", "re", "typing", "zipfile"]
    docs = [importlib.import_module(m).__doc__ or "" for m in names]
    return [docs[i::n_shards] for i in range(n_shards)]


def merge(summaries: list[dict]) -> dict:
    top: Counter = Counter()
    for s in summaries:
        top.update(s["top"])
    return {
        "shards": len(summaries),
        "docs": sum(s["docs"] for s in summaries),
        "words": sum(s["words"] for s in summaries),
        "top": top.most_common(5),
    }


# --- Modal: optional; this file imports and runs without it -----------------------------------

try:
    import modal
except ImportError:  # Modal is not installed: only the local run below is available.
    modal = None

# The repository root (locally; inside a container this file sits elsewhere and ROOT is unused).
ROOT = Path(__file__).resolve().parent.parent.parent


def hypernodes_image():
    """A Debian image with Python 3.11 and hypernodes installed (from a wheel, or from source)."""
    image = modal.Image.debian_slim(python_version="3.11")
    wheel = os.environ.get("HYPERNODES_WHEEL")
    if wheel:
        remote = f"/wheels/{Path(wheel).name}"
        return image.add_local_file(wheel, remote, copy=True).pip_install(remote)
    return (
        image.apt_install("curl", "build-essential")
        .run_commands("curl -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal")
        .add_local_dir(
            ROOT,
            "/src/hypernodes",
            copy=True,
            ignore=["target", ".venv", ".git", "**/__pycache__", "**/*.so", "benches"],
        )
        .run_commands("PATH=/root/.cargo/bin:$PATH pip install /src/hypernodes")
    )


if modal is not None:
    app = modal.App("hypernodes-example")

    @app.function(image=hypernodes_image(), timeout=600)
    def analyze_shard(docs: list[str]) -> dict:
        # Inside the container: `shard` was built when Modal imported this module there.
        return analyze(docs)

    @app.local_entrypoint()
    def main() -> None:
        summaries = list(analyze_shard.map(load_shards()))  # one container call per shard
        print(merge(summaries))


if __name__ == "__main__":
    print(merge([analyze(docs) for docs in load_shards()]))
