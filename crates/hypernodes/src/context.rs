//! The run context shared across nesting: where in the pipeline hierarchy a run is, which executor,
//! cache and callbacks are in effect, and how deep in maps it is. Its fields are private to the
//! crate; executors and callbacks read it through methods (it is reachable only as
//! `hypernodes::executor_api::Context`, not at the crate root).

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
    pub(crate) callback_state: OnceLock<Arc<dyn Any + Send + Sync>>,
    /// Set when the run is interrupted: no new node or item starts.
    pub(crate) cancelled: AtomicBool,
    /// The pipeline's cancel token, if it has one (cancelling it stops the run too).
    pub(crate) token: Option<CancelToken>,
}

/// A handle that stops runs and maps: give it to a pipeline with
/// [`Pipeline::with_cancel_token`] and call [`CancelToken::cancel`] from anywhere (another thread,
/// a signal handler). Nodes and items already running finish; nothing new starts.
#[derive(Clone, Debug, Default)]
pub struct CancelToken(Arc<AtomicBool>);

impl CancelToken {
    /// A token not cancelled yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Stops every run and map that uses this token.
    pub fn cancel(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    /// Whether [`CancelToken::cancel`] was called.
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

impl RunState {
    /// A slot for a front's own per-run state (the Python binding keeps its callback context
    /// object here): set once by the first caller, shared by every level of the root run.
    pub fn callback_state(&self) -> &OnceLock<Arc<dyn Any + Send + Sync>> {
        &self.callback_state
    }

    /// Stops the run: nodes and items not started yet will not start.
    pub fn cancel(&self) {
        self.cancelled.store(true, Ordering::Relaxed);
    }

    /// Whether the run was stopped.
    pub fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::Relaxed)
            || self.token.as_ref().is_some_and(|t| t.is_cancelled())
    }

    /// `Err(Error::Interrupted)` once the run was stopped.
    pub fn check(&self) -> crate::error::Result<()> {
        match self.is_cancelled() {
            true => Err(crate::error::Error::Interrupted),
            false => Ok(()),
        }
    }
}

/// Where a map started, as a worker needs to know it to run some of its items elsewhere: the
/// pipeline path from the root (the mapped pipeline last), the indices of the enclosing map items,
/// and the map depth.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Origin {
    /// Pipeline names from the root to the mapped pipeline.
    pub path: Vec<String>,
    /// Indices of the enclosing map items, outermost first.
    pub items: Vec<usize>,
    /// How many maps enclose the mapped pipeline.
    pub map_depth: usize,
}

impl Drop for RunState {
    /// The root run or map is over: commit what it wrote to disk caches before it returns.
    fn drop(&mut self) {
        crate::cache::flush_all();
    }
}

/// Where a run is in the hierarchy: the pipeline path, the enclosing map items, and the executor,
/// cache and callbacks in effect. Created by the engine; executors pass it down (unchanged when
/// they delegate, [`Context::map_item`] for an item they run themselves), and callbacks read where
/// an event happened from it.
#[derive(Clone)]
pub struct Context {
    /// Pipeline names from the root to the current pipeline.
    pub(crate) path: Arc<[Arc<str>]>,
    /// The executor in effect (inherited by nested pipelines without their own).
    pub(crate) executor: Arc<dyn Executor>,
    /// The cache in effect, if any.
    pub(crate) cache: Option<Arc<dyn Cache>>,
    /// The callbacks in effect, if any.
    pub(crate) callbacks: Option<Arc<Callbacks>>,
    /// How many maps enclose the current level (0 at the root).
    pub(crate) map_depth: usize,
    /// The indices of the map items enclosing the current level, outermost first (empty outside
    /// maps); error notes name them.
    pub(crate) items: Arc<[usize]>,
    /// Whether the current pipeline set its own executor (it then gets exactly the workers it asks for).
    pub(crate) own_executor: bool,
    /// Set when any node of the current map item was computed rather than read from the cache.
    pub(crate) item_missed: Arc<AtomicBool>,
    /// State shared by the whole root run.
    pub(crate) run: Arc<RunState>,
}

