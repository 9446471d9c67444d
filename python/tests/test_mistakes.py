"""A newcomer's mistakes fail early, with the error type, the thing at fault and a suggestion."""

from __future__ import annotations

import pytest
from hypernodes import (
    ConfigurationError,
    MissingInputError,
    NodeExecutor,
    Pipeline,
    ProgressCallback,
    UnknownInputError,
    node,
)


@node(output_name="hits")
def rank(query: str, index: list, top_k: int = 5) -> list:
    return [d for d in index if query in d][:top_k]


INDEX = ["a1", "a2", "a3", "a4", "a5", "a6", "b1"]


def _search() -> Pipeline:
    return Pipeline(nodes=[rank], name="search")


def _executors():
    from hypernodes.daft import DaftExecutor

    return [NodeExecutor(), DaftExecutor()]


# ------------------------------------------------------------------ unknown names


def test_a_mistyped_input_is_an_error_not_a_silent_default():
    with pytest.raises(UnknownInputError) as info:
        _search().run(inputs={"query": "a", "index": INDEX, "topk": 3})
    msg = str(info.value)
    assert msg.startswith("pipeline 'search' has no input 'topk' (did you mean 'top_k'?)")
    assert msg.endswith("its inputs are: index, query, top_k")
    assert any("ignore_unknown_inputs=True" in n for n in info.value.__notes__)


@pytest.mark.parametrize("which", [0, 1], ids=["node", "daft"])
def test_every_executor_reports_the_same_unknown_name(which):
    ex = _executors()[which]
    for call in (
        lambda: ex.run(_search(), {"query": "a", "index": INDEX, "topk": 3}),
        lambda: ex.map(_search(), {"query": ["a"], "index": INDEX, "topk": 3}, map_over="query"),
        lambda: _search().with_executor(ex).run({"query": "a", "index": INDEX, "topk": 3}),
    ):
        with pytest.raises(UnknownInputError, match=r"no input 'topk' \(did you mean 'top_k'\?\)"):
            call()


def test_map_checks_names_too_and_the_opt_out_ignores_them():
    p = _search()
    with pytest.raises(UnknownInputError, match="did you mean 'index'"):
        p.map(inputs={"query": ["a", "b"], "indx": INDEX}, map_over="query")
    shared = {"query": ["a", "b"], "index": INDEX, "unrelated": 1}
    out = p.map(inputs=shared, map_over="query", ignore_unknown_inputs=True)
    assert out == [{"hits": ["a1", "a2", "a3", "a4", "a5"]}, {"hits": ["b1"]}]
    assert p.run({"query": "b", "index": INDEX, "x": 0}, ignore_unknown_inputs=True) == {
        "hits": ["b1"]
    }


def test_a_stranger_gets_no_suggestion_and_an_output_name_is_not_unknown():
    with pytest.raises(UnknownInputError) as info:
        _search().run(inputs={"query": "a", "index": INDEX, "zebra": 1})
    assert "did you mean" not in str(info.value)
    assert "has no input 'zebra'" in str(info.value)
    assert _search().run({"query": "b", "index": INDEX, "hits": []}) == {"hits": ["b1"]}


# ------------------------------------------------------------------ missing inputs


def test_a_typo_in_a_parameter_name_names_the_node_and_the_output_it_meant():
    @node(output_name="cleaned")
    def clean(text: str) -> str:
        return text.strip()

    @node(output_name="n")
    def count(claened: str) -> int:
        return len(claened)

    p = Pipeline(nodes=[clean, count], name="text")
    with pytest.raises(MissingInputError) as info:
        p.run(inputs={"text": " hi "})
    assert str(info.value) == (
        "Missing required input(s) of pipeline 'text': claened (needed by node 'count'; did you "
        "mean 'cleaned', the output of node 'clean'? (a parameter named 'claened' becomes a "
        "pipeline input))"
    )


def test_a_missing_input_suggests_a_close_given_name_when_unknown_names_are_allowed():
    with pytest.raises(MissingInputError) as info:
        _search().run(inputs={"query": "a", "indx": INDEX}, ignore_unknown_inputs=True)
    assert "index (needed by node 'rank'; did you mean the given 'indx'?)" in str(info.value)


@pytest.mark.parametrize("which", [0, 1], ids=["node", "daft"])
def test_every_executor_words_missing_inputs_the_same(which):
    ex = _executors()[which]
    with pytest.raises(MissingInputError) as info:
        ex.run(_search(), {"query": "a"})
    assert str(info.value) == (
        "Missing required input(s) of pipeline 'search': index (needed by node 'rank')"
    )
    # the original HyperNodes' wording, which its users' tests match case-sensitively
    with pytest.raises(ValueError, match="Missing required input.*index"):
        ex.run(_search(), {"query": "a"})


# ------------------------------------------------------------------ renamed spellings


def test_the_originals_spellings_name_ours():
    import importlib

    import hypernodes

    for old, new in [
        ("SeqEngine", "hypernodes.NodeExecutor"),
        ("DaftEngine", "hypernodes.daft.DaftExecutor"),
        ("PipelineCallback", "hypernodes.Callback"),
        ("HypernodesEngine", "hypernodes.NodeExecutor(node_execution="),
    ]:
        with pytest.raises(ImportError) as info:
            getattr(importlib.import_module("hypernodes"), old)
        assert f"hypernodes.{old} is written {new}" in str(info.value)
        assert "migrating-from-hypernodes-0.4.md" in str(info.value)
    with pytest.raises(AttributeError, match="has no attribute 'Nonesuch'"):
        hypernodes.Nonesuch  # noqa: B018


