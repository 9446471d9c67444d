//! Maps over pipelines with dual nodes (nodes with a batch implementation, see
//! [`crate::node::NodeFn::batch`]): the items go through the plan stage by stage. Runs of ordinary
//! nodes run per item, in the map's mode; a dual node runs once per batch of the items that missed
//! the cache (hits come from the cache and are left out of the batch). Every item still gets its
//! own events (map item, pipeline, node start/end or cached), so callbacks and progress count items
//! as usual; the items' events interleave as in a threaded map.

use std::sync::{Arc, Mutex};

use crate::cache::Key;
use crate::callbacks::{Event, Stopwatch};
use crate::context::Context;
use crate::error::{Error, Result};
use crate::executor::blocking::blocking;
use crate::executor::node_executor::{pipeline_started, ItemSlots};
use crate::executor::{items as on, Mode, NodeExecutor};
use crate::invoke::{check_arity, collect_outputs, node_error, NodeCache, Slots};
use crate::io::{Inputs, Outputs};
use crate::map::OnError;
use crate::node::{BatchArg, Node};
use crate::pipeline::{Pipeline, Plan};
use crate::value::Value;

/// Whether a plan has a dual node, so a map of it takes the batch path.
pub(super) fn has_batch(pipeline: &Pipeline, plan: &Plan) -> bool {
    plan.nodes
        .iter()
        .any(|&n| pipeline.nodes()[n].batch_fn().is_some())
}

/// The items of a map to run (item `i` of `items` is item `first + i` of the map).
pub(super) struct Items<'a> {
    pub pipeline: &'a Pipeline,
    pub plan: &'a Plan,
    /// The inputs every item shares (those not mapped).
    pub inputs: &'a Inputs,
    pub map_over: &'a [String],
    pub items: &'a [Vec<Value>],
    pub first: usize,
}

/// One item on its way through the stages.
struct Item {
    ctx: Context,
    slots: Slots,
    signature: Option<Key>,
    item_watch: Stopwatch,
    run_watch: Stopwatch,
    /// With `on_error` `Continue`: the item's error; its later stages do not run.
    failed: Option<Error>,
}

/// A stage of the plan: a run of ordinary nodes, or one dual node.
enum Stage {
    PerItem(Vec<usize>),
    Batch(usize),
}

fn stages(pipeline: &Pipeline, plan: &Plan) -> Vec<Stage> {
    let mut out = Vec::new();
    let mut run = Vec::new();
    for &n in &plan.nodes {
        if pipeline.nodes()[n].batch_fn().is_some() {
            if !run.is_empty() {
                out.push(Stage::PerItem(std::mem::take(&mut run)));
            }
            out.push(Stage::Batch(n));
        } else {
            run.push(n);
        }
    }
    if !run.is_empty() {
        out.push(Stage::PerItem(run));
    }
    out
}

/// Which values vary per item: the mapped inputs and everything computed from them.
fn varying(pipeline: &Pipeline, plan: &Plan, mapped: &[Option<usize>]) -> Vec<bool> {
    let g = pipeline.graph();
    let mut vary = vec![false; g.names.len()];
    for id in mapped.iter().flatten() {
        vary[*id] = true;
    }
    for &n in &plan.nodes {
        if g.node_inputs[n].iter().any(|&v| vary[v]) {
            for &v in g.node_outputs[n].iter() {
                vary[v] = true;
            }
        }
    }
    vary
}

/// Items that go through the stages together (a multiple of the largest batch size): bounds the
/// memory of a long map; batches never span two windows.
pub(super) fn window(pipeline: &Pipeline, plan: &Plan) -> usize {
    let largest = plan
        .nodes
        .iter()
        .filter_map(|&n| pipeline.nodes()[n].batch_fn().map(|b| b.batch_size()))
        .max()
        .unwrap_or(1);
    largest.saturating_mul(4).max(1024)
}

