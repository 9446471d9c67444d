//! `#[node]`: what the attribute records (names, types, flags) and how the generated node behaves.

mod common;

use std::any::TypeId;
use std::sync::atomic::{AtomicUsize, Ordering};

use common::s;
use hypernodes::{inputs, node, Error, NodeKind, Pipeline};

#[node(output = "doubled")]
fn double(x: i64) -> i64 {
    x * 2
}

#[node]
fn tripled(x: i64) -> i64 {
    x * 3
}

#[node(outputs = ("q", "r"))]
fn divmod(a: i64, b: i64) -> (i64, i64) {
    (a / b, a % b)
}

#[node(output = "y", cache = false, version = "v2", name = "custom_name")]
fn configured(x: i64) -> i64 {
    x + 100
}

#[derive(Debug, PartialEq)]
struct TooBig(i64);

impl std::fmt::Display for TooBig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} is too big", self.0)
    }
}

impl std::error::Error for TooBig {}

#[node(output = "checked")]
fn check(x: i64) -> Result<i64, TooBig> {
    if x > 10 {
        Err(TooBig(x))
    } else {
        Ok(x)
    }
}

#[node(outputs = ("lo", "hi"))]
fn bounds(x: i64) -> Result<(i64, i64), String> {
    if x < 0 {
        Err(format!("negative: {x}"))
    } else {
        Ok((x - 1, x + 1))
    }
}

#[node(output = "io_checked")]
fn io_check(x: i64) -> std::io::Result<i64> {
    Ok(x)
}

static SIDE_EFFECTS: AtomicUsize = AtomicUsize::new(0);

#[node(output = "done")]
fn side_effect(x: i64) {
    SIDE_EFFECTS.fetch_add(x as usize, Ordering::SeqCst);
}

#[node(output = "label")]
fn label(name: String, tags: Vec<String>) -> String {
    format!("{name}[{}]", tags.join(","))
}

#[node(output = "kind_len")]
fn raw_param(r#type: String) -> usize {
    r#type.len()
}

#[node(output = "bumped")]
fn mutable_param(mut x: i64) -> i64 {
    x += 1;
    x
}

#[node(outputs = ("only"))]
fn one_of_outputs(x: i64) -> i64 {
    x
}

#[node(output = "pair")]
fn pair_as_one(x: i64) -> (i64, i64) {
    (x, -x)
}

pub mod shapes {
    use hypernodes::node;

    /// A node in a submodule, public: reachable as `shapes::area::node()`.
    #[node(output = "area")]
    pub fn area(w: f64, h: f64) -> f64 {
        w * h
    }
}

fn type_id_of(port: &hypernodes::Port) -> Option<TypeId> {
    port.ty.type_id()
}

#[test]
fn the_function_stays_callable() {
    assert_eq!(double(3), 6);
    assert_eq!(divmod(7, 2), (3, 1));
    assert_eq!(check(11), Err(TooBig(11)));
    assert_eq!(shapes::area(2.0, 3.0), 6.0);
}

#[test]
fn single_output_records_names_and_types() {
    let n = double::node();
    assert_eq!(n.name(), "double");
    assert_eq!(n.param_names().collect::<Vec<_>>(), ["x"]);
    assert_eq!(n.output_names().collect::<Vec<_>>(), ["doubled"]);
    assert_eq!(type_id_of(&n.params()[0]), Some(TypeId::of::<i64>()));
    assert_eq!(type_id_of(&n.outputs()[0]), Some(TypeId::of::<i64>()));
    assert_eq!(n.params()[0].ty.type_name(), "i64");
    assert!(n.cache(), "nodes are cached by default");
    assert_eq!(n.version(), None);
    assert!(matches!(n.kind(), NodeKind::Func(_)));
}

#[test]
fn default_output_and_node_name_is_the_function_name() {
    let n = tripled::node();
    assert_eq!(n.name(), "tripled");
    assert_eq!(n.output_names().collect::<Vec<_>>(), ["tripled"]);
    let out = Pipeline::new([n])
        .unwrap()
        .run(inputs! {"x" => 5_i64}, None)
        .unwrap();
    assert_eq!(out.get::<i64>("tripled"), Some(&15));
}

