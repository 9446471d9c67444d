"""The picture's content, independent of how it is drawn: every element of a pipeline at every
nesting level (function nodes, pipeline nodes, inputs, and output values when drawn separately), with
edges between the elements that really exchange values. Nested pipeline nodes are parents of their
inner elements; :func:`visible` collapses the ones not expanded (the DOT picture and the interactive
page apply the same rule)."""

from __future__ import annotations

import inspect
import typing
from dataclasses import dataclass, field
from typing import Any

from hypernodes.stateful import is_stateful

_SHORT = 24  # bound values whose repr is longer are shown as "bound", not by value


@dataclass
class Element:
    """One thing in the picture. ``kind`` is "function", "pipeline", "input" or "data"."""

    id: str
    kind: str
    name: str
    parent: str | None
    level: int = 1  # nesting level of the scope the element is in (1 = the top pipeline)
    type: str | None = None  # an input's or a value's type
    default: str | None = None  # an input's default, as repr
    bound: str | None = None  # a bound input's value (short repr) or "bound"
    outputs: list[tuple[str, str | None]] = field(default_factory=list)
    markers: list[str] = field(default_factory=list)  # "async", "cache=False", "map over ..."
    mappings: list[str] = field(default_factory=list)  # "outer → inner" lines of a pipeline node
    inner_name: str | None = None  # a pipeline node's inner pipeline name
    mapped: bool = False  # a pipeline node with map_over
    scope: tuple[str, ...] = ()  # pipeline names from the root to the element's pipeline
    members: list[Element] = field(default_factory=list)  # the inputs of an input group


Hop = tuple[str, str, str]  # (pipeline element id, name outside, name inside) of one renaming


@dataclass
class Edge:
    """A value flowing from ``src`` to ``dst``, renamed at the pipeline boundaries in ``hops`` (in
    flow order). ``label`` is set on the edges :func:`visible` returns."""

    src: str
    dst: str
    hops: tuple[Hop, ...] = ()
    label: str | None = None


def hop_label(hops: list[Hop]) -> str | None:
    """``a → b → c`` for the renamings shown (consecutive hops share a name)."""
    names: list[str] = []
    for _, a, b in hops:
        if not names or names[-1] != a:
            names.append(a)
        names.append(b)
    return " → ".join(names) if names else None


@dataclass
class Model:
    """Every element (in drawing order) and edge of a pipeline, fully expanded."""

    name: str
    elements: dict[str, Element] = field(default_factory=dict)
    edges: list[Edge] = field(default_factory=list)

    def add(self, el: Element) -> Element:
        self.elements[el.id] = el
        return el

    def unique_id(self, name: str, scope: str) -> str:
        """The name itself when free, else the name qualified by its scope path."""
        if name not in self.elements and not name.startswith("legend:"):
            return name
        base = f"{scope}/{name}" if scope else f"_/{name}"
        cand, i = base, 2
        while cand in self.elements:
            cand, i = f"{base}#{i}", i + 1
        return cand

    def ancestors(self, eid: str) -> list[str]:
        """The pipeline elements enclosing ``eid``, innermost first."""
        out = []
        p = self.elements[eid].parent
        while p is not None:
            out.append(p)
            p = self.elements[p].parent
        return out

    def pipelines(self) -> list[Element]:
        """The pipeline node elements."""
        return [e for e in self.elements.values() if e.kind == "pipeline"]


def expanded_for_depth(model: Model, depth: int | None) -> set[str]:
    """The pipeline elements drawn expanded for ``depth`` (1: none, 2: the top level's, None: all)."""
    return {e.id for e in model.pipelines() if depth is None or e.level < depth}


def visible(model: Model, expanded: set[str]) -> tuple[list[Element], set[str], list[Edge]]:
    """What is drawn when only the pipeline elements in ``expanded`` are open: the elements shown
    (expanded pipelines among them, drawn as clusters), the ids of those clusters, and the edges, each
    end moved to its outermost collapsed ancestor (duplicates and edges inside one node dropped)."""

    def rep(eid: str) -> str:
        top = eid
        for a in model.ancestors(eid):
            if a not in expanded:
                top = a
        return top

    shown = [e for e in model.elements.values() if rep(e.id) == e.id]
    clusters = {e.id for e in shown if e.kind == "pipeline" and e.id in expanded}
    edges: list[Edge] = []
    seen: set[tuple[str, str]] = set()
    for ed in model.edges:
        s, d = rep(ed.src), rep(ed.dst)
        if s == d or (s, d) in seen:
            continue
        seen.add((s, d))
        # a renaming shows where its pipeline is drawn (open or closed), not inside a closed one
        hops = [h for h in ed.hops if rep(h[0]) == h[0]]
        edges.append(Edge(s, d, ed.hops, hop_label(hops)))
    return shown, clusters, edges


