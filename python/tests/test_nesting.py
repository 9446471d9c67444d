"""Nesting pipelines with as_node: mappings, map_over (zip and product), broadcast inputs,
depth >= 3, exposed outputs and identity through nesting."""

from __future__ import annotations

import pytest
from hypernodes import (
    HyperNodesError,
    MapInputError,
    MapInputTypeError,
    Node,
    Pipeline,
    UnknownInputError,
    UnknownOutputError,
    node,
)


def _text_pipeline(calls):
    """text -> cleaned -> n_words; text -> n_chars (a separate, unmapped-output branch)."""

    @node(output_name="cleaned")
    def clean(text):
        calls.append("clean")
        return text.strip().lower()

    @node(output_name="n_words")
    def count_words(cleaned):
        calls.append("count_words")
        return len(cleaned.split())

    @node(output_name="n_chars")
    def count_chars(text):
        calls.append("count_chars")
        return len(text)

    return Pipeline([count_words, count_chars, clean], name="text")


# ---------------------------------------------------------------- as_node basics


def test_as_node_is_a_pipeline_node(calls):
    inner = _text_pipeline(calls)
    n = inner.as_node(name="text_step")
    assert isinstance(n, Node)
    assert n.name == "text_step"
    assert n.is_pipeline is True
    assert n.pipeline is not None
    assert n.pipeline.name == "text"
    assert list(n.inputs) == ["text"]
    assert sorted(n.outputs) == ["cleaned", "n_chars", "n_words"]


def test_nested_without_mapping_exposes_all_outputs_in_run_result(executor, calls):
    inner = _text_pipeline(calls)

    @node(output_name="summary")
    def summarize(n_words, n_chars):
        return f"{n_words}w/{n_chars}c"

    outer = Pipeline([summarize, inner.as_node(name="text_step")], name="outer")
    assert outer.inputs == ["text"]
    out = executor.run(outer, {"text": " Hello World "})
    assert out == {
        "cleaned": "hello world",
        "n_words": 2,
        "n_chars": 13,
        "summary": "2w/13c",
    }


def test_input_mapping_outer_to_inner(executor, calls):
    inner = _text_pipeline(calls)
    n = inner.as_node(name="step", input_mapping={"document": "text"})
    assert list(n.inputs) == ["document"]
    outer = Pipeline([n], name="outer")
    assert outer.inputs == ["document"]
    out = executor.run(outer, {"document": "A B C"})
    assert out["n_words"] == 3
    assert out["cleaned"] == "a b c"


def test_input_mapping_requires_outer_name(executor, calls):
    inner = _text_pipeline(calls)
    outer = Pipeline([inner.as_node(name="step", input_mapping={"document": "text"})])
    with pytest.raises(HyperNodesError) as info:
        executor.run(outer, {"text": "a b"})
    assert "document" in str(info.value)


def test_output_mapping_exposes_and_computes_only_mapped_outputs(executor, calls):
    inner = _text_pipeline(calls)
    n = inner.as_node(name="step", output_mapping={"n_chars": "length"})
    assert list(n.outputs) == ["length"]
    outer = Pipeline([n], name="outer")
    assert list(outer.outputs) == ["length"]
    out = executor.run(outer, {"text": "abc de"})
    assert out == {"length": 6}
    assert calls == ["count_chars"]


def test_output_mapping_of_a_deep_output_computes_its_chain_only(calls):
    inner = _text_pipeline(calls)
    n = inner.as_node(name="step", output_mapping={"n_words": "words"})
    out = Pipeline([n]).run({"text": "x y z"})
    assert out == {"words": 3}
    assert sorted(calls) == ["clean", "count_words"]
    assert "cleaned" not in out


def test_output_mapping_feeds_downstream_under_outer_name(executor, calls):
    inner = _text_pipeline(calls)

    @node(output_name="doubled")
    def double(words):
        return words * 2

    outer = Pipeline(
        [double, inner.as_node(name="step", output_mapping={"n_words": "words"})], name="outer"
    )
    assert executor.run(outer, {"text": "one two"}) == {"words": 2, "doubled": 4}