#[test]
fn tuple_outputs_are_one_value_each() {
    let n = divmod::node();
    assert_eq!(n.output_names().collect::<Vec<_>>(), ["q", "r"]);
    assert_eq!(n.param_names().collect::<Vec<_>>(), ["a", "b"]);
    assert!(n
        .outputs()
        .iter()
        .all(|p| p.ty.type_id() == Some(TypeId::of::<i64>())));
    let out = Pipeline::new([n])
        .unwrap()
        .run(inputs! {"a" => 17_i64, "b" => 5_i64}, None)
        .unwrap();
    assert_eq!(out.names().collect::<Vec<_>>(), ["q", "r"]);
    assert_eq!(out.get::<i64>("q"), Some(&3));
    assert_eq!(out.get::<i64>("r"), Some(&2));
}

#[test]
fn a_one_name_outputs_list_is_a_single_output() {
    let n = one_of_outputs::node();
    assert_eq!(n.output_names().collect::<Vec<_>>(), ["only"]);
    let out = Pipeline::new([n])
        .unwrap()
        .run(inputs! {"x" => 4_i64}, None)
        .unwrap();
    assert_eq!(out.get::<i64>("only"), Some(&4));
}

#[test]
fn a_tuple_under_a_single_output_name_stays_one_value() {
    let n = pair_as_one::node();
    assert_eq!(n.outputs().len(), 1);
    assert_eq!(
        type_id_of(&n.outputs()[0]),
        Some(TypeId::of::<(i64, i64)>())
    );
    let out = Pipeline::new([n])
        .unwrap()
        .run(inputs! {"x" => 4_i64}, None)
        .unwrap();
    assert_eq!(out.get::<(i64, i64)>("pair"), Some(&(4, -4)));
}

#[test]
fn name_cache_and_version_arguments() {
    let n = configured::node();
    assert_eq!(n.name(), "custom_name");
    assert!(!n.cache());
    assert_eq!(n.version(), Some("v2"));
    assert_eq!(n.output_names().collect::<Vec<_>>(), ["y"]);
    let p = Pipeline::new([n]).unwrap();
    assert_eq!(p.nodes()[0].name(), "custom_name");
    assert_eq!(
        p.run(inputs! {"x" => 1_i64}, None).unwrap().get::<i64>("y"),
        Some(&101)
    );
}

#[test]
fn builder_methods_apply_to_generated_nodes() {
    let n = double::node()
        .with_name("again")
        .with_cache(false)
        .with_version("7");
    assert_eq!(
        (n.name(), n.cache(), n.version()),
        ("again", false, Some("7"))
    );
    // The generated node itself is unchanged: every call builds a fresh one.
    assert_eq!(double::node().name(), "double");
}

#[test]
fn fallible_function_ok_gives_the_value() {
    let p = Pipeline::new([check::node(), io_check::node()]).unwrap();
    let out = p.run(inputs! {"x" => 7_i64}, None).unwrap();
    assert_eq!(out.get::<i64>("checked"), Some(&7));
    assert_eq!(out.get::<i64>("io_checked"), Some(&7));
    // The output type is the Ok type, not the Result.
    assert_eq!(
        type_id_of(&check::node().outputs()[0]),
        Some(TypeId::of::<i64>())
    );
}

#[test]
fn fallible_function_err_is_the_node_error_with_its_original_type() {
    let p = Pipeline::new([check::node()]).unwrap().with_name("checks");
    let err = p.run(inputs! {"x" => 12_i64}, None).unwrap_err();
    let msg = err.to_string();
    match err {
        Error::Node {
            node, path, source, ..
        } => {
            assert_eq!(node, "check");
            assert_eq!(path, ["checks"]);
            assert_eq!(source.downcast_ref::<TooBig>(), Some(&TooBig(12)));
        }
        other => panic!("expected Error::Node, got {other:?}"),
    }
    assert!(msg.contains("12 is too big"), "{msg}");
    assert!(msg.contains("'check'") && msg.contains("'checks'"), "{msg}");
}

#[test]
fn fallible_tuple_outputs() {
    let p = Pipeline::new([bounds::node()]).unwrap();
    let out = p.run(inputs! {"x" => 5_i64}, None).unwrap();
    assert_eq!(
        (out.get::<i64>("lo"), out.get::<i64>("hi")),
        (Some(&4), Some(&6))
    );
    let err = p.run(inputs! {"x" => -1_i64}, None).unwrap_err();
    assert_eq!(
        err.node_source().map(|e| e.to_string()).as_deref(),
        Some("negative: -1")
    );
}

