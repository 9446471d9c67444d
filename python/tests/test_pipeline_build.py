"""Building pipelines: wiring by name, validation at construction, order independence and
deterministic ordering among ready nodes."""

from __future__ import annotations

import itertools

import pytest
from hypernodes import (
    CycleError,
    DependencyError,
    HyperNodesError,
    NodeExecutor,
    Pipeline,
    node,
)


def _diamond(calls):
    @node(output_name="left")
    def make_left(source):
        calls.append("make_left")
        return source + 1

    @node(output_name="right")
    def make_right(source):
        calls.append("make_right")
        return source * 10

    @node(output_name="joined")
    def join(left, right):
        calls.append("join")
        return (left, right)

    @node(output_name="final")
    def finish(joined, right):
        calls.append("finish")
        return sum(joined) + right

    return [make_left, make_right, join, finish]


# ---------------------------------------------------------------- validation at construction


def test_two_producers_of_one_output_name_both_nodes():
    @node(output_name="shared_value")
    def producer_one(a):
        return a

    @node(output_name="shared_value")
    def producer_two(b):
        return b

    with pytest.raises(DependencyError) as info:
        Pipeline([producer_one, producer_two])
    msg = str(info.value)
    assert "producer_one" in msg
    assert "producer_two" in msg
    assert "shared_value" in msg


def test_two_producers_detected_with_tuple_outputs():
    @node(output_name=("x", "dup_out"))
    def first_maker(a):
        return a, a

    @node(output_name="dup_out")
    def second_maker(b):
        return b

    with pytest.raises(DependencyError) as info:
        Pipeline([second_maker, first_maker])
    msg = str(info.value)
    assert "first_maker" in msg
    assert "second_maker" in msg


def test_duplicate_node_names_are_rejected():
    @node(output_name="o1", name="same_name")
    def f(a):
        return a

    @node(output_name="o2", name="same_name")
    def g(a):
        return a

    with pytest.raises(DependencyError) as info:
        Pipeline([f, g])
    assert "same_name" in str(info.value)


def test_dependency_error_is_a_value_error_and_hypernodes_error():
    @node(output_name="v")
    def f1(a):
        return a

    @node(output_name="v")
    def f2(a):
        return a

    with pytest.raises(ValueError):
        Pipeline([f1, f2])
    with pytest.raises(HyperNodesError):
        Pipeline([f1, f2])


def test_two_node_cycle_is_shown():
    @node(output_name="b_out")
    def node_a(a_out):
        return a_out

    @node(output_name="a_out")
    def node_b(b_out):
        return b_out

    with pytest.raises(CycleError) as info:
        Pipeline([node_a, node_b])
    msg = str(info.value)
    assert "node_a" in msg
    assert "node_b" in msg


def test_three_node_cycle_shows_every_node_of_the_cycle():
    @node(output_name="y")
    def step_one(x):
        return x

    @node(output_name="z")
    def step_two(y):
        return y

    @node(output_name="x")
    def step_three(z):
        return z

    @node(output_name="unrelated")
    def bystander(q):
        return q

    with pytest.raises(CycleError) as info:
        Pipeline([bystander, step_one, step_two, step_three])
    msg = str(info.value)
    for name in ("step_one", "step_two", "step_three"):
        assert name in msg
    assert "bystander" not in msg


def test_cycle_error_order_follows_the_dependencies():
    # the cycle is shown as a path: each consecutive pair is an actual edge of the cycle
    @node(output_name="y")
    def c_one(x):
        return x

    @node(output_name="z")
    def c_two(y):
        return y

    @node(output_name="x")
    def c_three(z):
        return z

    with pytest.raises(CycleError) as info:
        Pipeline([c_one, c_two, c_three])
    msg = str(info.value)
    positions = {n: msg.index(n) for n in ("c_one", "c_two", "c_three")}
    order = sorted(positions, key=positions.get)
    # one of the rotations of the cycle in one of the two directions
    cycle = ["c_one", "c_two", "c_three"]
    rotations = [cycle[i:] + cycle[:i] for i in range(3)]
    rotations += [list(reversed(r)) for r in rotations]
    assert order in rotations


def test_cycle_error_is_a_value_error_and_hypernodes_error():
    @node(output_name="p")
    def f(q):
        return q

    @node(output_name="q")
    def g(p):
        return p

    with pytest.raises(ValueError):
        Pipeline([f, g])
    with pytest.raises(HyperNodesError):
        Pipeline([f, g])


