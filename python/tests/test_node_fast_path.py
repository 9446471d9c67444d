"""`@node` on a plain function is made in Rust (`_core._node_from_function`); everything else goes
through `hypernodes.decorators`. Both must give the same node: same name, inputs, defaults,
outputs, flags and code identity (so the same cache keys)."""

from __future__ import annotations

import functools
import inspect

import pytest
from hypernodes import ConfigurationError, node
from hypernodes._core import Node, _node_from_function, node_identity


def plain(x, y):
    return x + y


def with_defaults(a, b=2, c=(1, 2)):
    return a


def positional_only(a, /, b, c=3):
    return a


async def coroutine(x):
    return x


def no_params():
    return 1


def _slow(f, output_name=None, cache=True, version=None, name=None):
    """The node as `hypernodes.decorators` made it before the fast path (its own reading of the
    signature, through inspect)."""
    node_name = name or f.__name__
    params, defaults = [], {}
    for p in inspect.signature(f).parameters.values():
        params.append(p.name)
        if p.default is not p.empty:
            defaults[p.name] = p.default
    outputs = [output_name or node_name]
    return Node(
        f,
        node_name,
        params,
        outputs,
        defaults,
        cache,
        version,
        inspect.iscoroutinefunction(f),
        False,
    )


def _same(a, b):
    for attr in ("name", "inputs", "output_name", "outputs", "cache", "version", "is_async"):
        assert getattr(a, attr) == getattr(b, attr), attr
    assert a.defaults == b.defaults
    assert a.func is b.func
    assert node_identity(a) == node_identity(b)


@pytest.mark.parametrize("func", [plain, with_defaults, positional_only, coroutine, no_params])
@pytest.mark.parametrize(
    "options",
    [
        {},
        {"output_name": "out"},
        {"cache": False},
        {"version": "2"},
        {"name": "renamed"},
        {"name": "", "output_name": "o", "version": "v", "cache": False},
    ],
)
def test_a_plain_function_takes_the_fast_path_and_gets_the_same_node(func, options):
    fast = _node_from_function(
        func,
        options.get("output_name"),
        options.get("cache", True),
        options.get("version"),
        options.get("name"),
    )
    assert fast is not None
    _same(fast, _slow(func, **options))
    _same(node(**options)(func), fast)


def _wrapped(f):
    @functools.wraps(f)
    def inner(*args, **kwargs):
        return f(*args, **kwargs)

    return inner


def _marked():
    def f(x):
        return x

    f.__signature__ = inspect.Signature([inspect.Parameter("y", inspect.Parameter.KEYWORD_ONLY)])
    return f


@pytest.mark.parametrize(
    "func, args",
    [
        (_wrapped(plain), (None, True, None, None)),  # __wrapped__: its signature is plain's
        (functools.partial(plain, 1), (None, True, None, None)),
        (lambda *xs: xs, (None, True, None, None)),
        (lambda **kw: kw, (None, True, None, None)),
        (lambda a, *, b: a, (None, True, None, None)),
        (_marked(), (None, True, None, None)),
        (plain, (("a", "b"), True, None, None)),  # several outputs
        (plain, (None, 1, None, None)),  # cache not a bool
        (plain, (None, True, 2, None)),  # version not a str
        (plain, (None, True, None, 5)),  # name not a str
        (len, (None, True, None, None)),
        (int, (None, True, None, None)),
    ],
)
def test_anything_else_is_left_to_the_decorator(func, args):
    assert _node_from_function(func, *args) is None


def test_the_decorator_still_reports_what_the_fast_path_leaves_to_it():
    with pytest.raises(ConfigurationError, match=r"\*args and \*\*kwargs cannot be wired"):
        node(lambda *xs: xs)
    with pytest.raises(ConfigurationError, match="keyword-only parameter 'b'"):
        node(lambda a, *, b: a)
    with pytest.raises(ConfigurationError, match="keyword-only parameter 'y'"):
        node(_marked())
    with pytest.raises(ConfigurationError, match="output_name must be a str or a tuple of str"):
        node(output_name=("a", 1))(plain)
    n = node(output_name=("s", "t"))(plain)
    assert n.outputs == ["s", "t"] and n.output_name == ("s", "t")
    w = node(_wrapped(with_defaults))
    assert w.inputs == ["a", "b", "c"] and w.defaults == {"b": 2, "c": (1, 2)}
