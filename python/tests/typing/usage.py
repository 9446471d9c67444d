"""Correct use of the public API: type checkers must report nothing here (scripts/typecheck.sh).

The ``assert_type`` lines check that the types are precise, not ``Any``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, assert_type

from hypernodes import (
    Callback,
    DiskCache,
    MemoryCache,
    Node,
    NodeExecutor,
    Pipeline,
    ProgressCallback,
    node,
)


@node(output_name="cleaned")
def clean(text: str) -> str:
    return text.strip()


@node
def count(cleaned: str, min_len: int = 0) -> int:
    return len(cleaned)


as_function: Callable[[str], str] = clean  # a node keeps its function's signature
as_node: Node = clean
assert_type(clean("  hi "), str)
assert_type(count("x", min_len=2), int)


class Printer(Callback):
    def on_node_end(self, node_id: str, outputs: dict, duration: float, ctx: Any) -> None:
        print(node_id, duration)


p = Pipeline(
    nodes=[clean, count],
    name="text",
    executor=NodeExecutor(node_execution="sequential", map_execution="threaded", max_workers=4),
    cache=MemoryCache(),
    callbacks=[Printer(), ProgressCallback(enable=False)],
)
result = p.run(inputs={"text": " hi "}, output_name="count")
assert_type(result, dict[str, Any])
items = p.map(inputs={"text": ["a", "bb"]}, map_over="text", map_mode="zip")
assert_type(items, list[dict[str, Any]])
shared = {"text": "x", "unrelated": 1}
p.run(shared, ignore_unknown_inputs=True)

inner = p.as_node(name="inner", input_mapping={"doc": "text"}, map_over="doc")
assert_type(inner(doc=["a"]), dict[str, Any])
outer = Pipeline(nodes=[inner]).with_name("outer").with_cache(DiskCache("/tmp/hn-typing"))
outer = outer.with_executor(None).with_callbacks([]).with_cache(False)
bound = p.bind(text="x").unbind("text")
assert_type(bound, Pipeline)
assert_type(p.inputs, list[str])
uncached: Callable[[str], str] = clean.with_cache(False)
executor = NodeExecutor()
assert_type(executor.run(p, {"text": "x"}), dict[str, Any])
assert_type(executor.map(p, {"text": ["x"]}, map_over=["text"]), list[dict[str, Any]])
