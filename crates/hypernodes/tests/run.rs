//! `Pipeline::run`: every output or a selection (running only what it needs), required inputs,
//! missing and unknown names, extra inputs, arity errors, node errors, and the order of ready nodes.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};

use common::{int, int_node, logging_node, s, Counter, Recorder};
use hypernodes::{
    inputs, node, value, BoxError, Error, Mode, Node, NodeExecutor, Pipeline, Port, Typed, Value,
};

/// x -> a -> b -> c, and a side branch w -> d.
fn diamond(c: &Counter) -> Pipeline {
    Pipeline::new([
        int_node("a", &["x"], "a_out", c, |v| v[0] + 1),
        int_node("b", &["a_out"], "b_out", c, |v| v[0] * 2),
        int_node("c", &["b_out", "a_out"], "c_out", c, |v| v[0] + v[1]),
        int_node("d", &["w"], "d_out", c, |v| -v[0]),
    ])
    .unwrap()
}

#[test]
fn run_returns_every_output_including_intermediates() {
    let c = Counter::new();
    let p = diamond(&c);
    let out = p.run(inputs! {"x" => 1_i64, "w" => 5_i64}, None).unwrap();
    assert_eq!(
        out.names().collect::<Vec<_>>(),
        ["a_out", "b_out", "c_out", "d_out"]
    );
    assert_eq!(
        [
            int(&out, "a_out"),
            int(&out, "b_out"),
            int(&out, "c_out"),
            int(&out, "d_out")
        ],
        [2, 4, 6, -5]
    );
    assert_eq!(c.get(), 4, "each node runs once");
}

#[test]
fn selected_outputs_run_only_what_they_need() {
    let c = Counter::new();
    let p = diamond(&c);
    let out = p
        .run(inputs! {"x" => 1_i64, "w" => 5_i64}, Some(&s(&["b_out"])))
        .unwrap();
    assert_eq!(out.names().collect::<Vec<_>>(), ["b_out"]);
    assert_eq!(int(&out, "b_out"), 4);
    assert_eq!(c.get(), 2, "only a and b run");

    let c = Counter::new();
    let p = diamond(&c);
    let out = p.run(inputs! {"w" => 5_i64}, Some(&s(&["d_out"]))).unwrap();
    assert_eq!(int(&out, "d_out"), -5);
    assert_eq!(c.get(), 1, "only d runs");
}

#[test]
fn several_selected_outputs_come_back_in_the_requested_order() {
    let c = Counter::new();
    let p = diamond(&c);
    let out = p
        .run(
            inputs! {"x" => 1_i64, "w" => 5_i64},
            Some(&s(&["d_out", "a_out"])),
        )
        .unwrap();
    assert_eq!(out.names().collect::<Vec<_>>(), ["d_out", "a_out"]);
    assert_eq!(c.get(), 2);
}

static STAGE_CALLS: [AtomicUsize; 3] = [
    AtomicUsize::new(0),
    AtomicUsize::new(0),
    AtomicUsize::new(0),
];

#[node(output = "parsed")]
fn stage_parse(raw: String) -> Vec<i64> {
    STAGE_CALLS[0].fetch_add(1, Ordering::SeqCst);
    raw.split(',').map(|t| t.trim().parse().unwrap()).collect()
}

#[node(output = "total")]
fn stage_total(parsed: Vec<i64>) -> i64 {
    STAGE_CALLS[1].fetch_add(1, Ordering::SeqCst);
    parsed.iter().sum()
}

#[node(output = "biggest")]
fn stage_max(parsed: Vec<i64>) -> i64 {
    STAGE_CALLS[2].fetch_add(1, Ordering::SeqCst);
    parsed.iter().copied().max().unwrap_or_default()
}

#[test]
fn selected_outputs_with_macro_nodes_skip_unneeded_nodes() {
    let p = Pipeline::new([stage_max::node(), stage_total::node(), stage_parse::node()]).unwrap();
    let out = p
        .run(
            inputs! {"raw" => "1, 5, 3".to_string()},
            Some(&s(&["total"])),
        )
        .unwrap();
    assert_eq!(out.get::<i64>("total"), Some(&9));
    assert!(
        out.get::<Vec<i64>>("parsed").is_none(),
        "intermediates are not returned when not selected"
    );
    let calls: Vec<usize> = STAGE_CALLS
        .iter()
        .map(|c| c.load(Ordering::SeqCst))
        .collect();
    assert_eq!(calls, [1, 1, 0]);
}

#[test]
fn only_the_inputs_the_selection_needs_are_required() {
    let c = Counter::new();
    let p = diamond(&c);
    // "w" is only needed by d, "x" only by a, b, c.
    assert_eq!(
        int(
            &p.run(inputs! {"x" => 1_i64}, Some(&s(&["c_out"]))).unwrap(),
            "c_out"
        ),
        6
    );
    let err = p.run(inputs! {"x" => 1_i64}, None).unwrap_err();
    assert!(
        matches!(&err, Error::MissingInputs { missing, .. } if missing == &s(&["w"])),
        "{err:?}"
    );
}

