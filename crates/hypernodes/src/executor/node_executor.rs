//! The node-by-node executor: walks the graph, calling each node, with configurable concurrency for
//! the nodes of one run (`node_execution`) and for the items of one map (`map_execution`).
//!
//! Nested maps share the workers by a fixed rule unless the nested pipeline sets its own executor:
//! a map at depth 0 uses `min(max_workers, items)` workers, at depth 1 `min(isqrt(max_workers) or 1,
//! items)`, deeper maps run sequentially.

use std::str::FromStr;
use std::sync::Arc;

use crate::context::Context;
use crate::error::{Error, Result};
use crate::executor::blocking::blocking;
use crate::executor::offload::Offload;
use crate::executor::{batch, columns, items, schedule, Executor, MapResults};

use crate::callbacks::{Event, Stopwatch};
use crate::invoke::{call_node, collect_outputs, step, Keys, Slots};
use crate::io::{Inputs, Outputs};
use crate::map::{MapMode, OnError};
use crate::node::Node;
use crate::pipeline::{Pipeline, Plan};
use crate::value::Value;

/// How the nodes of a run, or the items of a map, execute.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Mode {
    /// One after another in the calling thread.
    #[default]
    Sequential,
    /// On a thread pool.
    Threaded,
    /// As async tasks (Python: coroutines on an asyncio loop; other nodes on threads).
    Async,
    /// In parallel (Rust: rayon; Python: worker processes).
    Parallel,
}

impl Mode {
    /// The mode's name as users write it.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Sequential => "sequential",
            Mode::Threaded => "threaded",
            Mode::Async => "async",
            Mode::Parallel => "parallel",
        }
    }
}

impl FromStr for Mode {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "sequential" => Ok(Mode::Sequential),
            "threaded" => Ok(Mode::Threaded),
            "async" => Ok(Mode::Async),
            "parallel" => Ok(Mode::Parallel),
            other => Err(Error::Config(format!(
                "unknown execution mode '{other}': expected 'sequential', 'threaded', 'async' or 'parallel'"
            ))),
        }
    }
}

/// Walks a pipeline node by node. `node_execution` governs the nodes of one run, `map_execution` the
/// items of one map; `max_workers` bounds both (default: the number of CPUs).
///
/// The modes ([`Mode`]): `Sequential` runs on the calling thread; `Threaded` and `Async` run on
/// the engine's shared pool of worker threads (an `async fn` node is driven on the engine's tokio
/// runtime; a node that is the only one ready runs on the calling thread); `Parallel` runs on rayon.
///
/// ```
/// use std::sync::Arc;
/// use hypernodes::{inputs, node, MapMode, Mode, NodeExecutor, Pipeline};
///
/// #[node(output = "page")]
/// async fn fetch(url: String) -> String {
///     format!("<html>{url}</html>") // an async client would await here
/// }
///
/// #[node(output = "size")]
/// fn size(page: &String) -> usize {
///     page.len()
/// }
///
/// // nodes of a run on threads, items of a map in parallel (rayon), at most 4 workers
/// let exec = NodeExecutor::new(Mode::Threaded, Mode::Parallel, Some(4))?;
/// let p = Pipeline::new([fetch::node(), size::node()])?.with_executor(Some(Arc::new(exec)));
/// let urls: Vec<String> = (0..8).map(|i| format!("https://example.org/{i}")).collect();
/// let out = p.map(inputs! {"url" => urls}, &["url".to_string()], MapMode::Zip, None)?;
/// assert_eq!(out.len(), 8);
/// assert_eq!(out[0].get::<usize>("size"), Some(&"<html>https://example.org/0</html>".len()));
/// // modes also parse from their names
/// assert_eq!("async".parse::<Mode>()?, Mode::Async);
/// # Ok::<(), hypernodes::Error>(())
/// ```
#[derive(Clone, Default)]
pub struct NodeExecutor {
    node_execution: Mode,
    map_execution: Mode,
    max_workers: Option<usize>,
    offload: Option<Arc<dyn Offload>>,
}

impl std::fmt::Debug for NodeExecutor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeExecutor")
            .field("node_execution", &self.node_execution)
            .field("map_execution", &self.map_execution)
            .field("max_workers", &self.max_workers())
            .finish()
    }
}

