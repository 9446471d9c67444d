"""Exceptions raised by HyperNodes. Every one names the node, input, output or pipeline at fault."""


class HyperNodesError(Exception):
    """Base class of every error HyperNodes raises itself (node exceptions keep their own type)."""


class DependencyError(HyperNodesError, ValueError):
    """Two nodes produce the same output (or share a name), or a consumer's type differs."""


class CycleError(HyperNodesError, ValueError):
    """The nodes depend on each other in a cycle."""


class MissingInputError(HyperNodesError, ValueError):
    """Inputs that the requested outputs need were not given."""


class UnknownOutputError(HyperNodesError, ValueError):
    """A requested output is not produced by the pipeline."""


class UnknownInputError(HyperNodesError, ValueError):
    """A name given to bind, unbind or a mapping is not an input of the pipeline."""


class OutputArityError(HyperNodesError, ValueError):
    """A node returned a different number of values than the outputs it declares."""


class MapInputError(HyperNodesError, ValueError):
    """The arguments of a map are inconsistent (absent input, lengths differ, unknown mode).

    When HyperNodes raises it for a map it checked, it says which in attributes (``None``
    otherwise): ``pipeline``, the name of the pipeline mapped; ``input``, the mapped input at fault
    (not among the given inputs, or not a sequence); ``lengths``, for zip lists of different
    lengths, every mapped input with its length as ``((name, length), ...)``."""

    pipeline: str | None = None
    input: str | None = None
    lengths: tuple[tuple[str, int], ...] | None = None


class MapInputTypeError(MapInputError, TypeError):
    """A mapped input is not a sequence of items. ``reason`` says why (with ``pipeline`` and
    ``input`` as in :class:`MapInputError`)."""

    reason: str | None = None


class ConfigurationError(HyperNodesError, ValueError):
    """A constructor or method got an invalid setting."""


class TransferError(HyperNodesError, TypeError):
    """A value, function or result cannot be sent to or from a worker process (it cannot be
    pickled); the message names the input, node or output at fault."""


class RemoteError(HyperNodesError):
    """Stands in for an exception raised in a worker process that could not be carried back as
    itself (it cannot be pickled): keeps its type's name (``type_name``), its message, and the
    worker's traceback text (``remote_traceback``, also shown as the ``__cause__``)."""

    def __init__(self, type_name: str, message: str, remote_traceback: str = "") -> None:
        super().__init__(f"{type_name}: {message}")
        self.type_name = type_name
        self.message = message
        self.remote_traceback = remote_traceback

    def __reduce__(self):
        state = {k: v for k, v in self.__dict__.items() if k not in ("type_name", "message")}
        return (type(self), (self.type_name, self.message, self.remote_traceback), state)

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        if self.remote_traceback:
            from hypernodes._portable import RemoteTraceback

            self.__cause__ = RemoteTraceback(self.remote_traceback)


class GraphvizNotFoundError(ConfigurationError):
    """A picture needs Graphviz's ``dot`` program and it is not installed."""


class CacheWarning(UserWarning):
    """A cache entry was unreadable (recomputed) or a result could not be stored."""


__all__ = [
    "CacheWarning",
    "ConfigurationError",
    "CycleError",
    "DependencyError",
    "GraphvizNotFoundError",
    "HyperNodesError",
    "MapInputError",
    "MapInputTypeError",
    "MissingInputError",
    "OutputArityError",
    "RemoteError",
    "TransferError",
    "UnknownInputError",
    "UnknownOutputError",
]
