"""Pipeline.visualize: the graph as DOT, nested pipelines as clusters."""

from hypernodes import Pipeline, node


@node(output_name="cleaned")
def clean(text):
    return text.strip()


@node(output_name="n")
def count(cleaned):
    return len(cleaned)


@node(output_name="total")
def total(ns, offset):
    return sum(ns) + offset


def test_dot_lists_nodes_inputs_and_edges():
    p = Pipeline([clean, count], name="text")
    dot = p.visualize()
    assert isinstance(dot, str) or hasattr(dot, "source")
    src = dot if isinstance(dot, str) else dot.source
    assert src.startswith('digraph "text"')
    assert '"in:text" -> "clean"' in src
    assert '"clean" -> "count" [label="cleaned"]' in src


def test_nested_pipeline_is_a_cluster_and_bound_inputs_are_dashed(tmp_path):
    inner = Pipeline([clean, count], name="inner")
    outer = Pipeline(
        [inner.as_node(name="per_text", map_over="text", output_mapping={"n": "ns"}), total],
        name="outer",
    ).bind(offset=1)
    src = outer.visualize(depth=1)
    src = src if isinstance(src, str) else src.source
    assert "subgraph cluster_1" in src
    assert '"per_text/clean" -> "per_text/count"' in src
    assert '"per_text" -> "total" [label="ns"]' in src
    assert '"in:offset" [label="offset", shape=ellipse, style=dashed]' in src
    shallow = outer.visualize(depth=0)
    shallow = shallow if isinstance(shallow, str) else shallow.source
    assert "cluster" not in shallow
    out = tmp_path / "g.dot"
    outer.visualize(filename=str(out))
    assert out.read_text().startswith('digraph "outer"')
