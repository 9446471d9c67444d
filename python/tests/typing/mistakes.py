"""Deliberate mistakes: scripts/typecheck.sh checks that pyright and mypy report every line that
carries an expect-error comment, and nothing else. (Never run: it fails at the first mistake.)"""

from __future__ import annotations

from hypernodes import DiskCache, NodeExecutor, Pipeline, node


@node(output_name="cleaned")
def clean(text: str) -> str:
    return text.strip()


@node
def count(cleaned: str) -> int:
    return len(cleaned)


p = Pipeline(nodes=[clean, count])

clean(3)  # expect-error: a node keeps its function's parameter types
count()  # expect-error: ... and its required parameters
n: int = clean("x")  # expect-error: ... and its return type
p.run(inputs="text")  # expect-error: inputs is a dict
p.run({"text": "x"}, output_name=1)  # expect-error: output_name is a name or names
p.map({"text": ["a"]}, map_over="text", map_mode="cartesian")  # expect-error: zip or product
Pipeline(nodes=[clean], name=5)  # expect-error: a name is a str
Pipeline(nodes=[clean], cache=True)  # expect-error: a cache object, False or None
Pipeline(nodes=[clean.func])  # expect-error: nodes are Nodes or Pipelines
NodeExecutor(node_execution="threads")  # expect-error: one of four modes
p.as_node(input_mapping=["text"])  # expect-error: a mapping {outer: inner}
DiskCache(3)  # expect-error: a path
p.with_callbacks([object()])  # expect-error: Callback instances


@node(output_name=3)  # expect-error: a str or names
def bad(x: int) -> int:
    return x


p.with_executor("threaded")  # expect-error: an executor object