/// Runs the items of a map whose plan has dual nodes (see the module's doc).
pub(super) fn run_items(
    exec: &NodeExecutor,
    work: &Items<'_>,
    workers: usize,
    on_error: OnError,
    ctx: &Context,
) -> Result<Vec<Result<Outputs>>> {
    let (pipeline, plan) = (work.pipeline, work.plan);
    let base = exec.slots(pipeline, plan, work.inputs, work.map_over, ctx)?;
    let g = pipeline.graph();
    let fill = ItemSlots::new(pipeline, plan, work.map_over);
    let vary = varying(pipeline, plan, &fill.ids);
    let stages = stages(pipeline, plan);
    let mut out = Vec::with_capacity(work.items.len());
    let size = window(pipeline, plan);
    for (w, part) in work.items.chunks(size).enumerate() {
        let first = work.first + w * size;
        let mut states: Vec<Mutex<Item>> = Vec::with_capacity(part.len());
        for (i, item) in part.iter().enumerate() {
            let index = first + i;
            let item_ctx = ctx.map_item(index);
            item_ctx.emit(Event::MapItemStart { index });
            let item_watch = Stopwatch::start(&item_ctx);
            let (slots, sig) = fill.fill(&base, item);
            pipeline_started(pipeline, plan, &slots, &item_ctx);
            let run_watch = Stopwatch::start(&item_ctx);
            states.push(Mutex::new(Item {
                ctx: item_ctx,
                slots,
                signature: ctx.cache.is_some().then(|| sig.finish()),
                failed: None,
                item_watch,
                run_watch,
            }));
        }
        for stage in &stages {
            match stage {
                Stage::PerItem(nodes) => {
                    let run = |i: usize| -> Result<()> {
                        let mut item = states[i].lock().expect("item state poisoned");
                        let item = &mut *item;
                        if item.failed.is_some() {
                            return Ok(());
                        }
                        for &n in nodes {
                            let args = item.slots.args(&g.node_inputs[n]);
                            match exec.step(pipeline, plan, n, args, &item.ctx) {
                                Ok((values, keys)) => {
                                    item.slots.set(&g.node_outputs[n], values, keys)
                                }
                                Err(e) => return keep_or_fail(item, e, on_error),
                            }
                        }
                        Ok(())
                    };
                    per_item(exec.map_execution(), ctx, states.len(), workers, &run)?;
                }
                Stage::Batch(n) => {
                    batch_step(pipeline, plan, *n, &mut states, &vary, on_error, ctx)?
                }
            }
        }
        for (i, item) in states.into_iter().enumerate() {
            let item = item.into_inner().expect("item state poisoned");
            out.push(match item.failed {
                Some(e) => Err(e),
                None => Ok(finish(pipeline, plan, item, first + i)),
            });
        }
    }
    Ok(out)
}

/// An item's outputs, after its closing events.
fn finish(pipeline: &Pipeline, plan: &Plan, item: Item, index: usize) -> Outputs {
    let outputs = collect_outputs(pipeline, plan, &item.slots);
    if item.ctx.observed() {
        let named: Vec<(Arc<str>, Value)> = outputs
            .iter()
            .map(|(n, v)| (n.clone(), v.clone()))
            .collect();
        item.ctx.emit(Event::PipelineEnd {
            pipeline: pipeline.name(),
            outputs: &named,
            duration: item.run_watch.elapsed(),
        });
    }
    item.ctx.emit(Event::MapItemEnd {
        index,
        duration: item.item_watch.elapsed(),
    });
    if let (Some(sig), true) = (item.signature, item.ctx.all_hits()) {
        let signature = blake3::Hash::from_bytes(sig).to_hex();
        item.ctx.emit(Event::MapItemCached {
            index,
            signature: signature.as_str(),
        });
    }
    outputs
}

