"""``Pipeline.visualize``'s result: a picture that displays itself in Jupyter and saves to a file
chosen by extension."""

from __future__ import annotations

import html
import os
from typing import Any

from hypernodes._viz import render
from hypernodes._viz.dot import ORIENTS, THEMES, to_dot
from hypernodes._viz.html import page, page_data
from hypernodes._viz.model import Model, build, expanded_for_depth
from hypernodes.errors import ConfigurationError


class PipelineGraph:
    """A picture of a pipeline. ``source`` is the Graphviz DOT text; ``svg()``/``pipe(fmt)`` draw it
    (Graphviz needed); ``html()`` is the interactive page (no Graphviz needed); ``save(filename)``
    writes .svg, .png, .pdf, .dot or .html by the file's extension. In Jupyter it displays as SVG, or
    as the interactive view when made with ``interactive=True``."""

    def __init__(
        self,
        model: Model,
        expanded: set[str],
        *,
        orient: str,
        show_types: bool,
        separate_outputs: bool,
        theme: str,
        show_legend: bool,
        interactive: bool,
        extra: dict[str, tuple[str, str]] | None = None,
    ) -> None:
        self.model = model
        self.expanded = expanded
        self.interactive = interactive
        self._opts = (orient, show_types, separate_outputs, theme, extra)
        self.source = to_dot(
            model, expanded, orient, show_types, separate_outputs, theme, show_legend, extra
        )

    def pipe(self, format: str = "svg") -> bytes:
        """The picture drawn by Graphviz as ``format`` ("svg", "png" or "pdf") bytes."""
        return render.run_dot(self.source, format)

    def svg(self) -> str:
        """The picture as SVG text (needs Graphviz)."""
        return self.pipe("svg").decode("utf-8")

    def html(self) -> str:
        """The self-contained interactive page (works offline, needs no Graphviz)."""
        return page(page_data(self.model, self.expanded, *self._opts))

    def save(self, filename: str | os.PathLike) -> str:
        """Writes the picture to ``filename``: .svg/.png/.pdf through Graphviz, .dot/.gv the
        source, .html the interactive page. Returns the file name."""
        ext = render.extension(filename)
        if ext in ("dot", "gv"):
            data = self.source.encode("utf-8")
        elif ext == "html":
            data = self.html().encode("utf-8")
        else:
            data = self.pipe(ext)
        with open(filename, "wb") as f:
            f.write(data)
        return os.fspath(filename)

    def _iframe(self) -> str:
        return (
            f'<iframe srcdoc="{html.escape(self.html(), quote=True)}" '
            'style="width:100%;height:520px;border:1px solid #ddd" '
            'sandbox="allow-scripts"></iframe>'
        )

    def _repr_svg_(self) -> str | None:
        if self.interactive:
            return None
        return self.svg() if _has_dot() else None

    def _repr_html_(self) -> str:
        if self.interactive:
            return self._iframe()
        if _has_dot():
            return self.svg()
        note = html.escape(render.INSTALL_HINT)
        return (
            f'<p style="font-size:12px">Showing the interactive view: {note}</p>' + self._iframe()
        )

    def __str__(self) -> str:
        return self.source

    def __repr__(self) -> str:
        n = len(self.model.elements)
        return f"<PipelineGraph {self.model.name!r}: {n} elements, {len(self.expanded)} expanded>"


def _has_dot() -> bool:
    try:
        render.dot_program()
        return True
    except render.GraphvizNotFoundError:
        return False


def visualize(
    pipeline: Any,
    filename: str | os.PathLike | None = None,
    depth: int | None = 1,
    orient: str = "TB",
    show_types: bool = True,
    separate_outputs: bool = False,
    interactive: bool = False,
    theme: str = "light",
    show_legend: bool = True,
    group_inputs: bool = False,
    style: str | None = None,
) -> PipelineGraph:
    """A picture of ``pipeline``. ``depth``: 1 draws the top level only (pipeline nodes collapsed),
    2 opens one level of nested pipelines, None opens all. ``orient``: "TB", "LR", "BT" or "RL".
    ``show_types``: types and defaults from annotations. ``separate_outputs``: each output value as
    its own node. ``interactive``: display as the interactive view in Jupyter. ``theme``: "light" or
    "dark". ``filename``: also save it (.svg, .png, .pdf, .dot or .html). ``show_legend``: a
    legend of the kinds of elements shown. ``group_inputs``: one element for the inputs that feed
    the same nodes. ``style``: the original HyperNodes' name for ``theme`` (its "default",
    "legacy" and "minimal" styles draw as "light", its "dark..." styles as "dark")."""
    if style is not None:
        theme = _theme_of_style(style)
    if depth is not None and (isinstance(depth, bool) or not isinstance(depth, int) or depth < 1):
        raise ConfigurationError(
            f"visualize: depth must be an int >= 1 (1 = top level only) or None (all), got {depth!r}"
        )
    if orient not in ORIENTS:
        raise ConfigurationError(f"visualize: orient must be one of {ORIENTS}, got {orient!r}")
    if theme not in THEMES:
        raise ConfigurationError(f"visualize: theme must be one of {tuple(THEMES)}, got {theme!r}")
    model = build(pipeline, separate_outputs, group_inputs)
    graph = PipelineGraph(
        model,
        expanded_for_depth(model, depth),
        orient=orient,
        show_types=show_types,
        separate_outputs=separate_outputs,
        theme=theme,
        show_legend=show_legend,
        interactive=interactive,
    )
    if filename is not None:
        graph.save(filename)
    return graph


def _theme_of_style(style: str) -> str:
    if style in THEMES:
        return style
    if style in ("default", "legacy", "minimal"):
        return "light"
    if isinstance(style, str) and style.startswith("dark"):
        return "dark"
    raise ConfigurationError(
        f"visualize: style {style!r} is not known: use theme='light' or theme='dark' (style "
        "accepts the original HyperNodes' names: default, legacy, minimal, dark, dark_neon...)"
    )
