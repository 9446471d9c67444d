"""The code identity of a node's function, one half of its cache key (DESIGN.md, "Code hash").

``code_identity(func)`` is a digest of what the function *does*:

- its source, normalized so that comments, blank lines, whitespace, indentation width and decorator
  lines do not count (``inspect.getsource`` + ``tokenize``: each logical line's tokens joined by
  single spaces, indented one space per block level, so block structure still counts);
- the values it closes over (``__closure__`` cells, paired with the names in ``co_freevars``) and
  its default argument values, hashed by value with ``hypernodes._core.hash_value``; a captured
  function counts by its own code identity, so editing a helper that a closure calls invalidates it.

Globals are not followed. When the source is unavailable (functions built with ``exec``, ``python -c``,
some REPLs), the compiled code stands in for it: bytecode, names and constants, the constants hashed by
value (never by ``repr``, which for code objects contains a memory address). Callables without
``__code__`` count by their class: ``functools.partial`` by its function and arguments, a callable
object by its class, the code of its ``__call__`` and its value (``hash_value``), a builtin by name.

The result is deterministic across processes and runs: no ``id()``, no salted ``hash()``.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import io
import textwrap
import tokenize
import types
from typing import Any

from hypernodes._core import hash_value

__all__ = ["code_identity", "normalized_source"]


def code_identity(func: Any) -> bytes:
    """A hex digest (as ASCII bytes) that changes when ``func``'s code or captured values change."""
    h = hashlib.blake2b(digest_size=32)
    _feed(h, func, set())
    return h.hexdigest().encode("ascii")


def normalized_source(func: Any) -> str | None:
    """``func``'s source re-rendered from its tokens; None when the source is unavailable.

    One logical line per line, indented one space per block level, its tokens joined by single
    spaces; comments, blank lines, line continuations and decorator lines are gone. Block structure
    is kept: moving a statement into or out of a block changes the result, re-indenting does not.
    """
    try:
        source = inspect.getsource(func)
    except (OSError, TypeError):
        return None
    lines: list[str] = []
    line: list[str] = []
    depth = 0
    in_decorators = True  # until the first logical line that is not a decorator
    try:
        for tok in tokenize.generate_tokens(io.StringIO(textwrap.dedent(source)).readline):
            if tok.type == tokenize.INDENT:
                depth += 1
            elif tok.type == tokenize.DEDENT:
                depth -= 1
            elif tok.type == tokenize.NEWLINE:
                if line and not (in_decorators and line[0] == "@"):
                    in_decorators = False
                    lines.append(" " * depth + " ".join(line))
                line = []
            elif tok.type not in (tokenize.COMMENT, tokenize.NL, tokenize.ENDMARKER):
                line.append(tok.string)
    except (tokenize.TokenError, IndentationError, SyntaxError):
        return None
    if line:
        lines.append(" " * depth + " ".join(line))
    return "\n".join(lines)


def _put(h: Any, tag: str, data: bytes | str) -> None:
    """A tagged, length-prefixed part (so that parts cannot run into each other)."""
    if isinstance(data, str):
        data = data.encode("utf-8", "surrogatepass")
    h.update(tag.encode("ascii"))
    h.update(len(data).to_bytes(8, "little"))
    h.update(data)


def _value(h: Any, tag: str, value: Any, seen: set[int]) -> None:
    """A captured value: a function by its code identity, anything else by ``hash_value``."""
    if isinstance(value, (types.FunctionType, types.MethodType, functools.partial)):
        _put(h, tag + "f", b"")
        _feed(h, value, seen)
        return
    try:
        _put(h, tag + "v", hash_value(value))
    except TypeError:
        # Not hashable by value (a lock, a client, ...): its class stands in for it. Pin
        # `version=` on the node when such a value changes what the function computes.
        t = type(value)
        _put(h, tag + "t", f"{t.__module__}.{t.__qualname__}")


def _feed(h: Any, func: Any, seen: set[int]) -> None:
    # `seen` only breaks recursion (a nested function that captures itself); ids never reach `h`.
    if id(func) in seen:
        _put(h, "R", getattr(func, "__qualname__", type(func).__qualname__))
        return
    seen.add(id(func))
    try:
        if isinstance(func, functools.partial):
            _put(h, "P", b"")
            _feed(h, func.func, seen)
            _value(h, "a", func.args, seen)
            _value(h, "k", func.keywords, seen)
        elif isinstance(func, types.MethodType) or getattr(type(func), "_hn_lazy_method", False):
            # a lazily bound method of a @stateful object counts as the method it stands for
            _put(h, "M", b"")
            _feed(h, func.__func__, seen)
            _value(h, "s", func.__self__, seen)
        elif isinstance(func, types.FunctionType):
            _feed_function(h, func, seen)
        else:
            # Builtins and callable objects: the class, the value, and the code of `__call__`.
            t = type(func)
            _put(h, "C", f"{t.__module__}.{t.__qualname__}")
            _value(h, "v", func, seen)
            call = inspect.getattr_static(t, "__call__", None)
            if isinstance(call, types.FunctionType):
                _feed_function(h, call, seen)
    finally:
        seen.discard(id(func))


def _feed_function(h: Any, func: types.FunctionType, seen: set[int]) -> None:
    code = func.__code__
    source = normalized_source(func)
    if source is None or func.__name__ == "<lambda>":
        # No source, or a lambda, whose "source" is the whole line(s) it sits on (possibly several
        # lambdas): the compiled code identifies it.
        _put(h, "Q", func.__qualname__)
        _feed_code(h, code)
    if source is not None:
        _put(h, "S", source)
    for name, cell in zip(code.co_freevars, func.__closure__ or ()):
        _put(h, "n", name)
        try:
            value = cell.cell_contents
        except ValueError:  # an empty cell (a variable assigned after the function was made)
            _put(h, "e", b"")
            continue
        _value(h, "c", value, seen)
    if func.__defaults__:
        _value(h, "d", func.__defaults__, seen)
    if func.__kwdefaults__:
        _value(h, "w", func.__kwdefaults__, seen)


def _feed_code(h: Any, code: types.CodeType) -> None:
    _put(h, "B", code.co_code)
    _put(h, "N", "\0".join(code.co_names))
    _put(h, "V", "\0".join(code.co_varnames))
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            _put(h, "K", b"")
            _feed_code(h, const)
        else:
            _put(h, "k", hash_value(const))
