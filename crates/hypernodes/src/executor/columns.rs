//! The columnar path of a map: when every node of the plan is a dual node whose batch function
//! takes whole columns ([`crate::node::BatchFn::columnar`]), and no callbacks are in effect, the
//! map never goes item by item through the plan. Each node is called once per batch on a slice of
//! its input columns, its results stay list values (one per batch, or per window with a cache),
//! and the map's results are those columns ([`Columns`]). Without a cache nothing is done per
//! item: no item context, slots, events, keys or output rows. With a cache the items' keys are
//! computed and each cached node makes one lookup pass over its items: hits are left out of the
//! batches, misses are stored, exactly as the item path does. Any other map (callbacks, ordinary
//! nodes, `on_error="continue"`, lists the front cannot slice) takes the item path, whose results
//! are the same.

use std::sync::Arc;

use crate::cache::Key;
use crate::context::Context;
use crate::error::{Error, MapError, Result};
use crate::executor::batch::{batch_failure, BatchFailure};
use crate::invoke::NodeCache;
use crate::io::{Inputs, Outputs};
use crate::map::MapMode;
use crate::node::{ColumnArg, Node};
use crate::pipeline::{Pipeline, Plan};
use crate::value::{Value, ValueType};

/// A map's results, as rows (one [`Outputs`] per item) or as columns ([`Columns`]).
pub enum MapResults {
    /// One result per item, in item order.
    Rows(Vec<Outputs>),
    /// The results of a map that took the columnar path.
    Columns(Columns),
}

impl MapResults {
    /// The results as rows (columns are split into items).
    pub fn into_rows(self) -> Result<Vec<Outputs>> {
        match self {
            MapResults::Rows(rows) => Ok(rows),
            MapResults::Columns(c) => c.into_rows(),
        }
    }
}

/// A map's results held as columns: for each output (in the order rows would list them), its
/// values in item order as chunks, each a list value of the output's port type (one chunk per
/// batch call of the node that made it; with a cache, one per window of items).
pub struct Columns {
    len: usize,
    outputs: Vec<(Arc<str>, Vec<Value>)>,
    types: Vec<Arc<dyn ValueType>>,
    source: Pipeline,
}

impl Columns {
    /// The number of items.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the map had no items.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Each output's name and chunks (list values whose items, in order, are the items' values).
    pub fn outputs(&self) -> &[(Arc<str>, Vec<Value>)] {
        &self.outputs
    }

    /// One [`Outputs`] per item, as the item path gives them.
    pub fn into_rows(self) -> Result<Vec<Outputs>> {
        let mut per_output = Vec::with_capacity(self.outputs.len());
        for ((name, chunks), ty) in self.outputs.iter().zip(&self.types) {
            let mut items = Vec::with_capacity(self.len);
            for chunk in chunks {
                items.extend(ty.split(chunk).map_err(|reason| {
                    Error::Map(MapError::NotASequence {
                        pipeline: self.source.name().to_string(),
                        name: name.to_string(),
                        reason,
                    })
                })?);
            }
            per_output.push(items.into_iter());
        }
        Ok((0..self.len)
            .map(|_| {
                let pairs = self
                    .outputs
                    .iter()
                    .zip(per_output.iter_mut())
                    .map(|((name, _), items)| {
                        (name.clone(), items.next().expect("a value per item"))
                    })
                    .collect();
                Outputs::from_pairs(pairs).with_source(&self.source)
            })
            .collect())
    }
}

/// Whether a map of `plan` may take the columnar path (see the module's doc).
pub(super) fn eligible(pipeline: &Pipeline, plan: &Plan, ctx: &Context) -> bool {
    !ctx.observed()
        && !plan.nodes.is_empty()
        && plan
            .nodes
            .iter()
            .all(|&n| pipeline.nodes()[n].batch_fn().is_some_and(|b| b.columnar()))
}

/// A value of the columnar run: shared by every item, or a column in chunks.
enum Col {
    Shared(Value),
    Chunks {
        /// `(list value, first item)` per chunk, in order.
        chunks: Vec<(Value, usize)>,
        ty: Arc<dyn ValueType>,
    },
}

