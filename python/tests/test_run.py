"""Pipeline.run: all outputs or selected ones, running only what is needed, input errors,
tuple-output arity, and values passing through untouched."""

from __future__ import annotations

import pytest
from hypernodes import (
    HyperNodesError,
    MissingInputError,
    OutputArityError,
    Pipeline,
    UnknownInputError,
    UnknownOutputError,
    node,
)


def _two_branches(calls):
    """Branch A: alpha_in -> a1 -> a2.  Branch B: beta_in, gamma_in -> b1.  Join: a2 + b1."""

    @node(output_name="a1")
    def make_a1(alpha_in):
        calls.append("make_a1")
        return alpha_in + 1

    @node(output_name="a2")
    def make_a2(a1):
        calls.append("make_a2")
        return a1 * 2

    @node(output_name="b1")
    def make_b1(beta_in, gamma_in):
        calls.append("make_b1")
        return beta_in - gamma_in

    @node(output_name="joined")
    def join(a2, b1):
        calls.append("join")
        return a2 + b1

    return Pipeline([join, make_b1, make_a2, make_a1], name="branches")


FULL = {"alpha_in": 1, "beta_in": 10, "gamma_in": 3}


# ---------------------------------------------------------------- all outputs


def test_run_returns_every_output_including_intermediates(executor, calls):
    p = _two_branches(calls)
    assert executor.run(p, FULL) == {"a1": 2, "a2": 4, "b1": 7, "joined": 11}
    assert sorted(calls) == ["join", "make_a1", "make_a2", "make_b1"]


def test_run_with_keyword_arguments(executor, calls):
    p = _two_branches(calls)
    assert executor.run(p, inputs=FULL, output_name=None)["joined"] == 11


def test_each_node_runs_once(executor, calls):
    p = _two_branches(calls)
    executor.run(p, FULL)
    for name in ("make_a1", "make_a2", "make_b1", "join"):
        assert calls.count_of(name) == 1


def test_run_twice_gives_same_result(executor, calls):
    p = _two_branches(calls)
    assert executor.run(p, FULL) == executor.run(p, FULL)


# ---------------------------------------------------------------- selected outputs


def test_select_one_output_by_str_runs_only_needed_nodes(executor, calls):
    p = _two_branches(calls)
    out = executor.run(p, FULL, output_name="a2")
    assert out == {"a2": 4}
    assert sorted(calls) == ["make_a1", "make_a2"]


def test_select_list_of_outputs(executor, calls):
    p = _two_branches(calls)
    out = executor.run(p, FULL, output_name=["a1", "b1"])
    assert out == {"a1": 2, "b1": 7}
    assert sorted(calls) == ["make_a1", "make_b1"]


def test_select_single_item_list(executor, calls):
    p = _two_branches(calls)
    assert executor.run(p, FULL, output_name=["b1"]) == {"b1": 7}
    assert calls == ["make_b1"]


def test_select_final_output_runs_all_needed(executor, calls):
    p = _two_branches(calls)
    assert executor.run(p, FULL, output_name="joined") == {"joined": 11}
    assert sorted(calls) == ["join", "make_a1", "make_a2", "make_b1"]


def test_select_intermediate_only(executor, calls):
    p = _two_branches(calls)
    assert executor.run(p, FULL, output_name="a1") == {"a1": 2}
    assert calls == ["make_a1"]


def test_selected_tuple_output_runs_node_once_and_returns_only_selected(executor, calls):
    @node(output_name=("q", "r"))
    def split(x):
        calls.append("split")
        return x // 3, x % 3

    @node(output_name="other")
    def other(y):
        calls.append("other")
        return y

    p = Pipeline([split, other])
    assert executor.run(p, {"x": 10}, output_name="r") == {"r": 1}
    assert calls == ["split"]


def test_only_inputs_needed_by_selection_are_required(executor, calls):
    p = _two_branches(calls)
    # branch A needs only alpha_in
    assert executor.run(p, {"alpha_in": 5}, output_name="a2") == {"a2": 12}
    # branch B needs beta_in and gamma_in, not alpha_in
    assert executor.run(p, {"beta_in": 5, "gamma_in": 1}, output_name="b1") == {"b1": 4}


# ---------------------------------------------------------------- missing inputs


