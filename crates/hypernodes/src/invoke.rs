//! Calling one node: a function with its arguments, or a nested pipeline (run or mapped), with the
//! arity check and the error that names the node and the pipeline path.

use crate::context::Context;
use crate::error::{Error, Result};
use crate::executor;
use crate::io::{Inputs, Outputs};
use crate::node::{Node, NodeKind, PipelineNode};
use crate::pipeline::{Pipeline, Plan};
use crate::value::Value;

/// Calls node `n` of `pipeline` with its arguments (in parameter order) and returns its outputs.
pub fn call_node(node: &Node, args: Vec<Value>, ctx: &Context) -> Result<Vec<Value>> {
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
        NodeKind::Pipeline(pn) => call_pipeline(node, pn, args, ctx)?,
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
    ctx: &Context,
) -> Result<Vec<Value>> {
    let inputs: Inputs = pn
        .inner_inputs
        .iter()
        .map(|n| n.to_string())
        .zip(args)
        .collect();
    let selected = pn.selected.as_deref();
    if pn.map_over.is_empty() {
        let outs = executor::run_nested(&pn.pipeline, inputs, selected, ctx)?;
        return Ok(pick(pn, &outs));
    }
    let results = executor::map_nested(
        &pn.pipeline,
        inputs,
        &pn.map_over,
        pn.map_mode,
        selected,
        ctx,
    )?;
    let _ = node;
    Ok(pn
        .inner_outputs
        .iter()
        .map(|name| {
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

fn pick(pn: &PipelineNode, outs: &Outputs) -> Vec<Value> {
    pn.inner_outputs
        .iter()
        .map(|name| {
            outs.value(name)
                .expect("a nested run returns every selected output")
                .clone()
        })
        .collect()
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