impl Col {
    /// Items `start..end` of a column as one list value: a chunk as it is when it is exactly
    /// that range, else a slice (or, across chunks, the items collected).
    fn range(&self, start: usize, end: usize, len: usize) -> std::result::Result<Value, String> {
        let Col::Chunks { chunks, ty } = self else {
            unreachable!("a range of a column")
        };
        let at = chunks.partition_point(|(_, first)| *first <= start) - 1;
        let chunk_end = |i: usize| chunks.get(i + 1).map_or(len, |c| c.1);
        let (list, first) = &chunks[at];
        if end <= chunk_end(at) {
            if start == *first && end == chunk_end(at) {
                return Ok(list.clone());
            }
            return ty.slice(list, start - first, end - first);
        }
        let mut items = Vec::with_capacity(end - start);
        let mut i = at;
        while i < chunks.len() && chunks[i].1 < end {
            let (list, first) = &chunks[i];
            let (a, b) = (start.max(*first), end.min(chunk_end(i)));
            let part = ty.slice(list, a - first, b - first)?;
            items.extend(ty.split(&part)?);
            i += 1;
        }
        Ok(ty.collect(items))
    }
}

/// Runs a map of `plan` on the columnar path (see the module's doc), or gives `None` when its
/// mapped lists do not allow it (the item path then runs the map, and raises its errors).
pub(super) fn run_columns(
    pipeline: &Pipeline,
    plan: &Plan,
    inputs: &Inputs,
    map_over: &[String],
    mode: MapMode,
    ctx: &Context,
) -> Result<Option<Columns>> {
    if map_over.is_empty() || (mode == MapMode::Product && map_over.len() > 1) {
        return Ok(None);
    }
    let g = pipeline.graph();
    let mut len = None;
    let mut mapped = Vec::new();
    for name in map_over {
        let Some(list) = inputs.get(name).or_else(|| pipeline.bound().get(name)) else {
            return Ok(None);
        };
        let ty = pipeline.input_type(name);
        let Ok(n) = ty.list_len(list) else {
            return Ok(None);
        };
        if len.is_some_and(|l| l != n) {
            return Ok(None);
        }
        len = Some(n);
        if let Some(&id) = g.ids.get(name.as_str()).filter(|v| plan.inputs.contains(v)) {
            mapped.push((id, list.clone(), ty));
        }
    }
    let len = len.unwrap_or(0);
    if len == 0 {
        return Ok(None);
    }
    let shared = pipeline.input_slots(plan, inputs, map_over)?;
    // with a cache: every value's keys (shared ones once, mapped ones per item) and the items'
    // values (to store them and to batch the misses)
    let mut keyed: Option<Keyed> = ctx.cache.as_ref().map(|_| Keyed {
        keys: shared
            .iter()
            .enumerate()
            .map(|(v, value)| {
                let value = value.as_ref()?;
                let name = &g.names[v];
                let key = crate::cache::input_key(name, &*pipeline.input_type(name), value);
                Some(ColKeys::Shared(key))
            })
            .collect(),
        items: vec![None; g.names.len()],
    });
    let mut cols: Vec<Option<Col>> = shared.into_iter().map(|v| v.map(Col::Shared)).collect();
    for (id, list, ty) in mapped {
        if let Some(k) = &mut keyed {
            let items = ty.split(&list).map_err(|reason| {
                Error::Map(MapError::NotASequence {
                    pipeline: pipeline.name().to_string(),
                    name: g.names[id].to_string(),
                    reason,
                })
            })?;
            let name = &g.names[id];
            let keys = items
                .iter()
                .map(|v| crate::cache::input_key(name, &*ty, v))
                .collect();
            k.keys[id] = Some(ColKeys::Items(keys));
            k.items[id] = Some(items);
        }
        cols[id] = Some(Col::Chunks {
            chunks: vec![(list, 0)],
            ty,
        });
    }
    let window = crate::executor::batch::window(pipeline, plan);
    for &n in &plan.nodes {
        let node = &pipeline.nodes()[n];
        let params = &g.node_inputs[n];
        let outs = match &mut keyed {
            None => run_node(node, params, &cols, (len, window), ctx)?,
            Some(k) => {
                let (outs, keys, items) =
                    run_node_keyed(node, plan.wanted(n), params, &cols, k, (len, window), ctx)?;
                for ((&v, ks), vs) in g.node_outputs[n].iter().zip(keys).zip(items) {
                    k.keys[v] = Some(ColKeys::Items(ks));
                    k.items[v] = Some(vs);
                }
                outs
            }
        };
        for (&v, col) in g.node_outputs[n].iter().zip(outs) {
            cols[v] = Some(col);
        }
    }
    let mut outputs = Vec::with_capacity(plan.outputs.len());
    let mut types = Vec::with_capacity(plan.outputs.len());
    for &v in &plan.outputs {
        match cols[v].take() {
            Some(Col::Chunks { chunks, ty }) => {
                outputs.push((
                    g.names[v].clone(),
                    chunks.into_iter().map(|c| c.0).collect(),
                ));
                types.push(ty);
            }
            // an output that is not a node's (a root input): the item path returns it
            _ => return Ok(None),
        }
    }
    Ok(Some(Columns {
        len,
        outputs,
        types,
        source: pipeline.clone(),
    }))
}

