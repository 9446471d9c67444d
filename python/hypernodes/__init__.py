"""HyperNodes: hierarchical, modular pipelines of plain functions, on a Rust engine.

Write functions that handle one item, declare them with ``@node``, and build a ``Pipeline``: nodes are
wired by matching parameter names to output names. Run once, map over lists, nest pipelines as nodes,
and pick how it runs with an executor.
"""

import atexit as _atexit

from hypernodes._core import (
    DiskCache,
    MemoryCache,
    Node,
    NodeExecutor,
    Pipeline,
    _flush_disk_caches,
)
from hypernodes.callbacks import Callback, CallbackContext
from hypernodes.decorators import node
from hypernodes.dual import DualNode
from hypernodes.errors import (
    CacheWarning,
    ConfigurationError,
    CycleError,
    DependencyError,
    GraphvizNotFoundError,
    HyperNodesError,
    MapInputError,
    MapInputTypeError,
    MissingInputError,
    OutputArityError,
    RemoteError,
    TransferError,
    UnknownInputError,
    UnknownOutputError,
)
from hypernodes.progress import ProgressCallback
from hypernodes.report import RunReport
from hypernodes.stateful import stateful

# What the first cached run needs (code identity, decoding stored values), imported with the package
# so that the first run after a restart does not pay for it.
from hypernodes import _code, _store  # noqa: F401  # isort: skip

__all__ = [
    "CacheWarning",
    "Callback",
    "CallbackContext",
    "ConfigurationError",
    "CycleError",
    "DependencyError",
    "DiskCache",
    "DualNode",
    "GraphvizNotFoundError",
    "HyperNodesError",
    "MapInputError",
    "MapInputTypeError",
    "MemoryCache",
    "MissingInputError",
    "Node",
    "NodeExecutor",
    "OutputArityError",
    "Pipeline",
    "ProgressCallback",
    "RemoteError",
    "RunReport",
    "TransferError",
    "UnknownInputError",
    "UnknownOutputError",
    "node",
    "stateful",
]

# Disk caches commit their writes in groups; commit what is pending when the interpreter exits, and
# write each cache's hot file (the next process's first hits then need no index open).
_atexit.register(_flush_disk_caches, True)


def __getattr__(name: str):
    # TelemetryCallback needs the optional OpenTelemetry packages: imported on first use.
    if name == "TelemetryCallback":
        from hypernodes.telemetry import TelemetryCallback

        return TelemetryCallback
    from hypernodes._renamed import name_error

    renamed = name_error(name)
    if renamed is not None:
        raise renamed
    raise AttributeError(f"module 'hypernodes' has no attribute {name!r}")
