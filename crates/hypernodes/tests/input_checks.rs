//! The names given to `run` and `map` are checked before anything runs: an unknown name fails
//! with the closest input suggested, and a missing input names the nodes that need it.

mod common;

use common::{int, int_node, s, Counter};
use hypernodes::{inputs, Error, Executor, MapMode, MissingInput, NodeExecutor, Pipeline};

/// `search(query, index, top_k=5)`-like: two inputs and an input with a default.
fn search(c: &Counter) -> Pipeline {
    let mut top = int_node("rank", &["query", "index", "top_k"], "hits", c, |v| {
        v[0] + v[1] + v[2]
    });
    // top_k gets a default, as a Python parameter `top_k=5` would
    top = hypernodes::Node::new(
        top.name(),
        vec![
            top.params()[0].clone(),
            top.params()[1].clone(),
            top.params()[2].clone().with_default(hypernodes::value(5_i64)),
        ],
        top.outputs().to_vec(),
        {
            let c = c.clone();
            move |a: Vec<hypernodes::Value>| -> Result<Vec<hypernodes::Value>, hypernodes::BoxError> {
                c.bump();
                let x: i64 = a.iter().map(|v| *v.downcast_ref::<i64>().unwrap()).sum();
                Ok(vec![hypernodes::value(x)])
            }
        },
    )
    .unwrap();
    Pipeline::new([top]).unwrap().with_name("search")
}

#[test]
fn a_mistyped_input_name_is_an_error_with_a_suggestion_not_a_silent_default() {
    let c = Counter::new();
    let p = search(&c);
    let err = p
        .run(
            inputs! {"query" => 1_i64, "index" => 2_i64, "topk" => 3_i64},
            None,
        )
        .unwrap_err();
    let msg = err.to_string();
    match &err {
        Error::UnknownInput {
            pipeline,
            name,
            available,
            suggestion,
        } => {
            assert_eq!(pipeline, "search");
            assert_eq!(name, "topk");
            assert_eq!(available, &s(&["index", "query", "top_k"]));
            assert_eq!(suggestion.as_deref(), Some("top_k"));
        }
        other => panic!("expected UnknownInput, got {other:?}"),
    }
    assert!(msg.contains("did you mean 'top_k'?"), "{msg}");
    assert!(msg.contains("its inputs are: index, query, top_k"), "{msg}");
    assert_eq!(c.get(), 0, "nothing ran");
    // the same check in map and through an executor called directly
    let err = p
        .map(
            inputs! {"query" => vec![1_i64], "index" => 2_i64, "topk" => 3_i64},
            &s(&["query"]),
            MapMode::Zip,
            None,
        )
        .unwrap_err();
    assert!(
        matches!(&err, Error::UnknownInput { name, .. } if name == "topk"),
        "{err:?}"
    );
    let err = NodeExecutor::default()
        .run(
            &p,
            inputs! {"query" => 1_i64, "index" => 2_i64, "topk" => 3_i64},
            None,
        )
        .unwrap_err();
    assert!(
        matches!(&err, Error::UnknownInput { name, .. } if name == "topk"),
        "{err:?}"
    );
    assert_eq!(c.get(), 0);
}

#[test]
fn an_unrelated_unknown_name_gets_no_suggestion_and_outputs_may_be_given() {
    let c = Counter::new();
    let p = search(&c);
    let err = p
        .run(
            inputs! {"query" => 1_i64, "index" => 2_i64, "zebra" => 0_i64},
            None,
        )
        .unwrap_err();
    assert!(
        matches!(&err, Error::UnknownInput { name, suggestion: None, .. } if name == "zebra"),
        "{err:?}"
    );
    assert!(!err.to_string().contains("did you mean"), "{err}");
    // a name that is an output of the pipeline is not unknown
    let out = p
        .run(
            inputs! {"query" => 1_i64, "index" => 2_i64, "hits" => 0_i64},
            None,
        )
        .unwrap();
    assert_eq!(int(&out, "hits"), 8);
}

#[test]
fn retain_known_drops_only_foreign_names() {
    let c = Counter::new();
    let p = search(&c);
    let mut given = inputs! {"query" => 1_i64, "index" => 2_i64, "other" => 9_i64, "hits" => 0_i64};
    assert_eq!(p.retain_known(&mut given), s(&["other"]));
    let mut keys: Vec<&String> = given.keys().collect();
    keys.sort();
    assert_eq!(keys, ["hits", "index", "query"]);
    assert!(p.check_inputs(&given, None, &[], false).is_ok());
}

