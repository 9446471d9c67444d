//! `tracing` spans that mirror the structure of a run: a span per pipeline run (root or nested), per
//! node, per map and optionally per map item, drawn from the engine's model of the run
//! ([`crate::observe::RunTree`]), as the Python `TelemetryCallback` draws OpenTelemetry spans.
//!
//! Spans are created with explicit parents (never the thread's current span), because events arrive
//! from worker threads. Only a root span (a root run, or a root map) takes the caller's current
//! span as its parent, so a run inside an application span nests under it. Concurrent map items
//! each get their own spans (events carry the item indices).
//!
//! Span names (`pipeline`, `node`, `map`, `map_item`) and fields are those of
//! [`crate::observe::SpanInfo::attributes`]: `hypernodes.kind`, `hypernodes.pipeline`,
//! `hypernodes.path` (`/`-joined), `hypernodes.depth`, and `hypernodes.nested`, `hypernodes.node`,
//! `hypernodes.total_items`, `hypernodes.item_index`, `hypernodes.cached`; a span that failed (a
//! failing node, or a span closed by a failure) records `hypernodes.error`, and a failing node
//! emits an `ERROR` event under its span. When a root run fails, every span still open closes.
//!
//! ```no_run
//! use std::sync::Arc;
//! use hypernodes::{Callbacks, Pipeline, Setting, TracingCallback};
//! # fn demo(pipeline: Pipeline) {
//! let cb: Arc<dyn hypernodes::Callback> = Arc::new(TracingCallback::new().with_map_items(true));
//! let pipeline = pipeline.with_callbacks(Setting::On(Arc::new(Callbacks::new(vec![cb]))));
//! # }
//! ```

use std::collections::HashMap;
use std::sync::Mutex;

use tracing::field::Empty;
use tracing::{Dispatch, Span};

use crate::callbacks::{Callback, Event};
use crate::context::Context;
use crate::observe::{Change, Outcome, PerRun, SpanInfo, SpanKind};

/// Emits `tracing` spans mirroring pipelines, nested pipelines, nodes, maps and (optionally) map
/// items. See the module documentation for span names and fields.
pub struct TracingCallback {
    dispatch: Option<Dispatch>,
    map_items: bool,
    runs: Mutex<PerRun<HashMap<u64, Span>>>,
}

impl Default for TracingCallback {
    fn default() -> Self {
        Self::new()
    }
}

impl TracingCallback {
    /// Spans go to the subscriber in effect where each event is delivered (the global default on
    /// worker threads).
    pub fn new() -> Self {
        TracingCallback {
            dispatch: None,
            map_items: false,
            runs: Mutex::new(PerRun::default()),
        }
    }

    /// Spans go to `dispatch`, whatever thread an event arrives on (e.g. a subscriber set with
    /// `tracing::subscriber::with_default`, which only reaches the thread that set it).
    pub fn with_dispatch(mut self, dispatch: Dispatch) -> Self {
        self.dispatch = Some(dispatch);
        self
    }

    /// Spans go to the subscriber in effect on the calling thread now, on every thread.
    pub fn current() -> Self {
        Self::new().with_dispatch(tracing::dispatcher::get_default(Dispatch::clone))
    }

    /// Whether each map item gets its own `map_item` span (default: off; item runs are then
    /// children of the `map` span).
    pub fn with_map_items(mut self, on: bool) -> Self {
        self.map_items = on;
        self
    }

    fn handle(&self, event: &Event<'_>, ctx: &Context) {
        let mut runs = self.runs.lock().unwrap_or_else(|e| e.into_inner());
        let (changes, _, spans) = runs.apply(event, ctx, |_, spans| drop(spans));
        for change in changes {
            match change {
                Change::Open { id, parent, span } => {
                    let parent = parent.and_then(|p| spans.get(&p)).cloned();
                    let s = match (span.kind, self.map_items, &parent) {
                        (SpanKind::Item, false, Some(p)) => p.clone(),
                        _ => open(&span, parent.as_ref()),
                    };
                    spans.insert(id, s);
                }
                Change::Close { id, outcome } => {
                    let Some(s) = spans.remove(&id) else { continue };
                    match outcome {
                        Outcome::Ok => {}
                        Outcome::Cached => {
                            s.record("hypernodes.cached", true);
                        }
                        Outcome::Failed(message) => {
                            s.record("hypernodes.error", message.as_str());
                            if s.metadata().is_some_and(|m| m.name() == "node") {
                                tracing::error!(parent: &s, error = %message, "node failed");
                            }
                        }
                    }
                }
                Change::Bar { .. } | Change::Done => {}
            }
        }
    }
}

/// Opens the span described by `info` under `parent` (`None`: the current span).
fn open(info: &SpanInfo, parent: Option<&Span>) -> Span {
    let parent = parent.map_or_else(Span::current, Span::clone);
    let path = info.path.join("/");
    let depth = info.depth() as u64;
    let pipeline = info.pipeline.as_str();
    match info.kind {
        SpanKind::Pipeline => tracing::info_span!(parent: &parent, "pipeline",
            hypernodes.kind = "pipeline", hypernodes.pipeline = pipeline, hypernodes.path = %path,
            hypernodes.depth = depth, hypernodes.nested = depth > 0, hypernodes.error = Empty),
        SpanKind::Node => tracing::info_span!(parent: &parent, "node",
            hypernodes.kind = "node", hypernodes.node = info.node.as_deref().unwrap_or(""),
            hypernodes.pipeline = pipeline, hypernodes.path = %path, hypernodes.depth = depth,
            hypernodes.cached = false, hypernodes.error = Empty),
        SpanKind::Map => tracing::info_span!(parent: &parent, "map",
            hypernodes.kind = "map", hypernodes.pipeline = pipeline, hypernodes.path = %path,
            hypernodes.depth = depth,
            hypernodes.total_items = info.total_items.unwrap_or(0) as u64,
            hypernodes.error = Empty),
        SpanKind::Item => tracing::info_span!(parent: &parent, "map_item",
            hypernodes.kind = "map_item", hypernodes.pipeline = pipeline,
            hypernodes.item_index = info.item_index.unwrap_or(0) as u64,
            hypernodes.path = %path, hypernodes.depth = depth, hypernodes.cached = false,
            hypernodes.error = Empty),
    }
}

impl Callback for TracingCallback {
    fn on_event(&self, event: &Event<'_>, ctx: &Context) {
        match &self.dispatch {
            Some(d) => tracing::dispatcher::with_default(d, || self.handle(event, ctx)),
            None => self.handle(event, ctx),
        }
    }
}
