//! `Pipeline::map`: zip and product, broadcast inputs, empty lists, selected outputs, and the errors.

mod common;

use common::{int, int_node, s, Counter};
use hypernodes::{inputs, node, value, Error, MapError, MapMode, Pipeline, Value};

#[node(output = "line")]
fn describe(name: String, size: i64, unit: String) -> String {
    format!("{name}:{size}{unit}")
}

fn adder(c: &Counter) -> Pipeline {
    Pipeline::new([
        int_node("add", &["x", "y"], "sum", c, |v| v[0] + v[1]),
        int_node("scale", &["sum", "k"], "scaled", c, |v| v[0] * v[1]),
    ])
    .unwrap()
}

fn pairs(results: &[hypernodes::Outputs], name: &str) -> Vec<i64> {
    results.iter().map(|o| int(o, name)).collect()
}

#[test]
fn zip_pairs_items_in_order() {
    let c = Counter::new();
    let p = adder(&c);
    let results = p
        .map(
            inputs! {"x" => vec![1_i64, 2, 3], "y" => vec![10_i64, 20, 30], "k" => 2_i64},
            &s(&["x", "y"]),
            MapMode::Zip,
            None,
        )
        .unwrap();
    assert_eq!(results.len(), 3);
    assert_eq!(pairs(&results, "sum"), [11, 22, 33]);
    assert_eq!(pairs(&results, "scaled"), [22, 44, 66]);
    assert_eq!(c.get(), 6);
}

#[test]
fn product_is_every_combination_with_the_last_varying_fastest() {
    let c = Counter::new();
    let p = Pipeline::new([int_node("pair", &["x", "y"], "code", &c, |v| {
        v[0] * 100 + v[1]
    })])
    .unwrap();
    let results = p
        .map(
            inputs! {"x" => vec![1_i64, 2], "y" => vec![1_i64, 2, 3]},
            &s(&["x", "y"]),
            MapMode::Product,
            None,
        )
        .unwrap();
    assert_eq!(pairs(&results, "code"), [101, 102, 103, 201, 202, 203]);

    // The order follows map_over, not the names: now y varies slowest.
    let results = p
        .map(
            inputs! {"x" => vec![1_i64, 2], "y" => vec![1_i64, 2, 3]},
            &s(&["y", "x"]),
            MapMode::Product,
            None,
        )
        .unwrap();
    assert_eq!(pairs(&results, "code"), [101, 201, 102, 202, 103, 203]);
}

#[test]
fn product_of_three_lists() {
    let c = Counter::new();
    let p = Pipeline::new([int_node("abc", &["a", "b", "c"], "n", &c, |v| {
        v[0] * 100 + v[1] * 10 + v[2]
    })])
    .unwrap();
    let results = p
        .map(
            inputs! {"a" => vec![1_i64, 2], "b" => vec![3_i64], "c" => vec![4_i64, 5]},
            &s(&["a", "b", "c"]),
            MapMode::Product,
            None,
        )
        .unwrap();
    assert_eq!(pairs(&results, "n"), [134, 135, 234, 235]);
}

#[test]
fn inputs_not_in_map_over_are_broadcast() {
    let p = Pipeline::new([describe::node()]).unwrap();
    let results = p
        .map(
            inputs! {
                "name" => vec!["a".to_string(), "b".to_string()],
                "size" => vec![1_i64, 2],
                "unit" => "kb".to_string(),
            },
            &s(&["name", "size"]),
            MapMode::Zip,
            None,
        )
        .unwrap();
    let lines: Vec<&str> = results
        .iter()
        .map(|o| o.get::<String>("line").unwrap().as_str())
        .collect();
    assert_eq!(lines, ["a:1kb", "b:2kb"]);

    // A broadcast value that is itself a list is not split.
    let p = Pipeline::new([hypernodes::Node::new(
        "len",
        vec![
            hypernodes::Port::new("x", hypernodes::Typed::<i64>::arc()),
            hypernodes::Port::new("all", hypernodes::Typed::<Vec<i64>>::arc()),
        ],
        vec![hypernodes::Port::new(
            "n",
            hypernodes::Typed::<usize>::arc(),
        )],
        move |args: Vec<Value>| -> Result<Vec<Value>, hypernodes::BoxError> {
            Ok(vec![value(
                args[1].downcast_ref::<Vec<i64>>().unwrap().len(),
            )])
        },
    )
    .unwrap()])
    .unwrap();
    let results = p
        .map(
            inputs! {"x" => vec![1_i64, 2, 3], "all" => vec![7_i64, 8]},
            &s(&["x"]),
            MapMode::Zip,
            None,
        )
        .unwrap();
    assert_eq!(results.len(), 3);
    assert!(results.iter().all(|o| o.get::<usize>("n") == Some(&2)));
}