#[test]
fn missing_inputs_are_all_listed() {
    let c = Counter::new();
    let p = diamond(&c).with_name("diamond");
    let err = p.run(inputs! {}, None).unwrap_err();
    let msg = err.to_string();
    match err {
        Error::MissingInputs {
            pipeline, missing, ..
        } => {
            assert_eq!(pipeline, "diamond");
            assert_eq!(missing, s(&["w", "x"]));
        }
        other => panic!("expected MissingInputs, got {other:?}"),
    }
    assert_eq!(
        msg,
        "Missing required input(s) of pipeline 'diamond': w (needed by node 'd'), \
         x (needed by node 'a')"
    );
    assert_eq!(c.get(), 0, "nothing runs when inputs are missing");
}

#[test]
fn an_unknown_output_lists_the_available_ones() {
    let c = Counter::new();
    let p = diamond(&c);
    let err = p
        .run(
            inputs! {"x" => 1_i64, "w" => 1_i64},
            Some(&s(&["b_out", "nope"])),
        )
        .unwrap_err();
    let msg = err.to_string();
    match err {
        Error::UnknownOutput {
            requested,
            available,
            ..
        } => {
            assert_eq!(requested, "nope");
            assert_eq!(available, s(&["a_out", "b_out", "c_out", "d_out"]));
        }
        other => panic!("expected UnknownOutput, got {other:?}"),
    }
    for name in ["nope", "a_out", "b_out", "c_out", "d_out"] {
        assert!(msg.contains(name), "'{name}' missing from: {msg}");
    }
    assert_eq!(c.get(), 0);
}

#[test]
fn an_input_name_is_not_a_selectable_output() {
    let c = Counter::new();
    let err = diamond(&c)
        .run(inputs! {"x" => 1_i64}, Some(&s(&["x"])))
        .unwrap_err();
    assert!(
        matches!(&err, Error::UnknownOutput { requested, .. } if requested == "x"),
        "{err:?}"
    );
}

#[test]
fn extra_inputs_are_an_error_unless_dropped_with_retain_known() {
    let c = Counter::new();
    let p = diamond(&c);
    let mut given = inputs! {"x" => 1_i64, "w" => 2_i64, "unused" => "anything".to_string(), "more" => vec![1u8]};
    let err = p.run(given.clone(), None).unwrap_err();
    assert!(
        matches!(&err, Error::UnknownInput { name, .. } if name == "more"),
        "{err:?}"
    );
    assert_eq!(c.get(), 0);
    assert_eq!(p.retain_known(&mut given), s(&["more", "unused"]));
    let out = p.run(given, None).unwrap();
    assert_eq!(out.len(), 4);
    assert!(out.value("unused").is_none() && out.value("more").is_none());
}

#[test]
fn given_values_for_intermediate_names_do_not_replace_computed_ones() {
    let c = Counter::new();
    let p = diamond(&c);
    let out = p
        .run(
            inputs! {"x" => 1_i64, "w" => 2_i64, "a_out" => 1000_i64},
            None,
        )
        .unwrap();
    assert_eq!(int(&out, "a_out"), 2);
    assert_eq!(c.get(), 4);
}

fn wrong_arity_node(returned: usize) -> Node {
    Node::new(
        "splitter",
        vec![Port::new("x", Typed::<i64>::arc())],
        vec![
            Port::new("left", Typed::<i64>::arc()),
            Port::new("right", Typed::<i64>::arc()),
        ],
        move |args: Vec<Value>| -> Result<Vec<Value>, BoxError> {
            let x = *args[0].downcast_ref::<i64>().unwrap();
            Ok((0..returned).map(|i| value(x + i as i64)).collect())
        },
    )
    .unwrap()
}

#[test]
fn returning_the_wrong_number_of_values_is_an_error_naming_the_node() {
    for returned in [1, 3, 0] {
        let c = Counter::new();
        let p = Pipeline::new([
            wrong_arity_node(returned),
            int_node("after", &["left"], "y", &c, |v| v[0]),
        ])
        .unwrap();
        let err = p.run(inputs! {"x" => 1_i64}, None).unwrap_err();
        let msg = err.to_string();
        match err {
            Error::Arity {
                node,
                outputs,
                expected,
                got,
            } => {
                assert_eq!(node, "splitter");
                assert_eq!(outputs, s(&["left", "right"]));
                assert_eq!((expected, got), (2, returned));
            }
            other => panic!("expected Arity, got {other:?}"),
        }
        assert!(msg.contains("splitter"), "{msg}");
        assert_eq!(c.get(), 0, "nodes downstream of the failure do not run");
    }
    // The right number is fine.
    let p = Pipeline::new([wrong_arity_node(2)]).unwrap();
    let out = p.run(inputs! {"x" => 1_i64}, None).unwrap();
    assert_eq!((int(&out, "left"), int(&out, "right")), (1, 2));
}

#[derive(Debug)]
struct Refused {
    code: u32,
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "refused with code {}", self.code)
    }
}