def test_from_import_of_an_original_spelling_names_ours():
    with pytest.raises(
        ImportError, match="hypernodes.SeqEngine is written hypernodes.NodeExecutor"
    ):
        from hypernodes import SeqEngine  # noqa: F401


def test_renamed_keywords_and_attributes_name_ours():
    with pytest.raises(TypeError, match=r"Pipeline\(engine=\.\.\.\) is written Pipeline\(executor"):
        Pipeline(nodes=[rank], engine=NodeExecutor())
    with pytest.raises(TypeError, match="unexpected keyword argument 'colour'"):
        Pipeline(nodes=[rank], colour="red")
    with pytest.raises(TypeError, match=r"is written NodeExecutor\(node_execution=\.\.\.\)"):
        NodeExecutor(node_executor="threaded")
    with pytest.raises(TypeError, match=r"Pipeline\(\.\.\., callbacks=\[\.\.\.\]\)"):
        NodeExecutor(callbacks=[ProgressCallback()])
    with pytest.raises(TypeError, match=r"Pipeline\(\.\.\., cache=\.\.\.\)"):
        NodeExecutor(cache=None)
    p = _search()
    with pytest.raises(AttributeError, match=r"Pipeline\.engine is written Pipeline\.executor"):
        p.engine  # noqa: B018
    with pytest.raises(AttributeError, match=r"is written Pipeline\.with_executor\(\.\.\.\)"):
        p.with_engine(NodeExecutor())
    assert not hasattr(p, "nonesuch")


# ------------------------------------------------------------------ nodes do not change


def test_setting_node_cache_says_how_to_do_it_here():
    @node(output_name="y")
    def f(x: int) -> int:
        return x

    with pytest.raises(ConfigurationError) as info:
        f.cache = False
    assert "node 'f' cannot be changed after it is built (cannot set 'cache')" in str(info.value)
    assert "@node(..., cache=False)" in str(info.value)
    assert "node.with_cache(False)" in str(info.value)
    assert f.cache is True
    g = f.with_cache(False)
    assert (g.cache, f.cache, g.name) == (False, True, "f")
    assert f.with_name("h").name == "h"
    assert f.with_version("2").version == "2"
    with pytest.raises(ConfigurationError, match="with_name"):
        f.name = "other"


# ------------------------------------------------------------------ ProgressCallback


def test_progress_enable_false_is_the_originals_disable(capsys):
    cb = ProgressCallback(enable=False)
    assert cb.disable is True
    assert ProgressCallback(enable=True).disable is False
    p = Pipeline(nodes=[rank], callbacks=[cb])
    assert p.run({"query": "b", "index": INDEX}) == {"hits": ["b1"]}
    captured = capsys.readouterr()
    assert captured.err == "" and captured.out == ""
    assert [b.total for b in cb.bars()], "progress is still tracked"
    with pytest.raises(ConfigurationError, match="contradicts"):
        ProgressCallback(disable=True, enable=True)


def test_progress_rejects_an_argument_tqdm_does_not_take_at_once():
    with pytest.raises(ConfigurationError, match="tqdm takes no argument 'bogus'"):
        ProgressCallback(bogus=1)
    assert ProgressCallback(colour="red", ncols=60).tqdm_kwargs == {"colour": "red", "ncols": 60}


def test_every_setting_spelled_wrong_names_itself_and_its_values():
    """Settings are read by one converter in the binding: each entry point rejects a bad spelling
    with the engine's error (naming the value and what is accepted), and a non-string with a
    TypeError naming the argument."""
    from hypernodes import NodeExecutor, Pipeline, node
    from hypernodes.errors import ConfigurationError, MapInputError

    @node(output_name="y")
    def f(x: int) -> int:
        return x

    p = Pipeline([f], name="p")
    cases = [
        (lambda: NodeExecutor(node_execution="warp"), ConfigurationError, "warp"),
        (lambda: NodeExecutor(map_execution="warp"), ConfigurationError, "warp"),
        (lambda: p.map(inputs={"x": [1]}, map_over="x", map_mode="diag"), MapInputError, "diag"),
        (lambda: p.map(inputs={"x": [1]}, map_over="x", on_error="ignore"), ValueError, "ignore"),
        (lambda: p.as_node(map_over="x", map_mode="diag"), MapInputError, "diag"),
        (
            lambda: NodeExecutor().map(p, {"x": [1]}, "x", on_error="skip"),
            ValueError,
            "skip",
        ),
    ]
    for call, kind, word in cases:
        with pytest.raises(kind) as info:
            call()
        assert word in str(info.value)
        assert (
            "continue" in str(info.value)
            or "zip" in str(info.value)
            or ("sequential" in str(info.value))
        ), str(info.value)
    with pytest.raises(TypeError, match="map_mode"):
        p.map(inputs={"x": [1]}, map_over="x", map_mode=3)
    with pytest.raises(TypeError, match="node_execution"):
        NodeExecutor(node_execution=None)
