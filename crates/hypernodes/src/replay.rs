//! Records of nodes that ran elsewhere (a framework executor's workers, Daft's UDFs), replayed in
//! the caller as exactly the callback events, errors and outputs NodeExecutor gives for the same
//! item: the event order of a run and of a map item, the note on a node's error, the signature of
//! an item whose every node was a cache hit. A framework executor decides where nodes run; this is
//! where what they did becomes the engine's events, once.

use std::sync::Arc;
use std::time::Duration;

use crate::cache::{Key, KeyHasher};
use crate::callbacks::Event;
use crate::context::Context;
use crate::error::{BoxError, Error, Result};
use crate::invoke::{collect_outputs, Slots};
use crate::io::Outputs;
use crate::node::NodeKind;
use crate::pipeline::{Pipeline, Plan};
use crate::value::Value;

/// What one node did for one item, elsewhere. `E` carries the events a nested pipeline recorded
/// where it ran; the caller forwards them at the node's place (see [`replay_item`]).
pub enum NodeRecord<E> {
    /// Its outputs came from the cache (in the node's output order), under this signature (hex).
    Hit {
        /// The node's outputs.
        outputs: Vec<Value>,
        /// The cache key's hex digest, as `NodeCached` reports it.
        signature: String,
    },
    /// It was computed.
    Done {
        /// The node's outputs, in its output order.
        outputs: Vec<Value>,
        /// How long it took.
        duration: Duration,
        /// Events a nested pipeline node recorded.
        inner: E,
    },
    /// It failed.
    Failed {
        /// The node's error.
        error: BoxError,
        /// Whether the error already names its place (an engine error, or a nested pipeline's
        /// own, noted where it happened); otherwise the engine's node note is added.
        noted: bool,
        /// How long it ran.
        duration: Duration,
        /// Events a nested pipeline node recorded before it failed.
        inner: E,
    },
    /// It did not run: a node it depends on failed.
    Skipped,
}

/// One item (or the one run) of a level, to replay.
pub struct ItemReplay<'a> {
    /// The pipeline of the level.
    pub pipeline: &'a Pipeline,
    /// The plan the records follow.
    pub plan: &'a Plan,
    /// The map item's index (`None`: a run, not a map item).
    pub index: Option<usize>,
    /// The root inputs of the item by name (given, bound, defaults and the mapped values).
    pub inputs: &'a [(Arc<str>, Value)],
    /// With a cache in effect, the keys of the item's mapped inputs in `map_over` order (the
    /// signature of `MapItemCached`); `None` without a cache.
    pub item_keys: Option<&'a [Key]>,
}

