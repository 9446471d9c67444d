"""Code identity from the code that runs (issue 12, item 2): the decorators actually applied, a file
edited under a running process, and what a node's function reaches through its globals (helpers in
its module and in others, global constants, classes and their methods, lambdas), transitively and
with cycles; what is not followed is stable, and a global that is not followed is named once."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import uuid
import warnings
from pathlib import Path

import pytest
from conftest import import_source
from hypernodes import CacheWarning, DiskCache, MemoryCache, Pipeline, node
from hypernodes._code import code_identity


def _load(tmp_path: Path, source: str, name: str | None = None):
    """Imports `source` as a fresh module (a unique name unless given)."""
    return import_source(tmp_path, source, name or f"hn_ci_{uuid.uuid4().hex[:12]}")


def _ident(tmp_path, source, attr="f"):
    return code_identity(getattr(_load(tmp_path, source), attr))


# --- decorators ------------------------------------------------------------------------------

_DECORATED = """
import functools

def double(fn):
    @functools.wraps(fn)
    def wrapper(x):
        return 2 * fn(x)
    return wrapper

def triple(fn):
    @functools.wraps(fn)
    def wrapper(x):
        return 3 * fn(x)
    return wrapper

@{deco}
def f(x):
    return x
"""


def test_the_applied_decorator_is_part_of_the_identity(tmp_path):
    a = _load(tmp_path, _DECORATED.format(deco="double"))
    b = _load(tmp_path, _DECORATED.format(deco="triple"))
    assert code_identity(a.f) != code_identity(b.f)
    cache = MemoryCache()
    p1 = Pipeline([node(output_name="y")(a.f)], cache=cache)
    p2 = Pipeline([node(output_name="y")(b.f)], cache=cache)
    assert p1.run({"x": 2})["y"] == 4
    assert p2.run({"x": 2})["y"] == 6  # not the 4 of @double


# --- a file edited under a running process ------------------------------------------------------

_EDIT_CHILD = """
import importlib, sys
sys.path.insert(0, sys.argv[1])
from hypernodes import DiskCache, Pipeline, node
import edited_mod
p = Pipeline([node(output_name="y")(edited_mod.f)], cache=DiskCache(sys.argv[2]))
if len(sys.argv) > 3:
    # the source file changes on disk after the import, before the first run
    open(sys.argv[3], "w").write(open(sys.argv[3] + ".new").read())
print(p.run({"x": 1})["y"])
"""


def test_a_file_edited_under_a_running_process_cannot_mislabel_results(tmp_path):
    mod = tmp_path / "edited_mod.py"
    mod.write_text("def f(x):\n    return x + 1\n")
    (tmp_path / "edited_mod.py.new").write_text("def f(x):\n    return x + 100\n")
    cache = tmp_path / "cache"

    def run(*extra):
        out = subprocess.run(
            [sys.executable, "-c", _EDIT_CHILD, str(tmp_path), str(cache), *extra],
            capture_output=True,
            text=True,
            check=True,
        )
        return int(out.stdout.split()[-1])

    assert run(str(mod)) == 2  # the old code ran; the file now holds the new code
    assert run() == 101  # a new process runs the new code: not the old result


# --- what a function reaches through its globals -------------------------------------------------

_HELPER = """
def helper(x):
    return x + {k}

def f(x):
    return helper(x) * 2
