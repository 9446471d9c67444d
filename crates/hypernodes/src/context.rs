//! The run context shared across nesting: where in the pipeline hierarchy a run is, which executor is
//! in effect, and how deep in maps it is. Internal: it appears in no documented signature.

use std::sync::Arc;

use crate::executor::Executor;
use crate::pipeline::Pipeline;

/// Where a run is in the hierarchy. Created by the engine; executors pass it down.
#[derive(Clone)]
pub struct Context {
    /// Pipeline names from the root to the current pipeline.
    pub path: Vec<Arc<str>>,
    /// The executor in effect (inherited by nested pipelines without their own).
    pub executor: Arc<dyn Executor>,
    /// How many maps enclose the current level (0 at the root).
    pub map_depth: usize,
    /// Whether the current pipeline set its own executor (it then gets exactly the workers it asks for).
    pub own_executor: bool,
}

impl Context {
    /// The context of a root pipeline.
    pub fn root(pipeline: &Pipeline, executor: Arc<dyn Executor>) -> Context {
        Context {
            path: vec![pipeline.name_arc().clone()],
            executor,
            map_depth: 0,
            own_executor: true,
        }
    }

    /// The context of a pipeline nested in this one.
    pub fn nested(&self, pipeline: &Pipeline, executor: Arc<dyn Executor>, own: bool) -> Context {
        let mut path = self.path.clone();
        path.push(pipeline.name_arc().clone());
        Context {
            path,
            executor,
            map_depth: self.map_depth,
            own_executor: own,
        }
    }

    /// The context of one item of a map at this level.
    pub fn map_item(&self) -> Context {
        Context {
            map_depth: self.map_depth + 1,
            ..self.clone()
        }
    }

    /// Nesting depth (0 at the root).
    pub fn depth(&self) -> usize {
        self.path.len() - 1
    }

    /// The path as owned strings.
    pub fn path_strings(&self) -> Vec<String> {
        self.path.iter().map(|s| s.to_string()).collect()
    }
}
