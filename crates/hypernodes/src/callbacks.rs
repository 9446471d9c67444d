//! Callbacks: observers of runs, maps, nodes and cache hits. Events are delivered one at a time per
//! list of callbacks (never concurrently into one callback), in the caller's process.
//!
//! Order (sequential; other modes keep each pipeline's and each item's own order):
//! run: `PipelineStart → (NodeStart → NodeEnd | NodeCached | NodeStart → Error) per node → PipelineEnd`;
//! a nested pipeline node: `NodeStart → NestedStart → inner events → NestedEnd → NodeEnd`;
//! map: `MapStart → per item (MapItemStart → the item's run events → MapItemEnd → MapItemCached when
//! every node of the item was a hit) → MapEnd`.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::context::Context;
use crate::error::Error;
use crate::value::Value;

/// Named values attached to an event.
pub type Named<'a> = &'a [(Arc<str>, Value)];

/// Something that happened during a run, delivered to each [`Callback`] in effect.
///
/// Order (sequential; other modes keep each pipeline's and each item's own order):
/// run: `PipelineStart → (NodeStart → NodeEnd | NodeCached | NodeStart → Error) per node → PipelineEnd`;
/// a nested pipeline node: `NodeStart → NestedStart → inner events → NestedEnd → NodeEnd`;
/// map: `MapStart → per item (MapItemStart → the item's run events → MapItemEnd → MapItemCached when
/// every node of the item was a hit) → MapEnd`.
pub enum Event<'a> {
    /// A pipeline run starts.
    PipelineStart {
        /// The pipeline's name.
        pipeline: &'a str,
        /// Its inputs.
        inputs: Named<'a>,
    },
    /// A pipeline run ended.
    PipelineEnd {
        /// The pipeline's name.
        pipeline: &'a str,
        /// Its outputs.
        outputs: Named<'a>,
        /// Wall time.
        duration: Duration,
    },
    /// A node is about to be computed.
    NodeStart {
        /// The node's name.
        node: &'a str,
        /// Its arguments by parameter name.
        inputs: Named<'a>,
    },
    /// A node was computed.
    NodeEnd {
        /// The node's name.
        node: &'a str,
        /// Its outputs by name.
        outputs: Named<'a>,
        /// Wall time.
        duration: Duration,
    },
    /// A node's outputs came from the cache.
    NodeCached {
        /// The node's name.
        node: &'a str,
        /// The cache key (hex).
        signature: &'a str,
    },
    /// A node failed.
    Error {
        /// The node's name.
        node: &'a str,
        /// The error.
        error: &'a Error,
    },
    /// A nested pipeline starts.
    NestedStart {
        /// The enclosing pipeline's name.
        parent: &'a str,
        /// The nested pipeline's name.
        child: &'a str,
    },
    /// A nested pipeline ended.
    NestedEnd {
        /// The enclosing pipeline's name.
        parent: &'a str,
        /// The nested pipeline's name.
        child: &'a str,
        /// Wall time.
        duration: Duration,
    },
    /// A map starts.
    MapStart {
        /// The number of items.
        total: usize,
    },
    /// A map ended.
    MapEnd {
        /// Wall time.
        duration: Duration,
    },
    /// An item of a map starts.
    MapItemStart {
        /// The item's index.
        index: usize,
    },
    /// An item of a map ended.
    MapItemEnd {
        /// The item's index.
        index: usize,
        /// Wall time.
        duration: Duration,
    },
    /// Every node of an item was a cache hit.
    MapItemCached {
        /// The item's index.
        index: usize,
        /// A digest of the item's node keys (hex).
        signature: &'a str,
    },
}

