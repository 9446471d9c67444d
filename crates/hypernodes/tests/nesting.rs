//! Pipelines as nodes: `as_node` at depth 2 and more, input/output mappings (only mapped outputs are
//! exposed and computed), mapped pipeline nodes (zip, product, broadcast), bound inner values, and
//! the pipeline path of errors raised deep inside.

mod common;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};

use common::{int, int_node, s, Counter};
use hypernodes::{inputs, node, AsNode, Error, MapMode, NodeKind, Pipeline};

fn mapping(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

#[node(output = "doubled")]
fn double(x: i64) -> i64 {
    x * 2
}

#[node(output = "shifted")]
fn shift(doubled: i64, offset: i64) -> i64 {
    doubled + offset
}

#[node(output = "squared")]
fn square(m_shifted: i64) -> i64 {
    m_shifted * m_shifted
}

#[node(output = "answer")]
fn finish(result: i64, bonus: i64) -> i64 {
    result + bonus
}

/// inner (double, shift)  <  middle (inner as a node, square)  <  outer (middle as a node, finish).
fn three_levels() -> (Pipeline, Pipeline, Pipeline) {
    let inner = Pipeline::new([shift::node(), double::node()])
        .unwrap()
        .with_name("inner");
    let inner_node = inner
        .as_node(AsNode {
            name: Some("inner_node".into()),
            input_mapping: mapping(&[("n", "x")]),
            output_mapping: Some(mapping(&[("shifted", "m_shifted")])),
            ..AsNode::default()
        })
        .unwrap();
    let middle = Pipeline::new([square::node(), inner_node])
        .unwrap()
        .with_name("middle");
    let middle_node = middle
        .as_node(AsNode {
            input_mapping: mapping(&[("value", "n")]),
            output_mapping: Some(mapping(&[("squared", "result")])),
            ..AsNode::default()
        })
        .unwrap();
    let outer = Pipeline::new([finish::node(), middle_node])
        .unwrap()
        .with_name("outer");
    (inner, middle, outer)
}

#[test]
fn three_levels_with_input_and_output_mappings() {
    let (inner, middle, outer) = three_levels();
    assert_eq!(inner.inputs(), s(&["offset", "x"]));
    assert_eq!(
        middle.inputs(),
        s(&["n", "offset"]),
        "x is renamed n; offset passes through"
    );
    assert_eq!(middle.outputs(), s(&["m_shifted", "squared"]));
    assert_eq!(outer.inputs(), s(&["bonus", "offset", "value"]));
    assert_eq!(outer.outputs(), s(&["result", "answer"]));

    let out = outer
        .run(
            inputs! {"value" => 3_i64, "offset" => 1_i64, "bonus" => 1000_i64},
            None,
        )
        .unwrap();
    // doubled = 6, shifted = 7, squared = 49, answer = 1049
    assert_eq!(int(&out, "result"), 49);
    assert_eq!(int(&out, "answer"), 1049);
    assert!(
        out.value("squared").is_none() && out.value("shifted").is_none(),
        "{out:?}"
    );
}

#[test]
fn the_default_node_name_is_the_pipeline_name() {
    let (_, middle, outer) = three_levels();
    let names: Vec<&str> = outer.nodes().iter().map(|n| n.name()).collect();
    assert_eq!(names, ["finish", "middle"]);
    assert!(middle.nodes().iter().any(|n| n.name() == "inner_node"));
    assert!(matches!(outer.nodes()[1].kind(), NodeKind::Pipeline(_)));
}

#[test]
fn an_inner_error_names_the_node_and_the_full_path() {
    #[node(output = "checked")]
    fn reject_big(x: i64) -> Result<i64, String> {
        if x > 100 {
            Err(format!("{x} is too big"))
        } else {
            Ok(x)
        }
    }
    let inner = Pipeline::new([reject_big::node()])
        .unwrap()
        .with_name("inner");
    let middle = Pipeline::new([inner.as_node(AsNode::default()).unwrap()])
        .unwrap()
        .with_name("middle");
    let outer = Pipeline::new([middle.as_node(AsNode::default()).unwrap()])
        .unwrap()
        .with_name("outer");
    assert_eq!(
        outer
            .run(inputs! {"x" => 5_i64}, None)
            .unwrap()
            .get::<i64>("checked"),
        Some(&5)
    );
    let err = outer.run(inputs! {"x" => 500_i64}, None).unwrap_err();
    let msg = err.to_string();
    match err {
        Error::Node {
            node, path, source, ..
        } => {
            assert_eq!(node, "reject_big");
            assert_eq!(path, s(&["outer", "middle", "inner"]));
            assert_eq!(source.to_string(), "500 is too big");
        }
        other => panic!("expected Error::Node, got {other:?}"),
    }
    assert!(msg.contains("outer > middle > inner"), "{msg}");
}

#[test]
fn only_mapped_outputs_are_exposed_and_only_they_are_computed() {
    let c_cheap = Counter::new();
    let c_costly = Counter::new();
    let inner = Pipeline::new([
        int_node("cheap", &["x"], "cheap_out", &c_cheap, |v| v[0] + 1),
        int_node("costly", &["y"], "costly_out", &c_costly, |v| v[0] * 1000),
    ])
    .unwrap()
    .with_name("inner");
    let node = inner
        .as_node(AsNode {
            output_mapping: Some(mapping(&[("cheap_out", "c")])),
            ..AsNode::default()
        })
        .unwrap();
    assert_eq!(node.output_names().collect::<Vec<_>>(), ["c"]);
    assert_eq!(
        node.param_names().collect::<Vec<_>>(),
        ["x"],
        "y is not needed for cheap_out"
    );

    let outer = Pipeline::new([node]).unwrap();
    assert_eq!(outer.outputs(), s(&["c"]));
    assert_eq!(outer.inputs(), s(&["x"]));
    let out = outer.run(inputs! {"x" => 1_i64}, None).unwrap();
    assert_eq!(out.names().collect::<Vec<_>>(), ["c"]);
    assert_eq!(int(&out, "c"), 2);
    assert_eq!((c_cheap.get(), c_costly.get()), (1, 0));
}

#[test]
fn without_an_output_mapping_every_inner_output_is_exposed() {
    let c = Counter::new();
    let inner = Pipeline::new([
        int_node("a", &["x"], "a_out", &c, |v| v[0] + 1),
        int_node("b", &["a_out"], "b_out", &c, |v| v[0] * 2),
    ])
    .unwrap();
    let outer = Pipeline::new([
        inner
            .as_node(AsNode {
                name: Some("wrapped".into()),
                ..AsNode::default()
            })
            .unwrap(),
        int_node("after", &["b_out", "a_out"], "total", &c, |v| v[0] + v[1]),
    ])
    .unwrap();
    assert_eq!(outer.outputs(), s(&["a_out", "b_out", "total"]));
    let out = outer.run(inputs! {"x" => 1_i64}, None).unwrap();
    assert_eq!(
        [int(&out, "a_out"), int(&out, "b_out"), int(&out, "total")],
        [2, 4, 6]
    );
    assert_eq!(c.get(), 3);
}

#[test]
fn selecting_an_outer_output_skips_a_nested_pipeline_it_does_not_need() {
    let c = Counter::new();
    let inner = Pipeline::new([int_node("slow", &["x"], "slow_out", &c, |v| v[0])]).unwrap();
    let outer = Pipeline::new([
        inner
            .as_node(AsNode {
                name: Some("nested".into()),
                ..AsNode::default()
            })
            .unwrap(),
        int_node("quick", &["x"], "quick_out", &c, |v| v[0] + 1),
    ])
    .unwrap();
    let out = outer
        .run(inputs! {"x" => 1_i64}, Some(&s(&["quick_out"])))
        .unwrap();
    assert_eq!(int(&out, "quick_out"), 2);
    assert_eq!(c.get(), 1);
}

#[test]
fn inner_bound_values_are_not_required_outside() {
    let c = Counter::new();
    let inner = Pipeline::new([int_node("mul", &["x", "factor"], "y", &c, |v| v[0] * v[1])])
        .unwrap()
        .bind([("factor".to_string(), hypernodes::value(7_i64))])
        .unwrap();
    let node = inner.as_node(AsNode::default()).unwrap();
    assert_eq!(node.param_names().collect::<Vec<_>>(), ["x"]);
    let outer = Pipeline::new([node]).unwrap();
    assert_eq!(outer.inputs(), s(&["x"]));
    assert_eq!(
        int(&outer.run(inputs! {"x" => 3_i64}, None).unwrap(), "y"),
        21
    );
}

#[test]
fn as_node_rejects_unknown_names() {
    let c = Counter::new();
    let inner = Pipeline::new([int_node("a", &["x"], "a_out", &c, |v| v[0])])
        .unwrap()
        .with_name("inner");
    let err = inner
        .as_node(AsNode {
            output_mapping: Some(mapping(&[("nope", "z")])),
            ..AsNode::default()
        })
        .unwrap_err();
    assert!(
        matches!(&err, Error::UnknownOutput { requested, available, .. } if requested == "nope" && available == &s(&["a_out"])),
        "{err:?}"
    );
    let err = inner
        .as_node(AsNode {
            input_mapping: mapping(&[("outer_name", "nope")]),
            ..AsNode::default()
        })
        .unwrap_err();
    assert!(
        matches!(&err, Error::UnknownInput { name, available, .. } if name == "nope" && available == &s(&["x"])),
        "{err:?}"
    );
    let err = inner
        .as_node(AsNode {
            map_over: s(&["nope"]),
            ..AsNode::default()
        })
        .unwrap_err();
    assert!(
        matches!(&err, Error::Config(m) if m.contains("nope")),
        "{err:?}"
    );
}

#[test]
fn as_node_cache_flag() {
    let c = Counter::new();
    let inner = Pipeline::new([int_node("a", &["x"], "a_out", &c, |v| v[0])]).unwrap();
    assert!(inner.as_node(AsNode::default()).unwrap().cache());
    assert!(!inner
        .as_node(AsNode {
            cache: Some(false),
            ..AsNode::default()
        })
        .unwrap()
        .cache());
}

// ---- mapped pipeline nodes ----

static WORD_CALLS: AtomicUsize = AtomicUsize::new(0);

#[node(output = "length")]
fn word_length(word: String) -> usize {
    WORD_CALLS.fetch_add(1, Ordering::SeqCst);
    word.chars().count()
}

#[node(output = "longest")]
fn longest(lengths: Vec<usize>) -> usize {
    lengths.into_iter().max().unwrap_or(0)
}

fn per_word() -> Pipeline {
    Pipeline::new([word_length::node()])
        .unwrap()
        .with_name("per_word")
}

#[test]
fn a_mapped_pipeline_node_presents_lists_outward() {
    let mapped = per_word()
        .as_node(AsNode {
            name: Some("measure".into()),
            input_mapping: mapping(&[("words", "word")]),
            output_mapping: Some(mapping(&[("length", "lengths")])),
            map_over: s(&["words"]),
            ..AsNode::default()
        })
        .unwrap();
    assert_eq!(
        mapped.params()[0].ty.type_id(),
        Some(std::any::TypeId::of::<Vec<String>>())
    );
    assert_eq!(
        mapped.outputs()[0].ty.type_id(),
        Some(std::any::TypeId::of::<Vec<usize>>())
    );
    // The mapped output is a typed list, so a node taking Vec<usize> consumes it (checked at build).
    let p = Pipeline::new([longest::node(), mapped]).unwrap();
    let words: Vec<String> = ["a", "abc", "ab"].iter().map(|w| w.to_string()).collect();
    let before = WORD_CALLS.load(Ordering::SeqCst);
    let out = p.run(inputs! {"words" => words}, None).unwrap();
    assert_eq!(out.get::<Vec<usize>>("lengths"), Some(&vec![1, 3, 2]));
    assert_eq!(out.get::<usize>("longest"), Some(&3));
    assert!(WORD_CALLS.load(Ordering::SeqCst) - before >= 3);

    // Empty list in, empty list out.
    let out = p
        .run(inputs! {"words" => Vec::<String>::new()}, None)
        .unwrap();
    assert_eq!(out.get::<Vec<usize>>("lengths"), Some(&vec![]));
    assert_eq!(out.get::<usize>("longest"), Some(&0));
}

#[test]
fn a_mapped_output_type_mismatch_is_caught_at_build() {
    #[node(output = "longest")]
    fn longest_i32(lengths: Vec<i32>) -> i32 {
        lengths.into_iter().max().unwrap_or(0)
    }
    let mapped = per_word()
        .as_node(AsNode {
            input_mapping: mapping(&[("words", "word")]),
            output_mapping: Some(mapping(&[("length", "lengths")])),
            map_over: s(&["words"]),
            ..AsNode::default()
        })
        .unwrap();
    let err = Pipeline::new([longest_i32::node(), mapped]).unwrap_err();
    match err {
        Error::TypeMismatch {
            producer,
            consumer,
            produced,
            expected,
            ..
        } => {
            assert_eq!(
                (producer.as_str(), consumer.as_str()),
                ("per_word", "longest_i32")
            );
            assert!(
                produced.contains("usize") && expected.contains("i32"),
                "{produced} / {expected}"
            );
        }
        other => panic!("expected TypeMismatch, got {other:?}"),
    }
}

#[node(output = "cell")]
fn cell(row: i64, col: i64, scale: i64) -> i64 {
    (row * 10 + col) * scale
}

fn grid_node(mode: MapMode) -> hypernodes::Node {
    Pipeline::new([cell::node()])
        .unwrap()
        .with_name("grid")
        .as_node(AsNode {
            input_mapping: mapping(&[("rows", "row"), ("cols", "col")]),
            output_mapping: Some(mapping(&[("cell", "cells")])),
            map_over: s(&["rows", "cols"]),
            map_mode: mode,
            ..AsNode::default()
        })
        .unwrap()
}

#[test]
fn a_mapped_pipeline_node_zips_and_broadcasts() {
    let p = Pipeline::new([grid_node(MapMode::Zip)]).unwrap();
    assert_eq!(p.inputs(), s(&["cols", "rows", "scale"]));
    let out = p
        .run(
            inputs! {"rows" => vec![1_i64, 2, 3], "cols" => vec![4_i64, 5, 6], "scale" => 2_i64},
            None,
        )
        .unwrap();
    assert_eq!(out.get::<Vec<i64>>("cells"), Some(&vec![28, 50, 72]));

    let err = p
        .run(
            inputs! {"rows" => vec![1_i64, 2], "cols" => vec![4_i64], "scale" => 1_i64},
            None,
        )
        .unwrap_err();
    assert!(
        matches!(err, Error::Map(hypernodes::MapError::LengthMismatch { .. })),
        "{err:?}"
    );
}

#[test]
fn a_mapped_pipeline_node_in_product_mode() {
    let p = Pipeline::new([grid_node(MapMode::Product)]).unwrap();
    let out = p
        .run(
            inputs! {"rows" => vec![1_i64, 2], "cols" => vec![3_i64, 4, 5], "scale" => 1_i64},
            None,
        )
        .unwrap();
    assert_eq!(
        out.get::<Vec<i64>>("cells"),
        Some(&vec![13, 14, 15, 23, 24, 25])
    );
}

/// Engine bug (value.rs, `ListOf::split`): the port type of a mapped input is an erased `ListOf` that
/// only splits `Vec<Value>`, so mapping a pipeline over an input that feeds a mapped pipeline node
/// rejects the natural `Vec<Vec<String>>`. See the report of the tests' author.
#[test]
fn a_mapped_pipeline_node_inside_a_mapped_run() {
    // The outer pipeline is itself mapped over several word lists.
    let mapped = per_word()
        .as_node(AsNode {
            input_mapping: mapping(&[("words", "word")]),
            output_mapping: Some(mapping(&[("length", "lengths")])),
            map_over: s(&["words"]),
            ..AsNode::default()
        })
        .unwrap();
    let p = Pipeline::new([longest::node(), mapped]).unwrap();
    let lists: Vec<Vec<String>> = vec![
        vec!["hello".into(), "a".into()],
        vec![],
        vec!["xy".into(), "xyz".into(), "x".into()],
    ];
    let results = p
        .map(
            inputs! {"words" => lists},
            &s(&["words"]),
            MapMode::Zip,
            None,
        )
        .unwrap();
    let longest: Vec<usize> = results
        .iter()
        .map(|o| *o.get::<usize>("longest").unwrap())
        .collect();
    assert_eq!(longest, [5, 0, 3]);
}

#[node(output = "doc_words")]
fn split_words(doc: String) -> Vec<String> {
    doc.split_whitespace().map(String::from).collect()
}

/// per_doc: split a document, then map per_word over its words; exposes the list of lengths.
fn per_doc() -> Pipeline {
    let words_node = per_word()
        .as_node(AsNode {
            name: Some("measure_words".into()),
            input_mapping: mapping(&[("doc_words", "word")]),
            output_mapping: Some(mapping(&[("length", "lengths")])),
            map_over: s(&["doc_words"]),
            ..AsNode::default()
        })
        .unwrap();
    Pipeline::new([split_words::node(), words_node, longest::node()])
        .unwrap()
        .with_name("per_doc")
}

#[test]
fn maps_nested_two_levels_deep() {
    // corpus: map per_doc over documents; each per_doc maps per_word over words.
    let docs_node = per_doc()
        .as_node(AsNode {
            name: Some("measure_docs".into()),
            input_mapping: mapping(&[("docs", "doc")]),
            output_mapping: Some(mapping(&[("longest", "longest_per_doc")])),
            map_over: s(&["docs"]),
            ..AsNode::default()
        })
        .unwrap();
    #[node(output = "overall")]
    fn overall(longest_per_doc: Vec<usize>) -> usize {
        longest_per_doc.into_iter().max().unwrap_or(0)
    }
    let corpus = Pipeline::new([overall::node(), docs_node])
        .unwrap()
        .with_name("corpus");
    let docs: Vec<String> = vec![
        "the quick brown".into(),
        "jumps".into(),
        "".into(),
        "a lazy dog".into(),
    ];
    let out = corpus.run(inputs! {"docs" => docs}, None).unwrap();
    assert_eq!(
        out.get::<Vec<usize>>("longest_per_doc"),
        Some(&vec![5, 5, 0, 4])
    );
    assert_eq!(out.get::<usize>("overall"), Some(&5));
}

/// Engine bug (value.rs, `ListOf::collect` / `ListOf::list_type`): a list of lists built by two
/// levels of mapping is a `Vec<Value>`, not a `Vec<Vec<T>>`, and its port type claims the name
/// `Vec<Vec<T>>` with the `TypeId` of `Vec<Value>`, so a consumer taking `Vec<Vec<usize>>` is rejected
/// at build with a mismatch between two identically named types.
#[test]
fn lists_of_lists_from_nested_maps_are_typed() {
    let docs_node = per_doc()
        .as_node(AsNode {
            input_mapping: mapping(&[("docs", "doc")]),
            output_mapping: Some(mapping(&[("lengths", "lengths_per_doc")])),
            map_over: s(&["docs"]),
            ..AsNode::default()
        })
        .unwrap();
    #[node(output = "total_words")]
    fn total_words(lengths_per_doc: Vec<Vec<usize>>) -> usize {
        lengths_per_doc.iter().map(Vec::len).sum()
    }
    let docs: Vec<String> = vec!["ab c".into(), "".into(), "d".into()];
    let alone = Pipeline::new([docs_node.clone()]).unwrap();
    let out = alone.run(inputs! {"docs" => docs.clone()}, None).unwrap();
    assert_eq!(
        out.get::<Vec<Vec<usize>>>("lengths_per_doc"),
        Some(&vec![vec![2, 1], vec![], vec![1]])
    );
    let p = Pipeline::new([total_words::node(), docs_node]).unwrap();
    let out = p.run(inputs! {"docs" => docs}, None).unwrap();
    assert_eq!(out.get::<usize>("total_words"), Some(&3));
}

#[test]
fn an_error_inside_a_nested_map_names_the_inner_path() {
    #[node(output = "parsed")]
    fn parse(token: String) -> Result<i64, std::num::ParseIntError> {
        token.parse()
    }
    let item = Pipeline::new([parse::node()]).unwrap().with_name("item");
    let node = item
        .as_node(AsNode {
            input_mapping: mapping(&[("tokens", "token")]),
            output_mapping: Some(mapping(&[("parsed", "numbers")])),
            map_over: s(&["tokens"]),
            ..AsNode::default()
        })
        .unwrap();
    let outer = Pipeline::new([node]).unwrap().with_name("batch");
    let ok = outer
        .run(
            inputs! {"tokens" => vec!["1".to_string(), "22".to_string()]},
            None,
        )
        .unwrap();
    assert_eq!(ok.get::<Vec<i64>>("numbers"), Some(&vec![1, 22]));
    let err = outer
        .run(
            inputs! {"tokens" => vec!["1".to_string(), "x".to_string()]},
            None,
        )
        .unwrap_err();
    let Error::Node {
        node, path, source, ..
    } = err
    else {
        panic!("expected Error::Node, got {err:?}")
    };
    assert_eq!(node, "parse");
    assert_eq!(path, s(&["batch", "item"]));
    assert!(source.downcast_ref::<std::num::ParseIntError>().is_some());
}
