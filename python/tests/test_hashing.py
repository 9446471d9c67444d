"""Canonical value hashing (hypernodes._core.hash_value) and code identity (hypernodes._code)."""

from __future__ import annotations

import dataclasses
import datetime
import enum
import functools
import json
import os
import subprocess
import sys
import threading
from collections import OrderedDict, namedtuple
from pathlib import Path

import pytest
from conftest import import_source
from hypernodes._code import code_identity
from hypernodes._core import hash_value

np = pytest.importorskip("numpy")


def h(v):
    return hash_value(v)


# --- scalars and containers ---------------------------------------------------------------------


def test_digest_is_hex_sha_sized():
    d = h(1)
    assert isinstance(d, str) and len(d) == 64
    int(d, 16)


def test_type_tags_never_collide():
    values = [
        1,
        "1",
        1.0,
        True,
        b"1",
        bytearray(b"1"),
        [1],
        (1,),
        {1},
        frozenset({1}),
        {"1": 1},
        {1: "1"},
        0,
        False,
        0.0,
        "",
        b"",
        None,
        "None",
        [],
        (),
        {},
        set(),
        frozenset(),
        1 + 0j,
        [[1]],
        ((1,),),
    ]
    digests = [h(v) for v in values]
    assert len(set(digests)) == len(values)


def test_equal_values_equal_digests():
    assert h(1) == h(1)
    assert h("abc") == h("ab" + "c")
    assert h([1, "a", (2.5, None)]) == h([1, "a", (2.5, None)])
    assert h(10**30) == h(10**30)


def test_nesting_is_unambiguous():
    assert h([[1], 2]) != h([1, [2]])
    assert h(["ab", "c"]) != h(["a", "bc"])
    assert h((1, 2)) != h(((1, 2),))
    assert h({"a": "b"}) != h({"b": "a"})


def test_ints_of_any_size():
    values = [2**63 - 1, 2**63, -(2**63), -(2**63) - 1, 2**64, 10**100, -(10**100), 2**4000]
    assert len({h(v) for v in values}) == len(values)
    assert h(2**4000) == h(2**4000)


def test_floats():
    assert h(float("nan")) == h(float("-nan")) == h(float("nan"))
    assert h(0.0) != h(-0.0)
    assert h(1.5) != h(1.25)
    assert h(float("inf")) != h(float("-inf"))


def test_strings():
    assert h("é") != h("e")
    assert h("x" * 5000) == h("x" * 5000)
    assert h("x" * 5000) != h("x" * 4999 + "y")
    assert h("\ud800") == h("\ud800")  # lone surrogate: still hashable
    assert h("\ud800") != h("")


def test_bytes_like():
    assert h(b"abc") == h(b"abc")
    assert h(b"abc") != h(bytearray(b"abc"))
    assert h(bytearray(b"abc")) == h(bytearray(b"abc"))
    assert h(memoryview(b"abcd")) == h(memoryview(bytearray(b"abcd")))
    assert h(b"a" * 100_000) != h(b"a" * 99_999 + b"b")


def test_dict_order_does_not_matter():
    a = {"x": 1, "y": [1, 2], "z": {"p": 1, "q": 2}}
    b = {"z": {"q": 2, "p": 1}, "y": [1, 2], "x": 1}
    assert list(a) != list(b)
    assert h(a) == h(b)
    assert h({"x": 1}) != h({"x": 2})
    assert h({1: 2, 3: 4}) != h({1: 4, 3: 2})


def test_set_order_does_not_matter():
    a = {f"item{i}" for i in range(100)}
    b = set()
    for item in sorted(a, reverse=True):  # another insertion order
        b.add(item)
    assert h(a) == h(b)
    assert h(frozenset(a)) == h(frozenset(b))
    assert h(a) != h(frozenset(a))


def test_none_is_a_value():
    assert h(None) == h(None)
    assert h(None) not in {h(0), h(""), h(False), h(()), h("None")}
    assert h({"a": None}) != h({"a": 0})


def test_builtin_subclasses_keep_their_class():
    Point = namedtuple("Point", "x y")
    assert h(Point(1, 2)) == h(Point(1, 2))
    assert h(Point(1, 2)) != h(Point(1, 3))
    assert h(Point(1, 2)) != h((1, 2))
    assert h(OrderedDict(a=1)) != h({"a": 1})


