"""The execution protocol is the engine's: every executor and mode gives the same results, errors
and notes (conformance over ``conftest.MODES``). Each case here is a defect that one executor or
mode once had on its own."""

from __future__ import annotations

import threading

import pytest
from conftest import IN_WORKER_PROCESSES, make_executor
from hypernodes import Pipeline, node
from hypernodes.errors import RemoteError, TransferError


@node(output_name="doubled")
def double(x: int) -> int:
    return 2 * x


@node(output_name="total")
def add(doubled: int, offset: int = 0) -> int:
    return doubled + offset


class QuotaError(Exception):
    """An exception whose ``__init__`` takes more than its message (pickling cannot rebuild it
    the usual way)."""

    def __init__(self, msg: str, status: int) -> None:
        super().__init__(msg)
        self.status = status


class Unpicklable(Exception):
    """An exception that holds a lock: it cannot be pickled at all."""

    def __init__(self, msg: str) -> None:
        super().__init__(msg)
        self.lock = threading.Lock()


@node(output_name="answer")
def judge(x: int) -> int:
    if x == 2:
        raise QuotaError("quota exceeded", 429)
    return x


@node(output_name="answer")
def judge_unpicklable(x: int) -> int:
    if x == 1:
        raise Unpicklable("holds a lock")
    return x


def pipe(nodes, mode, name="p"):
    return Pipeline(nodes=nodes, name=name, executor=make_executor(mode))


def test_map_over_a_bound_list(mode):
    p = pipe([double], mode).bind(x=[1, 2, 3])
    assert [r["doubled"] for r in p.map(inputs={}, map_over="x")] == [2, 4, 6]


def test_map_over_a_bound_list_with_a_given_broadcast_input(mode):
    p = pipe([double, add], mode).bind(x=[1, 2, 3])
    out = p.map(inputs={"offset": 10}, map_over="x")
    assert [r["total"] for r in out] == [12, 14, 16]


def test_product_map_keeps_the_engine_order(mode):
    @node(output_name="pair")
    def pair(a: int, b: str) -> str:
        return f"{a}{b}"

    p = pipe([pair], mode)
    out = p.map(inputs={"a": [1, 2], "b": ["x", "y", "z"]}, map_over=["a", "b"], map_mode="product")
    assert [r["pair"] for r in out] == ["1x", "1y", "1z", "2x", "2y", "2z"]


def test_exception_with_extra_init_arguments_keeps_type_attributes_and_note(mode):
    p = pipe([judge], mode, name="eval")
    with pytest.raises(QuotaError) as info:
        p.map(inputs={"x": [0, 1, 2, 3]}, map_over="x")
    exc = info.value
    assert exc.status == 429
    assert str(exc) == "quota exceeded"
    assert "in node 'judge' of pipeline 'eval', item 2" in getattr(exc, "__notes__", [])


def test_run_error_note_has_no_item(mode):
    p = pipe([judge], mode, name="eval")
    with pytest.raises(QuotaError) as info:
        p.run(inputs={"x": 2})
    assert info.value.__notes__ == ["in node 'judge' of pipeline 'eval'"]


def test_nested_failure_names_the_full_path_and_both_items(mode):
    inner = Pipeline(nodes=[judge], name="per_query")
    outer = pipe(
        [inner.as_node(name="queries", map_over="x")],
        mode,
        name="eval",
    )
    with pytest.raises(QuotaError) as info:
        outer.map(inputs={"x": [[0], [1, 2]]}, map_over="x")
    notes = info.value.__notes__
    assert "in node 'judge' of pipeline 'eval > per_query', items 1 > 1" in notes, notes


def test_unpicklable_exception_keeps_type_name_message_and_traceback(mode):
    p = pipe([judge_unpicklable], mode, name="eval")
    with pytest.raises(Exception) as info:
        p.map(inputs={"x": [0, 1]}, map_over="x")
    exc = info.value
    assert "holds a lock" in str(exc)
    assert "in node 'judge_unpicklable' of pipeline 'eval', item 1" in exc.__notes__
    if mode in IN_WORKER_PROCESSES:
        assert isinstance(exc, RemoteError)
        assert exc.type_name == "Unpicklable"
        assert "judge_unpicklable" in exc.remote_traceback
        assert "Unpicklable: holds a lock" in exc.remote_traceback
        assert exc.__cause__ is not None and "judge_unpicklable" in str(exc.__cause__)
    else:
        assert isinstance(exc, Unpicklable)


def test_unpicklable_broadcast_input_is_named_before_work(mode, tmp_path):
    ran = tmp_path / "ran"

    @node(output_name="y")
    def use(x: int, lock: object) -> int:
        ran.write_text("yes")
        return x

    p = pipe([use], mode, name="locks")
    lock = threading.Lock()
    if mode not in {"node:parallel-map"}:
        # in this process (or per node, where the lock is an argument) it works or is named
        try:
            out = p.map(inputs={"x": [1, 2], "lock": lock}, map_over="x")
        except TransferError as exc:
            assert mode in IN_WORKER_PROCESSES
            assert "'lock'" in str(exc) and "'use'" in str(exc)
            return
        assert [r["y"] for r in out] == [1, 2]
        return
    with pytest.raises(TransferError) as info:
        p.map(inputs={"x": [1, 2], "lock": lock}, map_over="x")
    msg = str(info.value)
    assert "input 'lock' of pipeline 'locks'" in msg and "cannot be sent" in msg
    assert not ran.exists()


def test_unpicklable_returned_value_names_node_and_output(mode):
    @node(output_name="numbers")
    def gen(x: int):
        return (i for i in range(x))

    p = pipe([gen], mode, name="g")
    if mode in IN_WORKER_PROCESSES:
        with pytest.raises(TransferError) as info:
            p.map(inputs={"x": [1, 2]}, map_over="x")
        msg = str(info.value)
        assert "output 'numbers'" in msg and "node 'gen'" in msg, msg
        return
    out = p.map(inputs={"x": [1, 2]}, map_over="x")
    assert [list(r["numbers"]) for r in out] == [[0], [0, 1]]


@pytest.mark.parametrize("mode", ["node:parallel-map", "daft:processes"])
def test_unpicklable_item_is_named(mode):
    @node(output_name="same")
    def ident(x: object) -> object:
        return x

    p = pipe([ident], mode, name="items")
    with pytest.raises(TransferError) as info:
        p.map(inputs={"x": [1, threading.Lock()]}, map_over="x")
    assert "item 1 of input 'x'" in str(info.value)
    assert "'items'" in str(info.value)