def test_output_mapping_identity_rename(calls):
    inner = _text_pipeline(calls)
    n = inner.as_node(output_mapping={"n_words": "n_words"})
    assert Pipeline([n]).run({"text": "q r"}) == {"n_words": 2}
    assert "count_chars" not in calls


def test_same_inner_pipeline_used_twice_with_different_mappings(executor, calls):
    inner = _text_pipeline(calls)
    title = inner.as_node(
        name="title_stats",
        input_mapping={"title": "text"},
        output_mapping={"n_words": "title_words"},
    )
    body = inner.as_node(
        name="body_stats",
        input_mapping={"body": "text"},
        output_mapping={"n_words": "body_words"},
    )

    @node(output_name="ratio")
    def ratio(title_words, body_words):
        return body_words / title_words

    outer = Pipeline([ratio, body, title], name="doc")
    assert outer.inputs == ["body", "title"]
    out = executor.run(outer, {"title": "Big News", "body": "one two three four"})
    assert out == {"title_words": 2, "body_words": 4, "ratio": 2.0}


def test_selecting_a_nested_output_from_outer(executor, calls):
    inner = _text_pipeline(calls)

    @node(output_name="unrelated")
    def unrelated(other):
        calls.append("unrelated")
        return other

    outer = Pipeline([unrelated, inner.as_node(name="step")])
    out = executor.run(outer, {"text": "a b"}, output_name="n_chars")
    assert out == {"n_chars": 3}
    assert "unrelated" not in calls


def test_selection_reaches_into_nested_pipeline(executor, calls):
    # run's output_name limits what runs, also inside a nested pipeline node: selecting
    # 'n_chars' needs only count_chars, not clean/count_words
    inner = _text_pipeline(calls)
    outer = Pipeline([inner.as_node(name="step")], name="outer")
    assert executor.run(outer, {"text": "a b"}, output_name="n_chars") == {"n_chars": 3}
    assert calls == ["count_chars"]


def test_unknown_input_mapping_name(calls):
    inner = _text_pipeline(calls)
    with pytest.raises(UnknownInputError) as info:
        inner.as_node(input_mapping={"outer_name": "not_an_inner_input"})
    assert "not_an_inner_input" in str(info.value)


def test_unknown_output_mapping_name(calls):
    inner = _text_pipeline(calls)
    with pytest.raises(UnknownOutputError) as info:
        inner.as_node(output_mapping={"not_an_inner_output": "x"})
    msg = str(info.value)
    assert "not_an_inner_output" in msg
    assert "n_words" in msg


def test_map_over_not_an_input_of_node(calls):
    inner = _text_pipeline(calls)
    with pytest.raises(HyperNodesError) as info:
        inner.as_node(map_over="not_an_input")
    assert "not_an_input" in str(info.value)


def test_as_node_unknown_map_mode(calls):
    inner = _text_pipeline(calls)
    with pytest.raises(MapInputError) as info:
        inner.as_node(map_over="text", map_mode="sideways")
    assert "sideways" in str(info.value)


def test_as_node_cache_flag(calls):
    inner = _text_pipeline(calls)
    assert inner.as_node(name="cached").cache is True
    assert inner.as_node(name="uncached", cache=False).cache is False


def test_inner_optional_inputs_stay_optional(executor, calls):
    @node(output_name="y")
    def f(x, k=2):
        return x * k

    outer = Pipeline([Pipeline([f], name="inner").as_node(name="n")])
    assert outer.inputs == ["x"]
    assert "k" in outer.optional_inputs
    assert executor.run(outer, {"x": 3}) == {"y": 6}
    assert executor.run(outer, {"x": 3, "k": 5}) == {"y": 15}


def test_two_producers_across_nesting_detected(calls):
    inner = _text_pipeline(calls)

    @node(output_name="n_words")
    def rival(text):
        return 0

    with pytest.raises(HyperNodesError) as info:
        Pipeline([rival, inner.as_node(name="text_step")])
    msg = str(info.value)
    assert "rival" in msg
    assert "text_step" in msg


# ---------------------------------------------------------------- map_over in as_node