#[test]
fn empty_lists_give_no_results() {
    let c = Counter::new();
    let p = adder(&c);
    let empty: Vec<i64> = vec![];
    for mode in [MapMode::Zip, MapMode::Product] {
        let results = p
            .map(
                inputs! {"x" => empty.clone(), "y" => empty.clone(), "k" => 1_i64},
                &s(&["x", "y"]),
                mode,
                None,
            )
            .unwrap();
        assert!(results.is_empty(), "{mode:?}");
    }
    // One empty list in a product empties it.
    let results = p
        .map(
            inputs! {"x" => vec![1_i64, 2], "y" => empty.clone(), "k" => 1_i64},
            &s(&["x", "y"]),
            MapMode::Product,
            None,
        )
        .unwrap();
    assert!(results.is_empty());
    assert_eq!(c.get(), 0);
}

#[test]
fn map_with_selected_outputs_runs_only_what_they_need() {
    let c = Counter::new();
    let p = adder(&c);
    // "k" is only needed by scale, so it is not required.
    let results = p
        .map(
            inputs! {"x" => vec![1_i64, 2], "y" => vec![3_i64, 4]},
            &s(&["x", "y"]),
            MapMode::Zip,
            Some(&s(&["sum"])),
        )
        .unwrap();
    assert_eq!(pairs(&results, "sum"), [4, 6]);
    assert!(results.iter().all(|o| o.len() == 1));
    assert_eq!(c.get(), 2);
}

#[test]
fn a_list_of_values_can_be_mapped_too() {
    let c = Counter::new();
    let p = Pipeline::new([int_node("inc", &["x"], "y", &c, |v| v[0] + 1)]).unwrap();
    let items: Vec<Value> = vec![value(1_i64), value(5_i64)];
    let results = p
        .map(inputs! {"x" => items}, &s(&["x"]), MapMode::Zip, None)
        .unwrap();
    assert_eq!(pairs(&results, "y"), [2, 6]);
}

#[test]
fn map_over_an_absent_input_is_an_error() {
    let c = Counter::new();
    let p = adder(&c).with_name("adder");
    let err = p
        .map(
            inputs! {"x" => vec![1_i64], "k" => 1_i64},
            &s(&["x", "y"]),
            MapMode::Zip,
            None,
        )
        .unwrap_err();
    let msg = err.to_string();
    assert!(
        matches!(err, Error::Map(MapError::AbsentInput { ref name, ref pipeline }) if name == "y" && pipeline == "adder"),
        "{err:?}"
    );
    assert!(msg.contains("'y'"), "{msg}");
}

#[test]
fn mapping_a_value_that_is_not_a_list_is_an_error() {
    let c = Counter::new();
    let p = adder(&c);
    let err = p
        .map(
            inputs! {"x" => 5_i64, "y" => vec![1_i64], "k" => 1_i64},
            &s(&["x", "y"]),
            MapMode::Zip,
            None,
        )
        .unwrap_err();
    // Checked with the other input types before anything runs: a mapped input must be a list of
    // what its node takes.
    let msg = err.to_string();
    match &err {
        Error::InputType {
            input,
            expected,
            given,
            mapped,
            ..
        } => {
            assert_eq!(input, "x");
            assert_eq!((expected.as_str(), given.as_str()), ("i64", "i64"));
            assert!(mapped);
        }
        other => panic!("expected InputType, got {other:?}"),
    }
    assert!(msg.contains("'x'") && msg.contains("Vec<i64>"), "{msg}");
    // A list of the wrong element type is not a list of the parameter's type either.
    let err = p
        .map(
            inputs! {"x" => vec!["a".to_string()], "y" => vec![1_i64], "k" => 1_i64},
            &s(&["x", "y"]),
            MapMode::Zip,
            None,
        )
        .unwrap_err();
    assert!(err.to_string().contains("got Vec<String>"), "{err}");
    assert_eq!(c.get(), 0);
}

