//! `tracing` spans that mirror the structure of a run: a span per pipeline run (root or nested), per
//! node, per map and optionally per map item. Cache hits are `node` spans with `cached = true`.
//!
//! Spans are created with explicit parents (never the thread's current span), because events arrive
//! from worker threads: the engine's own context tells which pipeline run, map item and thread an
//! event belongs to. Only a root span (a root run, or a root map) takes the caller's current span
//! as its parent, so a run inside an application span nests under it.
//!
//! Span names and fields:
//! - `pipeline`: `pipeline` (name), `path` (names from the root, `/`-joined), `depth`, `nested`;
//! - `node`: `node`, `pipeline`, `path`, `depth`, `cached`, and `error` when it failed;
//! - `map`: `pipeline`, `path`, `depth`, `total_items`;
//! - `map_item` (with [`TracingCallback::with_map_items`]): `index`, `path`, `depth`, `cached`.
//!
//! A failing node records `error` on its span and emits an `ERROR` event under it. When a root run
//! fails, every span still open in it is closed.
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
use std::sync::{Arc, Mutex, Weak};
use std::thread::ThreadId;

use tracing::field::Empty;
use tracing::{Dispatch, Span};

use crate::callbacks::{Callback, Event};
use crate::context::{Context, RunState};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Pipeline,
    Node,
    Nested,
    Map,
    Item,
}

struct Frame {
    id: u64,
    parent: Option<u64>,
    kind: Kind,
    path: Vec<Arc<str>>,
    /// Pipeline name, node name, nested child name, or item index.
    name: String,
    /// The map item the frame belongs to (the address of the item's shared state).
    item: usize,
    thread: ThreadId,
    span: Span,
    /// An ended map item waiting for a possible `MapItemCached`.
    pending: bool,
}

struct Run {
    alive: Weak<RunState>,
    frames: Vec<Frame>,
    next: u64,
    /// Open maps at depth 0.
    root_maps: usize,
    /// The root run ended (or failed): later events (of nodes still running after a failure)
    /// are ignored.
    done: bool,
}

/// What an event's frame lookup may match.
struct Want<'a> {
    kind: Kind,
    path: &'a [Arc<str>],
    name: Option<&'a str>,
}

impl Run {
    /// The best open frame: same item and same thread first, then same item, then same thread,
    /// then the most recently opened.
    fn find(&self, want: Want<'_>, item: usize, thread: ThreadId) -> Option<usize> {
        self.frames
            .iter()
            .enumerate()
            .filter(|(_, f)| {
                !f.pending
                    && f.kind == want.kind
                    && f.path == want.path
                    && want.name.is_none_or(|n| n == f.name)
            })
            .max_by_key(|(i, f)| (f.item == item, f.thread == thread, *i))
            .map(|(i, _)| i)
    }

    fn push(&mut self, mut frame: Frame) -> u64 {
        self.next += 1;
        frame.id = self.next;
        self.frames.push(frame);
        self.next
    }

    fn remove(&mut self, idx: usize) -> Frame {
        self.frames.remove(idx)
    }

    /// Ends the pending (ended, not cached) map items of a thread.
    fn flush_pending(&mut self, thread: ThreadId) {
        self.frames.retain(|f| !(f.pending && f.thread == thread));
    }

    /// Removes the frame at `idx` (its span closes). Frames still open below it stay open: on a
    /// normal end every event of the frame's own descendants has arrived, so what is left was
    /// attributed to it by mistake (see the module documentation) and still runs.
    fn end(&mut self, idx: usize) {
        self.frames.remove(idx);
    }

    /// Removes the frame with id `id` and every open frame below it (their spans close).
    fn close_tree(&mut self, id: u64) {
        let mut doomed = vec![id];
        loop {
            let more: Vec<u64> = self
                .frames
                .iter()
                .filter(|f| {
                    f.parent.is_some_and(|p| doomed.contains(&p)) && !doomed.contains(&f.id)
                })
                .map(|f| f.id)
                .collect();
            if more.is_empty() {
                break;
            }
            doomed.extend(more);
        }
        // Children first (they were opened after their parents), so each span closes after its
        // descendants.
        let (closing, kept): (Vec<Frame>, Vec<Frame>) = std::mem::take(&mut self.frames)
            .into_iter()
            .partition(|f| doomed.contains(&f.id));
        self.frames = kept;
        closing.into_iter().rev().for_each(drop);
    }
}

