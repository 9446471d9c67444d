"""The interactive page: one self-contained HTML file (Cytoscape.js with the dagre layout, vendored
in ``static/`` and inlined), where clicking a pipeline node expands or collapses it, with zoom, pan
and details on hover. It needs no network and no Graphviz."""

from __future__ import annotations

import html
import json
from functools import cache
from importlib import resources
from typing import Any

from hypernodes._viz.dot import THEMES, label_lines, tooltip
from hypernodes._viz.model import Model

_LIBS = ("cytoscape.min.js", "cytoscape-dagre.min.js")


@cache
def _library_js() -> str:
    root = resources.files("hypernodes._viz") / "static"
    return "\n".join((root / name).read_text(encoding="utf-8") for name in _LIBS)


def _script_safe(text: str) -> str:
    """JSON or JS text that cannot close the <script> element it is inlined in."""
    return text.replace("</", "<\\/")


def page_data(
    model: Model,
    expanded: set[str],
    orient: str,
    show_types: bool,
    separate: bool,
    theme: str,
    extra: dict[str, tuple[str, str]] | None = None,
) -> dict[str, Any]:
    """What the page's script draws: every element (with its label lines and hover text), every
    edge, and the pipeline elements open at first."""
    extra = extra or {}

    def more(el_id: str) -> str:
        return "\n" + extra[el_id][1] if el_id in extra else ""

    elements = [
        {
            "id": el.id,
            "kind": el.kind,
            "parent": el.parent,
            "label": "\n".join(t for t, _ in label_lines(el, show_types, separate)) + more(el.id),
            "head": "\n".join(t for t, _ in label_lines(el, show_types, True)[:1])
            + "".join(f"\n{mk}" for mk in el.markers)
            + more(el.id),
            "fill": extra[el.id][0] if el.id in extra else None,
            "tip": tooltip(el),
            "bound": el.bound is not None,
            "mapped": el.mapped,
        }
        for el in model.elements.values()
    ]
    edges = [{"source": e.src, "target": e.dst, "hops": e.hops} for e in model.edges]
    return {
        "name": model.name,
        "elements": elements,
        "edges": edges,
        "expanded": sorted(expanded),
        "rankDir": orient,
        "theme": THEMES[theme],
    }


def page(data: dict[str, Any]) -> str:
    """The full HTML page."""
    title = html.escape(data["name"])
    bg, text = data["theme"]["bg"], data["theme"]["text"]
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>{title}</title>
<style>
html, body {{ margin: 0; height: 100%; background: {bg}; color: {text};
  font-family: Helvetica, Arial, sans-serif; }}
#hn-bar {{ position: absolute; top: 6px; left: 8px; z-index: 2; font-size: 12px; }}
#hn-bar button {{ font-size: 12px; margin-right: 4px; }}
#hn-graph {{ position: absolute; top: 34px; left: 0; right: 0; bottom: 0; }}
#hn-tip {{ position: absolute; display: none; z-index: 3; max-width: 360px; padding: 6px 8px;
  font-size: 12px; background: {bg}; color: {text}; border: 1px solid #999; border-radius: 4px;
  pointer-events: none; white-space: pre-wrap; }}