/// The number of CPUs of this machine.
pub fn cpu_count() -> usize {
    // read once: available_parallelism() reads cgroup files on every call
    static CPUS: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *CPUS.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

impl NodeExecutor {
    /// An executor with the given modes; `max_workers` must be at least 1 when given.
    pub fn new(
        node_execution: Mode,
        map_execution: Mode,
        max_workers: Option<usize>,
    ) -> Result<Self> {
        if max_workers == Some(0) {
            return Err(Error::Config(
                "max_workers must be at least 1, got 0".into(),
            ));
        }
        Ok(NodeExecutor {
            node_execution,
            map_execution,
            max_workers,
            offload: None,
        })
    }

    /// The same executor running its "parallel" work through `offload` instead of rayon.
    pub fn with_offload(mut self, offload: Arc<dyn Offload>) -> Self {
        self.offload = Some(offload);
        self
    }

    /// The mode of the nodes of one run.
    pub fn node_execution(&self) -> Mode {
        self.node_execution
    }

    /// The mode of the items of one map.
    pub fn map_execution(&self) -> Mode {
        self.map_execution
    }

    /// The worker bound (the number of CPUs when not set).
    pub fn max_workers(&self) -> usize {
        self.max_workers.unwrap_or_else(cpu_count)
    }

    /// The worker bound as given (`None`: not set).
    pub fn max_workers_setting(&self) -> Option<usize> {
        self.max_workers
    }

    /// Workers for a map of `items` items at the context's map depth (the nesting rule above).
    pub fn map_workers(&self, items: usize, ctx: &Context) -> usize {
        let max = self.max_workers();
        let depth = if ctx.own_executor { 0 } else { ctx.map_depth };
        let w = match depth {
            0 => max,
            1 => max.isqrt().max(1),
            _ => 1,
        };
        w.min(items).max(1)
    }

    fn call(
        &self,
        node: &Node,
        args: Vec<Value>,
        wanted: Option<&[usize]>,
        ctx: &Context,
    ) -> Result<Vec<Value>> {
        match (&self.offload, self.node_execution, node.kind()) {
            (Some(off), Mode::Parallel, crate::node::NodeKind::Func(_)) => {
                off.call_node(node, args, self.max_workers(), ctx)
            }
            _ => call_node(node, args, wanted, ctx),
        }
    }

    /// Runs node `n` of a plan with the cache and callbacks in effect.
    pub(super) fn step(
        &self,
        pipeline: &Pipeline,
        plan: &Plan,
        n: usize,
        args: (Vec<Value>, Option<Keys>),
        ctx: &Context,
    ) -> Result<(Vec<Value>, Option<Keys>)> {
        let call = |node: &Node, args: Vec<Value>, wanted: Option<&[usize]>, ctx: &Context| {
            self.call(node, args, wanted, ctx)
        };
        step(
            &pipeline.nodes()[n],
            args.0,
            args.1,
            plan.wanted(n),
            ctx,
            &call,
        )
    }

    /// Executes a plan whose root inputs are in `slots`, firing the pipeline's start and end events.
    fn execute(
        &self,
        pipeline: &Pipeline,
        plan: &Plan,
        mut slots: Slots,
        ctx: &Context,
    ) -> Result<Outputs> {
        let g = pipeline.graph();
        pipeline_started(pipeline, plan, &slots, ctx);
        let t = Stopwatch::start(ctx);
        let workers = match self.node_execution {
            Mode::Sequential => 1,
            _ => self.max_workers().min(plan.nodes.len()),
        };
        if workers <= 1 {
            for (i, &n) in plan.nodes.iter().enumerate() {
                ctx.run.check()?;
                let args = slots.args(&g.node_inputs[n]);
                for &v in &plan.release[i] {
                    slots.values[v] = None; // its last reader: the value moves with the arguments
                }
                let (values, keys) = self.step(pipeline, plan, n, args, ctx)?;
                slots.set(&g.node_outputs[n], values, keys);
            }
        } else {
            let call = |n: usize, args: (Vec<Value>, Option<Keys>), ctx: &Context| {
                self.step(pipeline, plan, n, args, ctx)
            };
            slots =
                blocking(|| schedule::run_concurrent(pipeline, plan, slots, ctx, workers, &call))?;
        }
        let out = collect_outputs(pipeline, plan, &slots);
        if ctx.observed() {
            let named: Vec<(Arc<str>, Value)> =
                out.iter().map(|(n, v)| (n.clone(), v.clone())).collect();
            ctx.emit(Event::PipelineEnd {
                pipeline: pipeline.name(),
                outputs: &named,
                duration: t.elapsed(),
            });
        }
        Ok(out)
    }

    /// The root-input slots of a run, keyed by value when a cache is in effect.
    pub(super) fn slots(
        &self,
        pipeline: &Pipeline,
        plan: &Plan,
        inputs: &Inputs,
        later: &[String],
        ctx: &Context,
    ) -> Result<Slots> {
        let values = pipeline.input_slots(plan, inputs, later)?;
        let g = pipeline.graph();
        let keys = ctx.cache.as_ref().map(|_| {
            values
                .iter()
                .enumerate()
                .map(|(v, value)| {
                    let value = value.as_ref()?;
                    let name = &g.names[v];
                    crate::cache::input_key(name, &*pipeline.input_type(name), value)
                })
                .collect()
        });
        Ok(Slots { values, keys })
    }
}

impl Executor for NodeExecutor {
    fn shared(&self) -> Arc<dyn Executor> {
        Arc::new(self.clone())
    }

    /// The columnar path (see [`Pipeline::map_columns`]) when the map allows it, else the item
    /// path's rows.
    fn map_columns_in(
        &self,
        pipeline: &Pipeline,
        inputs: Inputs,
        map_over: &[String],
        map_mode: MapMode,
        output_name: Option<&[String]>,
        ctx: &Context,
    ) -> Result<MapResults> {
        let plan = pipeline.plan(output_name)?;
        let offloaded = self.offload.is_some()
            && (self.map_execution == Mode::Parallel || self.node_execution == Mode::Parallel);
        if !offloaded && columns::eligible(pipeline, &plan, ctx) {
            if let Some(cols) =
                columns::run_columns(pipeline, &plan, &inputs, map_over, map_mode, ctx)?
            {
                return Ok(MapResults::Columns(cols));
            }
        }
        let each = self.map_with(
            pipeline,
            inputs,
            map_over,
            map_mode,
            output_name,
            OnError::Raise,
            ctx,
        )?;
        each.into_iter()
            .collect::<Result<Vec<_>>>()
            .map(MapResults::Rows)
    }

    fn run_in(
        &self,
        pipeline: &Pipeline,
        inputs: Inputs,
        output_name: Option<&[String]>,
        ctx: &Context,
    ) -> Result<Outputs> {
        let plan = pipeline.plan(output_name)?;
        let slots = self.slots(pipeline, &plan, &inputs, &[], ctx)?;
        if let (Some(off), Mode::Parallel) = (&self.offload, self.node_execution) {
            off.check(pipeline)?;
        }
        self.execute(pipeline, &plan, slots, ctx)
    }

    fn map_in(
        &self,
        pipeline: &Pipeline,
        inputs: Inputs,
        map_over: &[String],
        map_mode: MapMode,
        output_name: Option<&[String]>,
        ctx: &Context,
    ) -> Result<Vec<Outputs>> {
        self.map_columns_in(pipeline, inputs, map_over, map_mode, output_name, ctx)?
            .into_rows()
    }

    fn map_each_in(
        &self,
        pipeline: &Pipeline,
        inputs: Inputs,
        map_over: &[String],
        map_mode: MapMode,
        output_name: Option<&[String]>,
        ctx: &Context,
    ) -> Result<Vec<Result<Outputs>>> {
        self.map_with(
            pipeline,
            inputs,
            map_over,
            map_mode,
            output_name,
            OnError::Continue,
            ctx,
        )
    }
}

impl NodeExecutor {
    /// A map with the per-item error policy `on_error` (with `Raise`, the first failure ends it).
    #[allow(clippy::too_many_arguments)]
    fn map_with(
        &self,
        pipeline: &Pipeline,
        inputs: Inputs,
        map_over: &[String],
        map_mode: MapMode,
        output_name: Option<&[String]>,
        on_error: OnError,
        ctx: &Context,
    ) -> Result<Vec<Result<Outputs>>> {
        let plan = pipeline.plan(output_name)?;
        let items = pipeline.map_items(&inputs, map_over, map_mode)?;
        let workers = self.map_workers(items.len(), ctx);
        if let Some(off) = &self.offload {
            if self.map_execution == Mode::Parallel || self.node_execution == Mode::Parallel {
                off.check(pipeline)?;
            }
            if self.map_execution == Mode::Parallel {
                // every missing input is reported here, before anything is sent to a worker
                pipeline.input_slots(&plan, &inputs, map_over)?;
                let broadcast: Inputs = inputs
                    .into_iter()
                    .filter(|(name, _)| !map_over.contains(name))
                    .collect();
                ctx.emit(Event::MapStart { total: items.len() });
                let t = Stopwatch::start(ctx);
                let work = OffloadMap {
                    pipeline,
                    inputs: &broadcast,
                    map_over,
                    items: &items,
                    output_name,
                    on_error,
                };
                let out = off.map(&work, workers, ctx)?;
                ctx.emit(Event::MapEnd {
                    duration: t.elapsed(),
                });
                return Ok(out);
            }
        }
        ctx.emit(Event::MapStart { total: items.len() });
        let t = Stopwatch::start(ctx);
        let results = self.run_items(
            pipeline, &plan, &inputs, map_over, &items, 0, workers, on_error, ctx,
        );
        if results.is_ok() {
            ctx.emit(Event::MapEnd {
                duration: t.elapsed(),
            });
        }
        results
    }
}

/// Where the items of a map go in a run's value slots: for each mapped input, the value id the
/// plan reads it from (`None`: the plan does not read it) and its type. One place for NodeExecutor's
/// items and the batch path's.
pub(super) struct ItemSlots<'a> {
    map_over: &'a [String],
    /// Value ids of the mapped inputs, in `map_over` order.
    pub(super) ids: Vec<Option<usize>>,
    types: Vec<Arc<dyn crate::value::ValueType>>,
}