/// Emits `tracing` spans mirroring pipelines, nested pipelines, nodes, maps and (optionally) map
/// items. See the module documentation for span names and fields.
pub struct TracingCallback {
    dispatch: Option<Dispatch>,
    map_items: bool,
    runs: Mutex<HashMap<usize, Run>>,
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
            runs: Mutex::new(HashMap::new()),
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

    fn handle(&self, runs: &mut HashMap<usize, Run>, event: &Event<'_>, ctx: &Context) {
        let key = Arc::as_ptr(&ctx.run) as usize;
        let depth = ctx.depth();
        let root = depth == 0;
        if root && matches!(event, Event::MapStart { .. } | Event::PipelineStart { .. }) {
            // Runs that are gone without ending: close their spans (their address may be reused).
            runs.retain(|_, r| r.alive.strong_count() > 0);
        }
        let run = runs.entry(key).or_insert_with(|| Run {
            alive: Arc::downgrade(&ctx.run),
            frames: Vec::new(),
            next: 0,
            root_maps: 0,
            done: false,
        });
        if run.done {
            return;
        }
        let item = Arc::as_ptr(&ctx.item_missed) as usize;
        let thread = std::thread::current().id();
        let path = &ctx.path[..];
        let joined = ctx.path_strings().join("/");
        let pipeline = ctx.pipeline();
        if !matches!(event, Event::MapItemCached { .. }) {
            run.flush_pending(thread);
        }
        let want = |kind, path, name| Want { kind, path, name };
        let frame = |kind, parent: Option<u64>, name: String, span: Span| Frame {
            id: 0,
            parent,
            kind,
            path: path.to_vec(),
            name,
            item,
            thread,
            span,
            pending: false,
        };
        let mut finished = false;
        match event {
            Event::PipelineStart { pipeline: name, .. } => {
                // A map item's run, else a nested pipeline's, else a root run.
                let parent = run
                    .find(want(Kind::Item, path, None), item, thread)
                    .or_else(|| match path.split_last() {
                        Some((child, outer)) if !outer.is_empty() => {
                            run.find(want(Kind::Nested, outer, Some(&**child)), item, thread)
                        }
                        _ => None,
                    });
                let nested = depth > 0;
                let span = match parent {
                    Some(p) => tracing::info_span!(parent: &run.frames[p].span, "pipeline",
                        pipeline = %name, path = %joined, depth = depth as u64, nested),
                    // A root run, or a callback attached below the root: a root span.
                    None => tracing::info_span!("pipeline",
                        pipeline = %name, path = %joined, depth = depth as u64, nested),
                };
                let parent = parent.map(|p| run.frames[p].id);
                run.push(frame(Kind::Pipeline, parent, name.to_string(), span));
            }
            Event::PipelineEnd { pipeline: name, .. } => {
                if let Some(i) = run.find(want(Kind::Pipeline, path, Some(name)), item, thread) {
                    run.end(i);
                }
                finished = root && run.root_maps == 0;
            }
            Event::NodeStart { node, .. } | Event::NodeCached { node, .. } => {
                let Some(p) = run.find(want(Kind::Pipeline, path, None), item, thread) else {
                    return;
                };
                let cached = matches!(event, Event::NodeCached { .. });
                let span = tracing::info_span!(parent: &run.frames[p].span, "node",
                    node = %node, pipeline = %pipeline, path = %joined, depth = depth as u64,
                    cached, error = Empty);
                if !cached {
                    let parent = Some(run.frames[p].id);
                    run.push(frame(Kind::Node, parent, node.to_string(), span));
                }
            }
            Event::NodeEnd { node, .. } => {
                if let Some(i) = run.find(want(Kind::Node, path, Some(node)), item, thread) {
                    run.end(i);
                }
            }
            Event::Error { node, error } => {
                if let Some(i) = run.find(want(Kind::Node, path, Some(node)), item, thread) {
                    let f = &run.frames[i];
                    f.span.record("error", tracing::field::display(error));
                    tracing::error!(parent: &f.span, node = %node, error = %error, "node failed");
                    let id = f.id;
                    run.close_tree(id);
                }
                // An error at depth 0 ends the root run: nothing else will close its spans.
                finished = root;
            }
            Event::NestedStart { child, .. } => {
                // The nested pipeline's node is the latest started on this thread at this level.
                let Some(p) = run.find(want(Kind::Node, path, None), item, thread) else {
                    return;
                };
                let span = run.frames[p].span.clone();
                let parent = Some(run.frames[p].id);
                run.push(frame(Kind::Nested, parent, child.to_string(), span));
            }
            Event::NestedEnd { child, .. } => {
                if let Some(i) = run.find(want(Kind::Nested, path, Some(child)), item, thread) {
                    run.end(i);
                }
            }
            Event::MapStart { total } => {
                let parent = match path.split_last() {
                    Some((child, outer)) if !outer.is_empty() => {
                        run.find(want(Kind::Nested, outer, Some(&**child)), item, thread)
                    }
                    _ => None,
                };
                let span = match parent {
                    Some(p) => tracing::info_span!(parent: &run.frames[p].span, "map",
                        pipeline = %pipeline, path = %joined, depth = depth as u64,
                        total_items = *total as u64),
                    None => tracing::info_span!("map",
                        pipeline = %pipeline, path = %joined, depth = depth as u64,
                        total_items = *total as u64),
                };
                if root {
                    run.root_maps += 1;
                }
                let parent = parent.map(|p| run.frames[p].id);
                run.push(frame(Kind::Map, parent, pipeline.to_string(), span));
            }
            Event::MapEnd { .. } => {
                if let Some(i) = run.find(want(Kind::Map, path, None), item, thread) {
                    let id = run.frames[i].id;
                    run.frames.retain(|f| !(f.pending && f.parent == Some(id)));
                    let i = run
                        .frames
                        .iter()
                        .position(|f| f.id == id)
                        .expect("still open");
                    run.end(i);
                }
                if root {
                    run.root_maps = run.root_maps.saturating_sub(1);
                    finished = run.root_maps == 0;
                }
            }
            Event::MapItemStart { index } => {
                let Some(p) = run.find(want(Kind::Map, path, None), item, thread) else {
                    return;
                };
                let map_span = &run.frames[p].span;
                let span = match self.map_items {
                    true => tracing::info_span!(parent: map_span, "map_item",
                        index = *index as u64, path = %joined, depth = depth as u64,
                        cached = false),
                    false => map_span.clone(),
                };
                let parent = Some(run.frames[p].id);
                run.push(frame(Kind::Item, parent, index.to_string(), span));
            }
            Event::MapItemEnd { index, .. } => {
                let name = index.to_string();
                if let Some(i) = run.find(want(Kind::Item, path, Some(&name)), item, thread) {
                    // Keep the item until we know whether it was cached (`MapItemCached` comes
                    // next on this thread, if at all).
                    run.frames[i].pending = true;
                }
            }
            Event::MapItemCached { index, .. } => {
                let name = index.to_string();
                let found = run
                    .frames
                    .iter()
                    .enumerate()
                    .filter(|(_, f)| {
                        f.pending && f.kind == Kind::Item && f.path == path && f.name == name
                    })
                    .max_by_key(|(_, f)| f.item == item)
                    .map(|(i, _)| i);
                if let Some(i) = found {
                    let f = run.remove(i);
                    if self.map_items {
                        f.span.record("cached", true);
                    }
                }
                run.flush_pending(thread);
            }
        }
        if finished {
            // Children first (they were opened after their parents).
            while let Some(f) = run.frames.pop() {
                drop(f);
            }
            run.done = true;
        }
    }
}

impl Callback for TracingCallback {
    fn on_event(&self, event: &Event<'_>, ctx: &Context) {
        let mut runs = self.runs.lock().unwrap_or_else(|e| e.into_inner());
        match &self.dispatch {
            Some(d) => tracing::dispatcher::with_default(d, || self.handle(&mut runs, event, ctx)),
            None => self.handle(&mut runs, event, ctx),
        }
    }
}
