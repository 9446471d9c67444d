//! Mapped pipelines nested three and four levels deep: a `Vec<Vec<Vec<i64>>>` (or one level more) is
//! split level by level, every item reaches the innermost node, and the results come back typed as
//! lists of lists of the same depth, so a consumer can take them with their real Rust type.

use std::collections::BTreeMap;

use hypernodes::{inputs, node, AsNode, Error, Pipeline};

fn mapping(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

#[node(output = "y")]
fn triple(x: i64) -> i64 {
    x * 3
}

/// Wraps `inner` (taking `inner_in`, giving `inner_out`) as a node mapped over `outer_in`, giving the
/// list `outer_out`.
fn mapped(
    inner: Pipeline,
    inner_in: &str,
    inner_out: &str,
    outer_in: &str,
    outer_out: &str,
) -> Pipeline {
    let node = inner
        .as_node(AsNode {
            name: Some(format!("map_{outer_in}")),
            input_mapping: mapping(&[(outer_in, inner_in)]),
            output_mapping: Some(mapping(&[(inner_out, outer_out)])),
            map_over: vec![outer_in.to_string()],
            ..AsNode::default()
        })
        .unwrap();
    Pipeline::new([node]).unwrap().with_name(outer_out)
}

/// `depth` levels of mapping around `triple`: level 1 maps over "l1" (a `Vec<i64>`), level 2 over
/// "l2" (a `Vec<Vec<i64>>`), and so on; the outermost output is "o{depth}".
fn nested(depth: usize) -> Pipeline {
    let mut p = Pipeline::new([triple::node()]).unwrap().with_name("leaf");
    let (mut inner_in, mut inner_out) = ("x".to_string(), "y".to_string());
    for level in 1..=depth {
        let (outer_in, outer_out) = (format!("l{level}"), format!("o{level}"));
        p = mapped(p, &inner_in, &inner_out, &outer_in, &outer_out);
        (inner_in, inner_out) = (outer_in, outer_out);
    }
    p
}

#[test]
fn three_levels_of_mapping_split_and_collect_typed_lists() {
    let p = nested(3);
    assert_eq!(p.inputs(), vec!["l3".to_string()]);
    let input: Vec<Vec<Vec<i64>>> = vec![vec![vec![1, 2], vec![]], vec![], vec![vec![3]]];
    let out = p.run(inputs! {"l3" => input}, None).unwrap();
    assert_eq!(
        out.get::<Vec<Vec<Vec<i64>>>>("o3"),
        Some(&vec![vec![vec![3, 6], vec![]], vec![], vec![vec![9]]])
    );
}

#[test]
fn four_levels_of_mapping_split_and_collect_typed_lists() {
    let p = nested(4);
    let input: Vec<Vec<Vec<Vec<i64>>>> =
        vec![vec![vec![vec![1], vec![2, 3]]], vec![vec![], vec![vec![4]]]];
    let out = p.run(inputs! {"l4" => input}, None).unwrap();
    assert_eq!(
        out.get::<Vec<Vec<Vec<Vec<i64>>>>>("o4"),
        Some(&vec![
            vec![vec![vec![3], vec![6, 9]]],
            vec![vec![], vec![vec![12]]],
        ])
    );
}

#[test]
fn a_consumer_takes_the_deep_list_with_its_rust_type() {
    #[node(output = "total")]
    fn total(o3: Vec<Vec<Vec<i64>>>) -> i64 {
        o3.iter().flatten().flatten().sum()
    }
    let inner = nested(3);
    let node = inner.as_node(AsNode::default()).unwrap();
    let p = Pipeline::new([total::node(), node]).expect("Vec<Vec<Vec<i64>>> matches itself");
    let input: Vec<Vec<Vec<i64>>> = vec![vec![vec![1, 2]], vec![vec![3], vec![4]]];
    let out = p.run(inputs! {"l3" => input}, None).unwrap();
    assert_eq!(out.get::<i64>("total"), Some(&30));
}

#[test]
fn a_wrongly_typed_deep_input_is_rejected_naming_both_types() {
    #[node(output = "bad")]
    fn bad(o4: Vec<Vec<Vec<i32>>>) -> i64 {
        o4.len() as i64
    }
    let node = nested(4).as_node(AsNode::default()).unwrap();
    let err = Pipeline::new([bad::node(), node]).unwrap_err();
    let Error::TypeMismatch {
        produced, expected, ..
    } = &err
    else {
        panic!("expected a type mismatch, got {err:?}")
    };
    assert!(
        produced.contains("Vec<alloc::vec::Vec<alloc::vec::Vec<i64>"),
        "{produced}"
    );
    assert!(expected.contains("i32"), "{expected}");
    let p = nested(3);
    let err = p
        .run(inputs! {"l3" => vec![vec![1i64]]}, None)
        .unwrap_err()
        .to_string();
    assert!(err.contains("l3"), "{err}");
}