def test_as_node_map_over_zip_presents_lists(executor, calls):
    inner = _text_pipeline(calls)
    n = inner.as_node(
        name="per_doc",
        input_mapping={"texts": "text"},
        output_mapping={"n_words": "word_counts"},
        map_over="texts",
    )

    @node(output_name="total")
    def total(word_counts):
        return sum(word_counts)

    outer = Pipeline([total, n], name="corpus")
    assert outer.inputs == ["texts"]
    out = executor.run(outer, {"texts": ["a b", "c", "d e f"]})
    assert out == {"word_counts": [2, 1, 3], "total": 6}
    assert calls.count_of("clean") == 3
    assert calls.count_of("count_chars") == 0


def test_as_node_map_over_without_output_mapping_lists_every_output(executor, calls):
    inner = _text_pipeline(calls)
    outer = Pipeline([inner.as_node(name="per_doc", map_over="text")])
    out = executor.run(outer, {"text": ["A", "b c"]})
    assert out == {"cleaned": ["a", "b c"], "n_words": [1, 2], "n_chars": [1, 3]}


def test_as_node_map_over_empty_list(executor, calls):
    inner = _text_pipeline(calls)
    outer = Pipeline([inner.as_node(name="per_doc", map_over="text")])
    out = executor.run(outer, {"text": []})
    assert out == {"cleaned": [], "n_words": [], "n_chars": []}
    assert calls == []


def test_as_node_map_over_zip_two_lists(calls):
    @node(output_name="pair")
    def pair(a, b):
        return (a, b)

    n = Pipeline([pair], name="pairing").as_node(
        input_mapping={"as_": "a", "bs": "b"},
        output_mapping={"pair": "pairs"},
        map_over=["as_", "bs"],
        map_mode="zip",
    )
    out = Pipeline([n]).run({"as_": [1, 2, 3], "bs": ["x", "y", "z"]})
    assert out == {"pairs": [(1, "x"), (2, "y"), (3, "z")]}


def test_as_node_map_over_zip_length_mismatch(calls):
    @node(output_name="pair")
    def pair(a, b):
        return (a, b)

    n = Pipeline([pair]).as_node(map_over=["a", "b"])
    with pytest.raises(MapInputError) as info:
        Pipeline([n]).run({"a": [1, 2], "b": [1, 2, 3]})
    assert "2" in str(info.value) and "3" in str(info.value)


def test_as_node_zip_length_mismatch_names_outer_inputs(calls):
    # map_over names outer inputs, so the error names them (the user never wrote 'a' or 'b' here)
    @node(output_name="pair")
    def pair(a, b):
        return (a, b)

    n = Pipeline([pair], name="inner").as_node(
        input_mapping={"left_items": "a", "right_items": "b"},
        map_over=["left_items", "right_items"],
    )
    with pytest.raises(MapInputError) as info:
        Pipeline([n], name="outer").run({"left_items": [1, 2], "right_items": [1]})
    msg = str(info.value)
    assert "left_items" in msg
    assert "right_items" in msg


def test_as_node_map_over_non_sequence(calls):
    @node(output_name="y")
    def f(a):
        return a

    n = Pipeline([f]).as_node(input_mapping={"seq_in": "a"}, map_over="seq_in")
    with pytest.raises(MapInputTypeError) as info:
        Pipeline([n]).run({"seq_in": "not a list"})
    assert "seq_in" in str(info.value)


def test_as_node_map_over_product(calls):
    @node(output_name="pair")
    def pair(a, b):
        calls.append("pair")
        return (a, b)

    n = Pipeline([pair], name="pairing").as_node(
        name="grid",
        output_mapping={"pair": "grid_pairs"},
        map_over=["a", "b"],
        map_mode="product",
    )
    out = Pipeline([n]).run({"a": [1, 2], "b": ["x", "y", "z"]})
    assert out == {
        "grid_pairs": [(1, "x"), (1, "y"), (1, "z"), (2, "x"), (2, "y"), (2, "z")],
    }
    assert calls.count_of("pair") == 6