/// With `on_error` `Continue`, an item's error is kept in its place (an interrupt still stops the
/// map); otherwise it fails the map.
fn keep_or_fail(item: &mut Item, e: Error, on_error: OnError) -> Result<()> {
    match (on_error, e) {
        (OnError::Continue, e) if !matches!(e, Error::Interrupted) => {
            item.failed = Some(e);
            Ok(())
        }
        (_, e) => Err(e),
    }
}

/// Runs `f` for each item in the map's mode.
fn per_item(
    mode: Mode,
    ctx: &Context,
    n: usize,
    workers: usize,
    f: &(dyn Fn(usize) -> Result<()> + Sync),
) -> Result<()> {
    match mode {
        _ if workers <= 1 => (0..n).try_for_each(f),
        Mode::Sequential => (0..n).try_for_each(f),
        Mode::Threaded | Mode::Async => {
            blocking(|| on::on_threads(n, workers, &ctx.run.cancelled, f)).map(drop)
        }
        Mode::Parallel => {
            blocking(|| on::on_rayon(ctx.map_depth, n, workers, &ctx.run.cancelled, f)).map(drop)
        }
    }
}

/// A missed item waiting for its batch.
struct Miss<'a> {
    item: usize,
    args: Vec<Value>,
    cache: NodeCache<'a>,
}

/// Runs dual node `n` over all items: hits from the cache, misses in batches.
#[allow(clippy::too_many_arguments)]
fn batch_step(
    pipeline: &Pipeline,
    plan: &Plan,
    n: usize,
    states: &mut [Mutex<Item>],
    vary: &[bool],
    on_error: OnError,
    ctx: &Context,
) -> Result<()> {
    let mut items: Vec<&mut Item> = states
        .iter_mut()
        .map(|m| m.get_mut().expect("item state poisoned"))
        .collect();
    let g = pipeline.graph();
    let node = &pipeline.nodes()[n];
    let size = node
        .batch_fn()
        .expect("a batch stage has a dual node")
        .batch_size();
    let wanted = plan.wanted(n);
    let params = &g.node_inputs[n];
    let outs = &g.node_outputs[n];
    let varies: Vec<bool> = params.iter().map(|&v| vary[v]).collect();
    let mut misses: Vec<Miss<'_>> = Vec::new();
    for (i, item) in items.iter_mut().enumerate() {
        if item.failed.is_some() {
            continue;
        }
        let (args, keys) = item.slots.args(params);
        let cache = NodeCache::new(node, keys.as_deref(), wanted, ctx.cache.as_ref());
        if let Some((values, keys)) = cache.lookup() {
            if item.ctx.observed() {
                let k = cache.key().expect("a hit has a key");
                let signature = blake3::Hash::from_bytes(k).to_hex();
                item.ctx.emit(Event::NodeCached {
                    node: node.name(),
                    signature: signature.as_str(),
                });
            }
            item.slots.set(outs, values, Some(keys));
            continue;
        }
        item.ctx.note_miss();
        if item.ctx.observed() {
            let inputs: Vec<(Arc<str>, Value)> = node
                .params()
                .iter()
                .map(|p| p.name.clone())
                .zip(args.iter().cloned())
                .collect();
            item.ctx.emit(Event::NodeStart {
                node: node.name(),
                inputs: &inputs,
            });
        }
        misses.push(Miss {
            item: i,
            args,
            cache,
        });
    }
    let mut misses = misses.into_iter().peekable();
    while misses.peek().is_some() {
        let mut chunk: Vec<Miss<'_>> = misses.by_ref().take(size).collect();
        let watch = Stopwatch::start(ctx);
        let first = &items[chunk[0].item].ctx;
        let args = chunk
            .iter_mut()
            .map(|m| std::mem::take(&mut m.args))
            .collect();
        let rows =
            call_batch(node, args, &varies).map_err(|failure| batch_failure(node, failure, first));
        let rows = match rows {
            Ok(rows) => rows,
            Err(e) => {
                for m in &chunk {
                    items[m.item].ctx.emit(Event::Error {
                        node: node.name(),
                        error: &e,
                    });
                }
                if on_error == OnError::Raise || matches!(e, Error::Interrupted) {
                    return Err(e);
                }
                // every item of the batch failed with it: the first holds the error itself, the
                // others an error naming the node and that item
                let first_index = items[chunk[0].item].ctx.items.last().copied().unwrap_or(0);
                let mut e = Some(e);
                for m in &chunk {
                    let err = e.take().unwrap_or_else(|| Error::BatchFailed {
                        node: node.name().to_string(),
                        item: first_index,
                    });
                    items[m.item].failed = Some(err);
                }
                continue;
            }
        };
        let took = watch.elapsed();
        for (m, row) in chunk.into_iter().zip(rows) {
            let item = &mut items[m.item];
            if item.ctx.observed() {
                let named: Vec<(Arc<str>, Value)> = node
                    .outputs()
                    .iter()
                    .zip(&row)
                    .enumerate()
                    .filter(|(p, _)| wanted.is_none_or(|w| w.contains(p)))
                    .map(|(_, (o, v))| (o.name.clone(), v.clone()))
                    .collect();
                item.ctx.emit(Event::NodeEnd {
                    node: node.name(),
                    outputs: &named,
                    duration: took,
                });
            }
            let (keys, _) = m.cache.store(&row);
            item.slots.set(outs, row, keys);
        }
    }
    Ok(())
}