</style></head>
<body>
<div id="hn-bar"><b>{title}</b> &nbsp;
<button id="hn-expand">expand all</button><button id="hn-collapse">collapse all</button>
<button id="hn-fit">fit</button>
<span style="opacity:.7">click a pipeline node to open or close it; scroll to zoom, drag to pan</span>
</div>
<div id="hn-graph"></div><div id="hn-tip"></div>
<script>{_script_safe(_library_js())}</script>
<script id="hn-data" type="application/json">{_script_safe(json.dumps(data))}</script>
<script>{_script_safe(_PAGE_JS)}</script>
</body></html>
"""


# The page's own script: the same collapse rule as model.visible (each edge end moves to its
# outermost closed pipeline; duplicates and edges inside one node are dropped).
_PAGE_JS = r"""
(function () {
  const D = JSON.parse(document.getElementById("hn-data").textContent);
  const T = D.theme;
  const byId = new Map(D.elements.map((e) => [e.id, e]));
  const open = new Set(D.expanded);
  function rep(id) {
    let top = id, p = byId.get(id).parent;
    while (p !== null) { if (!open.has(p)) top = p; p = byId.get(p).parent; }
    return top;
  }
  function visibleElements() {
    const out = [];
    for (const e of D.elements) {
      if (rep(e.id) !== e.id) continue;
      const cluster = e.kind === "pipeline" && open.has(e.id);
      out.push({ group: "nodes", data: {
        id: e.id, parent: e.parent, kind: e.kind, tip: e.tip, cluster: cluster ? 1 : 0,
        bound: e.bound ? 1 : 0, mapped: e.mapped ? 1 : 0, label: cluster ? e.head : e.label,
        fill: e.fill || undefined } });
    }
    const seen = new Set();
    D.edges.forEach((ed, i) => {
      const s = rep(ed.source), t = rep(ed.target), key = s + "\u0000" + t;
      if (s === t || seen.has(key)) return;
      seen.add(key);
      // a renaming shows where its pipeline is drawn (open or closed), as in model.hop_label
      const names = [];
      for (const [pid, a, b] of ed.hops) {
        if (rep(pid) !== pid) continue;
        if (names.length === 0 || names[names.length - 1] !== a) names.push(a);
        names.push(b);
      }
      out.push({ group: "edges",
        data: { id: "e" + i, source: s, target: t, label: names.join(" \u2192 ") } });
    });
    return out;
  }
  const style = [
    { selector: "node", style: { "label": "data(label)", "text-wrap": "wrap", "text-valign": "center",
      "text-halign": "center", "font-size": 11, "color": T.text, "width": "label", "height": "label",
      "padding": "8px", "shape": "round-rectangle", "background-color": T.function,
      "border-width": 1, "border-color": T.function_line } },
    { selector: "node[kind = 'pipeline']", style: { "background-color": T.pipeline,
      "border-color": T.pipeline_line, "border-width": 3, "border-style": "double",
      "shape": "rectangle" } },
    { selector: "node[mapped = 1]", style: { "border-color": T.mapped_line } },
    { selector: "node[cluster = 1]", style: { "background-color": T.cluster, "text-valign": "top",
      "text-halign": "center", "font-size": 10, "color": T.muted, "padding": "14px",
      "border-width": 1, "border-style": "solid", "shape": "round-rectangle" } },
    { selector: "node[kind = 'input']", style: { "shape": "ellipse", "background-color": T.input,
      "border-color": T.input_line } },
    { selector: "node[bound = 1]", style: { "background-color": T.bound,
      "border-color": T.bound_line, "border-style": "dashed" } },
    { selector: "node[kind = 'data']", style: { "shape": "rectangle", "background-color": T.data,
      "border-color": T.data_line } },
    { selector: "node[fill]", style: { "background-color": "data(fill)" } },
    { selector: "edge", style: { "width": 1.2, "line-color": T.edge, "target-arrow-color": T.edge,
      "target-arrow-shape": "triangle", "curve-style": "bezier", "label": "data(label)",
      "font-size": 9, "color": T.muted, "text-background-color": T.bg,
      "text-background-opacity": 1 } },
  ];
  const cy = cytoscape({ container: document.getElementById("hn-graph"), elements: [],
    style: style, wheelSensitivity: 0.3 });
  window.hnCy = cy;
  function draw() {
    document.getElementById("hn-tip").style.display = "none";  // its node may be gone
    cy.elements().remove();
    cy.add(visibleElements());
    cy.layout({ name: "dagre", rankDir: D.rankDir, nodeSep: 25, rankSep: 35, padding: 20,
      animate: false }).run();
    cy.fit(undefined, 20);
    document.body.dataset.open = Array.from(open).sort().join(",");
  }
  window.hnToggle = function (id) {
    if (open.has(id)) open.delete(id); else open.add(id);
    draw();
  };
  cy.on("tap", "node[kind = 'pipeline']", (ev) => window.hnToggle(ev.target.id()));
  const tip = document.getElementById("hn-tip");
  cy.on("mouseover", "node", (ev) => {
    tip.textContent = ev.target.data("tip");
    const p = ev.renderedPosition || ev.target.renderedPosition();
    tip.style.left = (p.x + 14) + "px";
    tip.style.top = (p.y + 44) + "px";
    tip.style.display = "block";
  });
  cy.on("mouseout", "node", () => { tip.style.display = "none"; });
  const pipes = D.elements.filter((e) => e.kind === "pipeline").map((e) => e.id);
  document.getElementById("hn-expand").onclick = () => { pipes.forEach((p) => open.add(p)); draw(); };
  document.getElementById("hn-collapse").onclick = () => { open.clear(); draw(); };
  document.getElementById("hn-fit").onclick = () => cy.fit(undefined, 20);
  draw();
})();
"""
