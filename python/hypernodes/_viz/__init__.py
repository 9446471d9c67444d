"""Pictures and inspection of pipelines: ``Pipeline.visualize`` (Graphviz pictures and an interactive
page), ``Pipeline.graph`` (networkx), the reprs of pipelines and nodes, and Jupyter display.

``model`` builds what is drawn, ``dot`` writes it as Graphviz DOT, ``html`` as the interactive page,
``render`` runs Graphviz, ``picture`` is the object users get, ``inspect`` holds reprs and networkx."""

from __future__ import annotations

from typing import Any

from hypernodes._viz.inspect import node_repr, pipeline_repr, to_networkx
from hypernodes._viz.picture import PipelineGraph, visualize
from hypernodes._viz.render import GraphvizNotFoundError


def repr_svg(pipeline: Any) -> str | None:
    """A pipeline's Jupyter SVG display (None without Graphviz: the HTML display is used)."""
    return visualize(pipeline)._repr_svg_()


def repr_html(pipeline: Any) -> str:
    """A pipeline's Jupyter HTML display."""
    return visualize(pipeline)._repr_html_()


__all__ = [
    "GraphvizNotFoundError",
    "PipelineGraph",
    "node_repr",
    "pipeline_repr",
    "repr_html",
    "repr_svg",
    "to_networkx",
    "visualize",
]
