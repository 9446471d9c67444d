"""``@stateful``: objects that are expensive to build (a model, a tokenizer, a client), built lazily
and at most once per process that uses them.

``@stateful`` turns a class into a lazy one: ``Model("m.bin")`` only records its arguments; the real
object is built on first attribute access or call, once (thread-safe). Such an object

- pickles as its class and its init arguments, never as the built object, so it travels to worker
  processes cheaply and is built there on first use;
- is kept once per process: copies unpickled in one process (a worker of a parallel map, on every
  call of a reused pool) share one built object, found by class and init arguments;
- has a cache key that never builds it: the class's ``__cache_key__()`` when it defines one (called
  with ``self`` reading the init arguments by parameter name; any other attribute builds the object
  first), else its class and its init arguments, hashed by value;
- gives lazily bound methods (``model.predict`` before it is built) that build it on first call, so
  they can serve as node functions (``DualNode(singular=model.one, batch=model.many)``).

An ``__init__`` that raises keeps its exception type; a note names the class (and the engine's note
names the node). The next use tries again.
"""

from __future__ import annotations

import inspect
import threading
import types
from typing import Any

from hypernodes.errors import ConfigurationError

__all__ = ["is_stateful", "stateful"]

_OWN = frozenset({"_instance", "_args", "_kwargs", "_lock"})
# Special methods forwarded to the built object when the class defines them (Python looks special
# methods up on the type, so a proxy has to define them itself).
_FORWARDED = (
    "__call__",
    "__len__",
    "__iter__",
    "__getitem__",
    "__contains__",
    "__enter__",
    "__exit__",
)

_restored: dict[tuple[type, str], Any] = {}
"""This process's stateful objects that arrived pickled, by class and init arguments: every copy
unpickled later (the next call's shipment to a reused worker) is the same, already built, object."""
_restored_lock = threading.Lock()


def is_stateful(obj: Any) -> bool:
    """Whether ``obj`` is a stateful object (its class is ``@stateful`` or sets
    ``__hypernode_stateful__ = True``)."""
    return getattr(type(obj), "__hypernode_stateful__", False) is True


class _Stateful:
    """Base of the classes ``@stateful`` makes: a lazy proxy of ``__wrapped_class__``."""

    __slots__ = ("__weakref__", "_args", "_instance", "_kwargs", "_lock")
    __hypernode_stateful__ = True
    __wrapped_class__: type

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        object.__setattr__(self, "_instance", None)
        object.__setattr__(self, "_args", args)
        object.__setattr__(self, "_kwargs", kwargs)
        object.__setattr__(self, "_lock", threading.Lock())

    def _hn_get(self) -> Any:
        """The built object (built now on first use)."""
        inst = self._instance
        if inst is not None:
            return inst
        with self._lock:
            if self._instance is None:
                cls = type(self).__wrapped_class__
                try:
                    built = cls(*self._args, **self._kwargs)
                except Exception as exc:
                    exc.add_note(
                        f"while building the stateful object of class '{cls.__qualname__}' "
                        f"(@stateful, on first use)"
                    )
                    raise
                object.__setattr__(self, "_instance", built)
            return self._instance

    def __getattr__(self, name: str) -> Any:
        # only reached for names the proxy lacks; special names never build the object (pickle,
        # numpy and copy probe them)
        if (name.startswith("__") and name.endswith("__")) or name in _OWN:
            raise AttributeError(name)  # an own slot is unset only before __init__ ran
        if self._instance is None:
            cls = type(self).__wrapped_class__
            if isinstance(inspect.getattr_static(cls, name, None), types.FunctionType):
                return _LazyMethod(self, name)
        return getattr(self._hn_get(), name)

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _OWN:
            object.__setattr__(self, name, value)
        else:
            setattr(self._hn_get(), name, value)

    def __delattr__(self, name: str) -> None:
        delattr(self._hn_get(), name)

    def __reduce__(self):
        return (_restore, (type(self), self._args, self._kwargs))

    def __cache_key__(self) -> Any:
        cls = type(self).__wrapped_class__
        own = inspect.getattr_static(cls, "__cache_key__", None)
        if own is not None:
            return ("key", cls.__cache_key__(_InitView(self)))
        return ("init", _arguments(cls, self._args, self._kwargs))

    def __repr__(self) -> str:
        cls = type(self).__wrapped_class__
        state = "built" if self._instance is not None else "not built"
        return f"<stateful {cls.__qualname__} ({state})>"


