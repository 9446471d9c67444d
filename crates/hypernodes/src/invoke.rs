//! Calling one node: a function with its arguments, or a nested pipeline (run or mapped), with the
//! arity check and the error that names the node and the pipeline path.

use std::sync::Arc;

use crate::cache::{node_key, output_key, Cache, Key};
use crate::callbacks::{Event, Stopwatch};
use crate::context::Context;
use crate::error::{Error, MapError, Result};
use crate::executor;
use crate::io::{Inputs, Outputs};

use crate::node::{Node, NodeKind, PipelineNode};
use crate::pipeline::{Pipeline, Plan};
use crate::value::{Value, ValueType};

/// Calls a node with its arguments (in parameter order) and returns its outputs. `wanted` lists the
/// output positions needed (`None`: all); a pipeline node computes only those and returns a
/// placeholder for the others.
pub(crate) fn call_node(
    node: &Node,
    args: Vec<Value>,
    wanted: Option<&[usize]>,
    ctx: &Context,
) -> Result<Vec<Value>> {
    match node.kind() {
        NodeKind::Pipeline(_) => {
            crate::stack::with_stack(|| call_node_here(node, args, wanted, ctx))
        }
        NodeKind::Func(_) => call_node_here(node, args, wanted, ctx),
    }
}

fn call_node_here(
    node: &Node,
    args: Vec<Value>,
    wanted: Option<&[usize]>,
    ctx: &Context,
) -> Result<Vec<Value>> {
    let outs = match node.kind() {
        NodeKind::Func(f) => f
            .call(args)
            .map_err(|source| node_error(node, source, ctx))?,
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
    check_arity(node, &outs)?;
    Ok(outs)
}

/// The error of a node's function failing at `ctx`: the engine's own errors keep their kind (a
/// bad argument gets the node's name), any other names the node, the pipeline path and the items.
pub(crate) fn node_error(node: &Node, source: crate::error::BoxError, ctx: &Context) -> Error {
    match source.downcast::<Error>() {
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
            items: ctx.items.to_vec(),
            source,
        },
    }
}

