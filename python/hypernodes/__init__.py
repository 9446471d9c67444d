"""HyperNodes: hierarchical, modular pipelines of plain functions, on a Rust engine.

Write functions that handle one item, declare them with ``@node``, and build a ``Pipeline``: nodes are
wired by matching parameter names to output names. Run once, map over lists, nest pipelines as nodes,
and pick how it runs with an executor.
"""

from hypernodes._core import Node, NodeExecutor, Pipeline
from hypernodes.decorators import node
from hypernodes.errors import (
    ConfigurationError,
    CycleError,
    DependencyError,
    HyperNodesError,
    MapInputError,
    MapInputTypeError,
    MissingInputError,
    OutputArityError,
    UnknownInputError,
    UnknownOutputError,
)

__all__ = [
    "ConfigurationError",
    "CycleError",
    "DependencyError",
    "HyperNodesError",
    "MapInputError",
    "MapInputTypeError",
    "MissingInputError",
    "Node",
    "NodeExecutor",
    "OutputArityError",
    "Pipeline",
    "UnknownInputError",
    "UnknownOutputError",
    "node",
]