/// The error of a failed batch call of `node`; `first` is the context of the batch's first item
/// (the function's own error is noted with it).
pub(super) fn batch_failure(node: &Node, failure: BatchFailure, first: &Context) -> Error {
    match failure {
        BatchFailure::Raised(source) => node_error(node, source, first),
        BatchFailure::Invalid(e) => e,
    }
}

/// Why a batch call failed: the batch function raised, or it returned the wrong shape.
#[derive(Debug)]
pub enum BatchFailure {
    /// The batch function's own error.
    Raised(crate::error::BoxError),
    /// The engine's error: no batch implementation, a wrong number of rows, a row of the wrong
    /// arity (each names the node).
    Invalid(Error),
}

/// Calls a dual node's batch function on `rows` (each item's arguments, in parameter order):
/// parameters marked in `varies` travel as the batch's values, the others as the first row's value.
/// Checks that it returns one row per item, each with one value per output (the errors name the
/// node and both lengths). Any executor that batches items itself (a framework executor's UDF,
/// through the binding) calls this.
pub fn call_batch(
    node: &Node,
    rows: Vec<Vec<Value>>,
    varies: &[bool],
) -> std::result::Result<Vec<Vec<Value>>, BatchFailure> {
    let batch = node.batch_fn().ok_or_else(|| {
        BatchFailure::Invalid(Error::Config(format!(
            "node '{}' has no batch implementation",
            node.name()
        )))
    })?;
    let len = rows.len();
    if len == 0 {
        return Ok(Vec::new());
    }
    let mut columns: Vec<Vec<Value>> = varies.iter().map(|_| Vec::with_capacity(len)).collect();
    for row in rows {
        for (col, v) in columns.iter_mut().zip(row) {
            col.push(v);
        }
    }
    let args = columns
        .into_iter()
        .zip(varies)
        .map(|(col, &v)| match v {
            true => BatchArg::Items(col),
            false => BatchArg::Shared(col.into_iter().next().expect("a batch has an item")),
        })
        .collect();
    let out = batch.call_batch(args, len).map_err(BatchFailure::Raised)?;
    if out.len() != len {
        return Err(BatchFailure::Invalid(Error::BatchLength {
            node: node.name().to_string(),
            expected: len,
            got: out.len(),
        }));
    }
    for row in &out {
        check_arity(node, row).map_err(BatchFailure::Invalid)?;
    }
    Ok(out)
}