/// The (shared) empty list of enclosing map items of a root context.
fn no_items() -> Arc<[usize]> {
    static EMPTY: OnceLock<Arc<[usize]>> = OnceLock::new();
    EMPTY.get_or_init(|| Arc::from([])).clone()
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
            items: no_items(),
            own_executor: true,
            item_missed: Arc::new(AtomicBool::new(false)),
            run: Arc::new(RunState {
                callback_state: OnceLock::new(),
                cancelled: AtomicBool::new(false),
                token: pipeline.cancel_token().cloned(),
            }),
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
            items: self.items.clone(),
            own_executor: own,
            item_missed: self.item_missed.clone(),
            run: self.run.clone(),
        }
    }

    /// The context of item `index` of a map at this level.
    pub fn map_item(&self, index: usize) -> Context {
        Context {
            map_depth: self.map_depth + 1,
            items: self.items.iter().copied().chain([index]).collect(),
            item_missed: Arc::new(AtomicBool::new(false)),
            ..self.clone()
        }
    }

    /// The context in which a worker (another process, a framework executor) resumes a map of
    /// `pipeline` that the caller started at `origin`: the same path, enclosing items and map
    /// depth, so events and error notes read as if the caller had run the items itself. The cache
    /// and callbacks are the pipeline's own settings (the worker's copy carries those in effect).
    pub fn resumed(pipeline: &Pipeline, executor: Arc<dyn Executor>, origin: &Origin) -> Context {
        let mut ctx = Context::root(pipeline, executor);
        if !origin.path.is_empty() {
            ctx.path = origin.path.iter().map(|s| Arc::from(s.as_str())).collect();
        }
        ctx.items = origin.items.iter().copied().collect();
        ctx.map_depth = origin.map_depth;
        ctx
    }

    /// Where this context is, for a worker to resume from (see [`Context::resumed`]).
    pub fn origin(&self) -> Origin {
        Origin {
            path: self.path_strings(),
            items: self.items.to_vec(),
            map_depth: self.map_depth,
        }
    }

    /// Records that a node was computed (not a cache hit).
    pub(crate) fn note_miss(&self) {
        self.item_missed.store(true, Ordering::Relaxed);
    }

    /// Whether every node so far was a cache hit.
    pub(crate) fn all_hits(&self) -> bool {
        !self.item_missed.load(Ordering::Relaxed)
    }

    /// Delivers an event to the callbacks in effect.
    pub fn emit(&self, event: Event<'_>) {
        if let Some(cb) = &self.callbacks {
            if cb.list().iter().all(|c| c.concurrent()) {
                // no lock: these callbacks take events from several threads at once
                for c in cb.list() {
                    c.on_event(&event, self);
                }
            } else {
                cb.emit(&event, self);
            }
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

    /// The same place with no callbacks: work done here is not observed (a framework executor
    /// whose user turned its callbacks off replays its records in it).
    pub fn without_callbacks(&self) -> Context {
        Context {
            callbacks: None,
            ..self.clone()
        }
    }

    /// Pipeline names from the root to the current pipeline.
    pub fn path(&self) -> &[Arc<str>] {
        &self.path
    }

    /// The indices of the map items enclosing the current level, outermost first (empty outside
    /// maps): which item an event belongs to.
    pub fn items(&self) -> &[usize] {
        &self.items
    }

    /// How many maps enclose the current level (0 at the root).
    pub fn map_depth(&self) -> usize {
        self.map_depth
    }

    /// The executor in effect (inherited by nested pipelines without their own).
    pub fn executor(&self) -> &Arc<dyn Executor> {
        &self.executor
    }

    /// The cache in effect, if any.
    pub fn cache(&self) -> Option<&Arc<dyn Cache>> {
        self.cache.as_ref()
    }

    /// The callbacks in effect, if any.
    pub fn callbacks(&self) -> Option<&Arc<Callbacks>> {
        self.callbacks.as_ref()
    }

    /// State shared by the whole root run: cancellation ([`RunState::check`]) and the front's slot.
    pub fn run_state(&self) -> &RunState {
        &self.run
    }
}
