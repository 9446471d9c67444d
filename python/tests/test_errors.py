"""Errors: the exception hierarchy, and node exceptions reaching the caller with their original
type plus a note naming the node and the pipeline path."""

from __future__ import annotations

import hypernodes
import pytest
from hypernodes import (
    ConfigurationError,
    CycleError,
    DependencyError,
    HyperNodesError,
    MapInputError,
    MapInputTypeError,
    MissingInputError,
    OutputArityError,
    Pipeline,
    UnknownInputError,
    UnknownOutputError,
    node,
)


def notes_of(exc: BaseException) -> list[str]:
    """The notes ``add_note`` attached to an exception."""
    return list(getattr(exc, "__notes__", []) or [])


class DomainError(Exception):
    """A user's own exception type."""

    def __init__(self, message, code):
        super().__init__(message, code)
        self.code = code


# ---------------------------------------------------------------- hierarchy


@pytest.mark.parametrize(
    "cls",
    [
        CycleError,
        DependencyError,
        MissingInputError,
        UnknownOutputError,
        UnknownInputError,
        OutputArityError,
        MapInputError,
        MapInputTypeError,
        ConfigurationError,
    ],
)
def test_every_error_is_a_hypernodes_error_and_value_error(cls):
    assert issubclass(cls, HyperNodesError)
    assert issubclass(cls, ValueError)


def test_map_input_type_error_is_also_type_error():
    assert issubclass(MapInputTypeError, MapInputError)
    assert issubclass(MapInputTypeError, TypeError)


@node(output_name="pair")
def _pair(a, b):
    return (a, b)


@pytest.mark.parametrize(
    ("inputs", "map_over", "cls", "expected"),
    [
        # absent: map_over names an input that was not given
        ({"a": [1]}, ["a", "b"], MapInputError, {"input": "b", "lengths": None}),
        # zip lists of different lengths: every mapped input with its length
        (
            {"a": [1, 2], "b": [1]},
            ["a", "b"],
            MapInputError,
            {"input": None, "lengths": (("a", 2), ("b", 1))},
        ),
        # not a sequence: which input, and why
        ({"a": 5, "b": [1]}, ["a", "b"], MapInputTypeError, {"input": "a", "lengths": None}),
    ],
)
def test_map_input_errors_say_what_is_wrong_in_documented_attributes(
    inputs, map_over, cls, expected
):
    import pickle

    p = Pipeline([_pair], name="pairs")
    with pytest.raises(cls) as info:
        p.map(inputs=inputs, map_over=map_over)
    err = info.value
    assert type(err) is cls
    assert err.pipeline == "pairs"
    for attr, value in expected.items():
        assert getattr(err, attr) == value, (attr, getattr(err, attr))
    if cls is MapInputTypeError:
        assert isinstance(err.reason, str) and err.reason
    # the attributes are the exception's own: they travel with it (worker processes pickle it)
    back = pickle.loads(pickle.dumps(err))
    assert (back.pipeline, back.input, back.lengths) == (err.pipeline, err.input, err.lengths)
    # no private attribute carries them
    assert not [k for k in vars(err) if k.startswith("_")], vars(err)


def test_map_input_error_of_a_pipeline_node_names_the_outer_inputs():
    inner = Pipeline([_pair], name="inner")
    n = inner.as_node(
        name="pairs", input_mapping={"left": "a", "right": "b"}, map_over=["left", "right"]
    )
    with pytest.raises(MapInputError) as info:
        Pipeline([n], name="outer").run(inputs={"left": [1, 2], "right": [1]})
    assert info.value.lengths == (("left", 2), ("right", 1))


def test_map_input_error_through_a_python_executor_names_the_outer_inputs():
    """The engine's map error passes through an executor written in Python (as the exception
    with its attributes) and comes back as the engine's own, so the pipeline node renames it."""
    from hypernodes import NodeExecutor

    class Delegating:
        def __init__(self):
            self.inner = NodeExecutor()

        def run(self, pipeline, inputs, output_name=None, _ctx=None):
            return self.inner.run(pipeline, inputs, output_name=output_name)

        def map(self, pipeline, inputs, map_over, map_mode="zip", output_name=None, _ctx=None):
            return self.inner.map(pipeline, inputs, map_over, map_mode, output_name=output_name)

    inner = Pipeline([_pair], name="inner", executor=Delegating())
    n = inner.as_node(
        name="pairs", input_mapping={"left": "a", "right": "b"}, map_over=["left", "right"]
    )
    with pytest.raises(MapInputError) as info:
        Pipeline([n], name="outer").run(inputs={"left": [1, 2], "right": [1]})
    msg = str(info.value)
    assert "left=2, right=1" in msg and "node 'pairs'" in msg, msg
    assert info.value.lengths == (("left", 2), ("right", 1))


def test_map_input_error_raised_by_a_user_has_no_details():
    err = MapInputError("mine")
    assert (err.pipeline, err.input, err.lengths) == (None, None, None)
    assert MapInputTypeError("mine").reason is None


def test_design_exports():
    for name in ("HyperNodesError", "CycleError", "DependencyError", "MissingInputError"):
        assert hasattr(hypernodes, name)


# ---------------------------------------------------------------- node exceptions


def test_node_exception_keeps_type_message_and_gains_note(executor):
    @node(output_name="y")
    def boom(x):
        raise DomainError("it broke", 42)

    p = Pipeline([boom], name="pipe_one")
    with pytest.raises(DomainError) as info:
        executor.run(p, {"x": 1})
    err = info.value
    assert type(err) is DomainError
    assert err.code == 42
    assert err.args == ("it broke", 42)
    notes = notes_of(err)
    assert len(notes) == 1
    assert "boom" in notes[0]
    assert "pipe_one" in notes[0]


