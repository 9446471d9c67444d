"""The picture as Graphviz DOT source: HTML-like labels (one table row per line, so the SVG has real
line breaks), expanded pipeline nodes as clusters, a legend of the kinds shown, light and dark
themes."""

from __future__ import annotations

from html import escape

from hypernodes._viz.model import Edge, Element, Model, visible

THEMES: dict[str, dict[str, str]] = {
    "light": {
        "bg": "white",
        "text": "#1f2933",
        "muted": "#616e7c",
        "edge": "#7b8794",
        "function": "#e3f2fd",
        "function_line": "#1e88e5",
        "pipeline": "#ede7f6",
        "pipeline_line": "#5e35b1",
        "cluster": "#f7f5fc",
        "input": "#e8f5e9",
        "input_line": "#43a047",
        "bound": "#f5f5f5",
        "bound_line": "#9e9e9e",
        "data": "#fff8e1",
        "data_line": "#f9a825",
        "mapped_line": "#d81b60",
    },
    "dark": {
        "bg": "#1e1e1e",
        "text": "#e8eaed",
        "muted": "#a0a7b0",
        "edge": "#8f98a3",
        "function": "#0d3b66",
        "function_line": "#64b5f6",
        "pipeline": "#3b2a5e",
        "pipeline_line": "#b39ddb",
        "cluster": "#262233",
        "input": "#1b4332",
        "input_line": "#81c784",
        "bound": "#333333",
        "bound_line": "#9e9e9e",
        "data": "#4a3b10",
        "data_line": "#ffd54f",
        "mapped_line": "#f48fb1",
    },
}

ORIENTS = ("TB", "LR", "BT", "RL")

# Per element id: a fill colour and one more label line (a run report's numbers).
Extra = dict[str, tuple[str, str]]


def quote(s: str) -> str:
    """A DOT quoted id."""
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _rows(lines: list[tuple[str, str]], color: str) -> str:
    """An HTML-like label: one row per (text, style) line; style "b" bold, "m" muted, "" plain."""
    cells = []
    for text, style in lines:
        t = escape(text)
        if style == "b":
            t = f"<B>{t}</B>"
        elif style == "m":
            t = f'<FONT POINT-SIZE="9" COLOR="{color}">{t}</FONT>'
        elif style == "i":
            t = f'<FONT POINT-SIZE="9" COLOR="{color}"><I>{t}</I></FONT>'
        cells.append(f"<TR><TD>{t}</TD></TR>")
    return (
        '<<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="0" CELLPADDING="1">'
        + "".join(cells)
        + "</TABLE>>"
    )


def _typed(name: str, ty: str | None, show_types: bool) -> str:
    return f"{name} : {ty}" if show_types and ty else name


def label_lines(el: Element, show_types: bool, separate: bool) -> list[tuple[str, str]]:
    """The lines of an element's label (shared with the interactive page)."""
    if el.members:  # an input group: one line per input
        return [line for member in el.members for line in label_lines(member, show_types, separate)]
    if el.kind in ("input", "data"):
        lines = [(_typed(el.name, el.type, show_types), "b" if el.kind == "input" else "")]
        lines += [(mk, "i") for mk in el.markers]
        if el.bound is not None:
            lines.append((f"= {el.bound}" if el.bound != "bound" else "bound", "m"))
        elif el.default is not None and show_types:
            lines.append((f"default {el.default}", "m"))
        return lines
    lines = [(el.name, "b")]
    if el.inner_name:
        lines.append((f"pipeline {el.inner_name}", "m"))
    lines += [(f"⟳ {mk}" if mk.startswith("map") else mk, "i") for mk in el.markers]
    lines += [(mp, "m") for mp in el.mappings]
    if not separate:
        lines += [("→ " + _typed(o, ty, show_types), "") for o, ty in el.outputs]
    return lines


def _node_attrs(
    el: Element, t: dict[str, str], show_types: bool, separate: bool, extra: Extra
) -> str:
    lines = label_lines(el, show_types, separate)
    note = extra.get(el.id)
    if note is not None:
        lines.append((note[1], "i"))
    label = _rows(lines, t["muted"])
    if el.kind == "function":
        style = f'shape=box, style="rounded,filled", fillcolor="{t["function"]}", color="{t["function_line"]}"'
    elif el.kind == "pipeline":
        line = t["mapped_line"] if el.mapped else t["pipeline_line"]
        periph = 2
        style = (
            f'shape=box, style="filled", peripheries={periph}, fillcolor="{t["pipeline"]}", '
            f'color="{line}"'
        )
    elif el.kind == "input" and el.bound is not None:
        style = f'shape=ellipse, style="dashed,filled", fillcolor="{t["bound"]}", color="{t["bound_line"]}"'
    elif el.kind == "input":
        style = (
            f'shape=ellipse, style="filled", fillcolor="{t["input"]}", color="{t["input_line"]}"'
        )
    else:
        style = f'shape=note, style="filled", fillcolor="{t["data"]}", color="{t["data_line"]}"'
    if note is not None:
        style += f', fillcolor="{note[0]}"'
    return f"label={label}, {style}, tooltip={quote(tooltip(el))}"


