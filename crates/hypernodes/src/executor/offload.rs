//! Running work outside this process. A front installs an [`Offload`] on a [`NodeExecutor`](super::NodeExecutor)
//! to implement the "parallel" mode its own way (Python: worker processes, since threads share one
//! interpreter lock).

use crate::context::Context;
use crate::error::Result;
use crate::io::Outputs;
use crate::node::Node;
use crate::pipeline::Pipeline;

pub use super::node_executor::OffloadMap;
use crate::value::Value;

/// Runs map items or single nodes elsewhere, returning results in order.
pub trait Offload: Send + Sync + 'static {
    /// Runs the items of `work` with at most `workers` workers and returns their outputs in item
    /// order. Each worker runs its items with [`NodeExecutor::resume_items`] at `ctx.origin()`,
    /// so events and errors are the engine's own; the caller fires map start and end.
    ///
    /// [`NodeExecutor::resume_items`]: super::NodeExecutor::resume_items
    /// With `work.on_error` `Continue`, a failed item's place holds its error.
    fn map(
        &self,
        work: &OffloadMap<'_>,
        workers: usize,
        ctx: &Context,
    ) -> Result<Vec<Result<Outputs>>>;

    /// Calls one node with its arguments, with at most `workers` workers busy at once.
    fn call_node(
        &self,
        node: &Node,
        args: Vec<Value>,
        workers: usize,
        ctx: &Context,
    ) -> Result<Vec<Value>>;

    /// Checks, before any work starts, that the pipeline can be sent to the workers.
    fn check(&self, pipeline: &Pipeline) -> Result<()>;
}
