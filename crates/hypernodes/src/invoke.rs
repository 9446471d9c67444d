//! Calling one node: a function with its arguments, or a nested pipeline (run or mapped), with the
//! arity check and the error that names the node and the pipeline path.

use std::sync::Arc;

use crate::cache::{node_key, output_key, Key};
use crate::callbacks::{Event, Stopwatch};
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
                Ok(inner) => match *inner {
                    Error::BadArgument { param, message, .. } => Error::BadArgument {
                        node: node.name().to_string(),
                        param,
                        message,
                    },
                    other => other,
                },
                Err(source) => Error::Node {
                    node: node.name().to_string(),
                    path: ctx.path_strings(),
                    source,
                },
            })?,
        NodeKind::Pipeline(pn) => {
            let (parent, child) = (ctx.pipeline(), pn.pipeline.name());
            ctx.emit(Event::NestedStart { parent, child });
            let t = Stopwatch::start(ctx);
            let outs = call_pipeline(node, pn, args, wanted, ctx)?;
            ctx.emit(Event::NestedEnd {
                parent,
                child,
                duration: t.elapsed(),
            });
            outs
        }
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
pub fn collect_outputs(pipeline: &Pipeline, plan: &Plan, slots: &[Option<Slot>]) -> Outputs {
    let g = pipeline.graph();
    Outputs::from_pairs(
        plan.outputs
            .iter()
            .map(|&v| {
                let slot = slots[v].as_ref().expect("every planned output is computed");
                (g.names[v].clone(), slot.value.clone())
            })
            .collect(),
    )
}

/// A value with its cache key (when a cache is in effect and the value could be keyed).
#[derive(Clone)]
pub struct Slot {
    /// The value.
    pub value: Value,
    /// Its Merkle key.
    pub key: Option<Key>,
}

/// Named values for an event.
fn named(names: impl Iterator<Item = Arc<str>>, values: &[Value]) -> Vec<(Arc<str>, Value)> {
    names.zip(values.iter().cloned()).collect()
}

fn is_wanted(wanted: Option<&[usize]>, pos: usize) -> bool {
    wanted.is_none_or(|w| w.contains(&pos))
}

/// How [`step`] calls a node on a miss: `(node, args, wanted outputs, context)`.
pub type CallFn<'a> =
    dyn Fn(&Node, Vec<Value>, Option<&[usize]>, &Context) -> Result<Vec<Value>> + 'a;

/// Runs one node with the cache and callbacks in effect: a cache hit returns stored outputs (and
/// fires `NodeCached`); a miss calls `call`, fires `NodeStart`/`NodeEnd` (or `Error`) and stores the
/// outputs. Output keys are derived from the node's key, or hashed from the values when the node is
/// not cached, so downstream nodes can still hit.
pub fn step(
    node: &Node,
    args: Vec<Slot>,
    wanted: Option<&[usize]>,
    ctx: &Context,
    call: &CallFn<'_>,
) -> Result<Vec<Slot>> {
    let outputs = node.outputs();
    // A pipeline node whose pipeline switched caching off is not cached as a whole either.
    let inner_off = matches!(node.kind(), NodeKind::Pipeline(pn)
        if matches!(pn.pipeline.cache_setting(), crate::pipeline::Setting::Off));
    let cache = ctx.cache.as_ref().filter(|_| node.cache() && !inner_off);
    let key = cache.and_then(|_| {
        let identity = crate::cache::keys_node_identity(node)?;
        let inputs: Option<Vec<Key>> = args.iter().map(|s| s.key).collect();
        Some(node_key(&identity, &inputs?, wanted))
    });
    let types: Vec<_> = match key {
        Some(_) => outputs
            .iter()
            .enumerate()
            .filter(|(p, _)| is_wanted(wanted, *p))
            .map(|(_, o)| o.ty.clone())
            .collect(),
        None => Vec::new(),
    };
    if let (Some(c), Some(k)) = (cache, key) {
        if let Some(stored) = c.get(&k, &types) {
            let mut stored = stored.into_iter();
            let values: Vec<Value> = (0..outputs.len())
                .map(|p| match is_wanted(wanted, p) {
                    true => stored.next().unwrap_or_else(unused),
                    false => unused(),
                })
                .collect();
            let signature = blake3::Hash::from_bytes(k).to_hex();
            ctx.emit(Event::NodeCached {
                node: node.name(),
                signature: signature.as_str(),
            });
            return Ok(values
                .into_iter()
                .enumerate()
                .map(|(p, value)| Slot {
                    value,
                    key: Some(output_key(&k, p)),
                })
                .collect());
        }
    }
    ctx.note_miss();
    let values: Vec<Value> = args.into_iter().map(|s| s.value).collect();
    if ctx.observed() {
        let inputs = named(node.params().iter().map(|p| p.name.clone()), &values);
        ctx.emit(Event::NodeStart {
            node: node.name(),
            inputs: &inputs,
        });
    }
    let t = Stopwatch::start(ctx);
    let outs = match call(node, values, wanted, ctx) {
        Ok(o) => o,
        Err(e) => {
            ctx.emit(Event::Error {
                node: node.name(),
                error: &e,
            });
            return Err(e);
        }
    };
    if ctx.observed() {
        let named_outs: Vec<(Arc<str>, Value)> = outputs
            .iter()
            .zip(&outs)
            .enumerate()
            .filter(|(p, _)| is_wanted(wanted, *p))
            .map(|(_, (o, v))| (o.name.clone(), v.clone()))
            .collect();
        ctx.emit(Event::NodeEnd {
            node: node.name(),
            outputs: &named_outs,
            duration: t.elapsed(),
        });
    }
    if let (Some(c), Some(k)) = (cache, key) {
        let kept: Vec<Value> = outs
            .iter()
            .enumerate()
            .filter(|(p, _)| is_wanted(wanted, *p))
            .map(|(_, v)| v.clone())
            .collect();
        if let Err(msg) = c.put(&k, &kept, &types) {
            crate::warn::warn_once(
                node.name(),
                &format!("node '{}': result not cached: {msg}", node.name()),
            );
        }
    }
    let keyed = ctx.cache.is_some();
    Ok(outs
        .into_iter()
        .enumerate()
        .map(|(p, value)| {
            let key = match key {
                Some(k) => Some(output_key(&k, p)),
                None if keyed && is_wanted(wanted, p) => outputs[p].ty.hash(&value).ok(),
                None => None,
            };
            Slot { value, key }
        })
        .collect())
}
