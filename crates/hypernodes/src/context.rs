//! The run context shared across nesting: where in the pipeline hierarchy a run is, which executor,
//! cache and callbacks are in effect, and how deep in maps it is. Internal: it appears in no
//! documented signature.

use std::any::Any;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use crate::cache::Cache;
use crate::callbacks::{Callbacks, Event};
use crate::executor::Executor;
use crate::pipeline::{Pipeline, Setting};

/// State shared by every level of one root run (e.g. the callbacks' own context object).
#[derive(Default)]
pub struct RunState {
    /// Free slot for the front's callback context.
    pub callback_state: OnceLock<Arc<dyn Any + Send + Sync>>,
}

impl Drop for RunState {
    /// The root run or map is over: commit what it wrote to disk caches before it returns.
    fn drop(&mut self) {
        crate::cache::flush_all();
    }
}

/// Where a run is in the hierarchy. Created by the engine; executors pass it down.
#[derive(Clone)]
pub struct Context {
    /// Pipeline names from the root to the current pipeline.
    pub path: Arc<[Arc<str>]>,
    /// The executor in effect (inherited by nested pipelines without their own).
    pub executor: Arc<dyn Executor>,
    /// The cache in effect, if any.
    pub cache: Option<Arc<dyn Cache>>,
    /// The callbacks in effect, if any.
    pub callbacks: Option<Arc<Callbacks>>,
    /// How many maps enclose the current level (0 at the root).
    pub map_depth: usize,
    /// Whether the current pipeline set its own executor (it then gets exactly the workers it asks for).
    pub own_executor: bool,
    /// Set when any node of the current map item was computed rather than read from the cache.
    pub item_missed: Arc<AtomicBool>,
    /// State shared by the whole root run.
    pub run: Arc<RunState>,
}

fn pick<T: ?Sized>(own: &Setting<Arc<T>>, inherited: Option<&Arc<T>>) -> Option<Arc<T>> {
    match own {
        Setting::Inherit => inherited.cloned(),
        Setting::Off => None,
        Setting::On(v) => Some(v.clone()),
    }
}

impl Context {
    /// The context of a root pipeline.
    pub fn root(pipeline: &Pipeline, executor: Arc<dyn Executor>) -> Context {
        Context {
            path: Arc::from([pipeline.name_arc().clone()]),
            executor,
            cache: pick(pipeline.cache_setting(), None),
            callbacks: pick(pipeline.callbacks_setting(), None).filter(|c| !c.is_empty()),
            map_depth: 0,
            own_executor: true,
            item_missed: Arc::new(AtomicBool::new(false)),
            run: Arc::new(RunState::default()),
        }
    }

    /// The context of a pipeline nested in this one.
    pub fn nested(&self, pipeline: &Pipeline, executor: Arc<dyn Executor>, own: bool) -> Context {
        let path: Arc<[Arc<str>]> = self
            .path
            .iter()
            .cloned()
            .chain([pipeline.name_arc().clone()])
            .collect();
        Context {
            path,
            executor,
            cache: pick(pipeline.cache_setting(), self.cache.as_ref()),
            callbacks: pick(pipeline.callbacks_setting(), self.callbacks.as_ref())
                .filter(|c| !c.is_empty()),
            map_depth: self.map_depth,
            own_executor: own,
            item_missed: self.item_missed.clone(),
            run: self.run.clone(),
        }
    }

    /// The context of one item of a map at this level.
    pub fn map_item(&self) -> Context {
        Context {
            map_depth: self.map_depth + 1,
            item_missed: Arc::new(AtomicBool::new(false)),
            ..self.clone()
        }
    }

    /// Records that a node was computed (not a cache hit).
    pub fn note_miss(&self) {
        self.item_missed.store(true, Ordering::Relaxed);
    }

    /// Whether every node so far was a cache hit.
    pub fn all_hits(&self) -> bool {
        !self.item_missed.load(Ordering::Relaxed)
    }

    /// Delivers an event to the callbacks in effect.
    pub fn emit(&self, event: Event<'_>) {
        if let Some(cb) = &self.callbacks {
            cb.emit(&event, self);
        }
    }

    /// Whether any callback listens.
    pub fn observed(&self) -> bool {
        self.callbacks.is_some()
    }

    /// Nesting depth (0 at the root).
    pub fn depth(&self) -> usize {
        self.path.len() - 1
    }

    /// The current pipeline's name.
    pub fn pipeline(&self) -> &str {
        self.path.last().map_or("", |s| s)
    }

    /// The path as owned strings.
    pub fn path_strings(&self) -> Vec<String> {
        self.path.iter().map(|s| s.to_string()).collect()
    }
}
