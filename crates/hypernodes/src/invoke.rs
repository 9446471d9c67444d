//! Calling one node: a function with its arguments, or a nested pipeline (run or mapped), with the
//! arity check and the error that names the node and the pipeline path.

use crate::context::Context;
use crate::error::{Error, MapError, Result};
use crate::executor;
use crate::io::{Inputs, Outputs};

use crate::node::{Node, NodeKind, PipelineNode};
use crate::pipeline::{Pipeline, Plan};
use crate::value::Value;

/// Calls a node with its arguments (in parameter order) and returns its outputs. `wanted` lists the
/// output positions needed (`None`: all); a pipeline node computes only those and returns a
/// placeholder for the others.
pub fn call_node(
    node: &Node,
    args: Vec<Value>,
    wanted: Option<&[usize]>,
    ctx: &Context,
) -> Result<Vec<Value>> {
    let outs = match node.kind() {
        NodeKind::Func(f) => f
            .call(args)
            .map_err(|source| match source.downcast::<Error>() {
                Ok(inner) => *inner,
                Err(source) => Error::Node {
                    node: node.name().to_string(),
                    path: ctx.path_strings(),
                    source,
                },
            })?,
        NodeKind::Pipeline(pn) => call_pipeline(node, pn, args, wanted, ctx)?,
    };
    if outs.len() != node.outputs().len() {
        return Err(Error::Arity {
            node: node.name().to_string(),
            outputs: node.output_names().map(String::from).collect(),
            expected: node.outputs().len(),
            got: outs.len(),
        });
    }
    Ok(outs)
}

fn call_pipeline(
    node: &Node,
    pn: &PipelineNode,
    args: Vec<Value>,
    wanted: Option<&[usize]>,
    ctx: &Context,
) -> Result<Vec<Value>> {
    let inputs: Inputs = pn
        .inner_inputs
        .iter()
        .map(|n| n.to_string())
        .zip(args)
        .collect();
    let narrowed: Option<Vec<String>> = wanted.map(|ps| {
        ps.iter()
            .map(|&p| pn.inner_outputs[p].to_string())
            .collect()
    });
    let selected = narrowed.as_deref().or(pn.selected.as_deref());
    let is_wanted = |pos: usize| wanted.is_none_or(|ps| ps.contains(&pos));
    if pn.map_over.is_empty() {
        let outs = executor::run_nested(&pn.pipeline, inputs, selected, ctx)?;
        return Ok(pn
            .inner_outputs
            .iter()
            .enumerate()
            .map(|(pos, name)| match is_wanted(pos) {
                true => outs
                    .value(name)
                    .expect("a nested run returns every selected output")
                    .clone(),
                false => unused(),
            })
            .collect());
    }
    let results = executor::map_nested(
        &pn.pipeline,
        inputs,
        &pn.map_over,
        pn.map_mode,
        selected,
        ctx,
    )
    .map_err(|e| outer_names(node, pn, e))?;
    Ok(pn
        .inner_outputs
        .iter()
        .enumerate()
        .map(|(pos, name)| {
            if !is_wanted(pos) {
                return unused();
            }
            let items: Vec<Value> = results
                .iter()
                .map(|o| {
                    o.value(name)
                        .expect("a mapped item returns every selected output")
                        .clone()
                })
                .collect();
            pn.pipeline.output_type(name).collect(items)
        })
        .collect())
}

/// The placeholder of an output nobody reads.
fn unused() -> Value {
    crate::value::value(())
}

/// Rewrites a map error of a pipeline node in the names the user wrote (outer inputs, the node).
fn outer_names(node: &Node, pn: &PipelineNode, err: Error) -> Error {
    let outer = |inner: &str| -> String {
        pn.inner_inputs
            .iter()
            .position(|i| &**i == inner)
            .map_or_else(|| inner.to_string(), |i| node.params()[i].name.to_string())
    };
    let place = format!("node '{}'", node.name());
    match err {
        Error::Map(MapError::AbsentInput { name, .. }) => Error::Map(MapError::AbsentInput {
            pipeline: place,
            name: outer(&name),
        }),
        Error::Map(MapError::NotASequence { name, reason, .. }) => {
            Error::Map(MapError::NotASequence {
                pipeline: place,
                name: outer(&name),
                reason,
            })
        }
        Error::Map(MapError::LengthMismatch { lengths, .. }) => {
            Error::Map(MapError::LengthMismatch {
                pipeline: place,
                lengths: lengths.into_iter().map(|(n, l)| (outer(&n), l)).collect(),
            })
        }
        other => other,
    }
}

/// Gathers the outputs a plan returns from the filled value slots.
pub fn collect_outputs(pipeline: &Pipeline, plan: &Plan, slots: &mut [Option<Value>]) -> Outputs {
    let g = pipeline.graph();
    Outputs::from_pairs(
        plan.outputs
            .iter()
            .map(|&v| {
                (
                    g.names[v].clone(),
                    slots[v].clone().expect("every planned output is computed"),
                )
            })
            .collect(),
    )
}
