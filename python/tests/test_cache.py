"""Caching of node results (issue 4, DESIGN.md "Semantics that users rely on"): per node and per map
item, nested pipelines cached as a whole and node by node, inheritance and `cache=False`, Merkle keys
(root inputs by value, intermediates by their producer's key, code, closures, `version=`, bound
values, mappings and requested outputs), type-tagged canonical hashing of inputs, and the DiskCache's
guarantees: persistence across processes, concurrent writers, corrupt and unreadable entries,
values that cannot be stored, and numpy arrays stored out of band.

Calls are counted in the module-level list `LOG` (a global, so that it is not part of any node's code
identity) or, when work runs in other processes, as files in a directory."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import os
import subprocess
import sys
import textwrap
import threading
import uuid
import warnings
from pathlib import Path

import _disk
import numpy as np
import pydantic
import pytest
from hypernodes import (
    CacheWarning,
    Callback,
    DiskCache,
    MemoryCache,
    NodeExecutor,
    Pipeline,
    node,
)

LOG: list = []


@pytest.fixture(autouse=True)
def _clear_log():
    LOG.clear()
    yield
    LOG.clear()


@pytest.fixture(params=["memory", "disk"])
def make_cache(request, tmp_path):
    """A factory of caches of the parametrized kind; disk caches share one directory per test."""

    def make():
        return MemoryCache() if request.param == "memory" else DiskCache(tmp_path / "cache")

    make.kind = request.param
    return make


class Rec(Callback):
    """Records cache hits (node names, with depth) and fully cached map items."""

    def __init__(self) -> None:
        self.cached: list[str] = []
        self.cached_at: list[tuple[str, int]] = []
        self.signatures: list[tuple[str, str]] = []
        self.items_cached: list[int] = []
        self.ended: list[str] = []

    def clear(self) -> None:
        self.__init__()

    def on_node_cached(self, node_id, signature, ctx):
        self.cached.append(node_id)
        self.cached_at.append((node_id, ctx.depth))
        self.signatures.append((node_id, signature))

    def on_node_end(self, node_id, outputs, duration, ctx):
        self.ended.append(node_id)

    def on_map_item_cached(self, item_index, signature, ctx):
        self.items_cached.append(item_index)


def entry_count(root: Path) -> int:
    """The number of entries committed to a DiskCache directory's index."""
    return _disk.count(root)