def test_validation_happens_at_construction_not_at_run():
    calls = []

    @node(output_name="dup")
    def first(a):
        calls.append("first")
        return a

    @node(output_name="dup")
    def second(a):
        calls.append("second")
        return a

    with pytest.raises(DependencyError):
        Pipeline([first, second])
    assert calls == []


def test_non_node_in_nodes_is_rejected():
    def plain(x):
        return x

    with pytest.raises(HyperNodesError):
        Pipeline([plain])


# ---------------------------------------------------------------- properties


def test_inputs_are_required_root_inputs_sorted():
    @node(output_name="m")
    def f(zebra, apple):
        return zebra + apple

    @node(output_name="n")
    def g(m, mango, opt=1):
        return m + mango + opt

    p = Pipeline([g, f])
    assert p.inputs == ["apple", "mango", "zebra"]
    assert p.optional_inputs == ["opt"]
    assert set(p.outputs) == {"m", "n"}


def test_outputs_list_every_output_including_tuple_outputs():
    @node(output_name=("a", "b"))
    def split(x):
        return x, x

    @node
    def combined(a, b):
        return a + b

    p = Pipeline([combined, split])
    assert sorted(p.outputs) == ["a", "b", "combined"]


def test_name_given_and_default_name_is_deterministic():
    @node(output_name="y")
    def f(x):
        return x

    assert Pipeline([f], name="mine").name == "mine"
    default_one = Pipeline([f]).name
    default_two = Pipeline([f]).name
    assert isinstance(default_one, str) and default_one
    assert default_one == default_two
    assert "0x" not in default_one


def test_nodes_property_holds_every_node():
    nodes = _diamond([])
    p = Pipeline(nodes)
    assert sorted(n.name for n in p.nodes) == sorted(n.name for n in nodes)


def test_executor_property():
    @node(output_name="y")
    def f(x):
        return x

    assert Pipeline([f]).executor is None
    ex = Pipeline([f], executor=NodeExecutor()).executor
    assert ex is not None
    assert ex.node_execution == "sequential"
    assert ex.map_execution == "sequential"


def test_pipeline_is_immutable():
    @node(output_name="y")
    def f(x):
        return x

    p = Pipeline([f], name="fixed")
    with pytest.raises(AttributeError):
        p.name = "changed"
    assert p.name == "fixed"
    nodes = p.nodes
    nodes.clear()
    assert [n.name for n in p.nodes] == ["f"]


def test_empty_pipeline_runs_to_empty_result():
    p = Pipeline([])
    assert p.inputs == []
    assert list(p.outputs) == []
    assert p.run({}) == {}


# ---------------------------------------------------------------- order independence


def test_nodes_in_any_order_give_identical_results(calls):
    reference = None
    for perm in itertools.permutations(_diamond(calls)):
        p = Pipeline(list(perm))
        out = p.run({"source": 2})
        assert out == {"left": 3, "right": 20, "joined": (3, 20), "final": 43}
        items = list(out.items())
        if reference is None:
            reference = (items, list(p.outputs), list(p.inputs))
        assert (items, list(p.outputs), list(p.inputs)) == reference


def test_nodes_in_any_order_call_nodes_in_the_same_order(calls):
    orders = set()
    for perm in itertools.permutations(_diamond(calls)):
        calls.clear()
        Pipeline(list(perm)).run({"source": 1})
        orders.add(tuple(calls))
    assert len(orders) == 1
    (order,) = orders
    assert order.index("join") > order.index("make_left")
    assert order.index("join") > order.index("make_right")
    assert order.index("finish") > order.index("join")


def test_ready_nodes_run_in_name_order(calls):
    def maker(node_name):
        @node(output_name=f"out_{node_name}", name=node_name)
        def f(seed):
            calls.append(node_name)
            return seed

        return f

    names = ["zeta", "alpha", "mid", "beta", "omega"]
    for perm in itertools.permutations(names):
        calls.clear()
        Pipeline([maker(n) for n in perm]).run({"seed": 0})
        assert calls == sorted(names)


def test_dependencies_before_name_order(calls):
    # 'a_consumer' sorts first but must wait for 'z_producer'
    @node(output_name="v")
    def z_producer(seed):
        calls.append("z_producer")
        return seed + 1

    @node(output_name="w")
    def a_consumer(v):
        calls.append("a_consumer")
        return v * 2

    out = Pipeline([a_consumer, z_producer]).run({"seed": 1})
    assert out == {"v": 2, "w": 4}
    assert calls == ["z_producer", "a_consumer"]
