"""Pictures of a :class:`~hypernodes.report.RunReport`: the pipeline coloured by time, and a
timeline (waterfall) of node spans per map item and worker, drawn as plain SVG (no Graphviz)."""

from __future__ import annotations

import os
from html import escape
from typing import Any

from hypernodes._viz.model import expanded_for_depth
from hypernodes._viz.picture import PipelineGraph
from hypernodes.errors import ConfigurationError

# From cool (fast) to warm (slow).
_HEAT = ("#e8f5e9", "#fff9c4", "#ffe0b2", "#ffab91", "#ef9a9a")
_PALETTE = (
    "#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2",
    "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac",
)  # fmt: skip


def _fmt_s(seconds: float) -> str:
    if seconds >= 1:
        return f"{seconds:.2f} s"
    return f"{seconds * 1000:.1f} ms"


def report_picture(
    report: Any, pipeline: Any, filename: Any, depth: int | None, **kw: Any
) -> PipelineGraph:
    """The pipeline picture with each node that ran coloured by its share of the slowest node's
    total time, and labelled "calls · hits · total"."""
    from hypernodes._viz.picture import visualize

    base = visualize(pipeline, depth=depth, **kw)  # validates the arguments
    model = base.model
    slowest = max((s.total_time for s in report.nodes.values()), default=0.0) or 1.0
    extra: dict[str, tuple[str, str]] = {}
    for el in model.elements.values():
        st = report.nodes.get((el.scope, el.name)) if el.kind in ("function", "pipeline") else None
        if st is None:
            continue
        heat = _HEAT[min(int(st.total_time / slowest * (len(_HEAT) - 1) + 0.5), len(_HEAT) - 1)]
        calls = f"{st.calls} call" + ("" if st.calls == 1 else "s")
        text = f"{calls} · {st.cache_hits} hits · {_fmt_s(st.total_time)}"
        if st.errors:
            text += f" · {st.errors} errors"
        extra[el.id] = (heat, text)
    graph = PipelineGraph(
        model,
        expanded_for_depth(model, depth),
        orient=kw.get("orient", "TB"),
        show_types=kw.get("show_types", True),
        separate_outputs=kw.get("separate_outputs", False),
        theme=kw.get("theme", "light"),
        show_legend=kw.get("show_legend", True),
        interactive=kw.get("interactive", False),
        extra=extra,
    )
    if filename is not None:
        graph.save(filename)
    return graph


class Timeline:
    """A waterfall of a report's node spans: one row per (map item, worker), one bar per node call
    (cache hits as thin ticks, failures outlined in red), coloured by node. ``svg()`` is the picture;
    ``save(filename)`` writes .svg or .html; displays as SVG in Jupyter."""

    ROW = 26
    LEFT = 150
    WIDTH = 760

    def __init__(self, report: Any) -> None:
        self.report = report

    def rows(self) -> list[tuple[int | None, str]]:
        """The rows, in order: (item index or None, worker name)."""
        keys = {(s.item, s.worker) for s in self.report.spans}
        return sorted(keys, key=lambda k: (-1 if k[0] is None else k[0], k[1]))

    def svg(self) -> str:
        """The timeline as SVG text."""
        spans = self.report.spans
        rows = self.rows()
        total = max([s.end for s in spans] + [self.report.duration, 1e-9])
        names = sorted({"/".join((*s.path[1:], s.node)) for s in spans})
        color = {n: _PALETTE[i % len(_PALETTE)] for i, n in enumerate(names)}
        scale = self.WIDTH / total
        top = 28
        height = top + self.ROW * len(rows) + 40 + 16 * ((len(names) + 3) // 4)
        width = self.LEFT + self.WIDTH + 20
        out = [
            (
                f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
                f'viewBox="0 0 {width} {height}" font-family="Helvetica, Arial, sans-serif" '
                'font-size="11">'
            ),
            f'<rect width="{width}" height="{height}" fill="white"/>',
            f'<text x="4" y="16" font-weight="bold">run timeline ({_fmt_s(total)})</text>',
        ]
        index = {k: i for i, k in enumerate(rows)}
        for (item, worker), i in index.items():
            y = top + i * self.ROW
            label = f"item {item} · {worker}" if item is not None else worker
            out.append(f'<text x="4" y="{y + 15}">{escape(label)}</text>')
            out.append(
                f'<line x1="{self.LEFT}" y1="{y + self.ROW}" x2="{self.LEFT + self.WIDTH}" '
                f'y2="{y + self.ROW}" stroke="#eee"/>'
            )
        for i in range(5):  # time axis
            x = self.LEFT + self.WIDTH * i / 4
            y = top + self.ROW * len(rows)
            out.append(f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{y}" stroke="#ddd"/>')
            out.append(
                f'<text x="{x:.1f}" y="{y + 12}" text-anchor="middle" fill="#666" '
                f'font-size="9">{_fmt_s(total * i / 4)}</text>'
            )
        # outer (pipeline) spans first, inner ones drawn on top of them, thinner
        for s in sorted(spans, key=lambda s: len(s.path)):
            name = "/".join((*s.path[1:], s.node))
            inset = 2 + 3 * min(len(s.path) - 1, 4)
            y = top + index[(s.item, s.worker)] * self.ROW + inset
            h = max(self.ROW - 2 * inset, 3)
            x = self.LEFT + s.start * scale
            w = max((s.end - s.start) * scale, 2.0)
            extra = ' stroke="#c62828" stroke-width="2"' if s.status == "error" else ""
            opacity = "0.35" if s.status == "cached" else "0.9"
            tip = f"{name}: {s.status}, {_fmt_s(s.end - s.start)} at {_fmt_s(s.start)}"
            out.append(
                f'<rect class="span" data-node="{escape(name)}" data-status="{s.status}" '
                f'x="{x:.2f}" y="{y}" width="{w:.2f}" height="{h}" '
                f'fill="{color[name]}" fill-opacity="{opacity}"{extra}>'
                f"<title>{escape(tip)}</title></rect>"
            )
        y = top + self.ROW * len(rows) + 30
        for i, n in enumerate(names):
            x, yy = self.LEFT + (i % 4) * 190, y + (i // 4) * 16
            out.append(f'<rect x="{x}" y="{yy - 9}" width="10" height="10" fill="{color[n]}"/>')
            out.append(f'<text x="{x + 14}" y="{yy}">{escape(n)}</text>')
        out.append("</svg>")
        return "\n".join(out)

    def html(self) -> str:
        """A self-contained page holding the timeline."""
        return (
            '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>run timeline</title>'
            f"</head><body>{self.svg()}<pre>{escape(self.report.table())}</pre></body></html>"
        )

    def save(self, filename: str | os.PathLike) -> str:
        """Writes .svg or .html by the file's extension; returns the file name."""
        ext = os.path.splitext(os.fspath(filename))[1].lower()
        if ext not in (".svg", ".html"):
            raise ConfigurationError(
                f"cannot tell what to write to {os.fspath(filename)!r}: a timeline saves to .svg "
                "or .html"
            )
        text = self.svg() if ext == ".svg" else self.html()
        with open(filename, "w", encoding="utf-8") as f:
            f.write(text)
        return os.fspath(filename)

    def _repr_svg_(self) -> str:
        return self.svg()


__all__ = ["Timeline", "report_picture"]