def load_module(path: Path, source: str):
    """Writes `source` to `path` and imports it under a unique module name (source available)."""
    path.write_text(textwrap.dedent(source))
    spec = importlib.util.spec_from_file_location(f"hn_cache_{uuid.uuid4().hex}", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


# ------------------------------------------------------------------ per node and per item


@node(output_name="doubled")
def double(x):
    LOG.append(("double", x))
    return x * 2


@node(output_name="shown")
def show(doubled):
    LOG.append(("show", doubled))
    return f"<{doubled}>"


def test_map_computes_only_new_items(make_cache):
    rec = Rec()
    p = Pipeline([double, show], cache=make_cache(), callbacks=[rec])
    assert p.map({"x": [1, 2, 3]}, map_over="x") == [
        {"doubled": 2, "shown": "<2>"},
        {"doubled": 4, "shown": "<4>"},
        {"doubled": 6, "shown": "<6>"},
    ]
    assert len(LOG) == 6 and rec.cached == []
    LOG.clear()
    out = p.map({"x": [2, 3, 4]}, map_over="x")
    assert out == [
        {"doubled": 4, "shown": "<4>"},
        {"doubled": 6, "shown": "<6>"},
        {"doubled": 8, "shown": "<8>"},
    ]
    assert LOG == [("double", 4), ("show", 8)]
    assert rec.items_cached == [0, 1]
    assert sorted(rec.cached) == ["double", "double", "show", "show"]


def test_second_run_is_all_hits(make_cache):
    rec = Rec()
    p = Pipeline([double, show], cache=make_cache(), callbacks=[rec])
    first = p.run({"x": 5})
    LOG.clear()
    rec.clear()
    assert p.run({"x": 5}) == first == {"doubled": 10, "shown": "<10>"}
    assert LOG == []
    assert sorted(rec.cached) == ["double", "show"]
    assert rec.ended == []


def test_cache_is_shared_by_pipelines_using_it(make_cache):
    cache = make_cache()
    Pipeline([double, show], cache=cache).run({"x": 7})
    LOG.clear()
    assert Pipeline([double, show], cache=cache).run({"x": 7})["shown"] == "<14>"
    assert LOG == []


def test_disk_cache_hits_from_a_fresh_cache_object(tmp_path):
    Pipeline([double, show], cache=DiskCache(tmp_path)).map({"x": [1, 2]}, map_over="x")
    LOG.clear()
    fresh = Pipeline([double, show], cache=DiskCache(tmp_path))
    assert fresh.map({"x": [1, 2]}, map_over="x")[1] == {"doubled": 4, "shown": "<4>"}
    assert LOG == []
    assert entry_count(tmp_path) == 4


def test_no_cache_by_default_and_with_cache_false():
    for p in (Pipeline([double]), Pipeline([double], cache=False), Pipeline([double], cache=None)):
        LOG.clear()
        p.run({"x": 1})
        p.run({"x": 1})
        assert LOG == [("double", 1), ("double", 1)]


def test_node_with_cache_false_always_runs(make_cache):
    @node(output_name="stamp", cache=False)
    def stamp(x):
        LOG.append("stamp")
        return x

    p = Pipeline([stamp], cache=make_cache())
    p.run({"x": 1})
    p.run({"x": 1})
    assert LOG == ["stamp", "stamp"]


# ------------------------------------------------------------------ nested pipelines


def _inner_text_pipeline():
    @node(output_name="cleaned")
    def clean(text):
        LOG.append("clean")
        return text.strip().lower()

    @node(output_name="n")
    def count(cleaned, k):
        LOG.append("count")
        return len(cleaned.split()) * k

    return Pipeline([clean, count], name="inner")


@node(output_name="out")
def finish(n, extra):
    LOG.append("finish")
    return f"{n}{extra}"


def test_nested_pipeline_cached_as_a_whole_and_node_by_node(make_cache):
    rec = Rec()
    outer = Pipeline(
        [_inner_text_pipeline().as_node(name="step"), finish],
        name="outer",
        cache=make_cache(),
        callbacks=[rec],
    )
    inputs = {"text": " A b C ", "k": 1, "extra": "!"}
    assert outer.run(inputs)["out"] == "3!"
    assert sorted(LOG) == ["clean", "count", "finish"]

    # Same inputs: the pipeline node hits as a whole; its inner nodes are not even visited.
    LOG.clear()
    rec.clear()
    assert outer.run(inputs)["out"] == "3!"
    assert LOG == []
    assert sorted(rec.cached_at) == [("finish", 0), ("step", 0)]

    # An outer-only input changed: the nested node still hits as a whole.
    LOG.clear()
    rec.clear()
    assert outer.run({**inputs, "extra": "?"})["out"] == "3?"
    assert LOG == ["finish"]
    assert rec.cached == ["step"]

    # A nested input changed: the nested node misses, but its inner node whose inputs did not
    # change hits (inner nodes are cached too, one level down).
    LOG.clear()
    rec.clear()
    assert outer.run({**inputs, "k": 2})["out"] == "6!"
    assert sorted(LOG) == ["count", "finish"]
    assert rec.cached_at == [("clean", 1)]


def test_nested_map_caches_per_item(make_cache):
    @node(output_name="sq")
    def square(x):
        LOG.append(x)
        return x * x

    inner = Pipeline([square], name="sq_inner")
    nested = inner.as_node(name="squares", input_mapping={"xs": "x"}, map_over="xs")

    @node(output_name="total")
    def total(sq):
        return sum(sq)

    outer = Pipeline([nested, total], cache=make_cache())
    assert outer.run({"xs": [1, 2, 3]}) == {"sq": [1, 4, 9], "total": 14}
    LOG.clear()
    assert outer.run({"xs": [2, 3, 4]}) == {"sq": [4, 9, 16], "total": 29}
    assert LOG == [4]


def test_cache_is_inherited_by_nested_pipelines():
    cache = MemoryCache()
    outer = Pipeline([_inner_text_pipeline().as_node(name="step"), finish], cache=cache)
    outer.run({"text": "a b", "k": 1, "extra": ""})
    # clean, count (inherited by the inner pipeline), step (as a whole) and finish.
    assert len(cache) == 4


def test_nested_pipeline_with_its_own_cache():
    outer_cache, inner_cache = MemoryCache(), MemoryCache()
    inner = Pipeline(list(_inner_text_pipeline().nodes), name="inner", cache=inner_cache)
    rec = Rec()
    outer = Pipeline([inner.as_node(name="step"), finish], cache=outer_cache, callbacks=[rec])
    outer.run({"text": "a b", "k": 1, "extra": ""})
    assert len(inner_cache) == 2  # clean, count
    assert len(outer_cache) == 2  # step, finish

    # Only the nested pipeline caches: the outer nodes run again, the inner ones hit.
    LOG.clear()
    rec.clear()
    inner_only = Pipeline([inner.as_node(name="step"), finish], callbacks=[rec])
    assert inner_only.run({"text": "a b", "k": 1, "extra": "."})["out"] == "2."
    assert LOG == ["finish"]
    assert sorted(rec.cached_at) == [("clean", 1), ("count", 1)]


def test_cache_false_switches_caching_off_below():
    cache = MemoryCache()
    middle = Pipeline(
        [_inner_text_pipeline().as_node(name="inner_step")], name="middle", cache=False
    )
    outer = Pipeline([middle.as_node(name="middle_step", cache=False), finish], cache=cache)
    inputs = {"text": "a b", "k": 1, "extra": ""}
    outer.run(inputs)
    LOG.clear()
    outer.run(inputs)
    # Below `middle` nothing is cached: clean and count run again; `finish` (outer) hits because
    # its input is keyed by the value the uncached pipeline node returned.
    assert sorted(LOG) == ["clean", "count"]
    assert len(cache) == 1  # finish only


def test_as_node_cache_false_still_caches_the_inner_nodes():
    cache = MemoryCache()
    rec = Rec()
    outer = Pipeline(
        [_inner_text_pipeline().as_node(name="step", cache=False), finish],
        cache=cache,
        callbacks=[rec],
    )
    inputs = {"text": "a b", "k": 1, "extra": ""}
    outer.run(inputs)
    LOG.clear()
    outer.run(inputs)
    assert LOG == []
    assert sorted(rec.cached_at) == [("clean", 1), ("count", 1), ("finish", 0)]
    assert len(cache) == 3  # clean, count, finish: not the pipeline node


def test_pipeline_with_cache_false_is_not_served_from_an_outer_cache():
    """DESIGN.md: `cache=False` switches caching off "for that pipeline and below". A pipeline that
    says so must not be answered from the enclosing pipeline's cache as a whole either: its
    functions run on every run (they may be non-deterministic or have side effects)."""
    inner = Pipeline(list(_inner_text_pipeline().nodes), name="inner", cache=False)
    outer = Pipeline([inner.as_node(name="step"), finish], cache=MemoryCache())
    inputs = {"text": "a b", "k": 1, "extra": ""}
    outer.run(inputs)
    LOG.clear()
    outer.run(inputs)
    assert sorted(LOG) == ["clean", "count"]


# ------------------------------------------------------------------ Merkle keys


def _diamond():
    @node(output_name="ax")
    def a(x):
        LOG.append("a")
        return x + 1

    @node(output_name="by")
    def b(y):
        LOG.append("b")
        return y * 10

    @node(output_name="out")
    def c(ax, by):
        LOG.append("c")
        return ax + by

    return [a, b, c]


def test_changing_a_root_input_recomputes_downstream_only(make_cache):
    p = Pipeline(_diamond(), cache=make_cache())
    assert p.run({"x": 1, "y": 2})["out"] == 22
    LOG.clear()
    assert p.run({"x": 1, "y": 3})["out"] == 32
    assert sorted(LOG) == ["b", "c"]
    LOG.clear()
    assert p.run({"x": 5, "y": 3})["out"] == 36
    assert sorted(LOG) == ["a", "c"]


def test_uncached_node_lets_downstream_hit_by_output_value(make_cache):
    @node(output_name="parity", cache=False)
    def parity(x):
        LOG.append("parity")
        return x % 2

    @node(output_name="label")
    def label(parity):
        LOG.append("label")
        return "odd" if parity else "even"

    rec = Rec()
    p = Pipeline([parity, label], cache=make_cache(), callbacks=[rec])
    assert p.run({"x": 1})["label"] == "odd"
    LOG.clear()
    assert p.run({"x": 3})["label"] == "odd"  # same output of `parity`: `label` hits
    assert LOG == ["parity"]
    assert rec.cached == ["label"]
    LOG.clear()
    assert p.run({"x": 4})["label"] == "even"
    assert LOG == ["parity", "label"]


class Tracked:
    """A value whose `__cache_key__` counts its calls (hashing it means calling it)."""

    hashed = 0

    def __init__(self, n: int) -> None:
        self.n = n

    def __cache_key__(self):
        Tracked.hashed += 1
        return self.n


@node(output_name="tracked")
def make_tracked(n):
    LOG.append("make_tracked")
    return Tracked(n)


@node(output_name="size")
def use_tracked(tracked):
    LOG.append("use_tracked")
    return tracked.n * 2


def test_intermediate_values_are_not_hashed(make_cache):
    Tracked.hashed = 0
    p = Pipeline([make_tracked, use_tracked], cache=make_cache())
    assert p.run({"n": 4})["size"] == 8
    assert p.run({"n": 4})["size"] == 8
    assert p.map({"n": [1, 2, 4]}, map_over="n")[2]["size"] == 8
    assert Tracked.hashed == 0
    assert LOG == ["make_tracked", "use_tracked"] * 3


def test_root_inputs_and_uncached_outputs_are_hashed_by_value(make_cache):
    # The other side of the previous test: hashing does go through `__cache_key__` for a root input
    # and for the output of an uncached node (so the counter above can fail).
    Tracked.hashed = 0
    p = Pipeline([use_tracked], cache=make_cache())
    p.run({"tracked": Tracked(3)})
    assert Tracked.hashed >= 1
    LOG.clear()
    p.run({"tracked": Tracked(3)})  # another object, same key: hit
    assert LOG == []

    Tracked.hashed = 0
    uncached = node(make_tracked.func, output_name="tracked", cache=False)
    Pipeline([uncached, use_tracked], cache=make_cache()).run({"n": 9})
    assert Tracked.hashed >= 1


_PLUS_ONE = """
from hypernodes import node
CALLS = []

@node(output_name="y"{version})
def bump(x):
    CALLS.append(x)
    return x + {amount}
"""

_PLUS_ONE_REFORMATTED = """
from hypernodes import node
CALLS = []

# A comment above the node.
@node(output_name="y"{version})
def bump(x):
    # a comment inside
    CALLS.append(x)   # trailing comment


    return x+{amount}
"""


def test_code_change_is_a_miss(tmp_path):
    cache = MemoryCache()
    one = load_module(tmp_path / "one.py", _PLUS_ONE.format(version="", amount=1))
    two = load_module(tmp_path / "two.py", _PLUS_ONE.format(version="", amount=2))
    assert Pipeline([one.bump], cache=cache).run({"x": 1}) == {"y": 2}
    assert Pipeline([two.bump], cache=cache).run({"x": 1}) == {"y": 3}
    assert one.CALLS == [1] and two.CALLS == [1]


def test_comment_and_whitespace_changes_are_hits(tmp_path):
    cache = MemoryCache()
    one = load_module(tmp_path / "one.py", _PLUS_ONE.format(version="", amount=1))
    same = load_module(tmp_path / "same.py", _PLUS_ONE_REFORMATTED.format(version="", amount=1))
    assert Pipeline([one.bump], cache=cache).run({"x": 1}) == {"y": 2}
    assert Pipeline([same.bump], cache=cache).run({"x": 1}) == {"y": 2}
    assert same.CALLS == []


def test_version_pins_the_code_identity(tmp_path):
    cache = MemoryCache()
    v1 = load_module(tmp_path / "v1.py", _PLUS_ONE.format(version=', version="1"', amount=1))
    v1_edited = load_module(
        tmp_path / "v1e.py", _PLUS_ONE.format(version=', version="1"', amount=100)
    )
    v2 = load_module(tmp_path / "v2.py", _PLUS_ONE.format(version=', version="2"', amount=100))
    assert Pipeline([v1.bump], cache=cache).run({"x": 1}) == {"y": 2}
    # Same version, different body: the pin wins (a hit, by design).
    assert Pipeline([v1_edited.bump], cache=cache).run({"x": 1}) == {"y": 2}
    assert v1_edited.CALLS == []
    # Another version: a miss.
    assert Pipeline([v2.bump], cache=cache).run({"x": 1}) == {"y": 101}
    assert v2.CALLS == [1]


def test_closure_values_are_part_of_the_key(make_cache):
    def scaled_by(k):
        @node(output_name="y")
        def scale(x):
            LOG.append(k)
            return x * k

        return scale

    cache = make_cache()
    assert Pipeline([scaled_by(2)], cache=cache).run({"x": 3}) == {"y": 6}
    assert Pipeline([scaled_by(2)], cache=cache).run({"x": 3}) == {"y": 6}  # same closure value
    assert Pipeline([scaled_by(3)], cache=cache).run({"x": 3}) == {"y": 9}
    assert LOG == [2, 3]


def test_default_values_are_keyed_by_value(make_cache):
    def with_default(k):
        @node(output_name="y")
        def shifted(x, shift=k):
            LOG.append(shift)
            return x + shift

        return shifted

    cache = make_cache()
    assert Pipeline([with_default(1)], cache=cache).run({"x": 1}) == {"y": 2}
    assert Pipeline([with_default(1)], cache=cache).run({"x": 1}) == {"y": 2}
    assert Pipeline([with_default(5)], cache=cache).run({"x": 1}) == {"y": 6}
    # The default given explicitly: the same key.
    assert Pipeline([with_default(5)], cache=cache).run({"x": 1, "shift": 5}) == {"y": 6}
    assert LOG == [1, 5]


def test_none_is_a_cached_value(make_cache):
    @node(output_name="nothing")
    def nothing(x):
        LOG.append("nothing")  # and returns None

    @node(output_name="was_none")
    def was_none(nothing):
        LOG.append("was_none")
        return nothing is None

    rec = Rec()
    p = Pipeline([nothing, was_none], cache=make_cache(), callbacks=[rec])
    assert p.run({"x": 1}) == {"nothing": None, "was_none": True}
    rec.clear()
    assert p.run({"x": 1}) == {"nothing": None, "was_none": True}
    assert LOG == ["nothing", "was_none"]
    assert sorted(rec.cached) == ["nothing", "was_none"]


def test_none_is_a_cached_value_on_disk(tmp_path):
    @node(output_name="nothing")
    def nothing_at_all(x):
        LOG.append("nothing")

    Pipeline([nothing_at_all], cache=DiskCache(tmp_path)).run({"x": 1})
    assert Pipeline([nothing_at_all], cache=DiskCache(tmp_path)).run({"x": 1}) == {"nothing": None}
    assert LOG == ["nothing"]


def test_rebinding_an_inner_input_is_a_miss(make_cache):
    @node(output_name="y")
    def times(x, k):
        LOG.append(k)
        return x * k

    inner = Pipeline([times], name="inner")
    cache = make_cache()

    def outer(k):
        return Pipeline([inner.bind(k=k).as_node(name="sub")], name="outer", cache=cache)

    assert outer(2).run({"x": 3}) == {"y": 6}
    assert outer(5).run({"x": 3}) == {"y": 15}
    assert outer(2).run({"x": 3}) == {"y": 6}
    assert LOG == [2, 5]


def test_bound_root_inputs_are_keyed_by_value(make_cache):
    cache = make_cache()
    assert Pipeline([double], cache=cache).bind(x=2).run() == {"doubled": 4}
    assert Pipeline([double], cache=cache).bind(x=3).run() == {"doubled": 6}
    assert Pipeline([double], cache=cache).bind(x=2).run() == {"doubled": 4}
    assert Pipeline([double], cache=cache).run({"x": 2}) == {"doubled": 4}
    assert LOG == [("double", 2), ("double", 3)]


def _two_outputs():
    @node(output_name="a")
    def fa(x):
        LOG.append("fa")
        return x + 1

    @node(output_name="b")
    def fb(x):
        LOG.append("fb")
        return x * 10

    return Pipeline([fa, fb], name="two")


def test_selecting_other_outputs_of_a_nested_node_is_never_stale(make_cache):
    outer = Pipeline([_two_outputs().as_node(name="both")], cache=make_cache())
    assert outer.run({"x": 1}, output_name="a") == {"a": 2}
    assert outer.run({"x": 1}, output_name="b") == {"b": 10}
    assert outer.run({"x": 1}) == {"a": 2, "b": 10}
    LOG.clear()
    assert outer.run({"x": 1}, output_name="b") == {"b": 10}
    assert outer.run({"x": 1}) == {"a": 2, "b": 10}
    assert LOG == []


def test_output_mapping_is_part_of_the_key(make_cache):
    cache = make_cache()
    inner = _two_outputs()
    via_a = Pipeline([inner.as_node(name="sub", output_mapping={"a": "out"})], cache=cache)
    via_b = Pipeline([inner.as_node(name="sub", output_mapping={"b": "out"})], cache=cache)
    assert via_a.run({"x": 1}) == {"out": 2}
    assert via_b.run({"x": 1}) == {"out": 10}
    assert via_a.run({"x": 1}) == {"out": 2}


def test_map_settings_are_part_of_the_key(make_cache):
    @node(output_name="pair")
    def pair(x, y):
        return repr((x, y))

    cache = make_cache()
    inner = Pipeline([pair], name="pairs")
    inputs = {"x": [1, 2], "y": [3, 4]}
    plain = Pipeline([inner.as_node(name="sub")], cache=cache)
    zipped = Pipeline([inner.as_node(name="sub", map_over=["x", "y"])], cache=cache)
    product = Pipeline(
        [inner.as_node(name="sub", map_over=["x", "y"], map_mode="product")], cache=cache
    )
    assert plain.run(inputs) == {"pair": "([1, 2], [3, 4])"}
    assert zipped.run(inputs) == {"pair": ["(1, 3)", "(2, 4)"]}
    assert product.run(inputs) == {"pair": ["(1, 3)", "(1, 4)", "(2, 3)", "(2, 4)"]}
    assert plain.run(inputs) == {"pair": "([1, 2], [3, 4])"}


# ------------------------------------------------------------------ hashing of inputs


@node(output_name="seen")
def echo(v):
    LOG.append(v)
    return (type(v).__name__, v)


def test_type_tags_give_different_entries(make_cache):
    p = Pipeline([echo], cache=make_cache())
    values = [1, "1", 1.0, True, b"1", [1], (1,), None, 0, False, 0.0, -0.0]
    for _ in range(2):
        for v in values:
            seen = p.run({"v": v})["seen"]
            assert seen[0] == type(v).__name__ and seen[1] == v
    assert len(LOG) == len(values)


def test_dict_order_does_not_matter(make_cache):
    p = Pipeline([echo], cache=make_cache())
    p.run({"v": {"a": 1, "b": {"x": 1, "y": 2}}})
    p.run({"v": {"b": {"y": 2, "x": 1}, "a": 1}})
    assert len(LOG) == 1
    p.run({"v": {"a": 1, "b": {"x": 1, "y": 3}}})
    assert len(LOG) == 2


@dataclasses.dataclass
class Point:
    x: int
    y: list


class Model(pydantic.BaseModel):
    name: str
    tags: list[str] = []


def test_dataclasses_and_pydantic_models_by_fields(make_cache):
    p = Pipeline([echo], cache=make_cache())
    p.run({"v": Point(1, [2])})
    p.run({"v": Point(1, [2])})
    p.run({"v": Model(name="a", tags=["t"])})
    p.run({"v": Model(name="a", tags=["t"])})
    assert len(LOG) == 2
    p.run({"v": Point(1, [3])})
    p.run({"v": Model(name="a", tags=["u"])})
    assert len(LOG) == 4


def test_numpy_arrays_by_content(make_cache):
    p = Pipeline([echo], cache=make_cache())
    base = np.arange(12, dtype=np.int64)
    p.run({"v": base})
    p.run({"v": base.copy()})
    p.run({"v": np.arange(0, 24, 2)[:12] // 2})  # equal content, computed otherwise
    p.run({"v": np.arange(24)[::2] // 2})  # a non-contiguous view with equal content
    assert len(LOG) == 1
    p.run({"v": base.astype(np.int32)})  # dtype
    p.run({"v": base.reshape(3, 4)})  # shape
    p.run({"v": base + (np.arange(12) == 11)})  # one value
    assert len(LOG) == 4


class Handle:
    """An object keyed by `__cache_key__`; its private state does not count."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._conn = object()

    def __cache_key__(self):
        return ("handle", self.url)


def test_objects_with_cache_key(make_cache):
    p = Pipeline([echo], cache=make_cache())
    p.run({"v": Handle("db://a")})
    p.run({"v": Handle("db://a")})
    assert len(LOG) == 1
    p.run({"v": Handle("db://b")})
    assert len(LOG) == 2


# ------------------------------------------------------------------ DiskCache across processes

_NODES_MODULE = """
from hypernodes import node

CALLS = []

@node(output_name="y")
def stage_one(x):
    CALLS.append("stage_one")
    return {"v": x * 2, "tag": str(x)}

@node(output_name="z")
def stage_two(y, k):
    CALLS.append("stage_two")
    return (y["v"] + k, y["tag"])
"""

_SCRIPT = """
import json, sys
sys.path.insert(0, sys.argv[2])
import cache_nodes
from hypernodes import Callback, DiskCache, Pipeline

class Rec(Callback):
    def __init__(self):
        self.cached = []
    def on_node_cached(self, node_id, signature, ctx):
        self.cached.append([node_id, signature])

rec = Rec()
p = Pipeline([cache_nodes.stage_one, cache_nodes.stage_two], cache=DiskCache(sys.argv[1]),
             callbacks=[rec])
out = p.map({"x": [1, 2, 3], "k": 10}, map_over="x")
print(json.dumps({"calls": cache_nodes.CALLS, "cached": rec.cached,
                  "out": [[o["y"]["v"], list(o["z"])] for o in out]}))
"""


def test_disk_cache_persists_across_processes(tmp_path):
    cache_dir = tmp_path / "cache"
    (tmp_path / "cache_nodes.py").write_text(_NODES_MODULE)
    script = tmp_path / "script.py"
    script.write_text(_SCRIPT)

    def run(seed: str) -> dict:
        env = {**os.environ, "PYTHONHASHSEED": seed}
        done = subprocess.run(
            [sys.executable, str(script), str(cache_dir), str(tmp_path)],
            check=False,
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    expected = [[2, [12, "1"]], [4, [14, "2"]], [6, [16, "3"]]]
    first = run("1")
    assert first["out"] == expected
    assert len(first["calls"]) == 6 and first["cached"] == []
    n_entries = entry_count(cache_dir)
    assert n_entries == 6

    second = run("2")  # a fresh interpreter, another hash seed
    assert second["out"] == expected
    assert second["calls"] == []
    assert len(second["cached"]) == 6
    assert entry_count(cache_dir) == n_entries

    # Equal keys in this process too (same module source, imported here).
    mod = load_module(tmp_path / "cache_nodes.py", _NODES_MODULE)
    rec = Rec()
    p = Pipeline([mod.stage_one, mod.stage_two], cache=DiskCache(cache_dir), callbacks=[rec])
    out = p.map({"x": [1, 2, 3], "k": 10}, map_over="x")
    assert [[o["y"]["v"], list(o["z"])] for o in out] == expected
    assert mod.CALLS == []
    assert sorted(map(list, rec.signatures)) == sorted(second["cached"])


def _file_counting_nodes(log_dir: Path):
    """Nodes that record each call as a file (they may run in worker processes)."""
    log = str(log_dir)

    @node(output_name="sq")
    def square(x):
        open(os.path.join(log, f"square-{x}-{uuid.uuid4().hex}"), "w").close()
        return x * x

    @node(output_name="text")
    def render(sq):
        open(os.path.join(log, f"render-{sq}-{uuid.uuid4().hex}"), "w").close()
        return f"#{sq}"

    return [square, render]


def test_parallel_map_into_one_disk_cache(tmp_path):
    log_dir = tmp_path / "log"
    log_dir.mkdir()
    nodes = _file_counting_nodes(log_dir)
    parallel = NodeExecutor(map_execution="parallel", max_workers=2)

    def calls() -> int:
        return len(os.listdir(log_dir))

    def mapped(cache_dir, executor, xs):
        rec = Rec()
        kw = {"executor": executor} if executor else {}
        p = Pipeline(nodes, cache=DiskCache(cache_dir), callbacks=[rec], **kw)
        before = calls()
        out = p.map({"x": xs}, map_over="x")
        assert out == [{"sq": x * x, "text": f"#{x * x}"} for x in xs]
        return sorted(rec.items_cached), calls() - before, sorted(rec.signatures)

    shared, reference = tmp_path / "shared", tmp_path / "reference"
    first = list(range(24))
    second = list(range(12, 36))
    # The same maps, sequential (reference) and parallel (workers write at once).
    ref1 = mapped(reference, None, first)
    par1 = mapped(shared, parallel, first)
    assert ref1[:2] == par1[:2] == ([], 48)
    ref2 = mapped(reference, None, second)
    par2 = mapped(shared, parallel, second)
    assert par2 == ref2
    assert par2[0] == list(range(12)) and par2[1] == 24
    # Everything is now a hit, whoever wrote it.
    par3 = mapped(shared, parallel, first + second)
    seq3 = mapped(shared, None, first + second)
    assert par3[:2] == seq3[:2] == (list(range(48)), 0)
    assert par3[2] == seq3[2]
    assert entry_count(shared) == entry_count(reference) == 72


def test_parallel_map_with_duplicate_items_writing_the_same_keys(tmp_path):
    log_dir = tmp_path / "log"
    log_dir.mkdir()
    nodes = _file_counting_nodes(log_dir)
    xs = [i % 5 for i in range(40)]
    ex = NodeExecutor(map_execution="parallel", max_workers=2)
    p = Pipeline(nodes, cache=DiskCache(tmp_path / "cache"), executor=ex)
    with warnings.catch_warnings():
        warnings.simplefilter("error", CacheWarning)
        assert p.map({"x": xs}, map_over="x") == [{"sq": x * x, "text": f"#{x * x}"} for x in xs]
        assert entry_count(tmp_path / "cache") == 10
        before = len(os.listdir(log_dir))
        rec = Rec()
        again = Pipeline(nodes, cache=DiskCache(tmp_path / "cache"), callbacks=[rec])
        assert again.map({"x": xs}, map_over="x")[7] == {"sq": 4, "text": "#4"}
        assert len(os.listdir(log_dir)) == before
        assert rec.items_cached == list(range(40))


# ------------------------------------------------------------------ DiskCache: damaged entries


def _damaged(data: bytes, how: str) -> bytes:
    if how == "empty":
        return b""
    if how == "truncated":
        return data[: len(data) // 2]
    if how == "first_byte":
        return bytes([data[0] ^ 0xFF]) + data[1:]
    if how == "last_byte":
        return data[:-1] + bytes([data[-1] ^ 0x01])
    if how == "appended":
        return data + b"garbage"
    assert how == "garbage"
    return os.urandom(len(data))


DAMAGE = ["empty", "truncated", "first_byte", "last_byte", "appended", "garbage"]


def _run_expecting_recompute(cache_dir, nodes, inputs, expected, calls, words):
    """Runs with a fresh cache object: every node is recomputed with one warning each, containing
    one of `words`; then a fresh object hits silently (the entries were rewritten)."""
    LOG.clear()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = Pipeline(nodes, cache=DiskCache(cache_dir)).run(inputs)
    assert out == expected
    assert LOG == calls
    cache_warnings = [str(w.message) for w in caught if issubclass(w.category, CacheWarning)]
    assert len(cache_warnings) == len(calls), cache_warnings
    assert all(any(w in m for w in words) for m in cache_warnings), cache_warnings
    LOG.clear()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = Pipeline(nodes, cache=DiskCache(cache_dir)).run(inputs)
    assert out == expected
    assert LOG == []
    assert [w for w in caught if issubclass(w.category, CacheWarning)] == []


@pytest.mark.parametrize("column", ["value", "sum", "tag"])
@pytest.mark.parametrize("how", DAMAGE)
def test_corrupt_entry_is_recomputed_with_a_warning(tmp_path, how, column):
    cache_dir = tmp_path / "cache"
    Pipeline([double, show], cache=DiskCache(cache_dir)).run({"x": 21})
    assert entry_count(cache_dir) == 2
    # the hot file holds the undamaged rows (and would serve them): this is about the index
    _disk.remove_hot(cache_dir)
    for key, data in _disk.sql(cache_dir, (f"SELECT key, {column} FROM entries", ())):
        _disk.sql(
            cache_dir,
            (f"UPDATE entries SET {column} = ? WHERE key = ?", (_damaged(data, how), key)),
        )
    _run_expecting_recompute(
        cache_dir,
        [double, show],
        {"x": 21},
        {"doubled": 42, "shown": "<42>"},
        [("double", 21), ("show", 42)],
        ["corrupt", "decode", "does not belong"],
    )


@node(output_name="block")
def make_block(n):
    LOG.append(("block", n))
    return np.full(n, 7, dtype=np.int64)


@pytest.mark.parametrize("how", DAMAGE)
def test_corrupt_blob_file_is_recomputed_with_a_warning(tmp_path, how):
    cache_dir = tmp_path / "cache"
    Pipeline([make_block], cache=DiskCache(cache_dir)).run({"n": 100_000})  # 800 KB: a file
    ((_, sum_, _, _, inline),) = _disk.rows(cache_dir)
    assert inline is None
    blob = _disk.blob_of(cache_dir, sum_)
    blob.write_bytes(_damaged(blob.read_bytes(), how))
    LOG.clear()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = Pipeline([make_block], cache=DiskCache(cache_dir)).run({"n": 100_000})
    assert (out["block"] == 7).all() and out["block"].shape == (100_000,)
    assert LOG == [("block", 100_000)]
    messages = [str(w.message) for w in caught if issubclass(w.category, CacheWarning)]
    assert len(messages) == 1 and "corrupt" in messages[0], messages
    LOG.clear()
    again = Pipeline([make_block], cache=DiskCache(cache_dir)).run({"n": 100_000})
    assert (again["block"] == 7).all() and LOG == []


def test_missing_blob_file_is_recomputed_with_a_warning(tmp_path):
    cache_dir = tmp_path / "cache"
    Pipeline([make_block], cache=DiskCache(cache_dir)).run({"n": 100_000})
    (blob,) = _disk.blob_files(cache_dir)
    blob.unlink()
    LOG.clear()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = Pipeline([make_block], cache=DiskCache(cache_dir)).run({"n": 100_000})
    assert (out["block"] == 7).all() and LOG == [("block", 100_000)]
    messages = [str(w.message) for w in caught if issubclass(w.category, CacheWarning)]
    assert len(messages) == 1 and "missing" in messages[0], messages
    assert _disk.blob_files(cache_dir) == [blob]


def test_unreadable_entry_is_recomputed_with_a_warning(tmp_path):
    cache_dir = tmp_path / "cache"
    Pipeline([make_block], cache=DiskCache(cache_dir)).run({"n": 100_000})
    (blob,) = _disk.blob_files(cache_dir)
    if os.geteuid() == 0:
        # root reads any file whatever its mode: make the blob a directory instead
        blob.unlink()
        blob.mkdir()
    else:
        blob.chmod(0)
    LOG.clear()
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            out = Pipeline([make_block], cache=DiskCache(cache_dir)).run({"n": 100_000})
        assert (out["block"] == 7).all()
        assert LOG == [("block", 100_000)]
        messages = [str(w.message) for w in caught if issubclass(w.category, CacheWarning)]
        assert any("unreadable" in m for m in messages), messages
    finally:
        if blob.is_file():
            blob.chmod(0o644)


@pytest.mark.parametrize("kind", ["lock", "generator"])
def test_value_that_cannot_be_stored_is_computed_with_one_warning(tmp_path, kind):
    # A distinct node name per case: the warning is given once per node and process.
    name = f"make_unstorable_{kind}_{uuid.uuid4().hex[:8]}"

    def make(x):
        LOG.append(x)
        return threading.Lock() if kind == "lock" else (i for i in range(x))

    n = node(make, output_name="thing", name=name)
    p = Pipeline([n], cache=DiskCache(tmp_path / "cache"))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        results = [p.run({"x": 3})["thing"] for _ in range(3)]
        results += [o["thing"] for o in p.map({"x": [1, 2, 3]}, map_over="x")]
    assert LOG == [3, 3, 3, 1, 2, 3]
    if kind == "lock":
        assert all(hasattr(r, "acquire") for r in results)
    else:
        assert list(results[0]) == [0, 1, 2]
    messages = [
        str(w.message)
        for w in caught
        if issubclass(w.category, CacheWarning) and "result not cached" in str(w.message)
    ]
    assert len(messages) == 1, messages
    assert name in messages[0]
    assert kind in messages[0]
    assert entry_count(tmp_path / "cache") == 0


def test_downstream_of_an_unstorable_value_still_works(tmp_path):
    @node(output_name="lock", name=f"lock_maker_{uuid.uuid4().hex[:8]}")
    def lock_maker(x):
        LOG.append("lock")
        return threading.Lock()

    @node(output_name="free")
    def is_free(lock):
        LOG.append("free")
        return not lock.locked()

    p = Pipeline([lock_maker, is_free], cache=DiskCache(tmp_path / "cache"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CacheWarning)
        assert p.run({"x": 1})["free"] is True
        assert p.run({"x": 1})["free"] is True
    assert LOG.count("lock") == 2


# ------------------------------------------------------------------ numpy round trip


@node(output_name="arrays")
def make_arrays(seed):
    LOG.append(seed)
    rng = np.random.default_rng(seed)
    big = rng.standard_normal((1024, 1024))  # 8 MB float64
    big[0, :4] = [np.nan, np.inf, -np.inf, -0.0]
    fortran = np.asfortranarray(rng.integers(-1000, 1000, size=(300, 200), dtype=np.int16))
    return {"big": big, "fortran": fortran, "small": np.arange(5, dtype=np.uint8)}


def test_large_numpy_arrays_round_trip_bit_exactly(tmp_path):
    cache_dir = tmp_path / "cache"
    computed = Pipeline([make_arrays], cache=DiskCache(cache_dir)).run({"seed": 7})["arrays"]
    loaded = Pipeline([make_arrays], cache=DiskCache(cache_dir)).run({"seed": 7})["arrays"]
    assert LOG == [7]
    for key in ("big", "fortran", "small"):
        a, b = computed[key], loaded[key]
        assert b is not a
        assert b.dtype == a.dtype and b.shape == a.shape
        assert b.tobytes(order="A") == a.tobytes(order="A")
        assert b.flags.writeable
        b[(0,) * b.ndim] = 1  # writable indeed
    assert loaded["fortran"].flags.f_contiguous
    # Out of band: the entry holds the buffers once (no second copy inside the pickle).
    size = max(p.stat().st_size for p in _disk.blob_files(cache_dir))
    raw = sum(computed[k].nbytes for k in ("big", "fortran", "small"))
    assert raw <= size < raw + 64 * 1024


def test_unusable_cache_directory_is_a_warning_not_an_error(tmp_path):
    not_a_dir = tmp_path / "a_file"
    not_a_dir.write_text("not a directory")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        p = Pipeline([double, show], cache=DiskCache(not_a_dir))
        assert p.run({"x": 2}) == {"doubled": 4, "shown": "<4>"}
        assert p.map({"x": [1, 2]}, map_over="x")[1] == {"doubled": 4, "shown": "<4>"}
    assert any(issubclass(w.category, CacheWarning) for w in caught)
    assert not_a_dir.read_text() == "not a directory"
