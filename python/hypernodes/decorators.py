"""The ``@node`` decorator: turns a plain (or ``async def``) function into a pipeline node."""

from __future__ import annotations

import inspect
import types
from collections.abc import Callable, Sequence
from typing import Any, ParamSpec, TypeVar, overload

from hypernodes._core import Node
from hypernodes.errors import ConfigurationError

_CO_VARARGS, _CO_VARKEYWORDS = inspect.CO_VARARGS, inspect.CO_VARKEYWORDS


def _signature(func: Callable[..., Any], name: str) -> tuple[list[str], dict[str, Any]]:
    # A plain function is read from its code object (inspect.signature costs ~10x more); wrapped
    # functions (`__wrapped__`) and explicit `__signature__`s go through inspect.
    if (
        type(func) is types.FunctionType
        and not hasattr(func, "__wrapped__")
        and not hasattr(func, "__signature__")
    ):
        code = func.__code__
        if not code.co_flags & (_CO_VARARGS | _CO_VARKEYWORDS) and not code.co_kwonlyargcount:
            params = list(code.co_varnames[: code.co_argcount])
            given = func.__defaults__ or ()
            return params, dict(zip(params[len(params) - len(given) :], given))
    params: list[str] = []
    defaults: dict[str, Any] = {}
    for p in inspect.signature(func).parameters.values():
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            raise ConfigurationError(
                f"node '{name}': *args and **kwargs cannot be wired; name every parameter"
            )
        if p.kind is p.KEYWORD_ONLY:
            raise ConfigurationError(
                f"node '{name}': keyword-only parameter '{p.name}' is not supported"
            )
        params.append(p.name)
        if p.default is not p.empty:
            defaults[p.name] = p.default
    return params, defaults


P = ParamSpec("P")
R = TypeVar("R")


@overload
def node(
    func: Callable[P, R],
    *,
    output_name: str | Sequence[str] | None = None,
    cache: bool = True,
    version: str | None = None,
    name: str | None = None,
) -> Node[P, R]: ...


@overload
def node(
    func: None = None,
    *,
    output_name: str | Sequence[str] | None = None,
    cache: bool = True,
    version: str | None = None,
    name: str | None = None,
) -> Callable[[Callable[P, R]], Node[P, R]]: ...


def node(
    func: Callable[P, R] | None = None,
    *,
    output_name: str | Sequence[str] | None = None,
    cache: bool = True,
    version: str | None = None,
    name: str | None = None,
) -> Node[P, R] | Callable[[Callable[P, R]], Node[P, R]]:
    """Declares a node. ``output_name`` is a str, or a tuple of str for a function returning a
    tuple; it defaults to the function's name. ``cache=False`` never caches this node;
    ``version`` pins the code version used in cache keys. Usable as ``@node`` or ``@node(...)``.
    The node keeps the function's signature: calling it calls the function.
    """

    def wrap(f: Callable[P, R]) -> Node[P, R]:
        if isinstance(f, Node):
            raise ConfigurationError(f"'{f.name}' is already a node")
        if not callable(f):
            raise ConfigurationError(f"@node needs a function, got {f!r}")
        node_name = name or getattr(f, "__name__", None) or type(f).__name__
        if output_name is None:
            outputs, multi = [node_name], False
        elif isinstance(output_name, str):
            outputs, multi = [output_name], False
        else:
            outputs, multi = list(output_name), True
            if not outputs or not all(isinstance(o, str) for o in outputs):
                raise ConfigurationError(
                    f"node '{node_name}': output_name must be a str or a tuple of str"
                )
        params, defaults = _signature(f, node_name)
        if type(f) is types.FunctionType:  # the flag itself (inspect unwraps partials first)
            is_async = bool(f.__code__.co_flags & inspect.CO_COROUTINE) or (
                inspect.iscoroutinefunction(f)  # a function marked as one (3.12+)
                if hasattr(f, "_is_coroutine_marker")
                else False
            )
        else:
            is_async = inspect.iscoroutinefunction(f)
        n = Node(f, node_name, params, outputs, defaults, cache, version, is_async, multi)
        return n

    if func is not None:
        return wrap(func)
    return wrap
