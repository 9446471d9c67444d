"""Spellings of the original HyperNodes (0.4) that were renamed on purpose: each fails with an error
naming this package's spelling (see docs/guides/migrating-from-hypernodes-0.4.md)."""

from __future__ import annotations

from typing import Any, NoReturn

GUIDE = "docs/guides/migrating-from-hypernodes-0.4.md"

# module attribute -> what to use instead
NAMES = {
    "SeqEngine": "hypernodes.NodeExecutor",
    "SequentialEngine": "hypernodes.NodeExecutor",
    "HypernodesEngine": (
        "hypernodes.NodeExecutor(node_execution=..., map_execution=..., max_workers=...)"
    ),
    "DaftEngine": "hypernodes.daft.DaftExecutor",
    "PipelineCallback": "hypernodes.Callback",
    "PipelineNode": "pipeline.as_node(...)",
}

# (class, keyword argument) -> what to write instead
KWARGS = {
    ("Pipeline", "engine"): "Pipeline(executor=...)",
    ("NodeExecutor", "node_executor"): "NodeExecutor(node_execution=...)",
    ("NodeExecutor", "map_executor"): "NodeExecutor(map_execution=...)",
    ("NodeExecutor", "cache"): "Pipeline(..., cache=...) (the cache belongs to the pipeline)",
    ("NodeExecutor", "callbacks"): (
        "Pipeline(..., callbacks=[...]) (callbacks belong to the pipeline)"
    ),
}

# (class, attribute) -> what to write instead
ATTRS = {
    ("Pipeline", "engine"): "Pipeline.executor",
    ("Pipeline", "with_engine"): "Pipeline.with_executor(...)",
}


class RenamedError(ImportError):
    """A name of the original HyperNodes that this package spells differently."""


def name_error(name: str) -> RenamedError | None:
    """The error for ``hypernodes.<name>`` when ``name`` is an original spelling, else None."""
    new = NAMES.get(name)
    if new is None:
        return None
    return RenamedError(f"hypernodes.{name} is written {new} in this version (see {GUIDE})")


def reject_kwargs(owner: str, kwargs: dict[str, Any]) -> NoReturn:
    """Raises TypeError for unexpected keyword arguments, naming our spelling of renamed ones."""
    for key in kwargs:
        new = KWARGS.get((owner, key))
        if new is not None:
            raise TypeError(f"{owner}({key}=...) is written {new} in this version (see {GUIDE})")
    raise TypeError(f"{owner}() got an unexpected keyword argument '{next(iter(kwargs))}'")


def attribute_error(owner: str, name: str) -> AttributeError:
    """The AttributeError for ``<owner>.<name>``, naming our spelling of a renamed attribute."""
    new = ATTRS.get((owner, name))
    if new is not None:
        return AttributeError(f"{owner}.{name} is written {new} in this version (see {GUIDE})")
    return AttributeError(f"'{owner}' object has no attribute '{name}'")