"""


def test_a_helper_in_the_same_module_is_followed(tmp_path):
    assert _ident(tmp_path, _HELPER.format(k=1)) == _ident(tmp_path, _HELPER.format(k=1))
    assert _ident(tmp_path, _HELPER.format(k=1)) != _ident(tmp_path, _HELPER.format(k=2))


def test_a_helper_in_another_user_module_is_followed(tmp_path):
    def ident(k):
        helpers = _load(tmp_path, f"def g(x):\n    return x * {k}\n", name=f"hn_ci_helpers_{k}")
        src = f"import hn_ci_helpers_{k} as helpers\nfrom hn_ci_helpers_{k} import g\n"
        src += "def f(x):\n    return helpers.g(x) + g(x)\n"
        return _ident(tmp_path, src), helpers

    (a, _), (b, _) = ident(2), ident(3)
    assert a != b


def test_helpers_are_followed_transitively_and_cycles_end(tmp_path):
    src = """
    def even(n):
        return True if n == 0 else odd(n - 1)

    def odd(n):
        return False if n == 0 else even(n - {k})

    def f(x):
        return even(x)
    """
    a = _ident(tmp_path, src.format(k=1))
    assert a == _ident(tmp_path, src.format(k=1))
    assert a != _ident(tmp_path, src.format(k=2))


@pytest.mark.parametrize(
    "value",
    ["3", "'a'", "b'a'", "(1, 2)", "frozenset({1, 2})", "2.5", "None", "((1, 'a'), 2j)"],
)
def test_global_constants_of_simple_types_count(tmp_path, value):
    src = "RATE = {v}\ndef f(x):\n    return (x, RATE)\n"
    a = _ident(tmp_path, src.format(v=value))
    assert a == _ident(tmp_path, src.format(v=value))
    assert a != _ident(tmp_path, src.format(v="'other'"))


def test_global_set_constant_is_the_same_under_every_hash_seed(tmp_path):
    (tmp_path / "setmod.py").write_text(
        "WORDS = {'a', 'b', 'c', 'd', 'e'}\ndef f(x):\n    return x in WORDS\n"
    )
    code = f"import sys; sys.path.insert(0, {str(tmp_path)!r}); import setmod; from hypernodes._code import code_identity; print(code_identity(setmod.f).decode())"
    seen = {
        subprocess.run(
            [sys.executable, "-c", code],
            env={**__import__("os").environ, "PYTHONHASHSEED": s},
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        for s in ("1", "2", "3", "4")
    }
    assert len(seen) == 1


_CLASS = """
class Scaler:
    factor = {factor}

    def __init__(self, k):
        self.k = k

    def apply(self, x):
        return self._inner(x) * self.factor

    def _inner(self, x):
        return x + {inner}

    @staticmethod
    def make():
        return Scaler(1)

def f(x):
    return Scaler.make().apply(x)
