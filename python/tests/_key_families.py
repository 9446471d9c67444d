"""Value families for the cache-key property test (test_value_key_property.py): hypothesis
strategies, a strict equality (same type and equal, all the way down) and a rebuild that gives an
equal value whose dicts and sets were filled in another order. A module of its own so that a
subprocess can unpickle the values it generates."""

from __future__ import annotations

import dataclasses
import math
from collections import OrderedDict, defaultdict

import numpy as np
from hypothesis import strategies as st


class Tagged(str):
    """A str with an attribute (its `==` is str's)."""


class Count(int):
    """An int with an attribute."""


class Pair(tuple):
    """A tuple with an attribute."""


@dataclasses.dataclass(frozen=True)
class Point:
    x: int
    y: str


class Bag:
    """Keyed through its pickle state, which holds a set."""

    def __init__(self, words):
        self.words = set(words)

    def __getstate__(self):
        return {"words": self.words}

    def __setstate__(self, state):
        self.words = state["words"]

    def __eq__(self, other):
        return type(other) is Bag and self.words == other.words


class Slotted:
    """Slots and a __dict__."""

    __slots__ = ("__dict__", "a")

    def __init__(self, a, b):
        self.a = a
        self.b = b

    def __eq__(self, other):
        return type(other) is Slotted and (self.a, self.b) == (other.a, other.b)


def _with_unit(cls, base, unit):
    v = cls(base)
    v.unit = unit
    return v


_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False),
    st.text(max_size=5),
    st.binary(max_size=5),
)
_hashables = st.recursive(
    _scalars,
    lambda inner: st.one_of(
        st.tuples(inner, inner),
        st.frozensets(inner, max_size=3),
        st.builds(Point, st.integers(), st.text(max_size=3)),
    ),
    max_leaves=4,
)
_units = st.sampled_from(["m", "km"])
_arrays = st.one_of(
    st.lists(st.integers(-3, 3), min_size=1, max_size=4).map(np.array),
    st.lists(st.integers(-3, 3), min_size=2, max_size=2).map(lambda v: np.matrix([v])),
    st.tuples(
        st.lists(st.integers(-3, 3), min_size=3, max_size=3),
        st.lists(st.booleans(), min_size=3, max_size=3),
    ).map(lambda dm: np.ma.masked_array(dm[0], mask=dm[1])),
    st.lists(st.integers(0, 3), min_size=1, max_size=3).map(
        lambda v: np.array([(x, float(x)) for x in v], dtype=[("a", "i4"), ("b", "f8")])
    ),
    st.lists(st.integers(0, 3), min_size=1, max_size=3).map(
        lambda v: np.array([(x, float(x)) for x in v], dtype=[("a", "i4"), ("b", "f8")]).view(
            np.recarray
        )
    ),
)

values = st.recursive(
    st.one_of(
        _hashables,
        st.builds(_with_unit, st.just(Tagged), st.text(max_size=3), _units),
        st.builds(_with_unit, st.just(Count), st.integers(-3, 3), _units),
        st.builds(_with_unit, st.just(Pair), st.tuples(st.integers(0, 2)), _units),
        st.builds(Bag, st.lists(st.text(max_size=3), max_size=4)),
        st.builds(Slotted, st.integers(0, 2), st.integers(0, 2)),
        st.sets(_hashables, max_size=3),
        _arrays,
    ),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(_hashables, inner, max_size=3),
        st.dictionaries(st.text(max_size=2), inner, max_size=3).map(lambda d: OrderedDict(d)),
        st.tuples(
            st.sampled_from([int, list]), st.dictionaries(st.text(max_size=2), inner, max_size=2)
        ).map(lambda fd: defaultdict(fd[0], fd[1])),
    ),
    max_leaves=6,
)


def strict_equal(a, b) -> bool:
    """Same type and equal, all the way down (so `1 == 1.0 == True` do not count, -0.0 is not 0.0,
    an OrderedDict's order counts as its `==` says)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, np.ndarray):
        if a.dtype != b.dtype or a.shape != b.shape or a.tobytes() != b.tobytes():
            return False
        if isinstance(a, np.ma.MaskedArray):
            ma, mb = np.ma.getmaskarray(a), np.ma.getmaskarray(b)
            return bool((ma == mb).all()) and strict_equal(a.fill_value.item(), b.fill_value.item())
        return True
    if isinstance(a, float):
        return a == b and math.copysign(1, a) == math.copysign(1, b)
    if isinstance(a, (Tagged, Count, Pair)):
        return (
            a == b and a.unit == b.unit and strict_equal(type(a).__base__(a), type(b).__base__(b))
        )
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(strict_equal(x, y) for x, y in zip(a, b))
    if isinstance(a, OrderedDict):
        return list(a) == list(b) and strict_equal(list(a.items()), list(b.items()))
    if isinstance(a, dict):
        if isinstance(a, defaultdict) and a.default_factory is not b.default_factory:
            return False
        if len(a) != len(b):
            return False
        return all(
            any(strict_equal(k, k2) and strict_equal(v, b[k2]) for k2 in b) for k, v in a.items()
        )
    if isinstance(a, (set, frozenset)):
        return len(a) == len(b) and all(any(strict_equal(x, y) for y in b) for x in a)
    if isinstance(a, Point):
        return strict_equal(a.x, b.x) and strict_equal(a.y, b.y)
    if isinstance(a, Bag):
        return strict_equal(a.words, b.words)
    if isinstance(a, Slotted):
        return strict_equal(a.a, b.a) and strict_equal(a.b, b.b)
    return a == b


def rebuilt(v):
    """An equal copy of `v` whose plain dicts and sets were filled in reverse order."""
    if isinstance(v, (Tagged, Count, Pair)):
        return _with_unit(type(v), type(v).__base__(v), v.unit)
    if type(v) is list:
        return [rebuilt(x) for x in v]
    if type(v) is tuple:
        return tuple(rebuilt(x) for x in v)
    if type(v) is OrderedDict:
        return OrderedDict((k, rebuilt(x)) for k, x in v.items())
    if type(v) is defaultdict:
        return defaultdict(
            v.default_factory, [(k, rebuilt(x)) for k, x in reversed(list(v.items()))]
        )
    if type(v) is dict:
        return {k: rebuilt(x) for k, x in reversed(list(v.items()))}
    if type(v) in (set, frozenset):
        filled = set()
        for x in reversed(list(v)):  # inserted in the other order
            filled.add(x)
        return filled if type(v) is set else frozenset(filled)
    if type(v) is Bag:
        return Bag(reversed(list(v.words)))
    if type(v) is Slotted:
        return Slotted(rebuilt(v.a), rebuilt(v.b))
    if isinstance(v, np.ndarray):
        return v.copy()
    return v
