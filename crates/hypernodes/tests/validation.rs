//! Building a pipeline: any node order, and the errors caught at construction (two producers of one
//! name, cycles, type mismatches between producer and consumer, invalid nodes).

mod common;

use std::collections::{BTreeSet, HashMap};

use common::{int, int_node, s, Counter};
use hypernodes::{inputs, node, value, BoxError, Error, Node, Pipeline, Port, Typed, Value};

#[node(output = "n")]
fn count_words(text: String) -> usize {
    text.split_whitespace().count()
}

#[node(output = "report")]
fn report_i64(n: i64) -> String {
    format!("{n} words")
}

#[node(output = "report")]
fn report_usize(n: usize) -> String {
    format!("{n} words")
}

fn chain(c: &Counter) -> Vec<Node> {
    vec![
        int_node("a", &["x"], "a_out", c, |v| v[0] + 1),
        int_node("b", &["a_out"], "b_out", c, |v| v[0] * 10),
        int_node("c", &["b_out", "x"], "c_out", c, |v| v[0] - v[1]),
    ]
}

#[test]
fn nodes_in_any_order_build_the_same_pipeline() {
    let c = Counter::new();
    let forward = Pipeline::new(chain(&c)).unwrap();
    let mut reversed_nodes = chain(&c);
    reversed_nodes.reverse();
    let reversed = Pipeline::new(reversed_nodes).unwrap();
    let shuffled = {
        let n = chain(&c);
        Pipeline::new([n[1].clone(), n[2].clone(), n[0].clone()]).unwrap()
    };
    for p in [&forward, &reversed, &shuffled] {
        assert_eq!(
            p.nodes().iter().map(Node::name).collect::<Vec<_>>(),
            ["a", "b", "c"]
        );
        assert_eq!(p.inputs(), s(&["x"]));
        assert_eq!(p.outputs(), s(&["a_out", "b_out", "c_out"]));
        let out = p.run(inputs! {"x" => 2_i64}, None).unwrap();
        assert_eq!(int(&out, "c_out"), 28);
    }
    assert_eq!(
        forward.name(),
        reversed.name(),
        "the default name does not depend on node order"
    );
    assert_eq!(c.get(), 9);
}

#[test]
fn two_producers_of_one_name_is_an_error_naming_both_nodes() {
    let c = Counter::new();
    let err = Pipeline::new([
        int_node("first", &["x"], "y", &c, |v| v[0]),
        int_node("second", &["z"], "y", &c, |v| v[0]),
        int_node("user", &["y"], "w", &c, |v| v[0]),
    ])
    .unwrap_err();
    let msg = err.to_string();
    match err {
        Error::DuplicateOutput {
            output,
            first,
            second,
        } => {
            assert_eq!(output, "y");
            let both: BTreeSet<String> = [first, second].into();
            assert_eq!(
                both,
                BTreeSet::from(["first".to_string(), "second".to_string()])
            );
        }
        other => panic!("expected DuplicateOutput, got {other:?}"),
    }
    assert!(
        msg.contains("'first'") && msg.contains("'second'") && msg.contains("'y'"),
        "{msg}"
    );
}

