"""What crosses a process boundary, and how: the one module every worker-process path uses (the
"parallel" modes of NodeExecutor and DaftExecutor's pooled and Ray workers).

- Exceptions come back as themselves: their type, ``args``, attributes and notes, even when
  ``__init__`` takes other arguments than ``args`` (which the usual pickling cannot rebuild), with
  the worker's traceback text as ``__cause__``. One that cannot be pickled at all comes back as a
  :class:`~hypernodes.errors.RemoteError` keeping its type's name, message and traceback text.
- Values that cannot be pickled are named (``unpicklable``) so that the error can say which input,
  node or output is at fault.
"""

from __future__ import annotations

import pickle
import traceback
from typing import Any

import cloudpickle


def dumps(obj: Any) -> bytes:
    """Pickles with the standard pickler (protocol 5), falling back to cloudpickle for what it
    cannot pickle (lambdas, local classes) or pickles by a reference to ``__main__``, which worker
    processes do not import (cloudpickle sends those by value)."""
    try:
        data = pickle.dumps(obj, protocol=5)
    except Exception:  # noqa: BLE001 - cloudpickle is tried next
        data = None
    if data is not None and b"__main__" not in data:
        return data
    return cloudpickle.dumps(obj, protocol=5)


def loads(blob: bytes) -> Any:
    """The object a ``dumps`` blob holds."""
    return pickle.loads(blob)


def dumps_out_of_band(obj: Any) -> tuple[bytes, list[memoryview]]:
    """``obj`` pickled (protocol 5, as ``dumps``) with its large buffers (NumPy arrays' data, say)
    left out of the pickle and returned as views of the original memory, uncopied: read it back
    with ``loads_out_of_band``."""
    buffers: list[pickle.PickleBuffer] = []
    try:
        data = pickle.dumps(obj, protocol=5, buffer_callback=buffers.append)
    except Exception:  # noqa: BLE001 - cloudpickle is tried next
        data = None
    if data is None or b"__main__" in data:
        buffers = []
        data = cloudpickle.dumps(obj, protocol=5, buffer_callback=buffers.append)
    return data, [b.raw() for b in buffers]


def loads_out_of_band(blob: Any, buffers: list[Any]) -> Any:
    """The object ``dumps_out_of_band`` gave ``blob`` and ``buffers`` for (any bytes-like objects,
    memory maps included: NumPy arrays then use that memory without a copy)."""
    return pickle.loads(blob, buffers=buffers)


def why_not(value: Any) -> str | None:
    """Why ``value`` cannot be pickled (``"TypeError: ..."``), or None when it can."""
    try:
        dumps(value)
    except Exception as exc:  # noqa: BLE001 - any pickling failure is reported
        return f"{type(exc).__name__}: {exc}"
    return None


def first_unpicklable(named: dict[str, Any]) -> tuple[str, str] | None:
    """The first ``(name, reason)`` of ``named`` whose value cannot be pickled, or None."""
    for name, value in named.items():
        reason = why_not(value)
        if reason is not None:
            return name, reason
    return None


class RemoteTraceback(Exception):
    """The traceback text of an exception raised in a worker process (shown as its cause)."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text

    def __str__(self) -> str:
        return f'\n"""\n{self.text}"""'


def _rebuild(cls: type, args: tuple, state: dict, notes: list, tb: str) -> BaseException:
    exc = cls.__new__(cls, *args)
    exc.args = args
    exc.__dict__.update(state)
    for note in notes:
        exc.add_note(note)
    if tb:
        exc.__cause__ = RemoteTraceback(tb)
    return exc


class Carried:
    """An exception on its way back from a worker: rebuilt by class, args, attributes and notes."""

    def __init__(self, exc: BaseException, tb: str) -> None:
        self.exc = exc
        self.tb = tb

    def __reduce__(self):
        e = self.exc
        state = {k: v for k, v in e.__dict__.items() if k != "__notes__"}
        notes = list(getattr(e, "__notes__", []))
        return (_rebuild, (type(e), e.args, state, notes, self.tb))


def _traceback_text(exc: BaseException) -> str:
    return "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))


def carry(exc: BaseException) -> Any:
    """What travels back from a worker process for ``exc``: an object that unpickles as ``exc``
    itself (see the module docs), or, when that cannot be pickled and rebuilt, a ``RemoteError``."""
    tb = _traceback_text(exc)
    box = Carried(exc, tb)
    try:
        loads(dumps(box))
        return box
    except Exception:  # noqa: BLE001 - anything that does not survive the trip is replaced
        from hypernodes.errors import RemoteError

        stand_in = RemoteError(type(exc).__qualname__, str(exc), tb)
        for note in getattr(exc, "__notes__", []):
            if isinstance(note, str):
                stand_in.add_note(note)
        stand_in.__cause__ = RemoteTraceback(tb)
        return stand_in


def dumps_error(exc: BaseException) -> bytes:
    """``exc`` pickled for the trip back from a worker (see ``carry``)."""
    return dumps(carry(exc))
