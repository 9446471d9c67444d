"""Inspection: root_args, code_hash, bound_inputs, unfulfilled_args, Pipeline.graph, reprs."""

from __future__ import annotations

import builtins

import pytest
from hypernodes import Pipeline, node
from hypernodes.errors import ConfigurationError
from viz_pipelines import build_index, qa, rag, retrieval, search


def test_root_args_of_function_and_pipeline_nodes():
    assert search.root_args == ("tokens", "index", "top_k")
    a = rag().nodes[0]
    assert a.name == "answer_all"
    # outer names; top_k is bound inside so it is not needed
    assert set(a.root_args) == {"index", "lowercase", "model_name", "questions"}
    assert a.unfulfilled_args == a.root_args


def test_code_hash_follows_the_code():
    @node(output_name="y")
    def f(x):
        return x + 1

    @node(output_name="y")
    def f2(x):
        return x + 1

    @node(output_name="y")
    def g(x):
        return x + 2

    h = f.code_hash
    assert isinstance(h, str) and len(h) == 64 and int(h, 16) >= 0
    assert f.code_hash == h  # stable
    assert g.code_hash != h
    assert f2.code_hash != h  # the name is part of a node's identity
    pinned = node(output_name="y", version="v1")(lambda x: x)
    assert (
        pinned.code_hash
        == node(output_name="y", version="v1", name="<lambda>")(lambda x: x * 100).code_hash
    )
    # a pipeline node's hash covers its inner bound values
    assert retrieval().as_node().code_hash != retrieval().bind(top_k=3).as_node().code_hash
    assert retrieval().as_node().code_hash == retrieval().as_node().code_hash


def test_bound_inputs_and_unfulfilled_args():
    r = retrieval()
    assert r.bound_inputs == {"top_k": 2}
    assert r.unfulfilled_args == ("index", "lowercase", "query")  # defaults count, bound do not
    assert r.bind(index=None).unfulfilled_args == ("lowercase", "query")
    n = r.as_node(input_mapping={"q": "query"})
    assert n.bound_inputs == {"top_k": 2}
    assert set(n.unfulfilled_args) == {"index", "lowercase", "q"}
    assert search.bound_inputs == {}
    b = r.bound_inputs
    b["top_k"] = 99
    assert r.bound_inputs == {"top_k": 2}  # a copy


def test_pipeline_node_mapping_properties():
    n = rag().nodes[0]
    assert n.input_mapping == {"questions": "question"}
    assert n.output_mapping == {"answer": "answers"}
    assert n.map_over == ["questions"]
    assert n.map_mode == "zip"
    assert search.input_mapping is None and search.map_over == [] and search.map_mode is None


def test_function_node_settings_are_properties():
    @node(output_name=("total",), cache=False, version="v2")
    def add(x, y=3, scale=1.5):
        return ((x + y) * scale,)

    @node(output_name="b")
    async def later(total):
        return total

    assert add.output_name == ("total",)  # a declared tuple of one stays a tuple
    assert later.output_name == "b"
    assert (add.is_async, later.is_async) == (False, True)
    assert add.defaults == {"y": 3, "scale": 1.5}
    assert later.defaults == {}
    assert (add.cache, add.version) == (False, "v2")
    assert (later.cache, later.version) == (True, None)
    d = add.defaults
    d["y"] = 99
    assert add.defaults["y"] == 3  # a copy


def test_pipeline_node_settings_are_properties():
    @node(output_name="y")
    def inc(x, step=1):
        return x + step

    inner = Pipeline([inc], name="inner")
    n = inner.as_node(
        name="incs",
        input_mapping={"xs": "x"},
        output_mapping={"y": "ys"},
        map_over="xs",
        map_mode="product",
        cache=False,
    )
    assert n.is_pipeline and n.pipeline.name == "inner"
    assert (n.input_mapping, n.output_mapping) == ({"xs": "x"}, {"y": "ys"})
    assert (n.map_over, n.map_mode, n.cache) == (["xs"], "product", False)
    assert n.output_name == "ys" and n.is_async is False
    assert n.defaults == {"step": 1}
    assert inc.pipeline is None and inc.map_mode is None


def test_wrappers_are_stable_objects():
    p = rag()
    first, again = p.nodes, p.nodes
    assert [a is b for a, b in zip(first, again)] == [True] * len(first)
    first.clear()  # the list is the caller's: the pipeline's nodes do not change
    assert len(p.nodes) == len(again)
    pn = next(n for n in p.nodes if n.is_pipeline)
    assert pn.pipeline is pn.pipeline
    assert pn.pipeline.nodes[0] is pn.pipeline.nodes[0]


def test_reprs():
    r = repr(rag())
    assert r.startswith("Pipeline(name='rag', nodes=['answer_all', 'build_index', 'summarize']")
    assert "needs=[corpus, model_name, questions]" in r
    assert "optional=[lowercase]" in r
    assert "bound=[top_k=2]" in repr(retrieval())
    pn = repr(rag().nodes[0])
    assert pn.startswith("PipelineNode(name='answer_all', pipeline='qa'")
    assert "input_mapping={'questions': 'question'}" in pn
    assert "output_mapping={'answer': 'answers'}" in pn
    assert "map_over=['questions'], map_mode='zip'" in pn
    inner = repr(qa().nodes[1])
    assert "bound=[top_k]" in inner
    assert repr(build_index) == "Node(name='build_index', inputs=['corpus'], outputs=['index'])"
    assert "cache=False" in repr(qa().nodes[0])
    assert "0x" not in r + pn  # no memory addresses


def test_graph_is_a_networkx_digraph():
    nx = pytest.importorskip("networkx")
    g = rag().graph
    assert isinstance(g, nx.DiGraph)
    assert g.nodes["answer_all"]["kind"] == "pipeline"
    assert g.nodes["build_index"]["kind"] == "function"
    assert g.nodes["corpus"]["kind"] == "input"
    assert g.edges["build_index", "answer_all"]["value"] == "index"
    assert g.edges["answer_all", "summarize"]["value"] == "answers"
    assert list(nx.topological_sort(g))[-1] == "summarize"
    assert retrieval().graph.nodes["top_k"]["bound"] is True


def test_graph_without_networkx_says_how_to_get_it(monkeypatch):
    real = builtins.__import__

    def no_networkx(name, *a, **k):
        if name == "networkx" or name.startswith("networkx."):
            raise ImportError("no networkx here")
        return real(name, *a, **k)

    monkeypatch.setattr(builtins, "__import__", no_networkx)
    with pytest.raises(ConfigurationError, match="pip install networkx"):
        _ = Pipeline([build_index]).graph