def test_as_node_map_over_product_order_follows_map_over(calls):
    @node(output_name="pair")
    def pair(a, b):
        return (a, b)

    n = Pipeline([pair]).as_node(map_over=["b", "a"], map_mode="product")
    out = Pipeline([n]).run({"a": [1, 2], "b": ["x", "y"]})
    assert out["pair"] == [(1, "x"), (2, "x"), (1, "y"), (2, "y")]


def test_as_node_map_over_with_broadcast_inputs(executor, calls):
    shared = {"prefix": ">"}
    received = []

    @node(output_name="tagged")
    def tag(item, config, suffix):
        received.append(config)
        return config["prefix"] + item + suffix

    n = Pipeline([tag], name="tagger").as_node(
        name="tag_all",
        input_mapping={"items": "item", "settings": "config"},
        map_over="items",
    )
    outer = Pipeline([n])
    assert outer.inputs == ["items", "settings", "suffix"]
    out = executor.run(outer, {"items": ["a", "b"], "settings": shared, "suffix": "!"})
    assert out == {"tagged": [">a!", ">b!"]}
    assert len(received) == 2
    assert all(r is shared for r in received)


def test_as_node_broadcast_input_from_upstream_node(calls):
    @node(output_name="factor")
    def make_factor(base):
        return base * 10

    @node(output_name="scaled")
    def scale(x, factor):
        return x * factor

    n = Pipeline([scale], name="scaler").as_node(map_over="x")
    out = Pipeline([n, make_factor]).run({"x": [1, 2, 3], "base": 2})
    assert out == {"factor": 20, "scaled": [20, 40, 60]}


def test_as_node_map_over_mapped_list_from_upstream_node(calls):
    @node(output_name="words")
    def split_words(sentence):
        return sentence.split()

    @node(output_name="upper")
    def upper(word):
        return word.upper()

    n = Pipeline([upper]).as_node(input_mapping={"words": "word"}, map_over="words")

    @node(output_name="joined")
    def join(upper):
        return "-".join(upper)

    out = Pipeline([join, n, split_words]).run({"sentence": "a bc d"})
    assert out == {"words": ["a", "bc", "d"], "upper": ["A", "BC", "D"], "joined": "A-BC-D"}


def test_pipeline_with_map_node_can_itself_be_mapped(executor, calls):
    @node(output_name="sq")
    def square(v):
        return v * v

    per_list = Pipeline([square]).as_node(map_over="v")
    outer = Pipeline([per_list], name="lists")
    out = executor.map(outer, {"v": [[1, 2], [3], []]}, map_over="v")
    assert out == [{"sq": [1, 4]}, {"sq": [9]}, {"sq": []}]


# ---------------------------------------------------------------- depth >= 3


def _three_levels(calls):
    @node(output_name="inner_val")
    def leaf(raw):
        calls.append("leaf")
        return raw + 1

    @node(output_name="inner_unused")
    def leaf_unused(raw):
        calls.append("leaf_unused")
        return raw * 1000

    level3 = Pipeline([leaf, leaf_unused], name="level3")

    @node(output_name="mid_val")
    def mid(mid_in, bonus):
        calls.append("mid")
        return mid_in * 10 + bonus

    level2 = Pipeline(
        [
            mid,
            level3.as_node(
                name="level3_node",
                input_mapping={"l2_raw": "raw"},
                output_mapping={"inner_val": "mid_in"},
            ),
        ],
        name="level2",
    )

    @node(output_name="top_val")
    def top(from_l2):
        calls.append("top")
        return from_l2 * 2

    level1 = Pipeline(
        [
            top,
            level2.as_node(
                name="level2_node",
                input_mapping={"l1_raw": "l2_raw"},
                output_mapping={"mid_val": "from_l2"},
            ),
        ],
        name="level1",
    )

    @node(output_name="root_val")
    def root(top_val):
        calls.append("root")
        return top_val + 0.5

    level0 = Pipeline(
        [
            root,
            level1.as_node(
                name="level1_node",
                input_mapping={"start": "l1_raw"},
                output_mapping={"top_val": "top_val"},
            ),
        ],
        name="level0",
    )
    return level0


