//! The node-by-node executor: walks the graph, calling each node, with configurable concurrency for
//! the nodes of one run and for the items of one map.

use std::str::FromStr;
use std::sync::Arc;

use crate::context::Context;
use crate::error::{Error, Result};
use crate::executor::Executor;
use crate::invoke::{call_node, collect_outputs};
use crate::io::{Inputs, Outputs};
use crate::map::MapMode;
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
    /// As async tasks.
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
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NodeExecutor {
    node_execution: Mode,
    map_execution: Mode,
    max_workers: Option<usize>,
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
        })
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
        self.max_workers
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
    }

    /// The worker bound as given (`None`: not set).
    pub fn max_workers_setting(&self) -> Option<usize> {
        self.max_workers
    }

    /// Executes a plan whose root inputs are in `slots`.
    fn execute(
        &self,
        pipeline: &Pipeline,
        plan: &Plan,
        mut slots: Vec<Option<Value>>,
        ctx: &Context,
    ) -> Result<Outputs> {
        let g = pipeline.graph();
        let nodes = pipeline.nodes();
        for &n in &plan.nodes {
            let args = g.node_inputs[n]
                .iter()
                .map(|&v| {
                    slots[v]
                        .clone()
                        .expect("a node's inputs are ready before it runs")
                })
                .collect();
            let outs = call_node(&nodes[n], args, ctx)?;
            for (&v, val) in g.node_outputs[n].iter().zip(outs) {
                slots[v] = Some(val);
            }
        }
        Ok(collect_outputs(pipeline, plan, &mut slots))
    }
}

impl Executor for NodeExecutor {
    fn shared(&self) -> Arc<dyn Executor> {
        Arc::new(self.clone())
    }

    fn run_in(
        &self,
        pipeline: &Pipeline,
        inputs: Inputs,
        output_name: Option<&[String]>,
        ctx: &Context,
    ) -> Result<Outputs> {
        let plan = pipeline.plan(output_name)?;
        let slots = pipeline.input_slots(&plan, &inputs, &[])?;
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
        let plan = pipeline.plan(output_name)?;
        let items = pipeline.map_items(&inputs, map_over, map_mode)?;
        let base = pipeline.input_slots(&plan, &inputs, map_over)?;
        let g = pipeline.graph();
        let ids: Vec<Option<usize>> = map_over
            .iter()
            .map(|n| {
                g.ids
                    .get(n.as_str())
                    .copied()
                    .filter(|v| plan.inputs.contains(v))
            })
            .collect();
        let item_ctx = ctx.map_item();
        items
            .into_iter()
            .map(|values| {
                let mut slots = base.clone();
                for (id, v) in ids.iter().zip(values) {
                    if let Some(id) = id {
                        slots[*id] = Some(v);
                    }
                }
                self.execute(pipeline, &plan, slots, &item_ctx)
            })
            .collect()
    }
}
