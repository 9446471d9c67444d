//! `RunReport`: a callback that records what runs and maps did, and writes it as JSON in the
//! format the Python package draws (`hypernodes.RunReport.from_json(text).timeline()` or
//! `.visualize(pipeline)`).
//!
//! Per node (keyed by the pipeline names from the root and the node's name): calls (computed, cache
//! hits and failures), cache hits, errors, total and slowest time. Per call: a span with its start
//! and end (seconds since the report's first event; the start is the end minus the node's
//! duration), the index of the top-level map item it belonged to, the worker thread, and whether it
//! "ran", was "cached" or ended in an "error".

use std::collections::HashMap;
use std::sync::Mutex;
use std::thread::ThreadId;
use std::time::Instant;

use crate::callbacks::{Callback, Event};
use crate::context::Context;

/// What one node did over the recorded runs.
#[derive(Clone, Debug, PartialEq)]
pub struct NodeStats {
    /// Pipeline names from the root to the node's pipeline.
    pub path: Vec<String>,
    /// The node's name.
    pub node: String,
    /// Completions: computed, cache hits and failures.
    pub calls: u64,
    /// Calls answered by the cache.
    pub cache_hits: u64,
    /// Calls that failed.
    pub errors: u64,
    /// Seconds spent computing (hits count as 0).
    pub total_time: f64,
    /// The longest single call, in seconds.
    pub slowest: f64,
}

/// One node call.
#[derive(Clone, Debug, PartialEq)]
pub struct Span {
    /// Pipeline names from the root to the node's pipeline.
    pub path: Vec<String>,
    /// The node's name.
    pub node: String,
    /// Seconds since the report's first event.
    pub start: f64,
    /// Seconds since the report's first event.
    pub end: f64,
    /// "ran", "cached" or "error".
    pub status: &'static str,
    /// The index of the top-level map item it belonged to (None outside a map).
    pub item: Option<usize>,
    /// The thread that delivered it.
    pub worker: String,
}

#[derive(Default)]
struct State {
    t0: Option<Instant>,
    duration: f64,
    nodes: Vec<NodeStats>,
    index: HashMap<(Vec<String>, String), usize>,
    spans: Vec<Span>,
    items: HashMap<ThreadId, Vec<usize>>,
    starts: HashMap<(Vec<String>, String, ThreadId), f64>,
    workers: HashMap<ThreadId, String>,
}

impl State {
    fn now(&mut self) -> f64 {
        let t0 = *self.t0.get_or_insert_with(Instant::now);
        let t = t0.elapsed().as_secs_f64();
        self.duration = self.duration.max(t);
        t
    }

    fn stats(&mut self, path: &[String], node: &str) -> &mut NodeStats {
        let key = (path.to_vec(), node.to_string());
        let i = match self.index.get(&key) {
            Some(&i) => i,
            None => {
                self.nodes.push(NodeStats {
                    path: key.0.clone(),
                    node: key.1.clone(),
                    calls: 0,
                    cache_hits: 0,
                    errors: 0,
                    total_time: 0.0,
                    slowest: 0.0,
                });
                self.index.insert(key, self.nodes.len() - 1);
                self.nodes.len() - 1
            }
        };
        &mut self.nodes[i]
    }

    fn item(&self) -> Option<usize> {
        if let Some(first) = self
            .items
            .get(&std::thread::current().id())
            .and_then(|s| s.first())
        {
            return Some(*first);
        }
        let open: std::collections::BTreeSet<usize> = self
            .items
            .values()
            .filter_map(|s| s.first().copied())
            .collect();
        (open.len() == 1).then(|| *open.first().expect("one open item"))
    }

    fn worker(&mut self) -> String {
        let t = std::thread::current();
        if let Some(name) = t.name() {
            return name.to_string();
        }
        let n = self.workers.len() + 1;
        self.workers
            .entry(t.id())
            .or_insert_with(|| format!("worker-{n}"))
            .clone()
    }

    fn span(&mut self, path: Vec<String>, node: &str, start: f64, end: f64, status: &'static str) {
        let item = self.item();
        let worker = self.worker();
        self.spans.push(Span {
            path,
            node: node.to_string(),
            start,
            end,
            status,
            item,
            worker,
        });
    }
}

