//! Helpers shared by the integration tests: hand-built nodes that count their calls or record the
//! order in which they run. (Each test file uses a subset.)
#![allow(dead_code)]

pub mod disk;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use hypernodes::{value, BoxError, Node, Port, Typed, Value};

/// Owned strings from string slices (selected outputs, map_over lists, expected names).
pub fn s(names: &[&str]) -> Vec<String> {
    names.iter().map(|n| n.to_string()).collect()
}

/// A call counter shared with the nodes that increment it.
#[derive(Clone, Default)]
pub struct Counter(Arc<AtomicUsize>);

impl Counter {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn get(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
    pub fn bump(&self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// Records the names of nodes in the order they ran.
#[derive(Clone, Default)]
pub struct Recorder(Arc<Mutex<Vec<String>>>);

impl Recorder {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn log(&self, name: &str) {
        self.0.lock().unwrap().push(name.to_string());
    }
    pub fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

/// A node named `name` taking `i64` parameters `params` and giving the `i64` output `output`,
/// computed by `f` from the arguments in parameter order. Every call bumps `counter`.
pub fn int_node(
    name: &str,
    params: &[&str],
    output: &str,
    counter: &Counter,
    f: fn(&[i64]) -> i64,
) -> Node {
    let counter = counter.clone();
    Node::new(
        name,
        params
            .iter()
            .map(|p| Port::new(*p, Typed::<i64>::arc()))
            .collect(),
        vec![Port::new(output, Typed::<i64>::arc())],
        move |args: Vec<Value>| -> Result<Vec<Value>, BoxError> {
            counter.bump();
            let xs: Vec<i64> = args
                .iter()
                .map(|a| *a.downcast_ref::<i64>().expect("an i64 argument"))
                .collect();
            Ok(vec![value(f(&xs))])
        },
    )
    .expect("a valid node")
}

/// A node that records its name when it runs; it sums its `i64` parameters into `output`.
pub fn logging_node(name: &str, params: &[&str], output: &str, log: &Recorder) -> Node {
    let log = log.clone();
    let own = name.to_string();
    Node::new(
        name,
        params
            .iter()
            .map(|p| Port::new(*p, Typed::<i64>::arc()))
            .collect(),
        vec![Port::new(output, Typed::<i64>::arc())],
        move |args: Vec<Value>| -> Result<Vec<Value>, BoxError> {
            log.log(&own);
            Ok(vec![value(
                args.iter()
                    .map(|a| *a.downcast_ref::<i64>().unwrap())
                    .sum::<i64>(),
            )])
        },
    )
    .expect("a valid node")
}

/// The `i64` output `name` of a run.
pub fn int(out: &hypernodes::Outputs, name: &str) -> i64 {
    *out.get::<i64>(name)
        .unwrap_or_else(|| panic!("output '{name}' missing or not an i64 in {out:?}"))
}

/// `make_xs`: `n` -> `xs = [n, n + 1, n + 2]` (the list a nested map runs over).
pub fn make_xs_node() -> Node {
    Node::new(
        "make_xs",
        vec![Port::new("n", Typed::<i64>::arc())],
        vec![Port::new("xs", Typed::<Vec<i64>>::arc())],
        |args: Vec<Value>| -> Result<Vec<Value>, BoxError> {
            let n = *args[0].downcast_ref::<i64>().expect("an i64 argument");
            Ok(vec![value(vec![n, n + 1, n + 2])])
        },
    )
    .expect("a valid node")
}

/// `total`: the sum of the `Vec<i64>` input `input`, as the `i64` output `total`.
pub fn total_node(input: &str) -> Node {
    Node::new(
        "total",
        vec![Port::new(input, Typed::<Vec<i64>>::arc())],
        vec![Port::new("total", Typed::<i64>::arc())],
        |args: Vec<Value>| -> Result<Vec<Value>, BoxError> {
            let xs = args[0].downcast_ref::<Vec<i64>>().expect("a Vec<i64>");
            Ok(vec![value(xs.iter().sum::<i64>())])
        },
    )
    .expect("a valid node")
}