def test_missing_inputs_lists_all_of_them(executor, calls):
    p = _two_branches(calls)
    with pytest.raises(MissingInputError) as info:
        executor.run(p, {})
    msg = str(info.value)
    for name in ("alpha_in", "beta_in", "gamma_in"):
        assert name in msg
    assert calls == []


def test_missing_inputs_lists_all_when_some_given(executor, calls):
    p = _two_branches(calls)
    with pytest.raises(MissingInputError) as info:
        executor.run(p, {"beta_in": 1})
    msg = str(info.value)
    assert "alpha_in" in msg
    assert "gamma_in" in msg
    assert calls == []


def test_missing_inputs_only_those_the_selection_needs(executor, calls):
    p = _two_branches(calls)
    with pytest.raises(MissingInputError) as info:
        executor.run(p, {}, output_name="b1")
    msg = str(info.value)
    assert "beta_in" in msg
    assert "gamma_in" in msg
    assert "alpha_in" not in msg


def test_missing_input_error_is_value_error_and_hypernodes_error(executor, calls):
    p = _two_branches(calls)
    with pytest.raises(ValueError):
        executor.run(p, {})
    with pytest.raises(HyperNodesError):
        executor.run(p, {})


def test_optional_input_is_not_missing(executor):
    @node(output_name="y")
    def f(x, scale=2):
        return x * scale

    p = Pipeline([f])
    assert executor.run(p, {"x": 4}) == {"y": 8}
    with pytest.raises(MissingInputError) as info:
        executor.run(p, {})
    assert "x" in str(info.value)
    assert "scale" not in str(info.value)


def test_producer_output_wins_over_parameter_default(executor):
    @node(output_name="factor")
    def make_factor(base):
        return base * 100

    @node(output_name="y")
    def use(x, factor=1):
        return x * factor

    p = Pipeline([use, make_factor])
    assert "factor" not in p.optional_inputs
    assert "base" in p.inputs
    assert executor.run(p, {"x": 2, "base": 3})["y"] == 600


# ---------------------------------------------------------------- unknown outputs


def test_unknown_output_lists_available_outputs(executor, calls):
    p = _two_branches(calls)
    with pytest.raises(UnknownOutputError) as info:
        executor.run(p, FULL, output_name="nonexistent_output")
    msg = str(info.value)
    assert "nonexistent_output" in msg
    for name in ("a1", "a2", "b1", "joined"):
        assert name in msg
    assert calls == []


def test_unknown_output_in_a_list(executor, calls):
    p = _two_branches(calls)
    with pytest.raises(UnknownOutputError) as info:
        executor.run(p, FULL, output_name=["a1", "no_such_thing"])
    assert "no_such_thing" in str(info.value)
    assert "joined" in str(info.value)
    assert calls == []


def test_unknown_output_error_is_value_error(executor, calls):
    p = _two_branches(calls)
    with pytest.raises(ValueError):
        executor.run(p, FULL, output_name="missing_out")


def test_input_name_is_not_an_output(executor, calls):
    p = _two_branches(calls)
    with pytest.raises(UnknownOutputError):
        executor.run(p, FULL, output_name="alpha_in")


# ---------------------------------------------------------------- extra inputs


def test_extra_inputs_are_an_error_naming_them(executor, calls):
    p = _two_branches(calls)
    with pytest.raises(UnknownInputError) as info:
        executor.run(p, {**FULL, "unused_extra": object(), "another": 5})
    assert "has no input 'another'" in str(info.value)
    assert calls == [], "nothing ran"


def test_extra_inputs_are_ignored_on_request(executor, calls):
    p = _two_branches(calls).with_executor(executor)
    out = p.run({**FULL, "unused_extra": object(), "another": 5}, ignore_unknown_inputs=True)
    assert out == {"a1": 2, "a2": 4, "b1": 7, "joined": 11}
    out = p.run({"alpha_in": 0, "whatever": 1}, output_name="a1", ignore_unknown_inputs=True)
    assert out == {"a1": 1}


# ---------------------------------------------------------------- tuple output arity


def test_tuple_output_too_many_values_names_the_node():
    @node(output_name=("one", "two"))
    def arity_offender(x):
        return x, x, x

    with pytest.raises(OutputArityError) as info:
        Pipeline([arity_offender]).run({"x": 1})
    assert "arity_offender" in str(info.value)


