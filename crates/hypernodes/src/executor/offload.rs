//! Running work outside this process. A front installs an [`Offload`] on a [`NodeExecutor`](super::NodeExecutor)
//! to implement the "parallel" mode its own way (Python: worker processes, since threads share one
//! interpreter lock).

use crate::context::Context;
use crate::error::Result;
use crate::io::{Inputs, Outputs};
use crate::map::MapMode;
use crate::node::Node;
use crate::pipeline::Pipeline;
use crate::value::Value;

/// Runs map items or single nodes elsewhere, returning results in order.
pub trait Offload: Send + Sync + 'static {
    /// Maps `pipeline` over the lists named in `map_over` with at most `workers` workers.
    #[allow(clippy::too_many_arguments)]
    fn map(
        &self,
        pipeline: &Pipeline,
        inputs: &Inputs,
        map_over: &[String],
        mode: MapMode,
        output_name: Option<&[String]>,
        workers: usize,
        ctx: &Context,
    ) -> Result<Vec<Outputs>>;

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