#[test]
fn duplicate_output_between_a_tuple_node_and_a_single_node() {
    #[node(outputs = ("lo", "hi"))]
    fn span(x: i64) -> (i64, i64) {
        (x - 1, x + 1)
    }
    let c = Counter::new();
    let err = Pipeline::new([
        span::node(),
        int_node("other_hi", &["x"], "hi", &c, |v| v[0]),
    ])
    .unwrap_err();
    assert!(
        matches!(&err, Error::DuplicateOutput { output, .. } if output == "hi"),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(msg.contains("span") && msg.contains("other_hi"), "{msg}");
}

#[test]
fn two_nodes_with_one_name_is_an_error() {
    let c = Counter::new();
    let err = Pipeline::new([
        int_node("same", &["x"], "y1", &c, |v| v[0]),
        int_node("same", &["x"], "y2", &c, |v| v[0]),
    ])
    .unwrap_err();
    assert!(
        matches!(&err, Error::DuplicateNode(n) if n == "same"),
        "{err:?}"
    );
}

/// Checks that `cycle` is closed and that each step follows a real edge (the next node consumes an
/// output of the previous one).
fn assert_is_cycle(cycle: &[String], edges: &HashMap<&str, Vec<&str>>) {
    assert!(cycle.len() >= 2, "{cycle:?}");
    assert_eq!(
        cycle.first(),
        cycle.last(),
        "a cycle ends where it starts: {cycle:?}"
    );
    for w in cycle.windows(2) {
        assert!(
            edges
                .get(w[0].as_str())
                .is_some_and(|d| d.contains(&w[1].as_str())),
            "{} -> {} is not an edge; cycle {cycle:?}",
            w[0],
            w[1]
        );
    }
}

#[test]
fn a_cycle_is_an_error_showing_the_cycle() {
    let c = Counter::new();
    let err = Pipeline::new([
        int_node("a", &["x", "c_out"], "a_out", &c, |v| v[0]),
        int_node("b", &["a_out"], "b_out", &c, |v| v[0]),
        int_node("c", &["b_out"], "c_out", &c, |v| v[0]),
        int_node("free", &["x"], "free_out", &c, |v| v[0]),
    ])
    .unwrap_err();
    let msg = err.to_string();
    let Error::Cycle { cycle } = err else {
        panic!("expected Cycle, got {err:?}")
    };
    let edges = HashMap::from([("a", vec!["b"]), ("b", vec!["c"]), ("c", vec!["a"])]);
    assert_is_cycle(&cycle, &edges);
    assert_eq!(cycle.len(), 4, "{cycle:?}");
    assert!(!cycle.contains(&"free".to_string()), "{cycle:?}");
    assert!(msg.contains(&cycle.join(" -> ")), "{msg}");
}

#[test]
fn a_cycle_downstream_of_healthy_nodes_is_found() {
    let c = Counter::new();
    // start -> p -> q -> r -> p, and an acyclic tail after r.
    let err = Pipeline::new([
        int_node("start", &["x"], "s", &c, |v| v[0]),
        int_node("p", &["s", "r_out"], "p_out", &c, |v| v[0]),
        int_node("q", &["p_out"], "q_out", &c, |v| v[0]),
        int_node("r", &["q_out"], "r_out", &c, |v| v[0]),
        int_node("tail", &["r_out"], "t", &c, |v| v[0]),
    ])
    .unwrap_err();
    let Error::Cycle { cycle } = err else {
        panic!("expected Cycle, got {err:?}")
    };
    let edges = HashMap::from([
        ("start", vec!["p"]),
        ("p", vec!["q"]),
        ("q", vec!["r"]),
        ("r", vec!["p", "tail"]),
    ]);
    assert_is_cycle(&cycle, &edges);
    let members: BTreeSet<&str> = cycle.iter().map(String::as_str).collect();
    assert_eq!(members, BTreeSet::from(["p", "q", "r"]));
}

#[test]
fn a_node_consuming_its_own_output_is_a_cycle() {
    let c = Counter::new();
    let err = Pipeline::new([int_node("selfish", &["y"], "y", &c, |v| v[0])]).unwrap_err();
    match err {
        Error::Cycle { cycle } => assert_eq!(cycle, s(&["selfish", "selfish"])),
        other => panic!("expected Cycle, got {other:?}"),
    }
}

#[test]
fn a_type_mismatch_is_caught_at_build_naming_both_nodes_and_types() {
    let err = Pipeline::new([count_words::node(), report_i64::node()]).unwrap_err();
    let msg = err.to_string();
    match err {
        Error::TypeMismatch {
            value,
            producer,
            produced,
            consumer,
            expected,
        } => {
            assert_eq!(value, "n");
            assert_eq!(producer, "count_words");
            assert_eq!(consumer, "report_i64");
            assert!(produced.contains("usize"), "{produced}");
            assert!(expected.contains("i64"), "{expected}");
        }
        other => panic!("expected TypeMismatch, got {other:?}"),
    }
    for part in ["count_words", "report_i64", "usize", "i64"] {
        assert!(msg.contains(part), "'{part}' missing from: {msg}");
    }
    // The same producer with a consumer of the right type builds and runs.
    let ok = Pipeline::new([count_words::node(), report_usize::node()]).unwrap();
    let out = ok
        .run(inputs! {"text" => "a b c".to_string()}, None)
        .unwrap();
    assert_eq!(out.get::<String>("report").unwrap(), "3 words");
}

#[test]
fn a_type_mismatch_with_hand_built_nodes() {
    let producer = Node::new(
        "make",
        vec![],
        vec![Port::new("v", Typed::<String>::arc())],
        |_: Vec<Value>| -> Result<Vec<Value>, BoxError> { Ok(vec![value(String::from("x"))]) },
    )
    .unwrap();
    let c = Counter::new();
    let consumer = int_node("take", &["v"], "w", &c, |v| v[0]);
    let err = Pipeline::new([consumer, producer]).unwrap_err();
    assert!(
        matches!(&err, Error::TypeMismatch { producer, consumer, .. } if producer == "make" && consumer == "take"),
        "{err:?}"
    );
}

#[test]
fn untyped_ports_are_not_type_checked() {
    let producer = Node::new(
        "make",
        vec![],
        vec![Port::new("v", std::sync::Arc::new(hypernodes::AnyType))],
        |_: Vec<Value>| -> Result<Vec<Value>, BoxError> { Ok(vec![value(5_i64)]) },
    )
    .unwrap();
    let c = Counter::new();
    let p = Pipeline::new([producer, int_node("take", &["v"], "w", &c, |v| v[0] + 1)]).unwrap();
    assert_eq!(int(&p.run(inputs! {}, None).unwrap(), "w"), 6);
}

#[test]
fn invalid_nodes_are_rejected_when_built() {
    let f = |_: Vec<Value>| -> Result<Vec<Value>, BoxError> { Ok(vec![]) };
    let no_outputs = Node::new("none", vec![], vec![], f).unwrap_err();
    assert!(
        matches!(&no_outputs, Error::Config(m) if m.contains("none")),
        "{no_outputs:?}"
    );
    let twice = Node::new(
        "twice",
        vec![],
        vec![
            Port::new("o", Typed::<i64>::arc()),
            Port::new("o", Typed::<i64>::arc()),
        ],
        f,
    )
    .unwrap_err();
    assert!(
        matches!(&twice, Error::Config(m) if m.contains("twice") && m.contains("'o'")),
        "{twice:?}"
    );
    let unnamed = Node::new("", vec![], vec![Port::new("o", Typed::<i64>::arc())], f).unwrap_err();
    assert!(matches!(unnamed, Error::Config(_)));
}

#[test]
fn an_empty_pipeline_runs_to_nothing() {
    let p = Pipeline::new(Vec::<Node>::new()).unwrap();
    assert!(p.inputs().is_empty() && p.outputs().is_empty());
    assert!(p.run(inputs! {}, None).unwrap().is_empty());
    // it has no inputs: a given name is unknown
    let err = p.run(inputs! {"x" => 1_i64}, None).unwrap_err();
    assert!(
        matches!(&err, Error::UnknownInput { name, .. } if name == "x"),
        "{err:?}"
    );
}