class Color(enum.Enum):
    RED = 1
    GREEN = 2


class Level(enum.IntEnum):
    LOW = 1


def test_enums_by_member():
    assert h(Color.RED) == h(Color.RED)
    assert h(Color.RED) != h(Color.GREEN)
    assert h(Level.LOW) != h(1)


def test_functions_and_classes_by_name():
    assert h(len) == h(len)
    assert h(len) != h(abs)
    assert h(test_floats) != h(test_strings)
    assert h(Color) != h(Level)
    assert h(int) != h(str)
    assert h(json) == h(json)


def test_partial_by_function_and_arguments():
    assert h(functools.partial(max, 1)) == h(functools.partial(max, 1))
    assert h(functools.partial(max, 1)) != h(functools.partial(max, 2))
    assert h(functools.partial(max, 1)) != h(functools.partial(min, 1))


def test_pickle_fallback_for_slot_and_builtin_types():
    d1 = datetime.datetime(2024, 1, 2, 3, 4, 5)
    assert h(d1) == h(datetime.datetime(2024, 1, 2, 3, 4, 5))
    assert h(d1) != h(datetime.datetime(2024, 1, 2, 3, 4, 6))
    assert h(Path("/a/b")) == h(Path("/a/b"))
    assert h(Path("/a/b")) != h(Path("/a/c"))


def test_unhashable_value_is_a_clear_type_error():
    with pytest.raises(TypeError, match="__cache_key__"):
        h(threading.Lock())
    with pytest.raises(TypeError, match="__cache_key__"):
        h({"lock": threading.Lock()})


def test_cycles_raise_type_error():
    a: list = [1]
    a.append(a)
    with pytest.raises(TypeError, match="cycle"):
        h(a)
    d: dict = {}
    d["self"] = d
    with pytest.raises(TypeError, match="cycle"):
        h(d)


def test_deep_but_finite_nesting_is_fine():
    v: object = 0
    for _ in range(90):
        v = [v]
    assert h(v) == h(v)


# --- objects -----------------------------------------------------------------------------------


@dataclasses.dataclass
class Params:
    a: int
    b: str = "x"


@dataclasses.dataclass
class OtherParams:
    a: int
    b: str = "x"


@dataclasses.dataclass(frozen=True)
class WithList:
    items: list
    nested: Params


def test_dataclasses_by_fields():
    assert h(Params(1)) == h(Params(1, "x"))
    assert h(Params(1)) != h(Params(2))
    assert h(Params(1, "y")) != h(Params(1, "x"))
    assert h(Params(1)) != h(OtherParams(1))  # the class counts
    assert h(WithList([1, 2], Params(3))) == h(WithList([1, 2], Params(3)))
    assert h(WithList([1, 2], Params(3))) != h(WithList([1, 2], Params(4)))


def test_dataclass_type_itself_is_by_name():
    assert h(Params) == h(Params)
    assert h(Params) != h(OtherParams)


def test_pydantic_models_by_fields():
    pydantic = pytest.importorskip("pydantic")

    class Inner(pydantic.BaseModel):
        v: float

    class Config(pydantic.BaseModel):
        name: str
        size: int = 3
        inner: Inner | None = None

    class Loose(pydantic.BaseModel):
        model_config = pydantic.ConfigDict(extra="allow")
        a: int

    assert h(Config(name="a")) == h(Config(name="a", size=3))
    assert h(Config(name="a")) != h(Config(name="b"))
    assert h(Config(name="a", inner=Inner(v=1))) == h(Config(name="a", inner=Inner(v=1)))
    assert h(Config(name="a", inner=Inner(v=1))) != h(Config(name="a", inner=Inner(v=2)))
    assert h(Loose(a=1, extra=1)) == h(Loose(a=1, extra=1))
    assert h(Loose(a=1, extra=1)) != h(Loose(a=1, extra=2))
    assert h(Loose(a=1)) != h(Loose(a=1, extra=1))


class Keyed:
    def __init__(self, key, noise):
        self.key = key
        self.noise = noise

    def __cache_key__(self):
        return ("v1", self.key)


