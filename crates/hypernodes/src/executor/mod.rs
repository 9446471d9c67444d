//! Executors decide how a pipeline runs. [`NodeExecutor`] walks the graph node by node; a framework
//! executor (Daft, in the Python package) receives the whole pipeline. Both implement [`Executor`].

mod batch;
mod blocking;
mod columns;
mod items;
mod node_executor;
mod offload;
pub(crate) mod pool;
mod runtime;
mod schedule;

use std::sync::Arc;

pub use batch::{call_batch, BatchFailure};
pub(crate) use blocking::blocking as blocking_wait;
pub use blocking::{set_blocking_hook, set_interrupt_hook};
pub use columns::{call_columns, Columns, MapResults};
pub use node_executor::{cpu_count, Mode, NodeExecutor};
pub use offload::{Offload, OffloadMap};
pub use runtime::block_on;

use crate::context::Context;
use crate::error::Result;
use crate::io::{Inputs, Outputs};
use crate::map::MapMode;
use crate::pipeline::Pipeline;

/// Runs and maps pipelines. `run` and `map` have the same shape; `map` adds `map_over` and `map_mode`.
/// `run` and `map` check the given names first ([`Pipeline::check_inputs`]): a name that is neither
/// an input nor an output of the pipeline, or a missing input, fails before anything runs.
pub trait Executor: std::any::Any + Send + Sync {
    /// Runs `pipeline` once. `output_name` limits what runs and what is returned.
    fn run(
        &self,
        pipeline: &Pipeline,
        inputs: Inputs,
        output_name: Option<&[String]>,
    ) -> Result<Outputs> {
        at_root(
            pipeline,
            self.shared(),
            inputs,
            output_name,
            &[],
            |inputs, ctx| self.run_in(pipeline, inputs, output_name, ctx),
        )
    }

    /// Runs `pipeline` once per item built from the lists named in `map_over`; results in item order.
    fn map(
        &self,
        pipeline: &Pipeline,
        inputs: Inputs,
        map_over: &[String],
        map_mode: MapMode,
        output_name: Option<&[String]>,
    ) -> Result<Vec<Outputs>> {
        at_root(
            pipeline,
            self.shared(),
            inputs,
            output_name,
            map_over,
            |inputs, ctx| self.map_in(pipeline, inputs, map_over, map_mode, output_name, ctx),
        )
    }

    /// [`Executor::map`] that goes on past failing items: every item runs, and a failed item's
    /// place holds its error (the note names the node, the pipeline path and the item).
    fn map_each(
        &self,
        pipeline: &Pipeline,
        inputs: Inputs,
        map_over: &[String],
        map_mode: MapMode,
        output_name: Option<&[String]>,
    ) -> Result<Vec<Result<Outputs>>> {
        at_root(
            pipeline,
            self.shared(),
            inputs,
            output_name,
            map_over,
            |inputs, ctx| self.map_each_in(pipeline, inputs, map_over, map_mode, output_name, ctx),
        )
    }

    /// This executor as a shared handle (what nested pipelines inherit).
    fn shared(&self) -> Arc<dyn Executor>;

    /// [`Executor::run`] at the place `ctx` gives (the pipeline's own level): what the engine calls
    /// for a root run and for every nested pipeline (see [`crate::executor_api`]).
    fn run_in(
        &self,
        pipeline: &Pipeline,
        inputs: Inputs,
        output_name: Option<&[String]>,
        ctx: &Context,
    ) -> Result<Outputs>;

    /// [`Executor::map`] at the place `ctx` gives (the pipeline's own level): what the engine calls
    /// for a root map and for every mapped nested pipeline (see [`crate::executor_api`]).
    fn map_in(
        &self,
        pipeline: &Pipeline,
        inputs: Inputs,
        map_over: &[String],
        map_mode: MapMode,
        output_name: Option<&[String]>,
        ctx: &Context,
    ) -> Result<Vec<Outputs>>;

    /// [`Executor::map_in`] whose results may come as columns (see [`Pipeline::map_columns`]).
    /// The default gives `map_in`'s rows; NodeExecutor gives columns when the map allows it.
    fn map_columns_in(
        &self,
        pipeline: &Pipeline,
        inputs: Inputs,
        map_over: &[String],
        map_mode: MapMode,
        output_name: Option<&[String]>,
        ctx: &Context,
    ) -> Result<MapResults> {
        self.map_in(pipeline, inputs, map_over, map_mode, output_name, ctx)
            .map(MapResults::Rows)
    }

    /// [`Executor::map_each`] at the place `ctx` gives (the pipeline's own level); see
    /// [`crate::executor_api`].
    fn map_each_in(
        &self,
        pipeline: &Pipeline,
        inputs: Inputs,
        map_over: &[String],
        map_mode: MapMode,
        output_name: Option<&[String]>,
        ctx: &Context,
    ) -> Result<Vec<Result<Outputs>>>;
}