/// Receives events. Implementations override what they need.
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use hypernodes::executor_api::Context;
/// use hypernodes::{inputs, node, Callback, Callbacks, Event, Pipeline, Setting};
///
/// /// Records the nodes that ran, in order.
/// #[derive(Default)]
/// struct Trace(Mutex<Vec<String>>);
///
/// impl Callback for Trace {
///     fn on_event(&self, event: &Event<'_>, _ctx: &Context) {
///         if let Event::NodeEnd { node, .. } = event {
///             self.0.lock().unwrap().push(node.to_string());
///         }
///     }
///     // it locks its own state, so it may be called from several threads at once
///     fn concurrent(&self) -> bool {
///         true
///     }
/// }
///
/// #[node(output = "b")]
/// fn first(a: i64) -> i64 { a + 1 }
/// #[node(output = "c")]
/// fn second(b: i64) -> i64 { b * 2 }
///
/// let trace = Arc::new(Trace::default());
/// let p = Pipeline::new([first::node(), second::node()])?
///     .with_callbacks(Setting::On(Arc::new(Callbacks::new(vec![trace.clone()]))));
/// p.run(inputs! {"a" => 1_i64}, None)?;
/// assert_eq!(*trace.0.lock().unwrap(), ["first", "second"]);
/// # Ok::<(), hypernodes::Error>(())
/// ```
pub trait Callback: std::any::Any + Send + Sync {
    /// Called for every event, with the context of the pipeline it belongs to.
    fn on_event(&self, event: &Event<'_>, ctx: &Context);

    /// Whether this callback may be called from several threads at once (it keeps no state, or
    /// synchronizes its own). Events for a pipeline whose callbacks all say so are delivered without
    /// the process-wide delivery lock, so a parallel map is not serialized behind it. Default: `false`.
    fn concurrent(&self) -> bool {
        false
    }
}

/// Serializes event delivery in the whole process, so one callback object is never called
/// concurrently, even when it sits in the lists of several pipelines.
static DELIVERY: Mutex<()> = Mutex::new(());

/// The callbacks in effect for a pipeline, delivering each event to all of them, one event at a time
/// in the whole process.
#[derive(Default)]
pub struct Callbacks {
    list: Vec<Arc<dyn Callback>>,
}

impl Callbacks {
    /// A list of callbacks.
    pub fn new(list: Vec<Arc<dyn Callback>>) -> Self {
        Callbacks { list }
    }

    /// The callbacks.
    pub fn list(&self) -> &[Arc<dyn Callback>] {
        &self.list
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// Delivers one event to every callback.
    pub fn emit(&self, event: &Event<'_>, ctx: &Context) {
        delivering(|| self.deliver(event, ctx));
    }

    fn deliver(&self, event: &Event<'_>, ctx: &Context) {
        for cb in &self.list {
            cb.on_event(event, ctx);
        }
    }
}

/// Runs `deliver` as the only delivery of events in the process (the one lock every event goes
/// through, the engine's own and those a front replays). A callback that runs a pipeline itself
/// delivers its events on the same thread, inside the first delivery.
pub fn delivering<R>(deliver: impl FnOnce() -> R) -> R {
    thread_local!(static DELIVERING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) });
    if DELIVERING.get() {
        // this thread already holds the delivery lock
        return deliver();
    }
    // Waiting goes through the blocking hook, so a front's interpreter lock is not held while
    // another thread delivers (the Python binding releases the GIL there).
    let _guard = match DELIVERY.try_lock() {
        Ok(g) => g,
        Err(std::sync::TryLockError::Poisoned(e)) => e.into_inner(),
        Err(std::sync::TryLockError::WouldBlock) => {
            crate::executor::blocking_wait(|| DELIVERY.lock().unwrap_or_else(|e| e.into_inner()))
        }
    };
    struct Reset;
    impl Drop for Reset {
        fn drop(&mut self) {
            DELIVERING.set(false);
        }
    }
    DELIVERING.set(true);
    let _reset = Reset;
    deliver()
}

/// Measures a duration only when a callback listens (reading the clock costs a syscall per node).
pub struct Stopwatch(Option<Instant>);

impl Stopwatch {
    /// Starts when `ctx` has callbacks.
    pub fn start(ctx: &Context) -> Self {
        Stopwatch(ctx.observed().then(Instant::now))
    }

    /// The time since the start (zero when nobody listens).
    pub fn elapsed(&self) -> Duration {
        self.0.map_or(Duration::ZERO, |t| t.elapsed())
    }
}
