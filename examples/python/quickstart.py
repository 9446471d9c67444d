"""The README's Python quick start: nodes, a pipeline, run, map, and a nested pipeline."""

from hypernodes import Pipeline, node


@node(output_name="cleaned")
def clean(text: str) -> str:
    return text.strip().lower()


@node(output_name="word_count")
def count(cleaned: str) -> int:
    return len(cleaned.split())


# Wired by name: count's parameter `cleaned` is clean's output. The order of `nodes` does not matter.
text = Pipeline(nodes=[clean, count], name="text")
print(text.inputs, text.outputs)  # ['text'] ['cleaned', 'word_count']

print(text.run(inputs={"text": "  Hello World  "}))
# {'cleaned': 'hello world', 'word_count': 2}

print(text.map(inputs={"text": ["One", "Two words"]}, map_over="text"))
# [{'cleaned': 'one', 'word_count': 1}, {'cleaned': 'two words', 'word_count': 2}]


# A pipeline is a node too: map it over a list of documents inside a bigger pipeline.
@node(output_name="total")
def total(counts: list[int]) -> int:
    return sum(counts)


corpus = Pipeline(
    nodes=[
        text.as_node(
            name="per_doc",
            input_mapping={"docs": "text"},  # {outer name: inner name}
            output_mapping={"word_count": "counts"},  # {inner name: outer name}
            map_over="docs",
        ),
        total,
    ],
    name="corpus",
)
print(corpus.run(inputs={"docs": ["a b c", "d e", "f"]}))
# {'counts': [3, 2, 1], 'total': 6}
