"""A "model" loaded once per process and called on batches: ``@stateful`` and ``DualNode``.

The pipeline ranks documents against a query:

- ``clean`` (an ordinary node) normalizes one document;
- ``embed`` (a DualNode) turns text into a vector with a small ``Encoder`` model: ``encode_one`` for a
  single text (``run``), ``encode_many`` for a batch of texts (``map``), vectorized with NumPy;
- ``score`` (an ordinary node) compares one document's vector with the query's.

``Encoder`` is ``@stateful``: creating it costs nothing, it is built on first use, once per process
(once here, once per worker process in a parallel map), and it travels to worker processes as its
class and arguments, never as its weights. The example maps the pipeline with NodeExecutor (in this
process, then on worker processes) and with DaftExecutor, and checks that they agree::

    python examples/python/batch_model.py
"""

from __future__ import annotations

import hashlib
import time

import numpy as np
from hypernodes import DualNode, NodeExecutor, Pipeline, node, stateful
from hypernodes.daft import DaftExecutor


@stateful
class Encoder:
    """A toy text encoder: hashed character trigrams projected by a random matrix."""

    def __init__(self, dim: int, seed: int = 0):
        time.sleep(0.2)  # stands in for loading weights
        self.buckets = 512
        self.projection = np.random.default_rng(seed).normal(size=(self.buckets, dim))

    def _counts(self, text: str) -> np.ndarray:
        counts = np.zeros(self.buckets)
        for i in range(max(1, len(text) - 2)):
            digest = hashlib.blake2b(text[i : i + 3].encode(), digest_size=4).digest()
            counts[int.from_bytes(digest, "little") % self.buckets] += 1
        return counts

    def encode_one(self, text: str) -> np.ndarray:
        return self.encode_many([text])[0]

    def encode_many(self, text) -> np.ndarray:
        texts = text.to_pylist() if hasattr(text, "to_pylist") else list(text)
        vectors = np.stack([self._counts(t) for t in texts]) @ self.projection
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


@node(output_name="text")
def clean(doc: str) -> str:
    return " ".join(doc.lower().split())


@node(output_name="score")
def score(vector: np.ndarray, query_vector: np.ndarray) -> float:
    return round(float(vector @ query_vector), 6)


def build(encoder: Encoder, executor=None) -> Pipeline:
    embed = DualNode(
        "vector", singular=encoder.encode_one, batch=encoder.encode_many, batch_size=64
    )
    return Pipeline(nodes=[clean, embed, score], name="rank", executor=executor)


DOCS = [
    "Pipelines of plain functions",
    "A Rust engine with a Python API",
    "Load the model once per worker",
    "Batches of texts for the embedding model",
    "Caching per node and per item",
    "Nested pipelines are nodes too",
] * 50


def main() -> None:
    encoder = Encoder(dim=32)  # nothing is built yet
    query_vector = encoder.encode_one("embedding model batches")  # built here, now
    pipeline = build(encoder)

    one = pipeline.run(inputs={"doc": DOCS[3], "query_vector": query_vector})
    print(f"run: {one['text']!r} scores {one['score']}")

    results = {}
    for label, executor in [
        ("NodeExecutor, this process", NodeExecutor()),
        ("NodeExecutor, worker processes", NodeExecutor(map_execution="parallel", max_workers=2)),
        ("DaftExecutor", DaftExecutor(use_process=False)),
    ]:
        t = time.perf_counter()
        out = build(encoder, executor).map(
            inputs={"doc": DOCS, "query_vector": query_vector}, map_over="doc"
        )
        results[label] = [o["score"] for o in out]
        print(f"{label:<32} {len(out)} documents in {time.perf_counter() - t:.2f} s")

    first = next(iter(results.values()))
    assert all(r == first for r in results.values()), "executors disagree"
    assert first[3] == one["score"], "the batch and the single path disagree"
    ranked = sorted(set(zip(first, DOCS)), reverse=True)[:3]
    print("best matches:")
    for s, doc in ranked:
        print(f"  {s:+.3f}  {doc}")


if __name__ == "__main__":
    main()