@dataclasses.dataclass
class KeyedData:
    a: int
    b: int

    def __cache_key__(self):
        return self.a


def test_cache_key_wins():
    assert h(Keyed(1, "x")) == h(Keyed(1, "y"))
    assert h(Keyed(1, "x")) != h(Keyed(2, "x"))
    assert h(KeyedData(1, 2)) == h(KeyedData(1, 3))  # over dataclass fields
    assert h(KeyedData(1, 2)) != h(KeyedData(2, 2))
    assert h(Keyed(1, "x")) != h(("v1", 1))  # tagged: not just the returned value


class Model:
    def __init__(self, weights, lr):
        self.weights = weights
        self.lr = lr
        self._cache = {}
        self._calls = 0


def test_public_attributes_only():
    m1 = Model([1, 2], 0.1)
    base = h(m1)
    m1._cache["x"] = object()
    m1._calls = 5
    assert h(m1) == base
    m1.lr = 0.2
    assert h(m1) != base


def test_attribute_order_does_not_matter():
    a = Model([1], 0.1)
    b = Model.__new__(Model)
    b.lr = 0.1
    b.weights = [1]
    assert h(a) == h(b)


def test_object_class_counts():
    class A:
        def __init__(self):
            self.x = 1

    class B:
        def __init__(self):
            self.x = 1

    assert h(A()) == h(A())
    assert h(A()) != h(B())


# --- numpy ----------------------------------------------------------------------------------------


def test_numpy_dtype_matters():
    assert h(np.arange(5, dtype=np.int32)) != h(np.arange(5, dtype=np.int64))
    assert h(np.zeros(4, dtype=np.float32)) != h(np.zeros(2, dtype=np.float64))  # same bytes
    assert h(np.arange(5, dtype=np.int64)) == h(np.arange(5, dtype=np.int64))


def test_numpy_shape_matters():
    a = np.arange(6)
    assert h(a) != h(a.reshape(2, 3))
    assert h(a.reshape(2, 3)) != h(a.reshape(3, 2))
    assert h(np.array(5)) != h(np.array([5]))


def test_numpy_values_matter():
    a = np.arange(1000, dtype=np.float64)
    b = a.copy()
    assert h(a) == h(b)
    b[500] += 1
    assert h(a) != h(b)


def test_numpy_non_contiguous_view_equals_its_copy():
    a = np.arange(24, dtype=np.float64).reshape(4, 6)
    for view in (a[::2], a.T, a[:, 1:4], a[::-1]):
        assert not view.flags.c_contiguous
        assert h(view) == h(np.ascontiguousarray(view))
    f = np.asfortranarray(a)
    assert h(f) == h(a)


def test_numpy_large_array():
    a = np.random.default_rng(0).random(1_000_000)
    assert h(a) == h(a.copy())
    b = a.copy()
    b[-1] = -1.0
    assert h(a) != h(b)


def test_numpy_object_and_special_dtypes():
    assert h(np.array([1, "a", None], dtype=object)) == h(np.array([1, "a", None], dtype=object))
    assert h(np.array([1, "a"], dtype=object)) != h(np.array([1, "b"], dtype=object))
    d = np.array(["2020-01-01", "2020-01-02"], dtype="datetime64[D]")
    assert h(d) == h(d.copy())
    assert h(d) != h(d.astype("datetime64[s]"))
    s = np.zeros(2, dtype=[("a", "<i4"), ("b", "<f8")])
    t = np.zeros(2, dtype=[("x", "<i4"), ("y", "<f8")])
    assert h(s) != h(t)  # field names count


def test_numpy_scalars():
    assert h(np.float64(1.0)) != h(1.0)
    assert h(np.int32(1)) != h(np.int64(1))
    assert h(np.int64(7)) == h(np.int64(7))
    assert h(np.bool_(True)) != h(True)


def test_numpy_inside_containers_and_objects():
    a = np.arange(10)

    @dataclasses.dataclass
    class Batch:
        x: object
        label: str

    assert h({"a": a, "b": [a]}) == h({"b": [a.copy()], "a": a.copy()})
    assert h(Batch(a, "t")) == h(Batch(a.copy(), "t"))
    assert h(Batch(a, "t")) != h(Batch(a + 1, "t"))


