//! The chain both benchmarks time: node `f{i}` takes `x{i}` and outputs `x{i+1}`, each a trivial
//! `x + 1` on `i64` built with `Node::from_fn` and a closure (the engine alone, not the macro).

use std::sync::Arc;

use hypernodes::{value, BoxError, Node, NodeFn, Port, Typed, Value};

/// `x + 1` on an `i64`.
pub fn add_one() -> Arc<dyn NodeFn> {
    Arc::new(|args: Vec<Value>| -> Result<Vec<Value>, BoxError> {
        let x = *args[0].downcast_ref::<i64>().ok_or("x is not an i64")?;
        Ok(vec![value(x + 1)])
    })
}

/// The chain's `n` functions and nodes: node `f{i}` takes `x{i}` and outputs `x{i+1}`.
pub fn chain(n: usize) -> (Vec<Arc<dyn NodeFn>>, Vec<Node>) {
    let funcs: Vec<Arc<dyn NodeFn>> = (0..n).map(|_| add_one()).collect();
    let nodes = funcs
        .iter()
        .enumerate()
        .map(|(i, f)| {
            Node::from_fn(
                format!("f{i}"),
                vec![Port::new(format!("x{i}"), Typed::<i64>::arc())],
                vec![Port::new(format!("x{}", i + 1), Typed::<i64>::arc())],
                f.clone(),
            )
            .expect("valid node")
        })
        .collect();
    (funcs, nodes)
}