fn effective(pipeline: &Pipeline, inherited: Option<&Arc<dyn Executor>>) -> Arc<dyn Executor> {
    match (pipeline.executor(), inherited) {
        (Some(own), _) => own.clone(),
        (None, Some(parent)) => parent.clone(),
        (None, None) => {
            static DEFAULT: std::sync::OnceLock<Arc<dyn Executor>> = std::sync::OnceLock::new();
            DEFAULT
                .get_or_init(|| Arc::new(NodeExecutor::default()))
                .clone()
        }
    }
}

/// The one way a root run or map starts: the given names are checked
/// ([`Pipeline::check_inputs`]; `later` names the mapped inputs), then `f` runs in the root
/// context of `exec` with enough stack for any depth.
fn at_root<R>(
    pipeline: &Pipeline,
    exec: Arc<dyn Executor>,
    inputs: Inputs,
    output_name: Option<&[String]>,
    later: &[String],
    f: impl FnOnce(Inputs, &Context) -> Result<R>,
) -> Result<R> {
    pipeline.check_inputs(&inputs, output_name, later, false)?;
    let ctx = Context::root(pipeline, exec);
    crate::stack::with_stack(|| f(inputs, &ctx))
}

/// Runs a root pipeline with its own executor or the default one.
pub(crate) fn run_root(
    pipeline: &Pipeline,
    inputs: Inputs,
    output_name: Option<&[String]>,
) -> Result<Outputs> {
    let exec = effective(pipeline, None);
    at_root(
        pipeline,
        exec.clone(),
        inputs,
        output_name,
        &[],
        |inputs, ctx| exec.run_in(pipeline, inputs, output_name, ctx),
    )
}

/// Runs a pipeline in a worker (a framework executor's UDF, another process) as part of a run that
/// a caller started at `origin`: events and error notes carry the caller's path and item indices.
pub fn run_at(
    pipeline: &Pipeline,
    inputs: Inputs,
    output_name: Option<&[String]>,
    origin: &crate::context::Origin,
) -> Result<Outputs> {
    let exec = effective(pipeline, None);
    let ctx = Context::resumed(pipeline, exec.clone(), origin);
    crate::stack::with_stack(|| exec.run_in(pipeline, inputs, output_name, &ctx))
}

/// Maps a root pipeline with its own executor or the default one.
pub(crate) fn map_root(
    pipeline: &Pipeline,
    inputs: Inputs,
    map_over: &[String],
    mode: MapMode,
    output_name: Option<&[String]>,
) -> Result<Vec<Outputs>> {
    let exec = effective(pipeline, None);
    at_root(
        pipeline,
        exec.clone(),
        inputs,
        output_name,
        map_over,
        |inputs, ctx| exec.map_in(pipeline, inputs, map_over, mode, output_name, ctx),
    )
}

/// Maps a root pipeline; the results may come as columns (see [`Executor::map_columns_in`]).
pub(crate) fn map_columns_root(
    pipeline: &Pipeline,
    inputs: Inputs,
    map_over: &[String],
    mode: MapMode,
    output_name: Option<&[String]>,
) -> Result<MapResults> {
    let exec = effective(pipeline, None);
    at_root(
        pipeline,
        exec.clone(),
        inputs,
        output_name,
        map_over,
        |inputs, ctx| exec.map_columns_in(pipeline, inputs, map_over, mode, output_name, ctx),
    )
}

/// Maps a root pipeline, going on past failing items (see [`Executor::map_each`]).
pub(crate) fn map_each_root(
    pipeline: &Pipeline,
    inputs: Inputs,
    map_over: &[String],
    mode: MapMode,
    output_name: Option<&[String]>,
) -> Result<Vec<Result<Outputs>>> {
    let exec = effective(pipeline, None);
    at_root(
        pipeline,
        exec.clone(),
        inputs,
        output_name,
        map_over,
        |inputs, ctx| exec.map_each_in(pipeline, inputs, map_over, mode, output_name, ctx),
    )
}

/// Runs a nested pipeline inside `parent`'s context, with its own executor or the inherited one.
pub(crate) fn run_nested(
    pipeline: &Pipeline,
    inputs: Inputs,
    output_name: Option<&[String]>,
    parent: &Context,
) -> Result<Outputs> {
    let exec = effective(pipeline, Some(&parent.executor));
    let ctx = parent.nested(pipeline, exec.clone(), pipeline.executor().is_some());
    exec.run_in(pipeline, inputs, output_name, &ctx)
}

/// Maps a nested pipeline inside `parent`'s context.
pub(crate) fn map_nested(
    pipeline: &Pipeline,
    inputs: Inputs,
    map_over: &[String],
    mode: MapMode,
    output_name: Option<&[String]>,
    parent: &Context,
) -> Result<Vec<Outputs>> {
    let exec = effective(pipeline, Some(&parent.executor));
    let ctx = parent.nested(pipeline, exec.clone(), pipeline.executor().is_some());
    exec.map_in(pipeline, inputs, map_over, mode, output_name, &ctx)
}