"""


def test_classes_are_followed_with_their_methods_and_constants(tmp_path):
    base = _ident(tmp_path, _CLASS.format(factor=2, inner=1))
    assert base == _ident(tmp_path, _CLASS.format(factor=2, inner=1))
    assert base != _ident(tmp_path, _CLASS.format(factor=3, inner=1))  # a class constant
    assert base != _ident(tmp_path, _CLASS.format(factor=2, inner=5))  # a method it calls


def test_a_global_read_by_a_lambda_node_counts(tmp_path):
    src = "K = {k}\nf = lambda x: x + K\n"
    assert _ident(tmp_path, src.format(k=1)) != _ident(tmp_path, src.format(k=2))


def test_a_global_decorator_is_followed_through_the_closure(tmp_path):
    src = """
    import functools
    OFFSET = {k}

    def shift(fn):
        @functools.wraps(fn)
        def wrapper(x):
            return fn(x) + OFFSET
        return wrapper

    @shift
    def f(x):
        return x
    """
    assert _ident(tmp_path, src.format(k=1)) != _ident(tmp_path, src.format(k=2))


def test_a_helper_wrapped_in_a_cache_object_is_followed(tmp_path):
    src = """
    import functools

    @functools.lru_cache(maxsize=None)
    def helper(x):
        return x + {k}

    def f(x):
        return helper(x)
    """
    assert _ident(tmp_path, src.format(k=1)) == _ident(tmp_path, src.format(k=1))
    assert _ident(tmp_path, src.format(k=1)) != _ident(tmp_path, src.format(k=2))
    cached = _load(tmp_path, "import functools\n@functools.cache\ndef f(x):\n    return x + 1\n")
    cached2 = _load(tmp_path, "import functools\n@functools.cache\ndef f(x):\n    return x + 2\n")
    assert code_identity(cached.f) != code_identity(cached2.f)  # a node over a cached function


def test_comments_layout_and_an_unused_global_do_not_count(tmp_path):
    a = _ident(tmp_path, "UNUSED = 1\ndef f(x):\n    return x + 1\n")
    b = _ident(
        tmp_path, "UNUSED = 2\n\n\ndef f(x):  # a comment\n\n    return (x +\n            1)\n"
    )
    assert a == b


def test_library_code_is_not_followed_and_stays_stable(tmp_path):
    from hypernodes._code import is_user_module

    src = "import math, json\nfrom os.path import join\ndef f(x):\n    return math.sqrt(x), json.dumps(x), join('a', 'b')\n"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert _ident(tmp_path, src) == _ident(tmp_path, src)
    assert not is_user_module("json")
    pytest.importorskip("numpy")
    assert not is_user_module("numpy")
    assert is_user_module(__name__)


def test_a_module_file_is_judged_by_its_absolute_normal_path(monkeypatch, tmp_path):
    # a path that is relative, or that leaves a library directory through `..`, is normalized as
    # os.path.abspath does before it is compared with the library directories
    import os
    import types

    from hypernodes._code import _library_roots, is_user_module

    root = next(r for r in _library_roots() if os.path.isdir(r))
    cases = {
        "lib_plain": (root + "m.py", False),
        "lib_dot": (root + "./m.py", False),
        "lib_double_slash": (root.rstrip("/") + "//m.py", False),
        "out_through_dotdot": (root + "../../" + tmp_path.name + "/m.py", True),
        "into_through_dotdot": (str(tmp_path) + "/.." + root + "m.py", True),
        "user_plain": (str(tmp_path / "m.py"), True),
        "user_relative": (os.path.relpath(tmp_path / "m.py"), True),
    }
    for name, (file, _) in cases.items():
        mod = types.ModuleType(f"hn_path_case_{name}_{uuid.uuid4().hex}")
        mod.__file__ = file
        monkeypatch.setitem(sys.modules, mod.__name__, mod)
        want = not os.path.abspath(file).startswith(_library_roots())
        assert is_user_module(mod.__name__) is want, (name, file)
    assert [want for _, want in cases.values()] == [
        not os.path.abspath(f).startswith(_library_roots()) for f, _ in cases.values()
    ]
    assert not is_user_module("sys")  # builtin
    assert not is_user_module("hypernodes.cache")
    assert is_user_module("__main__")
    assert is_user_module(f"never_imported_{uuid.uuid4().hex}")


@pytest.mark.parametrize("value", ["{'a': 1}", "[1, 2]", "{1, 2}"])
def test_a_mutable_global_container_is_not_followed_but_named(tmp_path, value):
    # a program mutates these (a log, a memo): the key must not follow their contents
    src = f"LOG = {value}\ndef f(x):\n    return len(LOG) + x\n"
    mod = _load(tmp_path, src)
    with pytest.warns(CacheWarning, match=r"reads the global 'LOG'"):
        before = code_identity(mod.f)
    if isinstance(mod.LOG, list):
        mod.LOG.append(3)
    else:
        mod.LOG.clear()
    assert code_identity(mod.f) == before


def test_a_global_that_is_not_followed_is_named_once(tmp_path):
    src = """
    class Model:
        def __init__(self):
            self.weights = [1, 2]

    MODEL = Model()

    def f(x):
        return MODEL.weights[0] * x
    """
    mod = _load(tmp_path, src)
    with pytest.warns(CacheWarning, match=r"reads the global 'MODEL' \(a .*Model\).*version="):
        code_identity(mod.f)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        code_identity(mod.f)  # once


def test_version_still_pins(tmp_path):
    a = _load(tmp_path, _HELPER.format(k=1))
    b = _load(tmp_path, _HELPER.format(k=2))
    cache = DiskCache(tmp_path / "c")
    p1 = Pipeline([node(output_name="y", version="1")(a.f)], cache=cache)
    p2 = Pipeline([node(output_name="y", version="1")(b.f)], cache=cache)
    assert p1.run({"x": 1})["y"] == 4
    assert p2.run({"x": 1})["y"] == 4  # the pin wins over the edited helper


def test_a_user_module_imported_in_the_body_is_followed(tmp_path):
    def ident(k, relative):
        pkg = f"hn_ci_pkg_{k}_{int(relative)}"
        (tmp_path / pkg).mkdir()
        (tmp_path / pkg / "__init__.py").write_text("")
        (tmp_path / pkg / "helpers.py").write_text(f"def g(x):\n    return x * {k}\n")
        body = "from .helpers import g" if relative else f"from {pkg}.helpers import g"
        (tmp_path / pkg / "mod.py").write_text(f"def f(x):\n    {body}\n    return g(x)\n")
        sys.path.insert(0, str(tmp_path))
        try:
            mod = importlib.import_module(f"{pkg}.mod")
            assert mod.f(1) == k  # imports helpers, so that it is in sys.modules
            return code_identity(mod.f)
        finally:
            sys.path.remove(str(tmp_path))

    for relative in (False, True):
        assert ident(2, relative) != ident(3, relative)


_MODEL = """
class Model:
    def __init__(self, w):
        self.w = w

    def predict(self, x):
        return x * self.w + {bias}

def make(model):
    def f(x):
        return model.predict(x)
    return f
"""


def test_a_closure_over_a_user_object_follows_its_class(tmp_path):
    # the same module name both times: the same class name and attributes, other code
    a = _load(tmp_path, _MODEL.format(bias=0), name="hn_ci_model")
    f_a2, f_a2_again, f_a3 = a.make(a.Model(2)), a.make(a.Model(2)), a.make(a.Model(3))
    b = _load(tmp_path, _MODEL.format(bias=1), name="hn_ci_model")
    assert code_identity(f_a2) == code_identity(f_a2_again)
    assert code_identity(f_a2) != code_identity(f_a3)  # its state
    assert code_identity(f_a2) != code_identity(b.make(b.Model(2)))  # its class's code