# --- across processes ------------------------------------------------------------------------------

_VALUES_SRC = """
import numpy as np
values = [
    1, "1", 1.0, True, None, b"1", [1, (2, 3)], {"b": 2, "a": 1},
    {"x", "y", "z", "w"}, frozenset({"p", "q"}), 2**200, -0.0, float("nan"),
    np.arange(12, dtype=np.int32).reshape(3, 4).T, np.float32(2.5),
    {"k": {"set": {"a", "b", "c"}, "arr": np.linspace(0, 1, 5)}},
]
"""


def _digests_in_subprocess(seed: str, extra_path: Path | None = None) -> list[str]:
    code = (
        _VALUES_SRC
        + "\nfrom hypernodes._core import hash_value\nimport json\n"
        + "print(json.dumps([hash_value(v) for v in values]))\n"
    )
    env = dict(os.environ, PYTHONHASHSEED=seed)
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    return json.loads(out.stdout)


def test_equal_across_processes_and_hash_seeds():
    ns: dict = {}
    exec(_VALUES_SRC, ns)  # noqa: S102
    here = [h(v) for v in ns["values"]]
    assert _digests_in_subprocess("1") == here
    assert _digests_in_subprocess("12345") == here
    assert len(set(here)) == len(here)


def _load(tmp_path: Path, name: str, source: str):
    return import_source(tmp_path, source, name)


_OBJECTS_MODULE = """
import dataclasses

@dataclasses.dataclass
class P:
    a: int
    tags: set

class O:
    def __init__(self, x):
        self.x = x
        self._y = object()

def f(x):
    return x + 1

def make(k):
    def add(x):
        return x + k
    return add
"""


def test_objects_and_code_equal_across_processes(tmp_path):
    mod = _load(tmp_path, "hn_hash_objects_mod", _OBJECTS_MODULE)
    here = [
        h(mod.P(1, {"a", "b", "c"})),
        h(mod.O([1, 2])),
        code_identity(mod.f).decode(),
        code_identity(mod.make(3)).decode(),
    ]
    code = f"""
import importlib.util, json, sys
spec = importlib.util.spec_from_file_location("hn_hash_objects_mod", {str(tmp_path / "hn_hash_objects_mod.py")!r})
mod = importlib.util.module_from_spec(spec); sys.modules[spec.name] = mod; spec.loader.exec_module(mod)
from hypernodes._core import hash_value as h
from hypernodes._code import code_identity
print(json.dumps([h(mod.P(1, {{"a", "b", "c"}})), h(mod.O([1, 2])),
                  code_identity(mod.f).decode(), code_identity(mod.make(3)).decode()]))
"""
    for seed in ("0", "999"):
        env = dict(os.environ, PYTHONHASHSEED=seed)
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
        )
        assert json.loads(out.stdout) == here


# --- code identity ---------------------------------------------------------------------------------

_BASE = """
def f(x, y=2):
    z = x * y
    return z + 1
"""

_SAME_VARIANTS = [
    # comments, blank lines, spacing
    """
    def f(x, y=2):
        # multiply first
        z = x*y   # trailing comment

        return z+1
    """,
    # a different indentation width
    """
    def f(x, y=2):
      z = x * y
      return z + 1
    """,
    # a decorator line (and a multi-line one)
    """
    def deco(*a, **k):
        if len(a) == 1 and callable(a[0]) and not k:
            return a[0]
        return lambda fn: fn

    @deco
    @deco(
        "a",
        b=1,
    )
    def f(x, y=2):
        z = x * y
        return z + 1
    """,
]

_CHANGED_VARIANTS = [
    """
    def f(x, y=2):
        z = x * y
        return z + 2
    """,
    """
    def f(x, y=3):
        z = x * y
        return z + 1
    """,
    """
    def f(x, y=2):
        z = x * y
        return z - 1
    """,
]