def _arguments(cls: type, args: tuple, kwargs: dict) -> tuple:
    """The init arguments by parameter name, defaults filled in (``M(1)`` and ``M(x=1)`` agree)."""
    try:
        bound = inspect.signature(cls).bind(*args, **kwargs)
    except (TypeError, ValueError):
        return (args, tuple(sorted(kwargs.items())))
    bound.apply_defaults()
    return tuple(bound.arguments.items())


class _InitView:
    """``self`` of a user's ``__cache_key__`` before the object is built: reads the init arguments
    by parameter name; anything else builds the object and reads it there."""

    def __init__(self, owner: _Stateful) -> None:
        cls = type(owner).__wrapped_class__
        self._owner = owner
        self._values = dict(_arguments(cls, owner._args, owner._kwargs))

    def __getattr__(self, name: str) -> Any:
        values = self.__dict__["_values"]
        if name in values:
            return values[name]
        return getattr(self.__dict__["_owner"]._hn_get(), name)


class _LazyMethod:
    """``obj.method`` of an unbuilt stateful object: builds the object on first call. Pickles,
    hashes and is code-identified as the method of that object."""

    _hn_lazy_method = True

    def __init__(self, owner: _Stateful, name: str) -> None:
        self.__self__ = owner
        self.__name__ = name
        cls = type(owner).__wrapped_class__
        self.__func__ = inspect.getattr_static(cls, name)
        self.__qualname__ = f"{cls.__qualname__}.{name}"
        self.__doc__ = self.__func__.__doc__

    @property
    def __signature__(self) -> inspect.Signature:
        sig = inspect.signature(self.__func__)
        return sig.replace(parameters=list(sig.parameters.values())[1:])

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return getattr(self.__self__._hn_get(), self.__name__)(*args, **kwargs)

    def __reduce__(self):
        return (getattr, (self.__self__, self.__name__))

    def __cache_key__(self) -> Any:
        return (self.__self__, self.__name__)

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, _LazyMethod)
            and other.__self__ is self.__self__
            and other.__name__ == self.__name__
        )

    def __hash__(self) -> int:
        return hash((id(self.__self__), self.__name__))

    def __repr__(self) -> str:
        return f"<lazy method {self.__qualname__} of {self.__self__!r}>"


def _restore(cls: type, args: tuple, kwargs: dict) -> _Stateful:
    """Unpickles a stateful object: the one this process already has for the same class and init
    arguments, else a new unbuilt one (kept for later copies)."""
    obj = cls(*args, **kwargs)
    try:
        from hypernodes._core import hash_value

        key = (cls, hash_value((args, tuple(sorted(kwargs.items())))))
    except Exception:  # noqa: BLE001 - arguments that cannot be hashed: no sharing
        return obj
    with _restored_lock:
        return _restored.setdefault(key, obj)


def stateful(cls: type) -> type:
    """Class decorator: instances are built lazily, at most once per process, and pickle as their
    class plus init arguments (see the module's doc)."""
    if not isinstance(cls, type):
        raise ConfigurationError(f"@stateful needs a class, got {cls!r}")
    if issubclass(cls, _Stateful):
        return cls
    ns: dict[str, Any] = {
        "__slots__": (),
        "__wrapped_class__": cls,
        "__module__": cls.__module__,
        "__qualname__": cls.__qualname__,
        "__doc__": cls.__doc__,
    }
    defined = {k for c in cls.__mro__ if c is not object for k in vars(c)}
    for name in _FORWARDED:
        if name in defined:
            ns[name] = _forward(name)
    return type(cls.__name__, (_Stateful,), ns)


def _forward(name: str):
    def method(self, *args: Any, **kwargs: Any) -> Any:
        return getattr(self._hn_get(), name)(*args, **kwargs)

    method.__name__ = name
    return method