impl std::error::Error for Refused {}

#[node(output = "accepted")]
fn gatekeeper(a_out: i64) -> Result<i64, Refused> {
    if a_out > 5 {
        Err(Refused { code: a_out as u32 })
    } else {
        Ok(a_out)
    }
}

#[test]
fn a_node_error_carries_the_node_the_path_and_the_source() {
    let c = Counter::new();
    let after = int_node("after", &["accepted"], "z", &c, |v| v[0]);
    let p = Pipeline::new([
        int_node("a", &["x"], "a_out", &c, |v| v[0] + 1),
        gatekeeper::node(),
        after,
    ])
    .unwrap()
    .with_name("gate");
    assert_eq!(int(&p.run(inputs! {"x" => 1_i64}, None).unwrap(), "z"), 2);
    let before = c.get();
    let err = p.run(inputs! {"x" => 9_i64}, None).unwrap_err();
    assert_eq!(c.get() - before, 1, "only 'a' ran; 'after' did not");
    let msg = err.to_string();
    let Error::Node {
        node, path, source, ..
    } = err
    else {
        panic!("expected Error::Node, got {err:?}")
    };
    assert_eq!(node, "gatekeeper");
    assert_eq!(path, s(&["gate"]));
    let refused = source
        .downcast_ref::<Refused>()
        .expect("the original error type");
    assert_eq!(refused.code, 10);
    assert!(
        msg.contains("refused with code 10") && msg.contains("gatekeeper") && msg.contains("gate")
    );
}

#[test]
fn a_hand_built_node_error_is_wrapped_too() {
    let failing = Node::new(
        "boom",
        vec![Port::new("x", Typed::<i64>::arc())],
        vec![Port::new("y", Typed::<i64>::arc())],
        |_: Vec<Value>| -> Result<Vec<Value>, BoxError> { Err("kaboom".into()) },
    )
    .unwrap();
    let p = Pipeline::new([failing]).unwrap();
    let err = p.run(inputs! {"x" => 1_i64}, None).unwrap_err();
    assert!(
        matches!(&err, Error::Node { node, path, .. } if node == "boom" && path == &[p.name().to_string()])
    );
    assert_eq!(err.node_source().unwrap().to_string(), "kaboom");
}

#[test]
fn ready_nodes_run_in_name_order_whatever_the_insertion_order() {
    let log = Recorder::new();
    // b and c are ready at the start; a needs b. Among ready nodes the smallest name runs first:
    // b (a is not ready yet), then a (now ready, before c), then c.
    let build = |order: [usize; 3]| {
        let nodes = [
            logging_node("a", &["b_out"], "a_out", &log),
            logging_node("b", &["x"], "b_out", &log),
            logging_node("c", &["x"], "c_out", &log),
        ];
        Pipeline::new(order.map(|i| nodes[i].clone())).unwrap()
    };
    for order in [[0, 1, 2], [2, 1, 0], [1, 2, 0], [2, 0, 1]] {
        let p = build(order);
        for _ in 0..2 {
            p.run(inputs! {"x" => 1_i64}, None).unwrap();
            assert_eq!(log.take(), s(&["b", "a", "c"]), "insertion order {order:?}");
        }
    }
}

#[test]
fn independent_nodes_run_alphabetically() {
    let log = Recorder::new();
    let names = ["zeta", "alpha", "mid", "beta", "omega"];
    let nodes: Vec<Node> = names
        .iter()
        .map(|n| logging_node(n, &["x"], &format!("{n}_out"), &log))
        .collect();
    let p = Pipeline::new(nodes).unwrap();
    let out = p.run(inputs! {"x" => 1_i64}, None).unwrap();
    assert_eq!(log.take(), s(&["alpha", "beta", "mid", "omega", "zeta"]));
    assert_eq!(
        out.names().collect::<Vec<_>>(),
        ["alpha_out", "beta_out", "mid_out", "omega_out", "zeta_out"]
    );
}

#[test]
fn an_explicit_sequential_executor_runs_the_same() {
    let c = Counter::new();
    let exec = NodeExecutor::new(Mode::Sequential, Mode::Sequential, None).unwrap();
    let p = diamond(&c).with_executor(Some(std::sync::Arc::new(exec)));
    let out = p.run(inputs! {"x" => 1_i64, "w" => 5_i64}, None).unwrap();
    assert_eq!(int(&out, "c_out"), 6);
    assert!(NodeExecutor::new(Mode::Sequential, Mode::Sequential, Some(0)).is_err());
    assert!(matches!("bogus".parse::<Mode>(), Err(Error::Config(m)) if m.contains("bogus")));
}

#[test]
fn pipelines_are_reusable_and_runs_are_independent() {
    let c = Counter::new();
    let p = diamond(&c);
    let first = p.run(inputs! {"x" => 1_i64, "w" => 1_i64}, None).unwrap();
    let second = p.run(inputs! {"x" => 10_i64, "w" => 1_i64}, None).unwrap();
    assert_eq!((int(&first, "c_out"), int(&second, "c_out")), (6, 33));
}