def test_code_identity_ignores_comments_whitespace_and_decorators(tmp_path):
    base = code_identity(_load(tmp_path, "hn_code_base", _BASE).f)
    assert isinstance(base, bytes) and len(base) == 64
    for i, src in enumerate(_SAME_VARIANTS):
        f = _load(tmp_path, f"hn_code_same_{i}", src).f
        assert code_identity(f) == base, src


def test_code_identity_changes_with_the_body(tmp_path):
    base = code_identity(_load(tmp_path, "hn_code_base2", _BASE).f)
    seen = {base}
    for i, src in enumerate(_CHANGED_VARIANTS):
        ident = code_identity(_load(tmp_path, f"hn_code_changed_{i}", src).f)
        assert ident not in seen
        seen.add(ident)


def test_code_identity_keeps_block_structure(tmp_path):
    inside = """
    def f(x):
        if x:
            x = x + 1
            x = x * 2
        return x
    """
    outside = """
    def f(x):
        if x:
            x = x + 1
        x = x * 2
        return x
    """
    joined = """
    def f(x):
        if x:
            x = x + 1
        x = x * 2; return x
    """
    idents = [
        code_identity(_load(tmp_path, f"hn_code_block_{i}", src).f)
        for i, src in enumerate([inside, outside, joined])
    ]
    assert idents[0] != idents[1]
    assert idents[1] == idents[2]  # the same code, laid out on fewer lines


def _make_adder(k):
    def add(x):
        return x + k

    return add


def _make_caller(helper):
    def call(x):
        return helper(x)

    return call


def test_code_identity_covers_closure_values():
    assert code_identity(_make_adder(1)) == code_identity(_make_adder(1))
    assert code_identity(_make_adder(1)) != code_identity(_make_adder(2))
    assert code_identity(_make_adder([1, 2])) == code_identity(_make_adder([1, 2]))
    assert code_identity(_make_adder({"a": 1})) != code_identity(_make_adder({"a": 2}))
    # A captured function counts by its own code.
    assert code_identity(_make_caller(_make_adder(1))) != code_identity(
        _make_caller(_make_adder(2))
    )


def test_code_identity_of_a_recursive_closure_terminates():
    def outer():
        def rec(n):
            return 0 if n == 0 else rec(n - 1)

        return rec

    assert code_identity(outer()) == code_identity(outer())


def test_code_identity_unhashable_closure_value_falls_back_to_its_type():
    lock = threading.Lock()

    def uses_lock():
        return lock

    assert code_identity(uses_lock) == code_identity(uses_lock)


def test_code_identity_defaults_by_value():
    default = [1, 2]

    def g(x, y=default):
        return x

    def g2(x, y=(1, 2, 3)):
        return x

    before = code_identity(g)
    g.__defaults__ = ([1, 2, 3],)
    assert code_identity(g) != before
    assert code_identity(g2) != before


def test_code_identity_without_source():
    ns: dict = {}
    exec("def f(x):\n    return x + 1\n", ns)  # noqa: S102
    exec("def g(x):\n    return x + 2\n", ns)  # noqa: S102
    ns2: dict = {}
    exec("def f(x):\n    return x + 1\n", ns2)  # noqa: S102
    assert code_identity(ns["f"]) == code_identity(ns2["f"])
    assert code_identity(ns["f"]) != code_identity(ns["g"])


def test_code_identity_lambdas_on_one_line_differ():
    fs = [lambda x: x + 1, lambda x: x * 2]
    assert code_identity(fs[0]) != code_identity(fs[1])


def test_code_identity_of_other_callables():
    assert code_identity(len) == code_identity(len)
    assert code_identity(len) != code_identity(abs)
    p1 = functools.partial(_make_adder(1), 2)
    assert code_identity(p1) == code_identity(functools.partial(_make_adder(1), 2))
    assert code_identity(p1) != code_identity(functools.partial(_make_adder(1), 3))

    class Scale:
        def __init__(self, k):
            self.k = k

        def __call__(self, x):
            return x * self.k

        def method(self, x):
            return x + self.k

    assert code_identity(Scale(2)) == code_identity(Scale(2))
    assert code_identity(Scale(2)) != code_identity(Scale(3))
    assert code_identity(Scale(2).method) == code_identity(Scale(2).method)
    assert code_identity(Scale(2).method) != code_identity(Scale(3).method)
