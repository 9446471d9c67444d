"""Pipeline.visualize: what the picture shows (read from the SVG Graphviz draws), depth semantics,
connected clusters, file kinds by extension, and clear errors."""

from __future__ import annotations

import re
import shutil
from collections import Counter

import pytest
from hypernodes import Pipeline, node
from hypernodes.errors import ConfigurationError
from viz_pipelines import rag, retrieval

needs_dot = pytest.mark.skipif(
    shutil.which("dot") is None, reason="Graphviz's dot is installed by scripts/test.sh"
)


def titles(svg: str) -> list[str]:
    """The node ids Graphviz wrote as <title> (the graph, edges, clusters and legend left out)."""
    found = re.findall(r"<title>(.*?)</title>", svg)
    return [
        t
        for t in found[1:]  # the first is the graph's own
        if "&gt;" not in t and not t.startswith(("cluster_", "legend:"))
    ]


def texts(svg: str) -> list[str]:
    """Every text line of the SVG, unescaped."""
    import html

    return [html.unescape(t) for t in re.findall(r"<text[^>]*>(.*?)</text>", svg)]


@needs_dot
def test_labels_show_names_types_defaults_bound_values_and_mappings():
    svg = rag().visualize(depth=None).svg()
    lines = texts(svg)
    assert "build_index" in lines
    assert "→ index : Index" in lines  # output with its type from the annotation
    assert "→ hits : list[str]" in lines and "→ scores : list[float]" in lines  # tuple outputs
    assert "questions : list[str]" in lines  # mapped input: a list of the inner type
    assert "lowercase : bool" in lines and "default True" in lines
    assert "top_k : int" in lines and "= 2" in lines  # bound inside the innermost pipeline
    assert "questions → question → query" in lines  # renamings composed along the path
    assert "hits → docs" in lines and "answer → answers" in lines
    assert "⟳ map over questions (zip)" in lines
    assert "async" in lines and "cache=False" in lines
    # real line breaks: one <text> per line, never a literal backslash-n
    assert "\\n" not in svg
    assert all("\n" not in t for t in lines)


@needs_dot
def test_depth_one_is_the_top_level_only_and_none_opens_everything():
    p = rag()
    top = titles(p.visualize().svg())
    assert sorted(top) == sorted(
        ["corpus", "build_index", "questions", "lowercase", "model_name", "answer_all", "summarize"]
    )
    two = titles(p.visualize(depth=2).svg())
    assert "generate" in two and "retrieve" in two  # level 2 open, level 3 collapsed
    assert "tokenize" not in two and "answer_all" not in two
    full = titles(p.visualize(depth=None).svg())
    assert {"tokenize", "search", "top_k", "generate"} <= set(full)
    assert "retrieve" not in full and "answer_all" not in full  # drawn as clusters
    assert not [t for t, n in Counter(full).items() if n > 1]


def test_depth_as_the_dot_source_shows_it():
    p = rag()
    assert "subgraph" not in p.visualize(depth=1).source
    assert p.visualize(depth=2).source.count("subgraph") == 1
    assert p.visualize(depth=3).source == p.visualize(depth=None).source


def test_expanded_clusters_are_wired_to_outer_producers_and_consumers():
    src = rag().visualize(depth=None).source
    assert '"questions" -> "tokenize"' in src  # outer input straight into the inner consumer
    assert '"build_index" -> "search"' in src  # outer producer into a node two levels down
    assert '"generate" -> "summarize"' in src  # inner producer out to the outer consumer
    assert '"top_k" -> "search"' in src
    collapsed = rag().visualize(depth=2).source
    assert '"build_index" -> "retrieve"' in collapsed
    assert '"retrieve" -> "generate" [label="hits → docs"]' in collapsed
    assert '"questions" -> "retrieve" [label="questions → question → query"]' in collapsed


def test_every_drawn_element_has_an_edge():
    # no floating clusters or inputs: every element takes part in an edge
    for depth in (1, 2, None):
        src = rag().visualize(depth=depth, show_legend=False).source
        ids = re.findall(r'^\s*"([^"]+)" \[label=', src, re.MULTILINE)
        edges = re.findall(r'^\s*"([^"]+)" -> "([^"]+)"', src, re.MULTILINE)
        ends = {e for pair in edges for e in pair}
        assert ids and set(ids) <= ends, (depth, set(ids) - ends)


@needs_dot
def test_separate_outputs_draws_each_value_once():
    svg = rag().visualize(depth=None, separate_outputs=True).svg()
    t = titles(svg)
    assert {"index", "tokens", "hits", "scores", "docs", "answer", "answers", "report"} <= set(t)
    assert not [x for x, n in Counter(t).items() if n > 1]


@needs_dot
def test_name_clashes_get_distinct_ids():
    @node  # output named like the node: "step"
    def step(x: int) -> int:
        return x

    @node(output_name="y")
    def x_again(step: int) -> int:
        return step

    p = Pipeline([step, x_again], name="clash")
    t = titles(p.visualize(separate_outputs=True).svg())
    # input x, node step, value step, node x_again, value y: five distinct ids
    assert len(t) == len(set(t)) == 5
    assert "step" in t and any(x != "step" and x.endswith("step") for x in t)


def test_bound_value_shown_only_when_short():
    @node(output_name="out")
    def f(a: int, table: dict) -> int:
        return a

    p = Pipeline([f], name="b").bind(a=7, table={str(i): i for i in range(50)})
    src = p.visualize().source
    assert "= 7" in src
    assert "bound</FONT>" in src  # the long dict is not printed
    assert "'49'" not in src