/// Records runs and maps of the pipelines it is attached to, summed until [`RunReport::reset`].
#[derive(Default)]
pub struct RunReport {
    state: Mutex<State>,
}

impl RunReport {
    /// An empty report.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Forgets everything recorded.
    pub fn reset(&self) {
        *self.lock() = State::default();
    }

    /// Per-node stats, in order of first completion.
    pub fn nodes(&self) -> Vec<NodeStats> {
        self.lock().nodes.clone()
    }

    /// The stats of the node named `node` in the pipeline at `path` (pipeline names from the root).
    pub fn stats(&self, path: &[&str], node: &str) -> Option<NodeStats> {
        let st = self.lock();
        let key: (Vec<String>, String) =
            (path.iter().map(|s| s.to_string()).collect(), node.into());
        st.index.get(&key).map(|&i| st.nodes[i].clone())
    }

    /// Every node call, in order of completion.
    pub fn spans(&self) -> Vec<Span> {
        self.lock().spans.clone()
    }

    /// Seconds from the first to the last event.
    pub fn duration(&self) -> f64 {
        self.lock().duration
    }

    /// The report as JSON: `{"version": 1, "duration", "nodes": [...], "spans": [...]}`, the format
    /// `hypernodes.RunReport.from_json` reads.
    pub fn to_json(&self) -> String {
        use serde_json::json;
        let st = self.lock();
        let nodes: Vec<_> = st
            .nodes
            .iter()
            .map(|n| {
                json!({
                    "path": n.path, "node": n.node, "calls": n.calls, "cache_hits": n.cache_hits,
                    "errors": n.errors, "total_time": n.total_time, "slowest": n.slowest,
                })
            })
            .collect();
        let spans: Vec<_> = st
            .spans
            .iter()
            .map(|s| {
                json!({
                    "path": s.path, "node": s.node, "start": s.start, "end": s.end,
                    "status": s.status, "item": s.item, "worker": s.worker,
                })
            })
            .collect();
        json!({"version": 1, "duration": st.duration, "nodes": nodes, "spans": spans}).to_string()
    }

    /// Writes [`RunReport::to_json`] to a file.
    pub fn write_json(&self, path: impl AsRef<std::path::Path>) -> std::io::Result<()> {
        std::fs::write(path, self.to_json())
    }
}

impl Callback for RunReport {
    fn on_event(&self, event: &Event<'_>, ctx: &Context) {
        let mut st = self.lock();
        let tid = std::thread::current().id();
        match event {
            Event::NodeStart { node, .. } => {
                let t = st.now();
                st.starts
                    .insert((ctx.path_strings(), node.to_string(), tid), t);
            }
            Event::NodeEnd { node, duration, .. } => {
                let end = st.now();
                let path = ctx.path_strings();
                let d = duration.as_secs_f64();
                let s = st.stats(&path, node);
                s.calls += 1;
                s.total_time += d;
                s.slowest = s.slowest.max(d);
                st.starts.remove(&(path.clone(), node.to_string(), tid));
                st.span(path, node, (end - d).max(0.0), end, "ran");
            }
            Event::NodeCached { node, .. } => {
                let t = st.now();
                let path = ctx.path_strings();
                let s = st.stats(&path, node);
                s.calls += 1;
                s.cache_hits += 1;
                st.span(path, node, t, t, "cached");
            }
            Event::Error { node, .. } => {
                let t = st.now();
                let path = ctx.path_strings();
                let s = st.stats(&path, node);
                s.calls += 1;
                s.errors += 1;
                let start = st
                    .starts
                    .remove(&(path.clone(), node.to_string(), tid))
                    .unwrap_or(t);
                st.span(path, node, start, t, "error");
            }
            Event::MapItemStart { index } => {
                st.now();
                st.items.entry(tid).or_default().push(*index);
            }
            Event::MapItemEnd { .. } => {
                st.now();
                if let Some(stack) = st.items.get_mut(&tid) {
                    stack.pop();
                }
            }
            _ => {
                st.now();
            }
        }
    }
}
