"""Value keys without collisions (issue 12, item 1): each value family that once shared a key with a
different value, end to end through a cached pipeline where the wrong hit was seen, plus the
cross-process and property checks of hash_value."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections import OrderedDict, defaultdict

import pytest
from hypernodes import MemoryCache, Pipeline, node
from hypernodes._core import hash_value

np = pytest.importorskip("numpy")
pytestmark = pytest.mark.filterwarnings("ignore::PendingDeprecationWarning")  # np.matrix


def _square_pipeline():
    """One cached node computing `x * x`, counting its calls."""
    calls = []

    @node(output_name="y")
    def square(x):
        calls.append(1)
        return x * x

    return Pipeline([square], cache=MemoryCache()), calls


def _run_both(a, b):
    """Runs the same cached node on `a` then `b`; returns the second result and the call count."""
    p, calls = _square_pipeline()
    p.run({"x": a})
    out = p.run({"x": b})["y"]
    return out, len(calls)


# --- numpy: the array's type, mask and fill value are part of the key ----------------------------


def test_matrix_then_plain_array_is_not_a_hit():
    out, n = _run_both(np.matrix([[1, 2], [3, 4]]), np.array([[1, 2], [3, 4]]))
    assert n == 2
    assert type(out) is np.ndarray
    assert out.tolist() == [[1, 4], [9, 16]]  # elementwise, not the matrix product


def test_masked_arrays_with_other_masks_differ():
    data = [1, 2, 3]
    a = np.ma.masked_array(data, mask=[0, 1, 0])
    b = np.ma.masked_array(data, mask=[0, 0, 1])
    assert hash_value(a) != hash_value(b)
    p, _ = _square_pipeline()

    @node(output_name="total")
    def total(y):
        return int(y.sum())

    p = Pipeline([*p.nodes, total], cache=MemoryCache())
    assert p.run({"x": a})["total"] == 1 + 9
    assert p.run({"x": b})["total"] == 1 + 4


def test_masked_array_fill_value_counts():
    a = np.ma.masked_array([1, 2], mask=[0, 1], fill_value=7)
    b = np.ma.masked_array([1, 2], mask=[0, 1], fill_value=8)
    assert hash_value(a) != hash_value(b)
    assert a.filled().tolist() != b.filled().tolist()


def test_masked_array_and_plain_array_differ():
    plain = np.array([1, 2, 3])
    assert hash_value(np.ma.masked_array(plain, mask=[0, 1, 0])) != hash_value(plain)
    assert hash_value(np.ma.masked_array(plain)) != hash_value(plain)  # nothing masked, other type


def test_recarray_and_structured_array_differ():
    s = np.array([(1, 2.0)], dtype=[("a", "i4"), ("b", "f8")])
    assert hash_value(s.view(np.recarray)) != hash_value(s)

    @node(output_name="kind")
    def kind(x):
        return type(x).__name__

    p = Pipeline([kind], cache=MemoryCache())
    assert p.run({"x": s.view(np.recarray)})["kind"] == "recarray"
    assert p.run({"x": s})["kind"] == "ndarray"


def test_equal_subclass_arrays_still_hit():
    assert hash_value(np.matrix([[1, 2]])) == hash_value(np.matrix([[1, 2]]))
    m1 = np.ma.masked_array([1, 2], mask=[0, 1])
    m2 = np.ma.masked_array([1, 2], mask=[0, 1])
    assert hash_value(m1) == hash_value(m2)
    assert hash_value(np.array([1, 2])) == hash_value(np.array([1, 2]))


# --- builtin subclasses ------------------------------------------------------------------------


def test_defaultdict_factory_is_in_the_key():
    d = {"a": [1]}
    assert hash_value(defaultdict(int, d)) != hash_value(defaultdict(list, d))
    assert hash_value(defaultdict(int, d)) == hash_value(defaultdict(int, d))

    @node(output_name="missing")
    def missing(table):
        return table["zzz"]

    p = Pipeline([missing], cache=MemoryCache())
    assert p.run({"table": defaultdict(int, d)})["missing"] == 0
    assert p.run({"table": defaultdict(list, d)})["missing"] == []


def test_ordered_dict_order_counts_as_its_eq_does():
    a = OrderedDict([("x", 1), ("y", 2)])
    b = OrderedDict([("y", 2), ("x", 1)])
    assert a != b
    assert hash_value(a) != hash_value(b)
    assert hash_value(a) == hash_value(OrderedDict([("x", 1), ("y", 2)]))
    # a plain dict still ignores order
    assert hash_value({"x": 1, "y": 2}) == hash_value({"y": 2, "x": 1})

    @node(output_name="first")
    def first(d):
        return next(iter(d))

    p = Pipeline([first], cache=MemoryCache())
    assert p.run({"d": a})["first"] == "x"
    assert p.run({"d": b})["first"] == "y"


class SlotsAndDict:
    __slots__ = ("__dict__", "scale")

    def __init__(self, scale, label):
        self.scale = scale
        self.label = label


def test_slots_and_dict_both_count():
    a, b = SlotsAndDict(2, "x"), SlotsAndDict(3, "x")
    assert hash_value(a) != hash_value(b)
    assert hash_value(a) == hash_value(SlotsAndDict(2, "x"))
    assert hash_value(a) != hash_value(SlotsAndDict(2, "y"))

    @node(output_name="y")
    def scaled(obj):
        return obj.scale * 10

    p = Pipeline([scaled], cache=MemoryCache())
    assert p.run({"obj": a})["y"] == 20
    assert p.run({"obj": b})["y"] == 30


class SlotsOnly:
    __slots__ = ("_x",)

    def __init__(self, x):
        self._x = x


def test_slots_only_objects_differ_by_their_slots():
    assert hash_value(SlotsOnly(1)) != hash_value(SlotsOnly(2))
    assert hash_value(SlotsOnly(1)) == hash_value(SlotsOnly(1))


class Tagged(str):
    pass


class Number(int):
    pass


class Blob(bytes):
    pass


class Row(tuple):
    pass


class Items(list):
    pass


class Table(dict):
    pass


@pytest.mark.parametrize(
    "cls, base",
    [(Tagged, "ab"), (Number, 5), (Blob, b"ab"), (Row, (1,)), (Items, [1]), (Table, {1: 2})],
)
def test_builtin_subclass_instance_attributes_count(cls, base):
    a, b = cls(base), cls(base)
    a.unit, b.unit = "m", "km"
    assert a == b  # the base value is equal
    assert hash_value(a) != hash_value(b)
    c = cls(base)
    c.unit = "m"
    assert hash_value(a) == hash_value(c)
    assert hash_value(cls(base)) != hash_value(base)


def test_str_subclass_attribute_end_to_end():
    a, b = Tagged("5"), Tagged("5")
    a.unit, b.unit = "m", "km"

    @node(output_name="label")
    def label(v):
        return f"{v} {v.unit}"

    p = Pipeline([label], cache=MemoryCache())
    assert p.run({"v": a})["label"] == "5 m"
    assert p.run({"v": b})["label"] == "5 km"


# --- the per-type decision is revisited --------------------------------------------------------


def test_cache_key_added_to_a_class_after_its_first_hash_is_used():
    class Late:
        def __init__(self, v, noise):
            self.v = v
            self.noise = noise

    before = hash_value(Late(1, "a"))
    assert before != hash_value(Late(1, "b"))  # by attributes for now
    Late.__cache_key__ = lambda self: self.v
    assert hash_value(Late(1, "a")) == hash_value(Late(1, "b"))  # now by __cache_key__
    assert hash_value(Late(1, "a")) != before
    del Late.__cache_key__
    assert hash_value(Late(1, "a")) == before


# --- objects keyed through their pickling ------------------------------------------------------

_PICKLED_WITH_A_SET = textwrap.dedent(
    """
    import sys
    from hypernodes._core import hash_value

    class Bag:
        def __init__(self, words):
            self.words = set(words)

        def __getstate__(self):
            return {"words": self.words}

    class Reduced:
        def __init__(self, words):
            self.words = frozenset(words)

        def __reduce__(self):
            return (Reduced, (sorted(self.words),), {"w": set(self.words)})

    words = [f"word{i}" for i in range(40)]
    print(hash_value(Bag(words)), hash_value(Reduced(words)))
    """
)


def test_pickle_state_with_a_set_is_the_same_under_every_hash_seed(tmp_path):
    script = tmp_path / "bag.py"
    script.write_text(_PICKLED_WITH_A_SET)
    seen = set()
    for seed in ["0", "1", "2", "3", "4", "5", "6", "7"]:
        env = {**os.environ, "PYTHONHASHSEED": seed}
        out = subprocess.run(
            [sys.executable, str(script)], env=env, capture_output=True, text=True, check=True
        )
        seen.add(out.stdout.strip())
    assert len(seen) == 1, seen


class Bag:
    def __init__(self, words):
        self.words = set(words)

    def __getstate__(self):
        return {"words": self.words}


def test_pickle_state_values_count():
    assert hash_value(Bag(["a", "b"])) == hash_value(Bag(["b", "a"]))
    assert hash_value(Bag(["a", "b"])) != hash_value(Bag(["a", "c"]))


def test_unpicklable_state_is_a_clear_type_error():
    import threading

    class Holder:
        __slots__ = ("lock",)

        def __init__(self):
            self.lock = threading.Lock()

    with pytest.raises(TypeError, match="_thread.lock"):
        hash_value(Holder())


# --- an input that cannot be hashed is named, once -----------------------------------------------


@pytest.mark.parametrize("mapped", [False, True])
def test_an_unhashable_root_input_is_named_in_one_warning(executor, mapped):
    import threading
    import warnings

    from hypernodes import CacheWarning

    calls = []

    # the warning comes once per process and input: an input name of this case's own
    name = f"guard_{type(executor).__name__}_{mapped}"
    ns = {"calls": calls}
    exec(f"def check({name}):\n    calls.append(1)\n    return {name}.locked()\n", ns)  # noqa: S102
    p = Pipeline([node(output_name="locked")(ns["check"])], cache=MemoryCache(), executor=executor)
    lock = threading.Lock()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(3):
            if mapped:
                assert p.map({name: [lock]}, map_over=name)[0]["locked"] is False
            else:
                assert p.run({name: lock})["locked"] is False
    assert len(calls) == 3  # not cached, as before, but no longer silently
    msgs = [
        str(w.message)
        for w in caught
        if issubclass(w.category, CacheWarning) and "cannot be hashed" in str(w.message)
    ]
    assert len(set(msgs)) == 1, msgs
    assert f"input '{name}'" in msgs[0] and "lock" in msgs[0] and "__cache_key__" in msgs[0]