/// Runs dual node `node` over the whole map, one call per batch: its output columns.
fn run_node(
    node: &Node,
    params: &[usize],
    cols: &[Option<Col>],
    (len, window): (usize, usize),
    ctx: &Context,
) -> Result<Vec<Col>> {
    let batch = node
        .batch_fn()
        .expect("a columnar node has a batch function");
    let size = batch.batch_size().max(1);
    // batches never span two windows: the item path's batches exactly
    let mut chunks: Vec<Vec<(Value, usize)>> = node.outputs().iter().map(|_| Vec::new()).collect();
    let mut start = 0;
    while start < len {
        ctx.run.check()?;
        let end = (start + size)
            .min(len)
            .min((start / window + 1).saturating_mul(window));
        let args = params
            .iter()
            .map(
                |&v| match cols[v].as_ref().expect("an input of a planned node") {
                    Col::Shared(value) => Ok(ColumnArg::Shared(value.clone())),
                    col => col.range(start, end, len).map(ColumnArg::Column),
                },
            )
            .collect::<std::result::Result<Vec<_>, String>>()
            .map_err(|reason| Error::Config(format!("node '{}': {reason}", node.name())))?;
        let out = call_columns(node, args, end - start)
            .map_err(|failure| batch_failure(node, failure, &ctx.map_item(start)))?;
        for (c, col) in chunks.iter_mut().zip(out) {
            c.push((col, start));
        }
        start = end;
    }
    Ok(node
        .outputs()
        .iter()
        .zip(chunks)
        .map(|(port, chunks)| Col::Chunks {
            chunks,
            ty: port.ty.clone(),
        })
        .collect())
}

/// Calls a dual node's batch function on one batch of `len` items given as columns
/// ([`crate::node::BatchFn::call_columns`]) and checks that it returns one column per output,
/// each of `len` items (the errors name the node and both counts). Any executor that batches
/// columns itself (a framework executor's UDF, through the binding) calls this.
pub fn call_columns(
    node: &Node,
    args: Vec<ColumnArg>,
    len: usize,
) -> std::result::Result<Vec<Value>, BatchFailure> {
    let batch = node.batch_fn().filter(|b| b.columnar()).ok_or_else(|| {
        BatchFailure::Invalid(Error::Config(format!(
            "node '{}' has no batch implementation that takes columns",
            node.name()
        )))
    })?;
    let out = batch
        .call_columns(args, len)
        .map_err(BatchFailure::Raised)?;
    check_columns(node, out, len)
}

/// The keys and per-item values of a map with a cache in effect, by value id.
struct Keyed {
    keys: Vec<Option<ColKeys>>,
    /// Each item's value of the columns (the mapped inputs and the nodes' outputs).
    items: Vec<Option<Vec<Value>>>,
}

/// The keys of a value: one shared key, or one per item.
enum ColKeys {
    Shared(Option<Key>),
    Items(Vec<Option<Key>>),
}

impl ColKeys {
    fn at(&self, i: usize) -> Option<Key> {
        match self {
            ColKeys::Shared(k) => *k,
            ColKeys::Items(ks) => ks[i],
        }
    }
}

/// Each output's column, per-item keys and per-item values.
type KeyedOutputs = (Vec<Col>, Vec<Vec<Option<Key>>>, Vec<Vec<Value>>);

