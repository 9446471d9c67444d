"""``DualNode``: a node with a per-item function for ``run`` and a batch function for ``map``.

``run`` calls ``singular`` with one value per parameter. ``map`` (in every executor and mode) calls
``batch`` on batches of at most ``batch_size`` items that missed the cache; items found in the cache
are left out. Ordinary nodes of the same pipeline still run per item, and nodes downstream of the
DualNode receive each item's own value.

What ``batch`` receives, per parameter:

- a parameter that varies per item (a mapped input, or computed from one): the batch's values, as a
  ``pyarrow.Array`` when pyarrow is installed and the values convert (``pyarrow.array(values)``),
  otherwise as a ``list``; ``DualNode(..., batch_lists=True)`` always gives a ``list``;
- a parameter every item shares (a broadcast input such as a model or a factor): the value itself.

It returns a ``list``, a ``tuple``, a NumPy array (its first axis is the items) or a ``pyarrow``
array of the same length as the batch; a ``pyarrow`` array's items become Python values
(``to_pylist``), so do a 1-D numeric NumPy array's (``tolist``); the items of any other NumPy array
are its rows. Anything else, or another length, is an error
naming the node. A node with several outputs (``output_name`` a tuple) returns a tuple with one
such sequence per output.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from hypernodes._core import Node
from hypernodes.decorators import _signature
from hypernodes.errors import ConfigurationError

__all__ = ["DualNode"]

DEFAULT_BATCH_SIZE = 256
"""Items per batch call when ``batch_size`` is not given."""


def DualNode(  # the original HyperNodes' spelling (a class there)
    output_name: str | tuple[str, ...],
    singular: Callable[..., Any],
    batch: Callable[..., Any],
    cache: bool = True,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    batch_lists: bool = False,
    name: str | None = None,
    version: str | None = None,
) -> Node:
    """A node that runs ``singular`` per item and ``batch`` on batches of a map's items (see the
    module's doc). ``singular``'s parameters wire the node; ``batch`` receives the same arguments
    in the same order, positionally (its own names may differ: ``texts`` for ``text``). Both must
    give the same results: a cached result of one serves the other. Bound methods (of a
    ``@stateful`` object too) and ``async def`` functions work as either. With several outputs
    (``output_name`` a tuple), ``singular`` returns a tuple and ``batch`` one sequence per output.
    ``name`` defaults to the output's name (the outputs' names joined by ``_``)."""
    if isinstance(output_name, str) and output_name:
        outputs, multi = [output_name], False
    elif (
        isinstance(output_name, tuple)
        and output_name
        and all(isinstance(o, str) and o for o in output_name)
    ):
        outputs, multi = list(output_name), True
    else:
        raise ConfigurationError(
            f"DualNode: output_name must be a non-empty str or tuple of str, got {output_name!r}"
        )
    node_name = name or "_".join(outputs)
    for role, f in (("singular", singular), ("batch", batch)):
        if not callable(f):
            raise ConfigurationError(f"DualNode '{node_name}': {role} must be callable, got {f!r}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ConfigurationError(
            f"DualNode '{node_name}': batch_size must be an int of at least 1, got {batch_size!r}"
        )
    params, defaults = _signature(singular, node_name)
    try:
        inspect.signature(batch).bind(*params)
    except TypeError:
        raise ConfigurationError(
            f"DualNode '{node_name}': batch must take the {len(params)} parameter(s) of singular "
            f"({', '.join(params)}), in that order, positionally; it takes "
            f"{inspect.signature(batch)}"
        ) from None
    except ValueError:  # no signature to read (some builtins): found out at the first call
        pass
    return Node(
        singular,
        node_name,
        params,
        outputs,
        defaults,
        cache,
        version,
        inspect.iscoroutinefunction(singular),
        multi,
        None,
        batch=batch,
        batch_size=batch_size,
        batch_lists=batch_lists,
    )


_arrow: Any = None


def _pyarrow() -> Any:
    global _arrow
    if _arrow is None:
        try:
            import pyarrow
        except ImportError:
            pyarrow = False
        _arrow = pyarrow
    return _arrow


def _column(values: list, lists: bool) -> Any:
    pa = None if lists else _pyarrow()
    if not pa:
        return values
    try:
        return pa.array(values)
    except (pa.ArrowException, TypeError, ValueError, OverflowError):
        return values


def call_batch(func: Callable[..., Any], spec: list, n: int, lists: bool, outputs: int = 1) -> list:
    """Called by the engine: ``func`` on one batch of ``n`` items (``spec``: per parameter,
    ``(varies, values_or_value)``); returns the items' results as a list (with several
    ``outputs``, a list of rows). The engine checks the number of rows."""
    columns = call_columns(func, spec, n, lists, outputs)
    if outputs == 1:
        return columns[0]
    return [list(row) for row in zip(*columns)]


def call_columns(
    func: Callable[..., Any], spec: list, n: int, lists: bool, outputs: int = 1
) -> list:
    """Called by the engine's columnar path (and by ``call_batch``): ``func`` on one batch of
    ``n`` items whose varying parameters come as one list or tuple each (``spec``: per
    parameter, ``(varies, values_or_value)``); returns one list of values per output. The engine
    checks the length of a single output; with several, a wrong length raises here."""
    args = [_column(list(v), lists) if varies else v for varies, v in spec]
    out = func(*args)
    if inspect.iscoroutine(out):
        from hypernodes._aio import run_coroutine

        out = run_coroutine(out)
    if outputs == 1:
        return [_values(out, n)]
    if not isinstance(out, (tuple, list)) or len(out) != outputs:
        raise TypeError(
            f"the batch function of a node with {outputs} outputs returned "
            f"{type(out).__qualname__}; expected a tuple of {outputs} sequences, one per output"
        )
    columns = [_values(c, n) for c in out]
    for c in columns:
        if len(c) != n:
            raise ValueError(
                f"the batch function returned {len(c)} values for one of its outputs for a "
                f"batch of {n} items"
            )
    return columns


def _values(out: Any, n: int) -> list:
    """A returned sequence as a list of per-item values."""
    if isinstance(out, list):
        return out
    if isinstance(out, tuple):
        return list(out)
    t = type(out)
    module = t.__module__.split(".")[0]
    if module == "numpy" and getattr(out, "ndim", 0) >= 1:
        # a 1-D array's items as Python scalars (as `singular` would return them), else its rows
        return out.tolist() if out.ndim == 1 and out.dtype.kind in "biufcU" else list(out)
    if module == "pyarrow" and hasattr(out, "to_pylist"):
        return out.to_pylist()
    raise TypeError(
        f"the batch function returned a {t.__module__}.{t.__qualname__}; expected a list, a NumPy "
        f"array or a pyarrow array with one value per item ({n})"
    )
