//! `bind` / `unbind` return new pipelines; `inputs()` and `outputs()` say what a pipeline needs and
//! gives.

mod common;

use common::{int, int_node, s, Counter};
use hypernodes::{inputs, value, AsNode, Error, MapMode, Pipeline};

fn calc(c: &Counter) -> Pipeline {
    Pipeline::new([
        int_node("sum", &["a", "b"], "total", c, |v| v[0] + v[1]),
        int_node("scale", &["total", "factor"], "scaled", c, |v| v[0] * v[1]),
    ])
    .unwrap()
    .with_name("calc")
}

fn kv(name: &str, v: i64) -> (String, hypernodes::Value) {
    (name.to_string(), value(v))
}

#[test]
fn inputs_and_outputs() {
    let c = Counter::new();
    let p = calc(&c);
    assert_eq!(p.inputs(), s(&["a", "b", "factor"]));
    assert_eq!(p.all_inputs(), s(&["a", "b", "factor"]));
    assert_eq!(p.outputs(), s(&["total", "scaled"]));
    assert_eq!(c.get(), 0, "asking does not run anything");
}

#[test]
fn bind_returns_a_new_pipeline_and_leaves_the_original_alone() {
    let c = Counter::new();
    let p = calc(&c);
    let bound = p.bind([kv("factor", 10)]).unwrap();
    assert_eq!(bound.inputs(), s(&["a", "b"]));
    assert_eq!(bound.all_inputs(), s(&["a", "b", "factor"]));
    assert_eq!(bound.outputs(), p.outputs());
    assert_eq!(bound.name(), "calc");
    assert_eq!(
        p.inputs(),
        s(&["a", "b", "factor"]),
        "the original is unchanged"
    );
    assert!(p.bound().is_empty());
    assert_eq!(bound.bound().keys().collect::<Vec<_>>(), ["factor"]);

    let out = bound
        .run(inputs! {"a" => 1_i64, "b" => 2_i64}, None)
        .unwrap();
    assert_eq!(int(&out, "scaled"), 30);
    let err = p
        .run(inputs! {"a" => 1_i64, "b" => 2_i64}, None)
        .unwrap_err();
    assert!(
        matches!(&err, Error::MissingInputs { missing, .. } if missing == &s(&["factor"])),
        "{err:?}"
    );
}

#[test]
fn run_inputs_override_bound_values() {
    let c = Counter::new();
    let bound = calc(&c).bind([kv("factor", 10), kv("b", 5)]).unwrap();
    let out = bound
        .run(inputs! {"a" => 1_i64, "factor" => 2_i64}, None)
        .unwrap();
    assert_eq!(int(&out, "scaled"), 12);
}

#[test]
fn bind_accumulates_and_rebinds() {
    let c = Counter::new();
    let p = calc(&c)
        .bind([kv("factor", 10)])
        .unwrap()
        .bind([kv("b", 1), kv("factor", 3)])
        .unwrap();
    assert_eq!(p.inputs(), s(&["a"]));
    assert_eq!(
        int(&p.run(inputs! {"a" => 1_i64}, None).unwrap(), "scaled"),
        6
    );
}

#[test]
fn unbind_removes_named_values_or_all() {
    let c = Counter::new();
    let bound = calc(&c).bind([kv("factor", 10), kv("b", 5)]).unwrap();
    let one = bound.unbind(&["b"]).unwrap();
    assert_eq!(one.inputs(), s(&["a", "b"]));
    assert_eq!(
        bound.inputs(),
        s(&["a"]),
        "unbind returns a new pipeline too"
    );
    let none = bound.unbind::<&str>(&[]).unwrap();
    assert_eq!(none.inputs(), s(&["a", "b", "factor"]));
    assert!(none.bound().is_empty());
    // Unbinding a name that is an input but not bound is fine.
    assert_eq!(
        calc(&c).unbind(&["a"]).unwrap().inputs(),
        s(&["a", "b", "factor"])
    );
}

#[test]
fn bind_and_unbind_reject_names_that_are_not_inputs() {
    let c = Counter::new();
    let p = calc(&c);
    for name in ["nope", "total"] {
        let err = p.bind([kv(name, 1)]).unwrap_err();
        let msg = err.to_string();
        match err {
            Error::UnknownInput {
                pipeline,
                name: n,
                available,
                ..
            } => {
                assert_eq!((pipeline.as_str(), n.as_str()), ("calc", name));
                assert_eq!(available, s(&["a", "b", "factor"]));
            }
            other => panic!("expected UnknownInput, got {other:?}"),
        }
        assert!(msg.contains(name) && msg.contains("factor"), "{msg}");
        assert!(matches!(p.unbind(&[name]), Err(Error::UnknownInput { .. })));
    }
}

#[test]
fn bound_values_are_broadcast_in_a_map() {
    let c = Counter::new();
    let p = calc(&c).bind([kv("factor", 100)]).unwrap();
    let results = p
        .map(
            inputs! {"a" => vec![1_i64, 2], "b" => vec![10_i64, 20]},
            &s(&["a", "b"]),
            MapMode::Zip,
            None,
        )
        .unwrap();
    let scaled: Vec<i64> = results.iter().map(|o| int(o, "scaled")).collect();
    assert_eq!(scaled, [1100, 2200]);
}

#[test]
fn selected_outputs_narrow_the_required_inputs_of_a_bound_pipeline() {
    let c = Counter::new();
    let p = calc(&c).bind([kv("a", 1)]).unwrap();
    let out = p.run(inputs! {"b" => 2_i64}, Some(&s(&["total"]))).unwrap();
    assert_eq!(int(&out, "total"), 3);
    assert_eq!(c.get(), 1);
}

#[test]
fn a_nested_pipeline_node_reports_its_inputs_and_outputs_through_the_outer_pipeline() {
    let c = Counter::new();
    let node = calc(&c)
        .bind([kv("factor", 2)])
        .unwrap()
        .as_node(AsNode {
            input_mapping: [("left".to_string(), "a".to_string())].into(),
            output_mapping: Some([("scaled".to_string(), "result".to_string())].into()),
            ..AsNode::default()
        })
        .unwrap();
    let outer = Pipeline::new([node]).unwrap();
    assert_eq!(outer.inputs(), s(&["b", "left"]));
    assert_eq!(outer.outputs(), s(&["result"]));
    let outer = outer.bind([kv("b", 4)]).unwrap();
    assert_eq!(outer.inputs(), s(&["left"]));
    assert_eq!(
        int(
            &outer.run(inputs! {"left" => 1_i64}, None).unwrap(),
            "result"
        ),
        10
    );
}