def tooltip(el: Element) -> str:
    """A one-paragraph description of an element (hover text)."""
    parts = [f"{el.kind} {el.name}"]
    if el.inner_name:
        parts.append(f"pipeline {el.inner_name}")
    if el.type:
        parts.append(f"type {el.type}")
    if el.default is not None:
        parts.append(f"default {el.default}")
    if el.bound is not None:
        parts.append(f"bound {el.bound}")
    parts += el.markers + el.mappings
    if el.outputs:
        parts.append("outputs " + ", ".join(_typed(o, ty, True) for o, ty in el.outputs))
    return "; ".join(parts)


_LEGEND = (
    ("function", "function", "function", "function_line", "solid"),
    ("pipeline", "pipeline", "pipeline", "pipeline_line", "solid"),
    ("mapped", "mapped pipeline", "pipeline", "mapped_line", "solid"),
    ("input", "input", "input", "input_line", "solid"),
    ("bound", "bound input", "bound", "bound_line", "dashed"),
    ("data", "output value", "data", "data_line", "solid"),
)


def _legend(kinds: set[str], t: dict[str, str]) -> list[str]:
    """One small table node listing the kinds of elements shown (none when only one kind is)."""
    shown = [item for item in _LEGEND if item[0] in kinds]
    if len(shown) < 2:
        return []
    cells = "".join(
        f'<TD BGCOLOR="{t[fill]}" COLOR="{t[line]}" BORDER="1" STYLE="rounded">'
        f'<FONT POINT-SIZE="9">{escape(text)}</FONT></TD>'
        for _, text, fill, line, _ in shown
    )
    table = (
        '<<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="4" CELLPADDING="3">'
        f'<TR><TD><FONT POINT-SIZE="9" COLOR="{t["muted"]}">legend</FONT></TD>{cells}</TR></TABLE>>'
    )
    return [f'  "legend:" [shape=plaintext, label={table}, tooltip="legend"];']


def to_dot(
    model: Model,
    expanded: set[str],
    orient: str = "TB",
    show_types: bool = True,
    separate_outputs: bool = False,
    theme: str = "light",
    show_legend: bool = True,
    extra: Extra | None = None,
) -> str:
    """DOT source of the model with the pipeline elements in ``expanded`` drawn as clusters;
    ``extra`` recolours elements and adds a label line to them."""
    extra = extra or {}
    t = THEMES[theme]
    shown, clusters, edges = visible(model, expanded)
    lines = [
        f"digraph {quote(model.name)} {{",
        (
            f'  graph [rankdir={orient}, bgcolor="{t["bg"]}", fontname="Helvetica", '
            f'fontcolor="{t["text"]}", nodesep=0.35, ranksep=0.45, tooltip=" "];'
        ),
        f'  node [fontname="Helvetica", fontsize=11, fontcolor="{t["text"]}", margin="0.12,0.06"];',
        (
            f'  edge [color="{t["edge"]}", fontname="Helvetica", fontsize=9, '
            f'fontcolor="{t["muted"]}", arrowsize=0.7];'
        ),
    ]
    children: dict[str | None, list[Element]] = {}
    for el in shown:
        children.setdefault(el.parent, []).append(el)

    def emit(parent: str | None, indent: str) -> None:
        for el in children.get(parent, []):
            if el.id in clusters:
                head = label_lines(el, show_types, True)
                if el.id in extra:
                    head.append((extra[el.id][1], "i"))
                line = t["mapped_line"] if el.mapped else t["pipeline_line"]
                lines.append(f"{indent}subgraph {quote('cluster_' + el.id)} {{")
                lines.append(
                    f"{indent}  label={_rows(head, t['muted'])}; labeljust=l; "
                    f'style="rounded,filled"; fillcolor="{t["cluster"]}"; color="{line}"; '
                    f"tooltip={quote(tooltip(el))};"
                )
                emit(el.id, indent + "  ")
                lines.append(f"{indent}}}")
            else:
                lines.append(
                    f"{indent}{quote(el.id)} [{_node_attrs(el, t, show_types, separate_outputs, extra)}];"
                )

    emit(None, "  ")
    lines += [_edge(e) for e in edges]
    if show_legend:
        kinds = {el.kind for el in shown if el.kind in ("function", "input", "data")}
        if any(el.kind == "pipeline" for el in shown):
            kinds.add("pipeline")
        if any(el.kind == "input" and el.bound is not None for el in shown):
            kinds.add("bound")
        if any(el.mapped for el in shown):
            kinds.add("mapped")
        lines += _legend(kinds, t)
    lines.append("}")
    return "\n".join(lines)


def _edge(e: Edge) -> str:
    attrs = f" [label={quote(e.label)}]" if e.label else ""
    return f"  {quote(e.src)} -> {quote(e.dst)}{attrs};"