impl<'a> ItemSlots<'a> {
    /// The slots of the mapped inputs `map_over` of a map of `pipeline` following `plan`.
    pub(super) fn new(pipeline: &Pipeline, plan: &Plan, map_over: &'a [String]) -> Self {
        let g = pipeline.graph();
        let ids = map_over
            .iter()
            .map(|n| {
                g.ids
                    .get(n.as_str())
                    .copied()
                    .filter(|v| plan.inputs.contains(v))
            })
            .collect();
        let types = map_over.iter().map(|n| pipeline.input_type(n)).collect();
        ItemSlots {
            map_over,
            ids,
            types,
        }
    }

    /// `base` with one item's values in place (and their keys, when keyed), and the hasher of the
    /// item's signature (`MapItemCached`) fed with those keys.
    pub(super) fn fill(&self, base: &Slots, item: &[Value]) -> (Slots, crate::cache::KeyHasher) {
        let mut slots = base.clone();
        let mut sig = crate::cache::KeyHasher::new();
        let each = self
            .ids
            .iter()
            .zip(item)
            .zip(&self.types)
            .zip(self.map_over);
        for (((id, v), ty), name) in each {
            if let Some(id) = id {
                slots.values[*id] = Some(v.clone());
                if let Some(keys) = &mut slots.keys {
                    let key = crate::cache::input_key(name, &**ty, v);
                    if let Some(k) = &key {
                        sig.field("item", k);
                    }
                    keys[*id] = key;
                }
            }
        }
        (slots, sig)
    }
}