/// Replays one item's node records (by node index) at `ctx`'s level, in plan order, firing
/// NodeExecutor's events; `forward` delivers a nested pipeline's recorded events at the item's
/// context, between the node's nested-pipeline start and end. Returns the item's outputs, or the
/// first failing node's error (with the engine's note, unless it already has one).
pub fn replay_item<E>(
    ctx: &Context,
    item: &ItemReplay<'_>,
    mut records: Vec<(usize, NodeRecord<E>)>,
    forward: &dyn Fn(&Context, E),
) -> Result<Outputs> {
    let (pipeline, plan) = (item.pipeline, item.plan);
    let g = pipeline.graph();
    let level = match item.index {
        Some(i) => ctx.map_item(i),
        None => ctx.clone(),
    };
    let observed = level.observed();
    if let Some(index) = item.index {
        level.emit(Event::MapItemStart { index });
    }
    let mut slots = Slots {
        values: vec![None; g.names.len()],
        keys: None,
    };
    for (name, value) in item.inputs {
        if let Some(&v) = g.ids.get(&**name) {
            slots.values[v] = Some(value.clone());
        }
    }
    if observed {
        let inputs: Vec<(Arc<str>, Value)> = plan
            .inputs
            .iter()
            .filter_map(|&v| Some((g.names[v].clone(), slots.values[v].clone()?)))
            .collect();
        level.emit(Event::PipelineStart {
            pipeline: pipeline.name(),
            inputs: &inputs,
        });
    }
    records.sort_by_key(|(n, _)| *n);
    let mut by_node: Vec<Option<NodeRecord<E>>> =
        (0..pipeline.nodes().len()).map(|_| None).collect();
    for (n, rec) in records {
        if let Some(slot) = by_node.get_mut(n) {
            *slot = Some(rec);
        }
    }
    let mut all_hits = true;
    let mut total = Duration::ZERO;
    for &n in &plan.nodes {
        let node = &pipeline.nodes()[n];
        let wanted = plan.wanted(n);
        let is_wanted = |p: usize| wanted.is_none_or(|w| w.contains(&p));
        let outputs = match by_node[n].take() {
            None | Some(NodeRecord::Skipped) => continue,
            Some(NodeRecord::Hit { outputs, signature }) => {
                level.emit(Event::NodeCached {
                    node: node.name(),
                    signature: &signature,
                });
                outputs
            }
            Some(NodeRecord::Done {
                outputs,
                duration,
                inner,
            }) => {
                all_hits = false;
                let child = started(&level, pipeline, n, &slots, observed);
                forward(&level, inner);
                total += duration;
                if let Some(child) = &child {
                    level.emit(Event::NestedEnd {
                        parent: level.pipeline(),
                        child,
                        duration,
                    });
                }
                if observed {
                    let named: Vec<(Arc<str>, Value)> = node
                        .outputs()
                        .iter()
                        .zip(&outputs)
                        .enumerate()
                        .filter(|(p, _)| is_wanted(*p))
                        .map(|(_, (o, v))| (o.name.clone(), v.clone()))
                        .collect();
                    level.emit(Event::NodeEnd {
                        node: node.name(),
                        outputs: &named,
                        duration,
                    });
                }
                outputs
            }
            Some(NodeRecord::Failed {
                error,
                noted,
                inner,
                ..
            }) => {
                started(&level, pipeline, n, &slots, observed);
                forward(&level, inner);
                let err = match (noted, node.kind()) {
                    (false, NodeKind::Func(_)) => Error::Node {
                        node: node.name().to_string(),
                        path: level.path_strings(),
                        items: level.items.to_vec(),
                        source: error,
                    },
                    _ => Error::Foreign(error),
                };
                level.emit(Event::Error {
                    node: node.name(),
                    error: &err,
                });
                return Err(err);
            }
        };
        slots.set(&g.node_outputs[n], outputs, None);
    }
    let out = collect_outputs(pipeline, plan, &slots);
    if observed {
        let named: Vec<(Arc<str>, Value)> =
            out.iter().map(|(n, v)| (n.clone(), v.clone())).collect();
        level.emit(Event::PipelineEnd {
            pipeline: pipeline.name(),
            outputs: &named,
            duration: total,
        });
    }
    if let Some(index) = item.index {
        level.emit(Event::MapItemEnd {
            index,
            duration: total,
        });
        if let (Some(keys), true) = (item.item_keys, all_hits) {
            let signature = item_signature(keys);
            level.emit(Event::MapItemCached {
                index,
                signature: &signature,
            });
        }
    }
    Ok(out)
}

/// Fires a computed node's start (and, for a pipeline node, its nested pipeline's start); returns
/// the nested pipeline's name.
fn started<'p>(
    level: &Context,
    pipeline: &'p Pipeline,
    n: usize,
    slots: &Slots,
    observed: bool,
) -> Option<&'p str> {
    let node = &pipeline.nodes()[n];
    if observed {
        let g = pipeline.graph();
        let inputs: Vec<(Arc<str>, Value)> = node
            .params()
            .iter()
            .zip(&g.node_inputs[n])
            .filter_map(|(p, &v)| Some((p.name.clone(), slots.values[v].clone()?)))
            .collect();
        level.emit(Event::NodeStart {
            node: node.name(),
            inputs: &inputs,
        });
    }
    match node.kind() {
        NodeKind::Pipeline(pn) => {
            let child = pn.pipeline.name();
            level.emit(Event::NestedStart {
                parent: level.pipeline(),
                child,
            });
            Some(child)
        }
        NodeKind::Func(_) => None,
    }
}

/// The signature `MapItemCached` reports for an item: a digest of its mapped inputs' keys, in
/// `map_over` order (NodeExecutor's and every framework executor's).
pub(crate) fn item_signature(keys: &[Key]) -> String {
    let mut h = KeyHasher::new();
    for k in keys {
        h.field("item", k);
    }
    blake3::Hash::from_bytes(h.finish()).to_hex().to_string()
}