/// Checks that a node returned as many values as it declares outputs (the error names both).
pub fn check_arity(node: &Node, outs: &[Value]) -> Result<()> {
    if outs.len() != node.outputs().len() {
        return Err(Error::Arity {
            node: node.name().to_string(),
            outputs: node.output_names().map(String::from).collect(),
            expected: node.outputs().len(),
            got: outs.len(),
        });
    }
    Ok(())
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
pub(crate) fn collect_outputs(pipeline: &Pipeline, plan: &Plan, slots: &Slots) -> Outputs {
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
    .with_source(pipeline)
}

/// Keys of values, one per value (`None`: the value could not be keyed).
pub(crate) type Keys = Vec<Option<Key>>;

/// The values of one run, by value id, and their cache keys when a cache is in effect (no key
/// storage at all otherwise, which keeps the uncached path free of it).
#[derive(Clone)]
pub(crate) struct Slots {
    /// Values by value id.
    pub values: Vec<Option<Value>>,
    /// Merkle keys by value id, when a cache is in effect.
    pub keys: Option<Keys>,
}

impl Slots {
    /// The arguments of a node: values and (when keyed) keys of the value ids `ids`.
    pub(crate) fn args(&self, ids: &[usize]) -> (Vec<Value>, Option<Keys>) {
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
    pub(crate) fn set(&mut self, ids: &[usize], values: Vec<Value>, keys: Option<Keys>) {
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
pub(crate) type CallFn<'a> =
    dyn Fn(&Node, Vec<Value>, Option<&[usize]>, &Context) -> Result<Vec<Value>> + 'a;

/// The cache rules of one node call, in the engine's one place, for every executor: the engine's node step uses
/// them, and an executor that calls the node function itself (a framework executor's UDF, through
/// the binding) uses them as they are: [`NodeCache::lookup`] before the call, [`NodeCache::store`]
/// after.
pub struct NodeCache<'a> {
    node: &'a Node,
    wanted: Option<&'a [usize]>,
    /// The cache this node uses (none when off at this level, or for this node).
    cache: Option<&'a Arc<dyn Cache>>,
    /// Whether keys are computed (a cache is in effect at this level).
    keyed: bool,
    /// The call's key, when the node is cached and every input has a key.
    key: Option<Key>,
    types: Vec<Arc<dyn ValueType>>,
}

impl<'a> NodeCache<'a> {
    /// The cache protocol of calling `node` with inputs keyed `arg_keys` (`None`: no cache in
    /// effect at this level) and `cache` in effect; `wanted` lists the outputs needed.
    pub fn new(
        node: &'a Node,
        arg_keys: Option<&[Option<Key>]>,
        wanted: Option<&'a [usize]>,
        cache: Option<&'a Arc<dyn Cache>>,
    ) -> Self {
        Self::with_identity(node, None, arg_keys, wanted, cache)
    }

    /// As [`NodeCache::new`], with the node's code identity computed where the run started
    /// (`None`: computed here), so a worker process keys calls exactly as its caller would.
    pub fn with_identity(
        node: &'a Node,
        identity: Option<Key>,
        arg_keys: Option<&[Option<Key>]>,
        wanted: Option<&'a [usize]>,
        cache: Option<&'a Arc<dyn Cache>>,
    ) -> Self {
        if cache.is_none() && arg_keys.is_none() {
            // no cache in effect: nothing to key, look up or store
            return NodeCache {
                node,
                wanted,
                cache: None,
                keyed: false,
                key: None,
                types: Vec::new(),
            };
        }
        // A pipeline node whose pipeline switched caching off, or holds a `cache=false` node at
        // any depth, is not cached as a whole: that inner node runs every time.
        let inner_off =
            matches!(node.kind(), NodeKind::Pipeline(_)) && crate::cache::always_runs(node);
        let keyed = arg_keys.is_some();
        let cache = cache.filter(|_| node.cache() && !inner_off);
        let key = match (cache, arg_keys) {
            (Some(_), Some(keys)) => identity
                .or_else(|| crate::cache::keys_node_identity(node))
                .and_then(|identity| {
                    let inputs: Option<Vec<Key>> = keys.iter().copied().collect();
                    Some(node_key(&identity, &inputs?, wanted))
                }),
            _ => None,
        };
        let types = match key {
            Some(_) => node
                .outputs()
                .iter()
                .enumerate()
                .filter(|(p, _)| is_wanted(wanted, *p))
                .map(|(_, o)| o.ty.clone())
                .collect(),
            None => Vec::new(),
        };
        NodeCache {
            node,
            wanted,
            cache,
            keyed,
            key,
            types,
        }
    }

    /// The call's key (`None`: not cached).
    pub fn key(&self) -> Option<Key> {
        self.key
    }

    /// The stored outputs on a hit (a placeholder for outputs not wanted) and their keys.
    pub fn lookup(&self) -> Option<(Vec<Value>, Keys)> {
        let (c, k) = (self.cache?, self.key?);
        let stored = c.get(&k, &self.types)?;
        let mut stored = stored.into_iter();
        let n = self.node.outputs().len();
        let values: Vec<Value> = (0..n)
            .map(|p| match is_wanted(self.wanted, p) {
                true => stored.next().unwrap_or_else(unused),
                false => unused(),
            })
            .collect();
        let keys = (0..n).map(|p| Some(output_key(&k, p))).collect();
        Some((values, keys))
    }

    /// Stores computed outputs (a value that cannot be stored is reported once per node, and the
    /// run goes on) and returns their keys when keyed: derived from the call's key, or hashed from
    /// the values when the node is not cached, so downstream nodes can still hit. Returns whether
    /// the outputs were stored, too.
    pub fn store(&self, outs: &[Value]) -> (Option<Keys>, bool) {
        let mut stored = false;
        if let (Some(c), Some(k)) = (self.cache, self.key) {
            let kept: Vec<Value> = outs
                .iter()
                .enumerate()
                .filter(|(p, _)| is_wanted(self.wanted, *p))
                .map(|(_, v)| v.clone())
                .collect();
            match c.put(&k, &kept, &self.types) {
                Ok(()) => stored = true,
                Err(msg) => crate::warn::warn_once(
                    self.node.name(),
                    &format!("node '{}': result not cached: {msg}", self.node.name()),
                ),
            }
        }
        let outputs = self.node.outputs();
        let keys = self.keyed.then(|| {
            outs.iter()
                .enumerate()
                .map(|(p, value)| match self.key {
                    Some(k) => Some(output_key(&k, p)),
                    None if is_wanted(self.wanted, p) => outputs[p].ty.hash(value).ok(),
                    None => None,
                })
                .collect()
        });
        (keys, stored)
    }
}

/// Runs one node with the cache and callbacks in effect: a cache hit returns stored outputs (and
/// fires `NodeCached`); a miss calls `call`, fires `NodeStart`/`NodeEnd` (or `Error`) and stores the
/// outputs (see [`NodeCache`]).
pub(crate) fn step(
    node: &Node,
    args: Vec<Value>,
    arg_keys: Option<Keys>,
    wanted: Option<&[usize]>,
    ctx: &Context,
    call: &CallFn<'_>,
) -> Result<(Vec<Value>, Option<Keys>)> {
    let outputs = node.outputs();
    // without a cache in effect there is nothing to key, look up or store
    let protocol = (ctx.cache.is_some() || arg_keys.is_some())
        .then(|| NodeCache::new(node, arg_keys.as_deref(), wanted, ctx.cache.as_ref()));
    if let Some((values, keys)) = protocol.as_ref().and_then(|p| p.lookup()) {
        if ctx.observed() {
            let k = protocol
                .as_ref()
                .and_then(|p| p.key())
                .expect("a hit has a key");
            let signature = blake3::Hash::from_bytes(k).to_hex();
            ctx.emit(Event::NodeCached {
                node: node.name(),
                signature: signature.as_str(),
            });
        }
        return Ok((values, Some(keys)));
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
    let keys = protocol.and_then(|p| p.store(&outs).0);
    Ok((outs, keys))
}