def test_depth_four_mappings(executor, calls):
    p = _three_levels(calls)
    assert p.inputs == ["bonus", "start"]
    out = executor.run(p, {"start": 1, "bonus": 3})
    # leaf: 2; mid: 23; top: 46; root: 46.5
    assert out == {"top_val": 46, "root_val": 46.5}
    assert sorted(calls) == ["leaf", "mid", "root", "top"]
    assert "leaf_unused" not in calls


def test_depth_four_map_at_the_root(executor, calls):
    p = _three_levels(calls)
    out = executor.map(
        p, {"start": [0, 1, 2], "bonus": 0}, map_over="start", output_name="root_val"
    )
    assert out == [{"root_val": 20.5}, {"root_val": 40.5}, {"root_val": 60.5}]
    assert calls.count_of("leaf_unused") == 0


def test_depth_three_without_output_mapping_exposes_everything(executor, calls):
    @node(output_name="c")
    def make_c(a):
        return a + 1

    @node(output_name="d")
    def make_d(c):
        return c * 2

    deepest = Pipeline([make_c, make_d], name="deepest")
    middle = Pipeline([deepest.as_node(name="deepest_node")], name="middle")
    top = Pipeline([middle.as_node(name="middle_node")], name="top")
    assert top.inputs == ["a"]
    assert sorted(top.outputs) == ["c", "d"]
    assert executor.run(top, {"a": 1}) == {"c": 2, "d": 4}


def test_nested_map_inside_map_inside_map(executor, calls):
    @node(output_name="cell")
    def cell(v):
        calls.append("cell")
        return v * 2

    rows = Pipeline([cell], name="cells").as_node(
        name="per_cell",
        input_mapping={"row": "v"},
        output_mapping={"cell": "row_out"},
        map_over="row",
    )
    grids = Pipeline([rows], name="rows").as_node(
        name="per_row",
        input_mapping={"grid": "row"},
        output_mapping={"row_out": "grid_out"},
        map_over="grid",
    )
    top = Pipeline([grids], name="grids")
    out = executor.map(top, {"grid": [[[1, 2], [3]], [], [[4]]]}, map_over="grid")
    assert out == [{"grid_out": [[2, 4], [6]]}, {"grid_out": []}, {"grid_out": [[8]]}]
    assert calls.count_of("cell") == 4


# ---------------------------------------------------------------- identity through nesting


class Box:
    def __init__(self, v):
        self.v = v


def test_identity_through_nesting(executor, calls):
    made = []
    received = []

    @node(output_name="box")
    def make_box(v):
        b = Box(v)
        made.append(b)
        return b

    inner = Pipeline([make_box], name="inner_box")
    middle = Pipeline([inner.as_node(output_mapping={"box": "mid_box"})], name="mid_box_p")

    @node(output_name="seen")
    def consume(mid_box):
        received.append(mid_box)
        return mid_box

    outer = Pipeline([consume, middle.as_node()], name="outer_box")
    out = executor.run(outer, {"v": 1})
    assert received[0] is made[0]
    assert out["mid_box"] is made[0]
    assert out["seen"] is made[0]


def test_identity_of_outer_input_inside_nested(executor, calls):
    obj = Box(0)
    received = []

    @node(output_name="y")
    def f(x):
        received.append(x)
        return x

    deep = Pipeline([f], name="deep")
    mid = Pipeline([deep.as_node(input_mapping={"mid_x": "x"})], name="mid")
    top = Pipeline([mid.as_node(input_mapping={"top_x": "mid_x"})], name="top")
    out = executor.run(top, {"top_x": obj})
    assert received[0] is obj
    assert out["y"] is obj


def test_identity_through_nested_map(calls):
    made = []
    items = [Box(1), Box(2)]
    received = []

    @node(output_name="wrapped")
    def wrap(item):
        received.append(item)
        b = Box(item)
        made.append(b)
        return b

    n = Pipeline([wrap]).as_node(map_over="item")

    @node(output_name="firsts")
    def firsts(wrapped):
        return list(wrapped)

    out = Pipeline([firsts, n]).run({"item": items})
    assert received[0] is items[0] and received[1] is items[1]
    assert out["wrapped"][0] is made[0] and out["wrapped"][1] is made[1]
    assert out["firsts"][0] is made[0]