def type_name(t: Any) -> str | None:
    """A short readable name for an annotation (None when there is none)."""
    if t is None or t is inspect.Parameter.empty:
        return None
    if isinstance(t, str):
        return t
    if isinstance(t, type) and not typing.get_args(t):
        return t.__qualname__
    return str(t).replace("typing.", "")


def _hints(func: Any) -> dict[str, Any]:
    try:
        return typing.get_type_hints(func)
    except Exception:  # noqa: BLE001 - unresolvable forward references: the raw annotations
        return dict(getattr(func, "__annotations__", {}) or {})


def function_types(node: Any) -> tuple[dict[str, str | None], dict[str, str | None]]:
    """A function node's parameter types and output types, from its annotations."""
    func = node.func
    hints = _hints(func) if func is not None else {}
    params = {p: type_name(hints.get(p)) for p in node.inputs}
    ret = hints.get("return")
    outs = node.outputs
    if len(outs) == 1:
        return params, {outs[0]: type_name(ret)}
    args = typing.get_args(ret) if ret is not None else ()
    if len(args) == len(outs) and Ellipsis not in args:
        return params, {o: type_name(a) for o, a in zip(outs, args)}
    return params, dict.fromkeys(outs)


def function_defaults(node: Any) -> dict[str, str]:
    """A function node's parameter defaults, as repr."""
    try:
        sig = inspect.signature(node.func)
    except (TypeError, ValueError):
        return {}
    return {
        p.name: short_repr(p.default, _SHORT * 2)
        for p in sig.parameters.values()
        if p.default is not p.empty
    }


def short_repr(value: Any, limit: int = _SHORT) -> str:
    """``repr(value)``, cut to ``limit`` characters."""
    try:
        r = repr(value)
    except Exception:  # noqa: BLE001 - a broken __repr__ must not break the picture
        r = f"<{type(value).__name__}>"
    return r if len(r) <= limit else r[: limit - 1] + "…"


def _wanted_nodes(pipeline: Any, selected: list[str] | None) -> list[Any]:
    nodes = pipeline.nodes
    order, _, _, _ = pipeline._plan(selected)
    return [nodes[i] for i in order]


def _stateful_owner(func: Any) -> bool:
    """Whether ``func`` is a method of a ``@stateful`` object (a model's ``encode``, say)."""
    return func is not None and is_stateful(getattr(func, "__self__", None))


def _input_info(pipeline: Any, name: str) -> tuple[str | None, str | None]:
    """The type and default of an input of ``pipeline``, from the first consumer that tells."""
    ty = default = None
    for n in pipeline.nodes:
        if name not in n.inputs:
            continue
        if n.is_pipeline:
            ins, _, _ = n._wiring
            inner = dict(ins).get(name)
            if inner is None:
                continue
            t, d = _input_info(n.pipeline, inner)
            if t and name in n.map_over:
                t = f"list[{t}]"
        else:
            params, _ = function_types(n)
            t, d = params.get(name), function_defaults(n).get(name)
        ty, default = ty or t, default or d
        if ty and default:
            break
    return ty, default


def _output_type(node: Any, name: str) -> str | None:
    if not node.is_pipeline:
        return function_types(node)[1].get(name)
    _, outs, _ = node._wiring
    inner = {o: i for i, o in outs}[name]
    for n in node.pipeline.nodes:
        if inner in n.outputs:
            t = _output_type(n, inner)
            return f"list[{t}]" if t and node.map_over else t
    return None


# What provides a value in a scope: an element id and the renamings on the way.
Source = tuple[str, tuple[Hop, ...]]


def build(pipeline: Any, separate_outputs: bool = False, group_inputs: bool = False) -> Model:
    """The fully expanded model of ``pipeline``; ``group_inputs`` merges the unbound inputs of one
    scope that feed exactly the same elements into one element."""
    m = Model(pipeline.name)
    _scope(m, pipeline, None, "", (pipeline.name,), {}, {}, None, separate_outputs)
    if group_inputs:
        _group_inputs(m)
    return m


def _group_inputs(m: Model) -> None:
    targets: dict[str, frozenset[tuple[str, tuple]]] = {}
    for e in m.edges:
        if m.elements[e.src].kind == "input":
            targets[e.src] = targets.get(e.src, frozenset()) | {(e.dst, e.hops)}
    groups: dict[tuple, list[Element]] = {}
    for el in m.elements.values():
        if el.kind == "input" and el.bound is None and el.id in targets:
            groups.setdefault((el.parent, targets[el.id]), []).append(el)
    for (parent, dsts), members in groups.items():
        if len(members) < 2:
            continue
        name = ", ".join(el.name for el in members)
        group = Element(m.unique_id(name, ""), "input", name, parent, members[0].level)
        group.members = members
        for el in members:
            del m.elements[el.id]
        m.add(group)
        m.edges = [e for e in m.edges if e.src not in {el.id for el in members}]
        m.edges += [Edge(group.id, dst, hops) for dst, hops in sorted(dsts)]


