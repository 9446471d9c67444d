"""``Pipeline.visualize``: the pipeline's graph as Graphviz DOT (rendered when ``graphviz`` is
installed). Nested pipelines are drawn as clusters down to ``depth`` levels."""

from __future__ import annotations

from typing import Any


def _quote(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def to_dot(pipeline: Any, depth: int = 1) -> str:
    """DOT source: input values as ellipses, nodes as boxes, edges from producers to consumers."""
    lines = [f"digraph {_quote(pipeline.name)} {{", "  rankdir=TB;", "  node [fontsize=11];"]
    counter = [0]

    def draw(p: Any, prefix: str, level: int, indent: str) -> None:
        producers = {o: n.name for n in p.nodes for o in n.outputs}
        for name in sorted({i for n in p.nodes for i in n.inputs} - set(producers)):
            style = "dashed" if name in p.bound else "solid"
            lines.append(
                f"{indent}{_quote(prefix + 'in:' + name)} "
                f"[label={_quote(name)}, shape=ellipse, style={style}];"
            )
        for n in p.nodes:
            nid = prefix + n.name
            if n.is_pipeline and level < depth:
                counter[0] += 1
                lines.append(f"{indent}subgraph cluster_{counter[0]} {{")
                lines.append(f"{indent}  label={_quote(n.name)};")
                draw(n.pipeline, nid + "/", level + 1, indent + "  ")
                lines.append(f"{indent}}}")
            label = f"{n.name}\\n→ {', '.join(n.outputs)}"
            shape = "box3d" if n.is_pipeline else "box"
            lines.append(f"{indent}{_quote(nid)} [label={_quote(label)}, shape={shape}];")
            for i in n.inputs:
                src = prefix + (producers[i] if i in producers else "in:" + i)
                lines.append(f"{indent}{_quote(src)} -> {_quote(nid)} [label={_quote(i)}];")

    draw(pipeline, "", 0, "  ")
    lines.append("}")
    return "\n".join(lines)


def visualize(pipeline: Any, filename: str | None = None, depth: int = 1) -> Any:
    """Returns a ``graphviz.Source`` when the graphviz package is installed (rendered to
    ``filename`` when given), else the DOT source as a str."""
    dot = to_dot(pipeline, depth)
    try:
        import graphviz
    except ImportError:
        if filename:
            with open(filename, "w", encoding="utf-8") as f:
                f.write(dot)
        return dot
    src = graphviz.Source(dot)
    if filename:
        src.save(filename)
    return src
