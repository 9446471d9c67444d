//! Input types are checked before any node runs: a value given to `run`, `map`, `map_each` or `bind`
//! of another type than its node takes is an `Error::InputType` naming the input, the node, the type
//! taken and the type given; a root input taken as two types is an error of `Pipeline::new`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use hypernodes::{inputs, node, value, AsNode, Error, MapMode, Node, Pipeline};

static SLOW_CALLS: AtomicUsize = AtomicUsize::new(0);

#[node(output = "ready")]
fn warm_up(budget: i64) -> i64 {
    SLOW_CALLS.fetch_add(1, Ordering::SeqCst);
    budget
}

#[node(output = "files")]
fn list_files(dir: String, ready: i64) -> Vec<String> {
    SLOW_CALLS.fetch_add(1, Ordering::SeqCst);
    vec![format!("{dir}/{ready}")]
}

fn pipeline() -> Pipeline {
    Pipeline::new([warm_up::node(), list_files::node()])
        .unwrap()
        .with_name("logs")
}

fn expect_input_type(err: Error, want: (&str, &str, &str, &str, bool)) -> String {
    let msg = err.to_string();
    match err {
        Error::InputType {
            input,
            node,
            expected,
            given,
            mapped,
        } => {
            assert_eq!(
                (
                    input.as_str(),
                    node.as_str(),
                    expected.as_str(),
                    given.as_str(),
                    mapped
                ),
                want
            );
        }
        other => panic!("expected Error::InputType, got {other:?}"),
    }
    msg
}

// Tests share SLOW_CALLS: each runs alone (`serial`), and checks that its failing calls ran nothing.
static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

fn no_node_ran<T>(f: impl FnOnce() -> T) -> T {
    let before = SLOW_CALLS.load(Ordering::SeqCst);
    let out = f();
    assert_eq!(SLOW_CALLS.load(Ordering::SeqCst), before, "a node ran");
    out
}

#[test]
fn a_str_given_for_a_string_is_rejected_before_any_node_runs() {
    let _serial = serial();
    let err = no_node_ran(|| {
        pipeline()
            .run(inputs! {"dir" => "/var/log", "budget" => 1_i64}, None)
            .unwrap_err()
    });
    let msg = expect_input_type(err, ("dir", "list_files", "String", "&str", false));
    assert_eq!(msg, "input 'dir': node 'list_files' takes String, got &str");
}

#[test]
fn an_i32_given_for_an_i64_is_rejected_before_any_node_runs() {
    let err = no_node_ran(|| {
        pipeline()
            .run(
                inputs! {"dir" => "/var/log".to_string(), "budget" => 5},
                None,
            )
            .unwrap_err()
    });
    expect_input_type(err, ("budget", "warm_up", "i64", "i32", false));
}

#[test]
fn a_value_of_an_unnamed_type_still_names_the_expected_type() {
    let _serial = serial();
    #[derive(Clone)]
    struct Opaque;
    let err = no_node_ran(|| {
        pipeline()
            .run(inputs! {"dir" => Opaque, "budget" => 1_i64}, None)
            .unwrap_err()
    });
    let msg = expect_input_type(
        err,
        (
            "dir",
            "list_files",
            "String",
            "a value of another type",
            false,
        ),
    );
    assert!(msg.contains("takes String"), "{msg}");
}

#[test]
fn map_checks_mapped_lists_and_broadcast_values() {
    let _serial = serial();
    let mapped = ["dir".to_string()];
    let err = no_node_ran(|| {
        pipeline()
            .map(
                inputs! {"dir" => vec!["/a", "/b"], "budget" => 1_i64},
                &mapped,
                MapMode::Zip,
                None,
            )
            .unwrap_err()
    });
    let msg = expect_input_type(err, ("dir", "list_files", "String", "Vec<&str>", true));
    assert!(msg.contains("give a Vec<String>"), "{msg}");
    let err = no_node_ran(|| {
        pipeline()
            .map_each(
                inputs! {"dir" => vec!["/a".to_string()], "budget" => 1_u64},
                &mapped,
                MapMode::Zip,
                None,
            )
            .unwrap_err()
    });
    expect_input_type(err, ("budget", "warm_up", "i64", "u64", false));
    // the right types run
    let out = pipeline()
        .map(
            inputs! {"dir" => vec!["/a".to_string()], "budget" => 2_i64},
            &mapped,
            MapMode::Zip,
            None,
        )
        .unwrap();
    assert_eq!(
        out[0].get::<Vec<String>>("files"),
        Some(&vec!["/a/2".to_string()])
    );
}

#[test]
fn bind_checks_the_type_of_the_bound_value() {
    let _serial = serial();
    let err = pipeline()
        .bind([("budget".to_string(), value(1.5_f64))])
        .unwrap_err();
    expect_input_type(err, ("budget", "warm_up", "i64", "f64", false));
    let bound = pipeline()
        .bind([("budget".to_string(), value(3_i64))])
        .unwrap();
    let out = bound
        .run(inputs! {"dir" => "/x".to_string()}, None)
        .unwrap();
    assert_eq!(
        out.get::<Vec<String>>("files"),
        Some(&vec!["/x/3".to_string()])
    );
}

#[test]
fn an_output_given_to_skip_its_producer_is_checked_against_the_producer() {
    let _serial = serial();
    let err = no_node_ran(|| {
        pipeline()
            .run(
                inputs! {"dir" => "/x".to_string(), "budget" => 1_i64, "ready" => "soon"},
                None,
            )
            .unwrap_err()
    });
    expect_input_type(err, ("ready", "warm_up", "i64", "&str", false));
}

#[test]
fn an_input_of_a_nested_pipeline_is_checked_from_the_outer_run() {
    let _serial = serial();
    let outer = Pipeline::new([pipeline().as_node(AsNode::default()).unwrap()])
        .unwrap()
        .with_name("logs");
    let err = no_node_ran(|| {
        outer
            .run(inputs! {"dir" => 7_i64, "budget" => 1_i64}, None)
            .unwrap_err()
    });
    expect_input_type(err, ("dir", "logs", "String", "i64", false));
}

#[test]
fn a_root_input_taken_as_two_types_fails_at_build_naming_both_nodes() {
    let _serial = serial();
    #[node(output = "as_small")]
    fn small(n: i32) -> i32 {
        n
    }
    #[node(output = "as_big")]
    fn big(n: i64) -> i64 {
        n
    }
    let err = Pipeline::new([small::node(), big::node()]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "input 'n' is taken as i64 by node 'big' but as i32 by node 'small'"
    );
    let Error::InputTypeConflict(c) = &err else {
        panic!("{err:?}")
    };
    assert_eq!((c.first.as_str(), c.second.as_str()), ("big", "small"));
}

#[test]
fn untyped_ports_accept_any_value() {
    let _serial = serial();
    let echo = Node::new(
        "echo",
        vec![hypernodes::Port::new("x", Arc::new(hypernodes::AnyType))],
        vec![hypernodes::Port::new("y", Arc::new(hypernodes::AnyType))],
        |a: Vec<hypernodes::Value>| -> Result<Vec<hypernodes::Value>, hypernodes::BoxError> {
            Ok(a)
        },
    )
    .unwrap();
    let p = Pipeline::new([echo]).unwrap();
    let out = p.run(inputs! {"x" => "anything"}, None).unwrap();
    assert_eq!(out.get::<&str>("y"), Some(&"anything"));
}