/// Runs dual node `node` over the whole map with a cache in effect: window by window (the item
/// path's windows), one lookup pass over the window's items, then the misses in batches (a slice
/// of the columns when the batch's items are consecutive, else their values collected); each
/// miss's outputs are stored. Returns the output columns (one chunk per window), their keys and
/// values per item.
fn run_node_keyed(
    node: &Node,
    wanted: Option<&[usize]>,
    params: &[usize],
    cols: &[Option<Col>],
    keyed: &Keyed,
    (len, window): (usize, usize),
    ctx: &Context,
) -> Result<KeyedOutputs> {
    let size = node
        .batch_fn()
        .expect("a columnar node has a batch function")
        .batch_size()
        .max(1);
    let outs = node.outputs();
    let mut chunks: Vec<Vec<(Value, usize)>> = outs.iter().map(|_| Vec::new()).collect();
    let mut all_keys: Vec<Vec<Option<Key>>> =
        outs.iter().map(|_| Vec::with_capacity(len)).collect();
    let mut all_items: Vec<Vec<Value>> = outs.iter().map(|_| Vec::with_capacity(len)).collect();
    let mut w0 = 0;
    while w0 < len {
        let w1 = (w0 + window).min(len);
        let m = w1 - w0;
        let mut vals: Vec<Vec<Option<Value>>> = outs.iter().map(|_| vec![None; m]).collect();
        let mut keys: Vec<Vec<Option<Key>>> = outs.iter().map(|_| vec![None; m]).collect();
        let mut misses: Vec<(usize, NodeCache<'_>)> = Vec::new();
        for i in w0..w1 {
            let arg_keys: Vec<Option<Key>> = params
                .iter()
                .map(|&p| keyed.keys[p].as_ref().and_then(|k| k.at(i)))
                .collect();
            let nc = NodeCache::new(node, Some(&arg_keys), wanted, ctx.cache.as_ref());
            match nc.lookup() {
                Some((values, ks)) => {
                    for (o, (v, k)) in values.into_iter().zip(ks).enumerate() {
                        vals[o][i - w0] = Some(v);
                        keys[o][i - w0] = k;
                    }
                }
                None => misses.push((i, nc)),
            }
        }
        for batch in misses.chunks(size) {
            ctx.run.check()?;
            let (first, last) = (batch[0].0, batch[batch.len() - 1].0);
            let consecutive = last - first + 1 == batch.len();
            let args = params
                .iter()
                .map(
                    |&v| match cols[v].as_ref().expect("an input of a planned node") {
                        Col::Shared(value) => Ok(ColumnArg::Shared(value.clone())),
                        col if consecutive => {
                            col.range(first, last + 1, len).map(ColumnArg::Column)
                        }
                        Col::Chunks { ty, .. } => {
                            let items = keyed.items[v].as_ref().expect("a column's items");
                            let picked = batch.iter().map(|(i, _)| items[*i].clone()).collect();
                            Ok(ColumnArg::Column(ty.collect(picked)))
                        }
                    },
                )
                .collect::<std::result::Result<Vec<_>, String>>()
                .map_err(|reason| Error::Config(format!("node '{}': {reason}", node.name())))?;
            let out = call_columns(node, args, batch.len())
                .map_err(|failure| batch_failure(node, failure, &ctx.map_item(first)))?;
            let split = out
                .iter()
                .zip(outs)
                .map(|(c, port)| port.ty.split(c))
                .collect::<std::result::Result<Vec<_>, String>>()
                .map_err(|reason| {
                    Error::Config(format!(
                        "node '{}': its batch function returned {reason}",
                        node.name()
                    ))
                })?;
            for (r, (i, nc)) in batch.iter().enumerate() {
                let row: Vec<Value> = split.iter().map(|s| s[r].clone()).collect();
                let (ks, _) = nc.store(&row);
                if let Some(ks) = ks {
                    for (o, k) in ks.into_iter().enumerate() {
                        keys[o][i - w0] = k;
                    }
                }
                for (o, v) in row.into_iter().enumerate() {
                    vals[o][i - w0] = Some(v);
                }
            }
        }
        for (o, port) in outs.iter().enumerate() {
            let items: Vec<Value> = std::mem::take(&mut vals[o])
                .into_iter()
                .map(|v| v.expect("every item has its outputs"))
                .collect();
            chunks[o].push((port.ty.collect(items.clone()), w0));
            all_items[o].extend(items);
            all_keys[o].append(&mut keys[o]);
        }
        w0 = w1;
    }
    let cols = outs
        .iter()
        .zip(chunks)
        .map(|(port, chunks)| Col::Chunks {
            chunks,
            ty: port.ty.clone(),
        })
        .collect();
    Ok((cols, all_keys, all_items))
}

/// Checks a columnar call's results: one column per output, each of `len` items (the errors
/// are the item path's: they name the node and both counts).
fn check_columns(
    node: &Node,
    out: Vec<Value>,
    len: usize,
) -> std::result::Result<Vec<Value>, BatchFailure> {
    crate::invoke::check_arity(node, &out).map_err(BatchFailure::Invalid)?;
    for (col, port) in out.iter().zip(node.outputs()) {
        let got = port.ty.list_len(col).map_err(|reason| {
            BatchFailure::Invalid(Error::Config(format!(
                "node '{}': its batch function returned {reason}",
                node.name()
            )))
        })?;
        if got != len {
            return Err(BatchFailure::Invalid(Error::BatchLength {
                node: node.name().to_string(),
                expected: len,
                got,
            }));
        }
    }
    Ok(out)
}