@pytest.mark.parametrize("exc_type", [KeyError, ZeroDivisionError, TypeError, RuntimeError])
def test_builtin_exception_types_are_kept(exc_type):
    @node(output_name="y")
    def failing(x):
        raise exc_type("nope")

    with pytest.raises(exc_type) as info:
        Pipeline([failing], name="builtin_pipe").run({"x": 1})
    assert type(info.value) is exc_type
    assert any("failing" in n and "builtin_pipe" in n for n in notes_of(info.value))


def test_value_error_from_node_is_not_turned_into_hypernodes_error():
    @node(output_name="y")
    def parse(text):
        return int(text)

    with pytest.raises(ValueError) as info:
        Pipeline([parse]).run({"text": "abc"})
    assert type(info.value) is ValueError
    assert not isinstance(info.value, HyperNodesError)


def test_note_names_the_failing_node_not_its_neighbours():
    @node(output_name="a")
    def ok_first(x):
        return x

    @node(output_name="b")
    def the_failing_one(a):
        raise RuntimeError("bad")

    @node(output_name="c")
    def never_reached(b):
        return b

    with pytest.raises(RuntimeError) as info:
        Pipeline([never_reached, the_failing_one, ok_first], name="chain").run({"x": 1})
    notes = notes_of(info.value)
    assert len(notes) == 1
    assert "the_failing_one" in notes[0]
    assert "ok_first" not in notes[0]
    assert "never_reached" not in notes[0]


def test_note_uses_node_name_override():
    @node(output_name="y", name="custom_node_name")
    def f(x):
        raise RuntimeError("x")

    with pytest.raises(RuntimeError) as info:
        Pipeline([f], name="p").run({"x": 1})
    assert "custom_node_name" in notes_of(info.value)[0]


def test_downstream_nodes_do_not_run_after_failure():
    calls = []

    @node(output_name="a")
    def fails(x):
        calls.append("fails")
        raise RuntimeError("stop")

    @node(output_name="b")
    def after(a):
        calls.append("after")
        return a

    with pytest.raises(RuntimeError):
        Pipeline([after, fails]).run({"x": 1})
    assert calls == ["fails"]


def test_pipeline_usable_after_a_node_failure(executor):
    @node(output_name="y")
    def sometimes(x):
        if x < 0:
            raise ValueError("negative")
        return x * 2

    p = Pipeline([sometimes], name="reuse")
    with pytest.raises(ValueError):
        executor.run(p, {"x": -1})
    assert executor.run(p, {"x": 3}) == {"y": 6}


def test_nested_exception_note_has_pipeline_path(executor):
    @node(output_name="y")
    def boom(x):
        raise DomainError("deep failure", 7)

    inner = Pipeline([boom], name="inner")
    outer = Pipeline([inner.as_node()], name="outer")
    with pytest.raises(DomainError) as info:
        executor.run(outer, {"x": 1})
    notes = notes_of(info.value)
    assert len(notes) == 1
    note = notes[0]
    assert "boom" in note
    assert "outer > inner" in note
    assert info.value.code == 7


def test_nested_exception_path_at_depth_three(executor):
    @node(output_name="y")
    def deepest_boom(x):
        raise KeyError("k")

    lvl3 = Pipeline([deepest_boom], name="lvl3")
    lvl2 = Pipeline([lvl3.as_node(name="lvl3_node")], name="lvl2")
    lvl1 = Pipeline([lvl2.as_node(name="lvl2_node")], name="lvl1")
    with pytest.raises(KeyError) as info:
        executor.run(lvl1, {"x": 1})
    notes = notes_of(info.value)
    assert len(notes) == 1
    assert "deepest_boom" in notes[0]
    assert "lvl1 > lvl2 > lvl3" in notes[0]


def test_nested_exception_with_mappings_and_map_over(executor):
    @node(output_name="y")
    def picky(item):
        if item == "bad":
            raise LookupError("bad item")
        return item

    inner = Pipeline([picky], name="picker")
    n = inner.as_node(input_mapping={"items": "item"}, output_mapping={"y": "ys"}, map_over="items")
    outer = Pipeline([n], name="batch")
    with pytest.raises(LookupError) as info:
        executor.run(outer, {"items": ["ok", "bad"]})
    notes = notes_of(info.value)
    assert any("picky" in n and "batch > picker" in n for n in notes)


def test_map_exception_note():
    @node(output_name="y")
    def map_boom(x):
        if x == 3:
            raise ArithmeticError("three")
        return x

    with pytest.raises(ArithmeticError) as info:
        Pipeline([map_boom], name="mapper").map({"x": [1, 2, 3]}, map_over="x")
    notes = notes_of(info.value)
    assert any("map_boom" in n and "mapper" in n for n in notes)


def test_existing_notes_are_kept():
    @node(output_name="y")
    def annotated(x):
        err = RuntimeError("with note")
        err.add_note("user note")
        raise err

    with pytest.raises(RuntimeError) as info:
        Pipeline([annotated], name="np").run({"x": 1})
    notes = notes_of(info.value)
    assert "user note" in notes
    assert any("annotated" in n for n in notes)


def test_original_traceback_is_kept():
    @node(output_name="y")
    def raise_here(x):
        raise RuntimeError("from user code")

    with pytest.raises(RuntimeError) as info:
        Pipeline([raise_here]).run({"x": 1})
    frames = [tb.name for tb in info.traceback]
    assert "raise_here" in frames