def _scope(
    m: Model,
    p: Any,
    parent: str | None,
    path: str,
    scope: tuple[str, ...],
    given: dict[str, Source],
    hoist: dict[str, str | None],
    selected: list[str] | None,
    separate: bool,
) -> dict[str, tuple[str, str | None]]:
    """Adds the elements of pipeline ``p`` drawn inside ``parent``. ``given`` maps an input name to
    the element providing it outside (and the renamings on the way); ``hoist`` places the value
    element of an exposed output in an enclosing scope. Returns what provides each output."""
    level = len(scope)
    nodes = _wanted_nodes(p, selected)
    produced_here = {o for n in nodes for o in n.outputs}
    src: dict[str, Source] = {}
    bound = p.bound
    needed: list[str] = []
    for n in nodes:
        for i in n.inputs:
            if i not in produced_here and i not in needed:
                needed.append(i)
    for name in sorted(needed):
        if name in given and name not in bound:
            src[name] = given[name]
            continue
        ty, default = _input_info(p, name)
        el = Element(
            m.unique_id(name, path), "input", name, parent, level, type=ty, default=default
        )
        if name in bound:
            r = short_repr(bound[name])
            el.bound = r if len(r) < _SHORT else "bound"
            if is_stateful(bound[name]):
                el.markers.append("@stateful")
        m.add(el)
        src[name] = (el.id, ())

    def place(out: str) -> str | None:
        return hoist.get(out, parent)

    for n in nodes:
        if n.is_pipeline:
            nid = _pipeline_node(m, n, parent, path, scope, src, place, separate)
            for out, prov in nid.items():
                src[out] = prov
            continue
        el = Element(m.unique_id(n.name, path), "function", n.name, parent, level, scope=scope)
        _, out_types = function_types(n)
        el.outputs = [(o, out_types.get(o)) for o in n.outputs]
        if n.func is not None and inspect.iscoroutinefunction(n.func):
            el.markers.append("async")
        if not n.cache:
            el.markers.append("cache=False")
        if getattr(n, "batch", None) is not None:
            el.markers.append(f"DualNode: batches of {n.batch_size}")
        if _stateful_owner(n.func) or _stateful_owner(getattr(n, "batch", None)):
            el.markers.append("@stateful")
        m.add(el)
        for i in n.inputs:
            s, hops = src[i]
            m.edges.append(Edge(s, el.id, hops))
        for o, ty in el.outputs:
            if separate:
                d = m.add(Element(m.unique_id(o, path), "data", o, place(o), level, type=ty))
                m.edges.append(Edge(el.id, d.id))
                src[o] = (d.id, ())
            else:
                src[o] = (el.id, ())
    return src


def _pipeline_node(
    m: Model,
    n: Any,
    parent: str | None,
    path: str,
    scope: tuple[str, ...],
    src: dict[str, Source],
    place: Any,
    separate: bool,
) -> dict[str, Source]:
    """Adds a pipeline node and its inner elements; returns what provides each of its outputs."""
    inner = n.pipeline
    level = len(scope)
    el = Element(m.unique_id(n.name, path), "pipeline", n.name, parent, level, scope=scope)
    el.inner_name = inner.name if inner.name != n.name else None
    ins, outs, selected = n._wiring
    el.outputs = [(o, _output_type(n, o)) for _, o in outs]
    el.mappings = [f"{o} → {i}" for o, i in ins if o != i]
    el.mappings += [f"{i} → {o}" for i, o in outs if i != o]
    if n.map_over:
        el.mapped = True
        el.markers.append(f"map over {', '.join(n.map_over)} ({n.map_mode})")
    if not n.cache:
        el.markers.append("cache=False")
    m.add(el)
    given: dict[str, Source] = {}
    for outer, inner_in in ins:
        s, hops = src[outer]
        given[inner_in] = (s, hops + ((el.id, outer, inner_in),) if outer != inner_in else hops)
    hoist = {i: place(o) for i, o in outs if i == o}
    inner_path = f"{path}/{n.name}" if path else n.name
    produced = _scope(
        m, inner, el.id, inner_path, (*scope, inner.name), given, hoist, selected, separate
    )
    result: dict[str, Source] = {}
    for i, o in outs:
        s, hops = produced[i]
        if i != o:
            hops = hops + ((el.id, i, o),)
        if separate and i != o:
            d = m.add(Element(m.unique_id(o, path), "data", o, place(o), level, type=None))
            d.type = dict(el.outputs).get(o)
            m.edges.append(Edge(s, d.id, hops))
            result[o] = (d.id, ())
        else:
            result[o] = (s, hops)
    return result
