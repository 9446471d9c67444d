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
    """The arguments of a map are inconsistent (absent input, lengths differ, unknown mode)."""


class MapInputTypeError(MapInputError, TypeError):
    """A mapped input is not a sequence of items."""


class ConfigurationError(HyperNodesError, ValueError):
    """A constructor or method got an invalid setting."""


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
    "UnknownInputError",
    "UnknownOutputError",
]