def test_themes_orient_and_legend():
    p = retrieval()
    dark = p.visualize(theme="dark").source
    assert 'bgcolor="#1e1e1e"' in dark
    assert "rankdir=LR" in p.visualize(orient="LR").source
    assert "legend:" in p.visualize().source
    assert "legend:" not in p.visualize(show_legend=False).source


@needs_dot
def test_file_kinds_by_extension(tmp_path):
    g = rag().visualize(depth=2)
    assert g.save(tmp_path / "p.svg")
    assert (tmp_path / "p.svg").read_text().lstrip().startswith("<?xml")
    assert "<svg" in (tmp_path / "p.svg").read_text()
    rag().visualize(filename=tmp_path / "p.png")
    assert (tmp_path / "p.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    rag().visualize(filename=str(tmp_path / "p.pdf"))
    assert (tmp_path / "p.pdf").read_bytes()[:5] == b"%PDF-"
    g.save(tmp_path / "p.dot")
    assert (tmp_path / "p.dot").read_text() == g.source
    g.save(tmp_path / "p.html")
    page = (tmp_path / "p.html").read_text()
    assert page.startswith("<!DOCTYPE html>")
    assert "cytoscape" in page and '"answer_all"' in page
    assert "The Cytoscape Consortium" in page  # the vendored library keeps its license header
    # self-contained: no external script, stylesheet, image or font
    assert not re.search(r"<(script|link|img|iframe)[^>]+(src|href)=", page)
    assert not re.search(r"(src|href)\s*=\s*[\"']?(https?:)?//", page)
    assert "@import" not in page and "url(http" not in page


def test_errors_name_the_bad_argument(tmp_path):
    p = rag()
    for bad in (0, -1, 1.5, True, "2"):
        with pytest.raises(ConfigurationError, match="depth"):
            p.visualize(depth=bad)
    with pytest.raises(ConfigurationError, match="orient"):
        p.visualize(orient="sideways")
    with pytest.raises(ConfigurationError, match="theme"):
        p.visualize(theme="neon")
    with pytest.raises(ConfigurationError, match=r"p\.jpeg"):
        p.visualize(filename=tmp_path / "p.jpeg")
    with pytest.raises(TypeError, match="colour"):
        p.visualize(colour="red")
    assert not list(tmp_path.iterdir())


def test_without_graphviz_images_fail_clearly_and_dot_html_still_work(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    from hypernodes import GraphvizNotFoundError

    g = rag().visualize()
    with pytest.raises(GraphvizNotFoundError, match="apt-get install graphviz"):
        g.save(tmp_path / "x.svg")
    with pytest.raises(GraphvizNotFoundError, match="brew install graphviz"):
        rag().visualize(filename=tmp_path / "x.png")
    assert not (tmp_path / "x.png").exists()
    g.save(tmp_path / "x.dot")
    g.save(tmp_path / "x.html")
    assert (tmp_path / "x.dot").read_text().startswith('digraph "rag"')
    assert (tmp_path / "x.html").stat().st_size > 100_000  # the library is inlined
    # Jupyter still shows something: the interactive view, with the install advice
    shown = g._repr_html_()
    assert "<iframe" in shown and "install" in shown.lower()
    assert g._repr_svg_() is None


@needs_dot
def test_jupyter_display():
    p = rag()
    assert p._repr_svg_().lstrip().startswith("<?xml")
    assert "<svg" in p._repr_html_()
    inter = p.visualize(interactive=True)
    assert inter._repr_svg_() is None
    assert inter._repr_html_().startswith("<iframe srcdoc=")


def test_group_inputs_merges_inputs_feeding_the_same_nodes():
    @node(output_name="out")
    def f(a: int, b: str, c: float = 1.0) -> int:
        return a

    @node(output_name="out2")
    def g(c: float, out: int) -> int:
        return out

    p = Pipeline([f, g], name="grp")
    src = p.visualize(group_inputs=True, show_legend=False).source
    # a and b feed only f: one element; c also feeds g: on its own
    assert '"a, b" -> "f"' in src and '"c" -> "f"' in src and '"c" -> "g"' in src
    assert "<B>a : int</B>" in src and "<B>b : str</B>" in src
    assert '"a" ->' not in src
    plain = p.visualize(show_legend=False).source
    assert '"a" -> "f"' in plain and '"b" -> "f"' in plain
    # bound inputs are never grouped
    assert '"a, b"' not in p.bind(a=1).visualize(group_inputs=True).source


def test_style_is_the_original_name_of_theme():
    p = retrieval()
    assert p.visualize(style="dark").source == p.visualize(theme="dark").source
    assert p.visualize(style="dark_neon").source == p.visualize(theme="dark").source
    assert p.visualize(style="default").source == p.visualize().source
    with pytest.raises(ConfigurationError, match="style 'sparkly'"):
        p.visualize(style="sparkly")


def test_hostile_names_and_values_are_escaped(tmp_path):
    evil = 'x"y\\z</script><img src=x onerror=alert(1)>\nline'

    @node(output_name="out")
    def f(a: str, b: str) -> str:
        return a

    p = Pipeline([f], name=evil).bind(a=evil[:20])
    g = p.visualize(show_legend=False)
    page = g.html()
    # inside <script> only "</script" could end it early: the three scripts are the only ones
    assert "</script><img" not in page and page.lower().count("</script") == 3
    assert "<title>x&quot;y\\z&lt;/script&gt;&lt;img" in page  # the page title is escaped
    if shutil.which("dot"):
        svg = g.svg()  # Graphviz accepts the escaped source
        assert "<img" not in svg and "&lt;/script&gt;" in svg
        inner = Pipeline([f], name="inner").as_node(name=evil[:9])
        Pipeline([inner], name="o").visualize(depth=2).svg()