/// Fires `PipelineStart` with the root inputs of a run whose values are in `slots`.
pub(super) fn pipeline_started(pipeline: &Pipeline, plan: &Plan, slots: &Slots, ctx: &Context) {
    if ctx.observed() {
        let g = pipeline.graph();
        let inputs: Vec<(Arc<str>, Value)> = plan
            .inputs
            .iter()
            .filter_map(|&v| Some((g.names[v].clone(), slots.values[v].clone()?)))
            .collect();
        ctx.emit(Event::PipelineStart {
            pipeline: pipeline.name(),
            inputs: &inputs,
        });
    }
}

/// The work of one map handed to an [`Offload`]: the items the engine built (zip or product
/// expansion done, bound lists included), the inputs every item shares, and the outputs wanted.
pub struct OffloadMap<'a> {
    /// The mapped pipeline.
    pub pipeline: &'a Pipeline,
    /// The given inputs that do not vary per item (bound ones travel with the pipeline).
    pub inputs: &'a Inputs,
    /// The mapped input names, in the order of each item's values.
    pub map_over: &'a [String],
    /// The items, in order: one value per `map_over` name.
    pub items: &'a [Vec<Value>],
    /// The outputs requested (`None`: all).
    pub output_name: Option<&'a [String]>,
    /// What a failing item does to the map.
    pub on_error: OnError,
}