#[test]
fn zip_lengths_that_differ_are_all_listed() {
    let c = Counter::new();
    let p = Pipeline::new([int_node("three", &["a", "b", "c"], "n", &c, |v| {
        v[0] + v[1] + v[2]
    })])
    .unwrap();
    let err = p
        .map(
            inputs! {"a" => vec![1_i64, 2], "b" => vec![1_i64, 2, 3], "c" => vec![1_i64, 2]},
            &s(&["a", "b", "c"]),
            MapMode::Zip,
            None,
        )
        .unwrap_err();
    let msg = err.to_string();
    match err {
        Error::Map(MapError::LengthMismatch { lengths, .. }) => assert_eq!(
            lengths,
            vec![
                ("a".to_string(), 2),
                ("b".to_string(), 3),
                ("c".to_string(), 2)
            ]
        ),
        other => panic!("expected LengthMismatch, got {other:?}"),
    }
    for part in ["a=2", "b=3", "c=2"] {
        assert!(msg.contains(part), "'{part}' missing from: {msg}");
    }
    assert_eq!(c.get(), 0);
}

#[test]
fn map_modes_parse_and_unknown_ones_are_errors() {
    assert_eq!("zip".parse::<MapMode>().unwrap(), MapMode::Zip);
    assert_eq!("product".parse::<MapMode>().unwrap(), MapMode::Product);
    assert_eq!(MapMode::default(), MapMode::Zip);
    assert_eq!(MapMode::Product.as_str(), "product");
    let err = "bogus".parse::<MapMode>().unwrap_err();
    assert!(
        matches!(&err, Error::Map(MapError::UnknownMode(m)) if m == "bogus"),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(
        msg.contains("bogus") && msg.contains("zip") && msg.contains("product"),
        "{msg}"
    );
}

#[test]
fn an_empty_map_over_is_an_error() {
    let c = Counter::new();
    let err = adder(&c)
        .map(
            inputs! {"x" => 1_i64, "y" => 1_i64, "k" => 1_i64},
            &[],
            MapMode::Zip,
            None,
        )
        .unwrap_err();
    assert!(matches!(err, Error::Map(MapError::Empty { .. })), "{err:?}");
}

#[test]
fn a_missing_broadcast_input_is_reported() {
    let c = Counter::new();
    let err = adder(&c)
        .map(
            inputs! {"x" => vec![1_i64], "y" => vec![2_i64]},
            &s(&["x", "y"]),
            MapMode::Zip,
            None,
        )
        .unwrap_err();
    assert!(
        matches!(&err, Error::MissingInputs { missing, .. } if missing == &s(&["k"])),
        "{err:?}"
    );
}

#[test]
fn a_node_error_in_one_item_fails_the_map_with_the_node_named() {
    #[node(output = "inv")]
    fn inverse(x: i64) -> Result<i64, String> {
        if x == 0 {
            Err("division by zero".to_string())
        } else {
            Ok(100 / x)
        }
    }
    let p = Pipeline::new([inverse::node()]).unwrap();
    let ok = p
        .map(
            inputs! {"x" => vec![1_i64, 4]},
            &s(&["x"]),
            MapMode::Zip,
            None,
        )
        .unwrap();
    assert_eq!(pairs(&ok, "inv"), [100, 25]);
    let err = p
        .map(
            inputs! {"x" => vec![1_i64, 0, 4]},
            &s(&["x"]),
            MapMode::Zip,
            None,
        )
        .unwrap_err();
    assert!(
        matches!(&err, Error::Node { node, .. } if node == "inverse"),
        "{err:?}"
    );
    assert_eq!(err.node_source().unwrap().to_string(), "division by zero");
}
