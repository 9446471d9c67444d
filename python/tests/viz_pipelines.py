"""Pipelines the visualization tests draw: a three-level retrieval pipeline with mappings, a map, a
bound value, defaults, an async node and a node with cache=False."""

from __future__ import annotations

from hypernodes import Pipeline, node


class Index:
    """A toy index."""

    def __init__(self, docs: list[str]) -> None:
        self.docs = docs


@node(output_name="index")
def build_index(corpus: list[str]) -> Index:
    return Index(corpus)


@node(output_name="tokens")
def tokenize(query: str, lowercase: bool = True) -> list[str]:
    return (query.lower() if lowercase else query).split()


@node(output_name=("hits", "scores"))
def search(tokens: list[str], index: Index, top_k: int) -> tuple[list[str], list[float]]:
    hits = [d for d in index.docs if any(t in d for t in tokens)][:top_k]
    return hits, [1.0] * len(hits)


@node(output_name="answer", cache=False)
async def generate(docs: list[str], model_name: str) -> str:
    return f"{model_name}: {len(docs)}"


@node(output_name="report")
def summarize(answers: list[str]) -> str:
    return "; ".join(answers)


def retrieval() -> Pipeline:
    """Level 3: tokenize and search; top_k is bound."""
    return Pipeline([tokenize, search], name="retrieval").bind(top_k=2)


def qa() -> Pipeline:
    """Level 2: the retrieval pipeline (renamed inputs and outputs) then generate."""
    r = retrieval().as_node(
        name="retrieve", input_mapping={"question": "query"}, output_mapping={"hits": "docs"}
    )
    return Pipeline([r, generate], name="qa")


def rag() -> Pipeline:
    """Level 1: build the index, map qa over questions, summarize."""
    per_question = qa().as_node(
        name="answer_all",
        input_mapping={"questions": "question"},
        output_mapping={"answer": "answers"},
        map_over="questions",
    )
    return Pipeline([build_index, per_question, summarize], name="rag")
