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
pub fn collect_outputs(pipeline: &Pipeline, plan: &Plan, slots: &Slots) -> Outputs {
    let g = pipeline.graph();
    Outputs::from_pairs(
        plan.outputs
            .iter()
            .map(|&v| {
                let value = slots.values[v]
                    .as_ref()
                    .expect("every planned output is computed");
                (g.names[v].clone(), value.clone())
            })
            .collect(),
    )
}

/// Keys of values, one per value (`None`: the value could not be keyed).
pub type Keys = Vec<Option<Key>>;

/// The values of one run, by value id, and their cache keys when a cache is in effect (no key
/// storage at all otherwise, which keeps the uncached path free of it).
#[derive(Clone)]
pub struct Slots {
    /// Values by value id.
    pub values: Vec<Option<Value>>,
    /// Merkle keys by value id, when a cache is in effect.
    pub keys: Option<Keys>,
}

impl Slots {
    /// The arguments of a node: values and (when keyed) keys of the value ids `ids`.
    pub fn args(&self, ids: &[usize]) -> (Vec<Value>, Option<Keys>) {
        let values = ids
            .iter()
            .map(|&v| {
                self.values[v]
                    .clone()
                    .expect("a node's inputs are ready before it runs")
            })
            .collect();
        let keys = self
            .keys
            .as_ref()
            .map(|k| ids.iter().map(|&v| k[v]).collect());
        (values, keys)
    }

    /// Stores a node's outputs (and their keys) under the value ids `ids`.
    pub fn set(&mut self, ids: &[usize], values: Vec<Value>, keys: Option<Keys>) {
        for (&v, val) in ids.iter().zip(values) {
            self.values[v] = Some(val);
        }
        if let (Some(all), Some(keys)) = (&mut self.keys, keys) {
            for (&v, k) in ids.iter().zip(keys) {
                all[v] = k;
            }
        }
    }
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
/// outputs. Output keys (returned when `arg_keys` is given, i.e. a cache is in effect) are derived
/// from the node's key, or hashed from the values when the node is not cached, so downstream nodes
/// can still hit.
pub fn step(
    node: &Node,
    args: Vec<Value>,
    arg_keys: Option<Keys>,
    wanted: Option<&[usize]>,
    ctx: &Context,
    call: &CallFn<'_>,
) -> Result<(Vec<Value>, Option<Keys>)> {
    let outputs = node.outputs();
    // A pipeline node whose pipeline switched caching off, or holds a `cache=false` node at any
    // depth, is not cached as a whole: that inner node runs every time.
    let inner_off = matches!(node.kind(), NodeKind::Pipeline(_)) && crate::cache::always_runs(node);
    let cache = ctx.cache.as_ref().filter(|_| node.cache() && !inner_off);
    let key = match (cache, &arg_keys) {
        (Some(_), Some(keys)) => crate::cache::keys_node_identity(node).and_then(|identity| {
            let inputs: Option<Vec<Key>> = keys.iter().copied().collect();
            Some(node_key(&identity, &inputs?, wanted))
        }),
        _ => None,
    };
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
            let keys = (0..outputs.len())
                .map(|p| Some(output_key(&k, p)))
                .collect();
            return Ok((values, Some(keys)));
        }
    }
    ctx.note_miss();
    if ctx.observed() {
        let inputs = named(node.params().iter().map(|p| p.name.clone()), &args);
        ctx.emit(Event::NodeStart {
            node: node.name(),
            inputs: &inputs,
        });
    }
    let t = Stopwatch::start(ctx);
    let outs = match call(node, args, wanted, ctx) {
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
    let keys = arg_keys.map(|_| {
        outs.iter()
            .enumerate()
            .map(|(p, value)| match key {
                Some(k) => Some(output_key(&k, p)),
                None if is_wanted(wanted, p) => outputs[p].ty.hash(value).ok(),
                None => None,
            })
            .collect()
    });
    Ok((outs, keys))
}