def test_tuple_output_too_few_values_names_the_node():
    @node(output_name=("one", "two", "three"))
    def short_node(x):
        return x, x

    with pytest.raises(OutputArityError) as info:
        Pipeline([short_node]).run({"x": 1})
    assert "short_node" in str(info.value)


def test_tuple_output_scalar_return_is_an_arity_error():
    @node(output_name=("one", "two"))
    def scalar_node(x):
        return x

    with pytest.raises(OutputArityError) as info:
        Pipeline([scalar_node]).run({"x": 1})
    assert "scalar_node" in str(info.value)


def test_tuple_output_string_return_is_not_unpacked():
    @node(output_name=("one", "two"))
    def string_node(x):
        return "ab"

    with pytest.raises(OutputArityError) as info:
        Pipeline([string_node]).run({"x": 1})
    assert "string_node" in str(info.value)


def test_tuple_output_arity_error_is_value_error():
    @node(output_name=("one", "two"))
    def bad(x):
        return (x,)

    with pytest.raises(ValueError):
        Pipeline([bad]).run({"x": 1})


def test_arity_error_in_nested_pipeline_names_the_node(executor):
    @node(output_name=("one", "two"))
    def deep_offender(x):
        return (x,)

    inner = Pipeline([deep_offender], name="inner_arity")
    outer = Pipeline([inner.as_node()], name="outer_arity")
    with pytest.raises(OutputArityError) as info:
        executor.run(outer, {"x": 1})
    assert "deep_offender" in str(info.value)


def test_single_output_returning_tuple_keeps_the_tuple():
    @node(output_name="pair")
    def make_pair(x):
        return (x, x + 1)

    assert Pipeline([make_pair]).run({"x": 1}) == {"pair": (1, 2)}


# ---------------------------------------------------------------- values pass through


class Payload:
    """A plain object whose identity we can track (not hashable by value, no __eq__)."""

    def __init__(self, tag):
        self.tag = tag


def test_identity_node_to_node_and_result():
    seen = {}

    @node(output_name="made")
    def make(tag):
        obj = Payload(tag)
        seen["made"] = obj
        return obj

    @node(output_name="used")
    def use(made):
        seen["received"] = made
        return made

    out = Pipeline([use, make]).run({"tag": "t"})
    assert seen["received"] is seen["made"]
    assert out["made"] is seen["made"]
    assert out["used"] is seen["made"]


def test_identity_of_root_input():
    payload = Payload("root")
    received = []

    @node(output_name="echo")
    def echo(value):
        received.append(value)
        return value

    out = Pipeline([echo]).run({"value": payload})
    assert received[0] is payload
    assert out["echo"] is payload


def test_identity_of_mutable_containers_no_copy():
    data = {"k": [1, 2, 3]}

    @node(output_name="mutated")
    def mutate(data):
        data["k"].append(4)
        return data

    @node(output_name="seen_list")
    def inner_list(mutated):
        return mutated["k"]

    out = Pipeline([mutate, inner_list]).run({"data": data})
    assert out["mutated"] is data
    assert out["seen_list"] is data["k"]
    assert data["k"] == [1, 2, 3, 4]


def test_identity_of_tuple_output_elements():
    a, b = Payload("a"), Payload("b")
    got = []

    @node(output_name=("first", "second"))
    def split(x):
        return a, b

    @node(output_name="check")
    def check(first, second):
        got.extend([first, second])
        return True

    out = Pipeline([split, check]).run({"x": 0})
    assert got[0] is a and got[1] is b
    assert out["first"] is a and out["second"] is b


@pytest.mark.parametrize(
    "value",
    [None, 0, 1.5, True, "text", b"raw", (1, "a"), [1, [2]], {"a": {1, 2}}, frozenset({3})],
)
def test_values_of_any_type_round_trip(value):
    @node(output_name="out")
    def ident(value):
        return value

    out = Pipeline([ident]).run({"value": value})
    assert out["out"] is value
    assert type(out["out"]) is type(value)


def test_none_output_is_a_value_passed_downstream():
    @node(output_name="nothing")
    def make_none(x):
        return None

    @node(output_name="was_none")
    def check(nothing):
        return nothing is None

    assert Pipeline([make_none, check]).run({"x": 1}) == {"nothing": None, "was_none": True}