#[test]
fn unit_return_is_a_single_unit_output() {
    let n = side_effect::node();
    assert_eq!(n.output_names().collect::<Vec<_>>(), ["done"]);
    assert_eq!(type_id_of(&n.outputs()[0]), Some(TypeId::of::<()>()));
    let before = SIDE_EFFECTS.load(Ordering::SeqCst);
    let out = Pipeline::new([n])
        .unwrap()
        .run(inputs! {"x" => 3_i64}, None)
        .unwrap();
    assert_eq!(out.get::<()>("done"), Some(&()));
    assert_eq!(SIDE_EFFECTS.load(Ordering::SeqCst) - before, 3);
}

#[test]
fn owned_non_copy_values() {
    let p = Pipeline::new([label::node()]).unwrap();
    let out = p
        .run(
            inputs! {"name" => "doc".to_string(), "tags" => vec!["a".to_string(), "b".to_string()]},
            None,
        )
        .unwrap();
    assert_eq!(
        out.get::<String>("label").map(String::as_str),
        Some("doc[a,b]")
    );
    assert_eq!(
        type_id_of(&label::node().params()[1]),
        Some(TypeId::of::<Vec<String>>())
    );
}

#[test]
fn raw_identifier_parameter_is_named_without_r_hash() {
    let n = raw_param::node();
    assert_eq!(n.param_names().collect::<Vec<_>>(), ["type"]);
    let out = Pipeline::new([n])
        .unwrap()
        .run(inputs! {"type" => "abcd".to_string()}, None)
        .unwrap();
    assert_eq!(out.get::<usize>("kind_len"), Some(&4));
}

#[test]
fn mut_parameter() {
    let out = Pipeline::new([mutable_param::node()])
        .unwrap()
        .run(inputs! {"x" => 1_i64}, None)
        .unwrap();
    assert_eq!(out.get::<i64>("bumped"), Some(&2));
}

#[test]
fn node_in_a_submodule() {
    let out = Pipeline::new([shapes::area::node()])
        .unwrap()
        .run(inputs! {"w" => 2.0_f64, "h" => 4.5_f64}, None)
        .unwrap();
    assert_eq!(out.get::<f64>("area"), Some(&9.0));
}

#[test]
fn an_input_of_the_wrong_type_names_the_node_parameter_and_type() {
    let p = Pipeline::new([double::node()]).unwrap();
    let err = p.run(inputs! {"x" => 3_i32}, None).unwrap_err();
    match &err {
        Error::InputType {
            node,
            input,
            expected,
            given,
            ..
        } => {
            assert_eq!(node, "double");
            assert_eq!(input, "x");
            assert_eq!((expected.as_str(), given.as_str()), ("i64", "i32"));
        }
        other => panic!("expected Error::InputType, got {other:?}"),
    }
}

#[test]
fn code_identity_is_stable_and_differs_between_functions() {
    fn identity(n: &hypernodes::Node) -> Vec<u8> {
        match n.kind() {
            NodeKind::Func(f) => f.code_identity(),
            NodeKind::Pipeline(_) => panic!("a function node"),
        }
    }
    let a = identity(&double::node());
    assert!(!a.is_empty());
    assert_eq!(a, identity(&double::node()));
    assert_ne!(a, identity(&tripled::node()));
    let text = String::from_utf8(a).unwrap();
    assert!(
        text.contains("x * 2"),
        "the identity covers the body: {text}"
    );
}

#[node(output = "total")]
fn add(doubled: i64, y: i64, q: i64) -> i64 {
    doubled + y + q
}

#[test]
fn macro_nodes_wire_by_parameter_name() {
    let p = Pipeline::new([
        add::node(),
        divmod::node(),
        double::node(),
        configured::node(),
    ])
    .unwrap();
    assert_eq!(p.inputs(), s(&["a", "b", "x"]));
    let out = p
        .run(inputs! {"a" => 9_i64, "b" => 4_i64, "x" => 2_i64}, None)
        .unwrap();
    // doubled = 4, y = 102, q = 2
    assert_eq!(out.get::<i64>("total"), Some(&108));
}