#[test]
fn a_missing_input_names_its_nodes_and_a_close_given_name() {
    let c = Counter::new();
    let p = search(&c);
    // "indx" is unknown; with the unknown check off, the missing "index" suggests it
    let given = inputs! {"query" => 1_i64, "indx" => 2_i64};
    let err = p.check_inputs(&given, None, &[], true).unwrap_err();
    let msg = err.to_string();
    match &err {
        Error::MissingInputs {
            pipeline,
            missing,
            details,
        } => {
            assert_eq!(pipeline, "search");
            assert_eq!(missing, &s(&["index"]));
            assert_eq!(
                details,
                &[MissingInput {
                    needed_by: s(&["rank"]),
                    suggestion: Some(("indx".into(), None)),
                }]
            );
        }
        other => panic!("expected MissingInputs, got {other:?}"),
    }
    assert!(
        msg.starts_with("Missing required input(s) of pipeline 'search'"),
        "{msg}"
    );
    assert!(
        msg.contains("index (needed by node 'rank'; did you mean the given 'indx'?)"),
        "{msg}"
    );
}

#[test]
fn a_typo_in_a_parameter_name_points_at_the_output_it_meant() {
    let c = Counter::new();
    let p = Pipeline::new([
        int_node("clean", &["text"], "cleaned", &c, |v| v[0]),
        int_node("count", &["claened"], "n", &c, |v| v[0] + 1),
    ])
    .unwrap()
    .with_name("text");
    assert_eq!(p.inputs(), s(&["claened", "text"]));
    let err = p.run(inputs! {"text" => 1_i64}, None).unwrap_err();
    let msg = err.to_string();
    match &err {
        Error::MissingInputs {
            missing, details, ..
        } => {
            assert_eq!(missing, &s(&["claened"]));
            assert_eq!(details[0].needed_by, s(&["count"]));
            assert_eq!(
                details[0].suggestion,
                Some(("cleaned".to_string(), Some("clean".to_string())))
            );
        }
        other => panic!("expected MissingInputs, got {other:?}"),
    }
    assert!(
        msg.contains(
            "claened (needed by node 'count'; did you mean 'cleaned', the output of node 'clean'?"
        ),
        "{msg}"
    );
    assert_eq!(c.get(), 0, "nothing ran");
}

#[test]
fn only_nodes_of_the_selected_part_are_named() {
    let c = Counter::new();
    let p = Pipeline::new([
        int_node("a", &["x"], "a_out", &c, |v| v[0]),
        int_node("b", &["x", "y"], "b_out", &c, |v| v[0] + v[1]),
    ])
    .unwrap()
    .with_name("two");
    let err = p.run(inputs! {}, Some(&s(&["a_out"]))).unwrap_err();
    match &err {
        Error::MissingInputs {
            missing, details, ..
        } => {
            assert_eq!(missing, &s(&["x"]));
            assert_eq!(details[0].needed_by, s(&["a"]));
        }
        other => panic!("expected MissingInputs, got {other:?}"),
    }
    let err = p.run(inputs! {}, None).unwrap_err();
    assert!(
        err.to_string()
            .contains("x (needed by nodes 'a', 'b'), y (needed by node 'b')"),
        "{err}"
    );
}

#[test]
fn bind_and_unbind_suggest_too() {
    let c = Counter::new();
    let p = search(&c);
    let err = p
        .bind([("qurey".to_string(), hypernodes::value(1_i64))])
        .unwrap_err();
    assert!(err.to_string().contains("did you mean 'query'?"), "{err}");
    let err = p.unbind(&["indexx"]).unwrap_err();
    assert!(
        matches!(&err, Error::UnknownInput { suggestion: Some(s), .. } if s == "index"),
        "{err:?}"
    );
}

#[test]
fn an_unknown_output_suggests_the_closest_one() {
    let c = Counter::new();
    let p = search(&c);
    let err = p
        .run(
            inputs! {"query" => 1_i64, "index" => 2_i64},
            Some(&s(&["hit"])),
        )
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "output 'hit' not found in pipeline 'search' (did you mean 'hits'?); available outputs: hits"
    );
}
