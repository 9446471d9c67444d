"""Pictures mark what changes how a node runs: a DualNode's batches and a @stateful object (a
model bound as an input, or a node whose function is a method of one)."""

from __future__ import annotations

from hypernodes import DualNode, Pipeline, node, stateful


@stateful
class Model:
    def __init__(self, name: str) -> None:
        self.name = name

    def score(self, text: str) -> int:
        return len(text)

    def score_many(self, texts):
        return [len(t) for t in texts]


def _one(text: str) -> int:
    return len(text)


def _many(texts):
    return [len(t) for t in texts]


def test_a_dual_node_is_marked_with_its_batch_size():
    dual = DualNode("length", _one, _many, batch_size=64)

    @node(output_name="plain")
    def plain(length: int) -> int:
        return length

    source = Pipeline(nodes=[dual, plain], name="p").visualize().source
    assert "DualNode: batches of 64" in source
    assert "DualNode" not in Pipeline(nodes=[plain], name="q").visualize().source


def test_stateful_inputs_and_methods_are_marked():
    @node(output_name="n")
    def use(model: Model, text: str) -> int:
        return model.score(text)

    bound = Pipeline(nodes=[use], name="bound").bind(model=Model("m"))
    assert "@stateful" in bound.visualize().source
    assert "@stateful" not in Pipeline(nodes=[use], name="unbound").visualize().source

    m = Model("m")
    method = DualNode("n", m.score, m.score_many)
    source = Pipeline(nodes=[method], name="method").visualize().source
    assert "@stateful" in source and "DualNode" in source
    assert m._instance is None, "drawing the picture does not build the model"