impl NodeExecutor {
    /// Runs `items` (item `i` of the slice is item `first + i` of the map) of a map of `pipeline`,
    /// each with its item events, with the shared `inputs` (those not mapped) filling the rest.
    #[allow(clippy::too_many_arguments)]
    fn run_items(
        &self,
        pipeline: &Pipeline,
        plan: &Plan,
        inputs: &Inputs,
        map_over: &[String],
        items: &[Vec<Value>],
        first: usize,
        workers: usize,
        on_error: OnError,
        ctx: &Context,
    ) -> Result<Vec<Result<Outputs>>> {
        if batch::has_batch(pipeline, plan) {
            let work = batch::Items {
                pipeline,
                plan,
                inputs,
                map_over,
                items,
                first,
            };
            return batch::run_items(self, &work, workers, on_error, ctx);
        }
        let base = self.slots(pipeline, plan, inputs, map_over, ctx)?;
        let fill = ItemSlots::new(pipeline, plan, map_over);
        let run_item = |i: usize| {
            ctx.run.check()?;
            let index = first + i;
            let item_ctx = ctx.map_item(index);
            item_ctx.emit(Event::MapItemStart { index });
            let ti = Stopwatch::start(&item_ctx);
            let (slots, sig) = fill.fill(&base, &items[i]);
            let out = self.execute(pipeline, plan, slots, &item_ctx)?;
            item_ctx.emit(Event::MapItemEnd {
                index,
                duration: ti.elapsed(),
            });
            if ctx.cache.is_some() && item_ctx.all_hits() {
                let signature = blake3::Hash::from_bytes(sig.finish()).to_hex();
                item_ctx.emit(Event::MapItemCached {
                    index,
                    signature: signature.as_str(),
                });
            }
            Ok(out)
        };
        let cancel = &ctx.run.cancelled;
        let n = items.len();
        let each = |i: usize| -> Result<Result<Outputs>> {
            match (on_error, run_item(i)) {
                (_, Err(Error::Interrupted)) => {
                    ctx.run.cancel();
                    Err(Error::Interrupted)
                }
                (OnError::Continue, r) => Ok(r),
                (OnError::Raise, r) => r.map(Ok),
            }
        };
        match self.map_execution {
            _ if workers <= 1 => (0..n).map(each).collect(),
            Mode::Sequential => (0..n).map(each).collect(),
            Mode::Threaded | Mode::Async => {
                blocking(|| items::on_threads(n, workers, cancel, &each))
            }
            Mode::Parallel => {
                blocking(|| items::on_rayon(ctx.map_depth, n, workers, cancel, &each))
            }
        }
    }

    /// Runs some items of a map that a caller started at `origin`, in a worker (another process):
    /// item `i` of `items` is item `first + i` of the map. Events, error notes and cache keys are
    /// exactly those the caller's own run of the items would give; map start and end are the
    /// caller's to fire. `pipeline` carries the cache and callbacks in effect at the origin. With
    /// `on_error` `Continue`, a failed item's place holds its error.
    #[allow(clippy::too_many_arguments)]
    pub fn resume_items(
        &self,
        pipeline: &Pipeline,
        inputs: &Inputs,
        map_over: &[String],
        items: &[Vec<Value>],
        first: usize,
        output_name: Option<&[String]>,
        origin: &crate::context::Origin,
        on_error: OnError,
    ) -> Result<Vec<Result<Outputs>>> {
        let ctx = Context::resumed(pipeline, self.shared(), origin);
        self.resume_items_in(
            &ctx,
            pipeline,
            inputs,
            map_over,
            items,
            first,
            output_name,
            on_error,
        )
    }

    /// [`NodeExecutor::resume_items`] in a context the caller made with [`Context::resumed`]
    /// (for instance to give the run's [`RunState::callback_state`](crate::executor_api::RunState::callback_state)
    /// a value first: the Python binding records a worker's events that way).
    #[allow(clippy::too_many_arguments)]
    pub fn resume_items_in(
        &self,
        ctx: &Context,
        pipeline: &Pipeline,
        inputs: &Inputs,
        map_over: &[String],
        items: &[Vec<Value>],
        first: usize,
        output_name: Option<&[String]>,
        on_error: OnError,
    ) -> Result<Vec<Result<Outputs>>> {
        let plan = pipeline.plan(output_name)?;
        let workers = self.map_workers(items.len(), ctx);
        self.run_items(
            pipeline, &plan, inputs, map_over, items, first, workers, on_error, ctx,
        )
    }
}
