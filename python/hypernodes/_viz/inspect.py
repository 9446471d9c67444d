"""Inspection: informative reprs of pipelines and nodes, and the pipeline as a networkx graph."""

from __future__ import annotations

from typing import Any

from hypernodes._viz.model import short_repr
from hypernodes.errors import ConfigurationError


def pipeline_repr(p: Any) -> str:
    """``Pipeline(name='rag', nodes=[...], bound=[k=3], needs=[query])``."""
    parts = [f"name={p.name!r}", f"nodes={[n.name for n in p.nodes]!r}"]
    bound = p.bound
    if bound:
        parts.append("bound=[" + ", ".join(f"{k}={short_repr(v)}" for k, v in bound.items()) + "]")
    if p.inputs:
        parts.append("needs=[" + ", ".join(p.inputs) + "]")
    if p.optional_inputs:
        parts.append("optional=[" + ", ".join(p.optional_inputs) + "]")
    return f"Pipeline({', '.join(parts)})"


def node_repr(n: Any) -> str:
    """A function node: name, inputs, outputs. A pipeline node: also its inner pipeline, mappings,
    ``map_over``/``map_mode`` and inner bound values."""
    if not n.is_pipeline:
        extra = "" if n.cache else ", cache=False"
        return f"Node(name={n.name!r}, inputs={n.inputs!r}, outputs={n.outputs!r}{extra})"
    parts = [f"name={n.name!r}", f"pipeline={n.pipeline.name!r}"]
    parts.append(f"inputs={n.inputs!r}")
    parts.append(f"outputs={n.outputs!r}")
    if n.input_mapping:
        parts.append(f"input_mapping={n.input_mapping!r}")
    if n.output_mapping:
        parts.append(f"output_mapping={n.output_mapping!r}")
    if n.map_over:
        parts.append(f"map_over={n.map_over!r}, map_mode={n.map_mode!r}")
    bound = n.bound_inputs
    if bound:
        parts.append("bound=[" + ", ".join(bound) + "]")
    if not n.cache:
        parts.append("cache=False")
    return f"PipelineNode({', '.join(parts)})"


def to_networkx(p: Any) -> Any:
    """The pipeline as a ``networkx.DiGraph``: one vertex per node (attributes ``kind`` "function" or
    "pipeline", ``node``) and per root input (``kind`` "input", ``bound``), edges from producer to
    consumer with the value's name as ``value``."""
    try:
        import networkx as nx
    except ImportError:
        raise ConfigurationError("Pipeline.graph needs networkx: pip install networkx") from None
    g = nx.DiGraph(name=p.name)
    nodes = p.nodes
    producer = {o: nodes[ni].name for o, (ni, _pos) in p._producers().items()}
    bound = p.bound
    for n in p.nodes:
        g.add_node(n.name, kind="pipeline" if n.is_pipeline else "function", node=n)
    for n in p.nodes:
        for i in n.inputs:
            src = producer.get(i)
            if src is None:
                if i not in g:
                    g.add_node(i, kind="input", bound=i in bound)
                src = i
            g.add_edge(src, n.name, value=i)
    return g
