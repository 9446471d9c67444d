"""Declaring nodes: the forms of ``@node`` and the attributes of the ``Node`` it returns."""

from __future__ import annotations

import pytest
from hypernodes import HyperNodesError, Node, Pipeline, node


def test_bare_decorator_defaults():
    def double(x):
        return 2 * x

    n = node(double)
    assert isinstance(n, Node)
    assert n.name == "double"
    assert n.output_name == "double"
    assert list(n.outputs) == ["double"]
    assert list(n.inputs) == ["x"]
    assert n.cache is True
    assert n.version is None
    assert n.func is double
    assert n.is_pipeline is False
    assert n.pipeline is None


def test_at_node_without_parentheses():
    @node
    def triple(x):
        return 3 * x

    assert isinstance(triple, Node)
    assert triple.name == "triple"
    assert triple.output_name == "triple"


def test_at_node_with_empty_parentheses():
    @node()
    def square(x):
        return x * x

    assert square.name == "square"
    assert square.output_name == "square"


def test_default_output_name_is_function_name_and_wires_downstream():
    @node
    def cleaned(text):
        return text.strip()

    @node(output_name="length")
    def measure(cleaned):
        return len(cleaned)

    p = Pipeline([measure, cleaned])
    assert p.run({"text": "  hi  "}) == {"cleaned": "hi", "length": 2}


def test_single_output_name():
    @node(output_name="total")
    def add(a, b):
        return a + b

    assert add.name == "add"
    assert add.output_name == "total"
    assert list(add.outputs) == ["total"]
    assert list(add.inputs) == ["a", "b"]
    assert Pipeline([add]).run({"a": 1, "b": 2}) == {"total": 3}


def test_tuple_outputs():
    @node(output_name=("q", "r"))
    def divmod_node(a, b):
        return divmod(a, b)

    assert divmod_node.output_name == ("q", "r")
    assert list(divmod_node.outputs) == ["q", "r"]
    assert Pipeline([divmod_node]).run({"a": 17, "b": 5}) == {"q": 3, "r": 2}


def test_tuple_outputs_feed_different_consumers():
    @node(output_name=("low", "high"))
    def split(values):
        return min(values), max(values)

    @node(output_name="spread")
    def spread(low, high):
        return high - low

    @node(output_name="doubled_low")
    def dbl(low):
        return 2 * low

    out = Pipeline([spread, dbl, split]).run({"values": [4, 9, 1]})
    assert out == {"low": 1, "high": 9, "spread": 8, "doubled_low": 2}


def test_single_element_tuple_output_is_unpacked():
    @node(output_name=("only",))
    def one(x):
        return (x + 1,)

    assert list(one.outputs) == ["only"]
    assert Pipeline([one]).run({"x": 1}) == {"only": 2}


def test_cache_flag_and_version():
    @node(output_name="y", cache=False, version="v2")
    def f(x):
        return x

    assert f.cache is False
    assert f.version == "v2"

    @node(output_name="y")
    def g(x):
        return x

    assert g.cache is True
    assert g.version is None


def test_name_override():
    @node(output_name="y", name="renamed")
    def f(x):
        return x

    assert f.name == "renamed"
    assert f.output_name == "y"


def test_name_override_without_output_name_defaults_output_to_node_name():
    @node(name="custom")
    def f(x):
        return x + 1

    assert f.name == "custom"
    # the output name defaults to a name of the node (the function's or the given one)
    assert f.output_name in ("custom", "f")
    assert Pipeline([f]).run({"x": 1}) == {f.output_name: 2}


def test_calling_a_node_calls_the_function():
    @node(output_name="y")
    def f(x, k=10):
        return x + k

    assert f(1) == 11
    assert f(1, 2) == 3
    assert f(x=1, k=5) == 6


def test_calling_a_node_returns_the_same_object():
    sentinel = object()

    @node
    def ident(x):
        return x

    assert ident(sentinel) is sentinel


def test_parameter_default_makes_input_optional():
    @node(output_name="y")
    def scale(x, factor=3):
        return x * factor

    p = Pipeline([scale])
    assert p.inputs == ["x"]
    assert "factor" in p.optional_inputs
    assert p.run({"x": 2}) == {"y": 6}
    assert p.run({"x": 2, "factor": 10}) == {"y": 20}


def test_default_value_none_is_used():
    @node(output_name="y")
    def f(x, extra=None):
        return (x, extra)

    assert Pipeline([f]).run({"x": 1}) == {"y": (1, None)}


def test_inputs_in_parameter_order():
    @node(output_name="out")
    def f(zeta, alpha, mid):
        return (zeta, alpha, mid)

    assert list(f.inputs) == ["zeta", "alpha", "mid"]
    # arguments are passed to the right parameters whatever their names' order
    assert Pipeline([f]).run({"alpha": 1, "mid": 2, "zeta": 3}) == {"out": (3, 1, 2)}


def test_async_function_is_a_node():
    @node(output_name="y")
    async def f(x):
        return x + 1

    assert isinstance(f, Node)
    assert list(f.inputs) == ["x"]
    assert Pipeline([f]).run({"x": 1}) == {"y": 2}


def test_var_args_are_rejected():
    with pytest.raises(HyperNodesError):

        @node
        def f(*args):
            return args


def test_var_kwargs_are_rejected():
    with pytest.raises(HyperNodesError):

        @node
        def f(**kwargs):
            return kwargs


def test_empty_output_tuple_is_rejected():
    with pytest.raises(HyperNodesError):

        @node(output_name=())
        def f(x):
            return x
